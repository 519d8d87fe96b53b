#include "http_codec.hpp"

#include <agora/rest.hpp>

#include <boost/beast/http/field.hpp>

namespace agora::orders::http_codec {

namespace {

using json = nlohmann::json;
using http::money_schema;
using http::object_reader;
using http::page_schema;
namespace bhttp = boost::beast::http;

std::string render(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json order_schema() {
  json line = {{"type", "object"},
               {"properties",
                {{"id", {{"type", "string"}}},
                 {"sku", {{"type", "string"}}},
                 {"product_id", {{"type", "string"}}},
                 {"name", {{"type", "string"}}},
                 {"quantity", {{"type", "integer"}}},
                 {"unit_price", money_schema()},
                 {"line_total", money_schema()},
                 {"line_tax", money_schema()},
                 {"refunded_quantity", {{"type", "integer"}}}}}};
  json status = {{"type", "string"},
                 {"enum", json::array({"pending", "confirmed", "paid", "canceled", "refunded", "partially_refunded"})}};
  return {
      {"type", "object"},
      {"required", json::array({"id", "status", "payment_status", "fulfilment_status", "lines", "total", "version"})},
      {"properties",
       {{"id", {{"type", "string"}, {"pattern", "^ord_[0-9A-HJKMNP-TV-Z]{26}$"}}},
        {"customer_id", {{"type", "string"}}},
        {"cart_id", {{"type", "string"}}},
        {"status", status},
        {"payment_status",
         {{"type", "string"},
          {"enum", json::array({"none", "authorized", "captured", "voided", "partially_refunded", "refunded"})}}},
        {"fulfilment_status",
         {{"type", "string"}, {"enum", json::array({"unfulfilled", "fulfilled", "shipped", "delivered"})}}},
        {"cancel_reason", {{"type", "string"}}},
        {"saga_step", {{"type", "string"}}},
        {"lines", {{"type", "array"}, {"items", line}}},
        {"subtotal", money_schema()},
        {"tax", money_schema()},
        {"total", money_schema()},
        {"refunded", money_schema()},
        {"location", {{"type", "string"}}},
        {"payment_id", {{"type", json::array({"string", "null"})}}},
        {"tracking", {{"type", json::array({"string", "null"})}}},
        {"history", {{"type", "array"}}},
        {"version", {{"type", "integer"}}},
        {"created_at", {{"type", "string"}, {"format", "date-time"}}},
        {"updated_at", {{"type", "string"}, {"format", "date-time"}}}}}};
}

access customers_and_staff() { return access::signed_in("orders"); }
access staff() {
  return access::any_role({std::string(roles::clerk), std::string(roles::manager), std::string(roles::admin)},
                          "orders:manage");
}
access managers() {
  return access::any_role({std::string(roles::manager), std::string(roles::admin)}, "orders:manage");
}

http::route doc(http::verb method, std::string pattern, std::string operation_id, std::string summary, access who) {
  auto r = http::describe(method, std::move(pattern), std::move(operation_id), std::move(summary));
  r.who = std::move(who);
  return r;
}

}  // namespace

http::route checkout_route() {
  auto r = doc(http::verb::post, "/v1/orders", "checkout",
               "Check out a cart: reserves the stock, authorises and captures the payment, and answers the order "
               "(201), or 202 when it is still being processed at the deadline. Send Idempotency-Key: a retry with "
               "the same key answers the same order; the same key with another body is 422",
               customers_and_staff());
  r.request_schema = {
      {"type", "object"},
      {"required", json::array({"cart_id"})},
      {"additionalProperties", false},
      {"properties",
       {{"cart_id", {{"type", "string"}}},
        {"payment_token",
         {{"type", "string"},
          {"description", "For the built-in fake provider: tok_ok (default), tok_decline, tok_fail, tok_timeout"}}}}}};
  r.request_headers = {"Idempotency-Key"};
  r.responses = {{201, order_schema()}, {202, order_schema()}, {404, nullptr},
                 {409, nullptr},        {422, nullptr},        {503, nullptr}};
  return r;
}

result<checkout_request> decode_checkout(http::request_context& ctx) {
  std::vector<field_error> errors;
  object_reader body(ctx.body, "", {"cart_id", "payment_token"}, errors);
  if (!body.ok()) return error::invalid(std::move(errors));
  checkout_request r;
  if (auto v = body.string("cart_id", true)) r.cart_id = std::move(*v);
  if (auto v = body.string("payment_token", false)) r.payment_token = std::move(*v);
  if (!errors.empty()) return error::invalid(std::move(errors));
  auto key = http::idempotency_key(ctx);
  if (!key) return std::move(key).err();
  r.idempotency_key = std::move(key).value();
  return r;
}

http::response encode_checked_out(const order& o, http::request_context& ctx) {
  auto res = http::versioned(o.status == "pending" ? 202 : 201, o.version, ctx, [&] { return render(json(o)); });
  res.set(bhttp::field::location, "/v1/orders/" + o.id);
  return res;
}

http::route get_order_route() {
  auto r = doc(http::verb::get, "/v1/orders/{id}", "getOrder",
               "One order: its three statuses, lines, totals and history. A customer sees only their own orders "
               "(another's answer 404); staff see every order",
               customers_and_staff());
  r.request_headers = {"If-None-Match"};
  r.responses = {{200, order_schema()}, {304, nullptr}, {404, nullptr}};
  return r;
}

result<get_order_request> decode_get_order(http::request_context& ctx) {
  return get_order_request{http::path_param(ctx, "id")};
}

http::response encode_order(const order& o, http::request_context& ctx) {
  return http::versioned(200, o.version, ctx, [&] { return render(json(o)); });
}

http::route list_orders_route() {
  auto r = doc(http::verb::get, "/v1/orders", "listOrders",
               "Orders in creation order, a page at a time: a customer's own; every order for staff, who may filter "
               "by customer",
               customers_and_staff());
  r.query = http::page_query_docs("modules.orders.page_limit_max", 20);
  r.query.push_back({"status", "string", "pending, confirmed, paid, canceled, refunded or partially_refunded"});
  r.query.push_back({"customer_id", "string", "Staff only: one customer's orders"});
  r.query.push_back({"from", "string", "Created at or after (RFC 3339)"});
  r.query.push_back({"to", "string", "Created before (RFC 3339)"});
  r.responses = {{200, page_schema(order_schema())}, {422, nullptr}};
  return r;
}

result<list_orders_request> decode_list_orders(http::request_context& ctx) {
  std::vector<field_error> errors;
  list_orders_request r;
  http::read_page_query(ctx, r.limit, r.cursor, errors);
  if (auto v = ctx.query_param("status")) r.status = std::string(*v);
  if (auto v = ctx.query_param("customer_id")) r.customer_id = std::string(*v);
  if (auto v = ctx.query_param("from")) r.from = std::string(*v);
  if (auto v = ctx.query_param("to")) r.to = std::string(*v);
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

http::response encode_order_page(const order_page& p, http::request_context&) {
  return http::json_text(200, render(json(p)));
}

http::route cancel_order_route() {
  auto r = doc(http::verb::post, "/v1/orders/{id}/cancel", "cancelOrder",
               "Cancel an order: a customer until it is fulfilled, staff until it ships. Stock goes back, the payment "
               "is voided or refunded",
               customers_and_staff());
  r.body_optional = true;
  r.request_schema = {{"type", "object"},
                      {"additionalProperties", false},
                      {"properties", {{"reason", {{"type", "string"}, {"maxLength", 200}}}}}};
  r.responses = {{200, order_schema()}, {404, nullptr}, {409, nullptr}, {422, nullptr}};
  return r;
}

result<cancel_order_request> decode_cancel_order(http::request_context& ctx) {
  std::vector<field_error> errors;
  cancel_order_request r;
  r.id = http::path_param(ctx, "id");
  if (!ctx.body.is_null()) {
    object_reader body(ctx.body, "", {"reason"}, errors);
    if (!body.ok()) return error::invalid(std::move(errors));
    if (auto v = body.string("reason", false)) r.reason = std::move(*v);
  }
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

http::route refund_order_route() {
  auto r = doc(http::verb::post, "/v1/orders/{id}/refunds", "refundOrder",
               "Refund some units of some lines (or, with no lines, everything not yet refunded) of a paid order. "
               "Never more than was sold. Idempotency-Key makes a retry one refund",
               managers());
  r.body_optional = true;
  json line = {
      {"type", "object"},
      {"required", json::array({"line_id", "quantity"})},
      {"properties", {{"line_id", {{"type", "string"}}}, {"quantity", {{"type", "integer"}, {"minimum", 1}}}}}};
  r.request_schema = {
      {"type", "object"},
      {"additionalProperties", false},
      {"properties",
       {{"lines", {{"type", "array"}, {"items", line}}}, {"reason", {{"type", "string"}, {"maxLength", 200}}}}}};
  r.request_headers = {"Idempotency-Key"};
  r.responses = {{200, order_schema()}, {404, nullptr}, {409, nullptr}, {422, nullptr}};
  return r;
}

result<refund_order_request> decode_refund_order(http::request_context& ctx) {
  std::vector<field_error> errors;
  refund_order_request r;
  r.id = http::path_param(ctx, "id");
  if (!ctx.body.is_null()) {
    object_reader body(ctx.body, "", {"lines", "reason"}, errors);
    if (!body.ok()) return error::invalid(std::move(errors));
    if (auto v = body.string("reason", false)) r.reason = std::move(*v);
    if (const auto* lines = body.member("lines", false)) {
      if (!lines->is_array()) {
        errors.push_back({"lines", "must be an array"});
      } else {
        for (std::size_t i = 0; i < lines->size(); ++i) {
          object_reader line((*lines)[i], "lines[" + std::to_string(i) + "]", {"line_id", "quantity"}, errors);
          if (!line.ok()) continue;
          refund_line l;
          if (auto v = line.string("line_id", true)) l.line_id = std::move(*v);
          if (auto v = line.integer("quantity", true)) l.quantity = *v;
          r.lines.push_back(std::move(l));
        }
      }
    }
  }
  if (!errors.empty()) return error::invalid(std::move(errors));
  auto key = http::idempotency_key(ctx);
  if (!key) return std::move(key).err();
  r.idempotency_key = std::move(key).value();
  return r;
}

http::route fulfilment_route() {
  auto r =
      doc(http::verb::post, "/v1/orders/{id}/fulfilment", "updateFulfilment",
          "Staff move a paid order's fulfilment on: fulfilled, then shipped (with tracking), then delivered", staff());
  r.request_schema = {
      {"type", "object"},
      {"required", json::array({"fulfilment_status"})},
      {"additionalProperties", false},
      {"properties",
       {{"fulfilment_status", {{"type", "string"}, {"enum", json::array({"fulfilled", "shipped", "delivered"})}}},
        {"tracking", {{"type", "string"}, {"maxLength", 100}}}}}};
  r.responses = {{200, order_schema()}, {404, nullptr}, {409, nullptr}, {422, nullptr}};
  return r;
}

result<update_fulfilment_request> decode_fulfilment(http::request_context& ctx) {
  std::vector<field_error> errors;
  object_reader body(ctx.body, "", {"fulfilment_status", "tracking"}, errors);
  if (!body.ok()) return error::invalid(std::move(errors));
  update_fulfilment_request r;
  r.id = http::path_param(ctx, "id");
  if (auto v = body.string("fulfilment_status", true)) r.fulfilment_status = std::move(*v);
  r.tracking = body.string("tracking", false);
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

}  // namespace agora::orders::http_codec
