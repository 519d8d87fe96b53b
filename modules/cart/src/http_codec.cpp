#include "http_codec.hpp"

#include <agora/rest.hpp>

#include <boost/beast/http/field.hpp>

namespace agora::cart::http_codec {

namespace {

using json = nlohmann::json;
using http::money_schema;
namespace bhttp = boost::beast::http;

constexpr std::string_view token_header = "X-Cart-Token";

std::optional<std::string> cart_token(const http::request_context& ctx) {
  auto t = ctx.header(token_header);
  if (!t || t->empty()) return std::nullopt;
  return std::string(*t);
}

std::string render(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json cart_schema() {
  json line = {{"type", "object"},
               {"properties",
                {{"id", {{"type", "string"}}},
                 {"sku", {{"type", "string"}}},
                 {"product_id", {{"type", "string"}}},
                 {"variant_id", {{"type", "string"}}},
                 {"name", {{"type", "string"}}},
                 {"quantity", {{"type", "integer"}}},
                 {"unit_price", money_schema()},
                 {"tax_class", {{"type", "string"}}},
                 {"tax_rate_bp", {{"type", "integer"}, {"description", "Basis points: 1900 is 19 %"}}},
                 {"line_subtotal", money_schema()},
                 {"line_tax", money_schema()},
                 {"line_total", money_schema()},
                 {"price_changed", {{"type", "boolean"}}},
                 {"available", {{"type", "boolean"}}}}}};
  json totals = {{"type", "object"},
                 {"properties",
                  {{"subtotal", money_schema()},
                   {"tax", money_schema()},
                   {"total", money_schema()},
                   {"tax_lines", {{"type", "array"}}}}}};
  return {{"type", "object"},
          {"required", json::array({"id", "status", "lines", "totals", "version"})},
          {"properties",
           {{"id", {{"type", "string"}}},
            {"customer_id", {{"type", json::array({"string", "null"})}}},
            {"status", {{"type", "string"}, {"enum", json::array({"open", "checking_out", "checked_out", "expired"})}}},
            {"currency", {{"type", "string"}, {"description", "Set by the first line; empty before"}}},
            {"region", {{"type", "string"}}},
            {"prices_include_tax", {{"type", "boolean"}}},
            {"lines", {{"type", "array"}, {"items", line}}},
            {"totals", totals},
            {"changed_lines", {{"type", "array"}}},
            {"version", {{"type", "integer"}}},
            {"created_at", {{"type", "string"}, {"format", "date-time"}}},
            {"updated_at", {{"type", "string"}, {"format", "date-time"}}},
            {"expires_at", {{"type", "string"}, {"format", "date-time"}}},
            {"order_id", {{"type", json::array({"string", "null"})}}},
            {"cart_token", {{"type", "string"}, {"description", "Only when a guest cart is made: shown once"}}}}}};
}

http::route make_route(http::verb method, std::string pattern, std::string operation_id, std::string summary) {
  auto r = http::describe(method, std::move(pattern), std::move(operation_id), std::move(summary));
  r.tag = "cart";
  r.who = access::anyone();
  r.request_headers = {std::string(token_header)};
  return r;
}

}  // namespace

result<create_cart_request> decode_create_cart(http::request_context& ctx) {
  create_cart_request r;
  r.cart_token = cart_token(ctx);
  const auto& text = ctx.req.body();
  if (text.empty()) return r;
  auto body = json::parse(text, nullptr, false);
  if (body.is_discarded()) return error{errc::bad_request, "the request body is not valid JSON", {{"body", "not valid JSON"}}};
  std::vector<field_error> errors;
  http::object_reader reader(body, "", {"region"}, errors);
  r.region = reader.string("region", false);
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

result<get_cart_request> decode_get_cart(http::request_context& ctx) {
  return get_cart_request{http::path_param(ctx, "id"), cart_token(ctx)};
}

result<add_line_request> decode_add_line(http::request_context& ctx) {
  std::vector<field_error> errors;
  http::object_reader body(ctx.body, "", {"sku", "quantity"}, errors);
  add_line_request r;
  r.cart_id = http::path_param(ctx, "id");
  if (auto s = body.string("sku", true)) r.sku = std::move(*s);
  if (auto q = body.integer("quantity", true)) r.quantity = *q;
  r.expected_version = http::if_match(ctx);
  r.cart_token = cart_token(ctx);
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

result<update_line_request> decode_update_line(http::request_context& ctx) {
  std::vector<field_error> errors;
  http::object_reader body(ctx.body, "", {"quantity"}, errors);
  update_line_request r;
  r.cart_id = http::path_param(ctx, "id");
  r.line_id = http::path_param(ctx, "line_id");
  if (auto q = body.integer("quantity", true)) r.quantity = *q;
  r.expected_version = http::if_match(ctx);
  r.cart_token = cart_token(ctx);
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

result<remove_line_request> decode_remove_line(http::request_context& ctx) {
  return remove_line_request{http::path_param(ctx, "id"), http::path_param(ctx, "line_id"), http::if_match(ctx),
                             cart_token(ctx)};
}

http::response encode_created_cart(const create_cart_reply& r, http::request_context& ctx) {
  auto res = http::versioned(r.created ? 201 : 200, r.item.version, ctx, [&] {
    json j = r.item;
    if (r.cart_token) j["cart_token"] = *r.cart_token;
    return render(j);
  });
  if (r.created) res.set(bhttp::field::location, "/v1/carts/" + r.item.id);
  if (r.cart_token) res.set(bhttp::field::cache_control, "no-store");
  return res;
}

http::response encode_cart(const cart& r, http::request_context& ctx) {
  return http::versioned(200, r.version, ctx, [&] { return render(json(r)); });
}

http::route create_cart_route() {
  auto r = make_route(http::verb::post, "/v1/carts", "createCart",
                      "A signed-in customer gets their open cart (201 when made, 200 when it existed); sending a guest "
                      "cart's X-Cart-Token as well merges that cart into it. Anyone else gets a new guest cart (201) "
                      "with its cart_token, shown this once: send it as X-Cart-Token on later calls");
  r.request_schema = {{"type", "object"},
                      {"additionalProperties", false},
                      {"properties", {{"region", {{"type", "string"}, {"description", "A tax region, e.g. DE, FR, US-CA"}}}}}};
  r.parse_body = false;  // the body is optional
  r.responses = {{200, cart_schema()}, {201, cart_schema()}, {404, nullptr}, {409, nullptr}, {422, nullptr}};
  return r;
}

http::route get_cart_route() {
  auto r = make_route(http::verb::get, "/v1/carts/{id}", "getCart",
                      "A cart with its totals and ETag; changed_lines (prices that moved) are shown once");
  r.responses = {{200, cart_schema()}, {304, nullptr}, {404, nullptr}};
  r.request_headers.push_back("If-None-Match");
  return r;
}

http::route add_line_route() {
  auto r = make_route(http::verb::post, "/v1/carts/{id}/lines", "addCartLine",
                      "Add a quantity of a SKU (raises the quantity of a line already holding it); answers the cart");
  r.request_schema = {{"type", "object"},
                      {"required", json::array({"sku", "quantity"})},
                      {"additionalProperties", false},
                      {"properties", {{"sku", {{"type", "string"}}}, {"quantity", {{"type", "integer"}, {"minimum", 1}}}}}};
  r.responses = {{200, cart_schema()}, {404, nullptr}, {409, nullptr}, {412, nullptr}, {422, nullptr}};
  r.request_headers.push_back("If-Match");
  return r;
}

http::route update_line_route() {
  auto r = make_route(http::verb::patch, "/v1/carts/{id}/lines/{line_id}", "updateCartLine",
                      "Set a line's quantity; If-Match with the cart's ETag makes it conditional (412 when stale)");
  r.request_schema = {{"type", "object"},
                      {"required", json::array({"quantity"})},
                      {"additionalProperties", false},
                      {"properties", {{"quantity", {{"type", "integer"}, {"minimum", 1}}}}}};
  r.responses = {{200, cart_schema()}, {404, nullptr}, {409, nullptr}, {412, nullptr}, {422, nullptr}};
  r.request_headers.push_back("If-Match");
  return r;
}

http::route remove_line_route() {
  auto r = make_route(http::verb::delete_, "/v1/carts/{id}/lines/{line_id}", "removeCartLine",
                      "Remove a line; answers the cart. If-Match makes it conditional (412 when stale)");
  r.responses = {{200, cart_schema()}, {404, nullptr}, {409, nullptr}, {412, nullptr}};
  r.request_headers.push_back("If-Match");
  return r;
}

}  // namespace agora::cart::http_codec
