#include "http_codec.hpp"

#include <agora/rest.hpp>

#include <boost/beast/http/field.hpp>

namespace agora::inventory::http_codec {

namespace {

using json = nlohmann::json;
namespace bhttp = boost::beast::http;
using http::object_reader;
using http::page_schema;

access staff_read() {
  return access::any_role({std::string(roles::clerk), std::string(roles::manager), std::string(roles::admin)},
                          "inventory:read");
}
access staff_write() {
  return access::any_role({std::string(roles::clerk), std::string(roles::manager), std::string(roles::admin)},
                          "inventory:write");
}
access managers() {
  return access::any_role({std::string(roles::manager), std::string(roles::admin)}, "inventory:write");
}
access admins() { return access::any_role({std::string(roles::admin)}, "inventory:write"); }

http::route doc(http::verb method, std::string pattern, std::string operation_id, std::string summary, access who) {
  auto r = http::describe(method, std::move(pattern), std::move(operation_id), std::move(summary));
  r.tag = "inventory";
  r.who = std::move(who);
  return r;
}

json integer_schema(std::int64_t min) { return {{"type", "integer"}, {"minimum", min}}; }
json string_schema() { return {{"type", "string"}}; }
json time_schema() { return {{"type", "string"}, {"format", "date-time"}}; }

json object_schema(std::vector<std::string> required, json properties) {
  return {{"type", "object"}, {"required", required}, {"properties", std::move(properties)}};
}

json line_schema() {
  return object_schema({"sku", "quantity"}, {{"sku", {{"type", "string"}, {"pattern", "^[A-Za-z0-9._-]{1,64}$"}}},
                                             {"quantity", integer_schema(1)}});
}
json lines_schema() { return {{"type", "array"}, {"minItems", 1}, {"maxItems", 100}, {"items", line_schema()}}; }

json level_schema() {
  return object_schema(
      {"sku", "location", "on_hand", "reserved", "available", "low_stock_threshold", "version", "updated_at"},
      {{"sku", string_schema()},
       {"location", string_schema()},
       {"on_hand", integer_schema(0)},
       {"reserved", integer_schema(0)},
       {"available", integer_schema(0)},
       {"low_stock_threshold", {{"type", json::array({"integer", "null"})}}},
       {"version", integer_schema(0)},
       {"updated_at", time_schema()}});
}

json reservation_schema() {
  return object_schema(
      {"id", "location", "lines", "status", "reason", "expires_at", "created_at", "updated_at"},
      {{"id", string_schema()},
       {"location", string_schema()},
       {"lines", {{"type", "array"}, {"items", line_schema()}}},
       {"status", {{"type", "string"}, {"enum", json::array({"active", "released", "committed", "expired"})}}},
       {"reason", {{"type", json::array({"string", "null"})}}},
       {"expires_at", time_schema()},
       {"created_at", time_schema()},
       {"updated_at", time_schema()}});
}

json transfer_schema() {
  json line =
      object_schema({"sku", "quantity", "received"},
                    {{"sku", string_schema()}, {"quantity", integer_schema(1)}, {"received", integer_schema(0)}});
  return object_schema(
      {"id", "from", "to", "lines", "status", "created_at", "updated_at"},
      {{"id", string_schema()},
       {"from", string_schema()},
       {"to", string_schema()},
       {"lines", {{"type", "array"}, {"items", std::move(line)}}},
       {"status",
        {{"type", "string"}, {"enum", json::array({"in_transit", "partially_received", "received", "canceled"})}}},
       {"created_at", time_schema()},
       {"updated_at", time_schema()}});
}

json location_schema() {
  return object_schema({"id", "name", "kind", "created_at"},
                       {{"id", {{"type", "string"}, {"pattern", "^[a-z0-9-]{1,64}$"}}},
                        {"name", string_schema()},
                        {"kind", {{"type", "string"}, {"enum", json::array({"warehouse", "store"})}}},
                        {"created_at", time_schema()}});
}

std::string render(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Reads `lines`: an array of {"sku", "quantity"}.
std::vector<stock_line> read_lines(object_reader& body, std::vector<field_error>& errors) {
  std::vector<stock_line> out;
  const json* v = body.member("lines", true);
  if (!v) return out;
  if (!v->is_array()) {
    body.fail("lines", "expected an array");
    return out;
  }
  for (std::size_t i = 0; i < v->size(); ++i) {
    object_reader line((*v)[i], body.name("lines") + "[" + std::to_string(i) + "]", {"sku", "quantity"}, errors);
    stock_line l;
    if (auto s = line.string("sku", true)) l.sku = std::move(*s);
    if (auto q = line.integer("quantity", true)) l.quantity = *q;
    out.push_back(std::move(l));
  }
  return out;
}

std::optional<std::string> query(const http::request_context& ctx, std::string_view name) {
  if (auto v = ctx.query_param(name)) return std::string(*v);
  return std::nullopt;
}

template <class T>
result<T> checked(T value, std::vector<field_error>& errors) {
  if (!errors.empty()) return error::invalid(std::move(errors));
  return value;
}

http::response level_response(const stock_level& l, http::request_context& ctx) {
  return http::versioned(200, l.version, ctx, [&] { return render(json(l)); });
}

template <class T>
http::response ok(const T& v, http::request_context&) {
  return http::json_body(200, v);
}

}  // namespace

void add_routes(module_decl<service>& decl) {
  auto r = doc(http::verb::get, "/v1/inventory/levels", "listStockLevels",
               "Stock levels in (sku, location) order, filtered by sku or location, a page at a time", staff_read());
  r.responses = {{200, page_schema(level_schema())}, {422, nullptr}};
  r.query = http::page_query_docs("modules.inventory.page_limit_max (100 by default)", 20);
  r.query.push_back({"sku", "string", "Only this SKU"});
  r.query.push_back({"location", "string", "Only this location"});
  decl.route<get_levels>(
      r,
      [](http::request_context& ctx) -> result<get_levels_request> {
        std::vector<field_error> errors;
        get_levels_request req;
        http::read_page_query(ctx, req.limit, req.cursor, errors);
        req.sku = query(ctx, "sku");
        req.location = query(ctx, "location");
        return checked(std::move(req), errors);
      },
      ok<level_page>);

  r = doc(http::verb::get, "/v1/inventory/levels/{sku}", "getStockLevel",
          "The stock of one SKU at one location (web when the query names none), with its ETag", staff_read());
  r.responses = {{200, level_schema()}, {304, nullptr}, {404, nullptr}, {422, nullptr}};
  r.query = {{"location", "string", "The location; web by default"}};
  decl.route<get_level>(
      r,
      [](http::request_context& ctx) -> result<get_level_request> {
        return get_level_request{http::path_param(ctx, "sku"),
                                 query(ctx, "location").value_or(std::string(web_location))};
      },
      level_response);

  r = doc(http::verb::post, "/v1/inventory/adjustments", "adjustStock",
          "Add delta (negative: remove) to a SKU's on-hand stock at a location, with a reason; never below what is "
          "reserved (409). Managers and admins",
          managers());
  r.request_schema = object_schema({"sku", "location", "delta", "reason"},
                                   {{"sku", string_schema()},
                                    {"location", string_schema()},
                                    {"delta", {{"type", "integer"}}},
                                    {"reason", {{"type", "string"}, {"minLength", 1}, {"maxLength", 200}}}});
  r.responses = {{201, level_schema()}, {404, nullptr}, {409, nullptr}, {422, nullptr}};
  decl.route<adjust>(
      r,
      [](http::request_context& ctx) -> result<adjust_request> {
        std::vector<field_error> errors;
        object_reader body(ctx.body, "", {"sku", "location", "delta", "reason"}, errors);
        adjust_request req;
        if (auto s = body.string("sku", true)) req.sku = std::move(*s);
        if (auto s = body.string("location", true)) req.location = std::move(*s);
        if (auto d = body.integer("delta", true)) req.delta = *d;
        if (auto s = body.string("reason", true)) req.reason = std::move(*s);
        return checked(std::move(req), errors);
      },
      [](const stock_level& l, http::request_context& ctx) {
        auto res = http::versioned(201, l.version, ctx, [&] { return render(json(l)); });
        res.set(bhttp::field::location, "/v1/inventory/levels/" + l.sku + "?location=" + l.location);
        return res;
      });

  r = doc(http::verb::post, "/v1/inventory/reservations", "reserveStock",
          "Hold stock for every line at a location, all or nothing (409 naming each short line). Idempotent by "
          "reservation_id: a known id answers its reservation as it is; without one an rsv_ id is made",
          staff_write());
  r.request_schema = object_schema({"location", "lines"}, {{"reservation_id", string_schema()},
                                                           {"location", string_schema()},
                                                           {"lines", lines_schema()},
                                                           {"ttl_s", integer_schema(1)}});
  r.responses = {{201, reservation_schema()}, {404, nullptr}, {409, nullptr}, {422, nullptr}};
  decl.route<reserve>(
      r,
      [](http::request_context& ctx) -> result<reserve_request> {
        std::vector<field_error> errors;
        object_reader body(ctx.body, "", {"reservation_id", "location", "lines", "ttl_s"}, errors);
        reserve_request req;
        if (auto s = body.string("reservation_id", false)) req.reservation_id = std::move(*s);
        if (auto s = body.string("location", true)) req.location = std::move(*s);
        req.lines = read_lines(body, errors);
        req.ttl_s = body.integer("ttl_s", false);
        return checked(std::move(req), errors);
      },
      [](const reservation& v, http::request_context&) {
        auto res = http::json_body(201, v);
        res.set(bhttp::field::location, "/v1/inventory/reservations/" + v.id);
        return res;
      });

  r = doc(http::verb::get, "/v1/inventory/reservations/{id}", "getReservation", "A reservation", staff_read());
  r.responses = {{200, reservation_schema()}, {404, nullptr}, {422, nullptr}};
  decl.route<get_reservation>(
      r,
      [](http::request_context& ctx) -> result<get_reservation_request> {
        return get_reservation_request{http::path_param(ctx, "id")};
      },
      ok<reservation>);

  r = doc(http::verb::post, "/v1/inventory/reservations/{id}/release", "releaseReservation",
          "Give a reservation's stock back; releasing a released or expired one answers it, a committed one is 409",
          staff_write());
  r.request_schema = {{"type", "object"}, {"properties", {{"reason", {{"type", "string"}, {"maxLength", 200}}}}}};
  r.body_optional = true;
  r.responses = {{200, reservation_schema()}, {404, nullptr}, {409, nullptr}, {422, nullptr}};
  decl.route<release>(
      r,
      [](http::request_context& ctx) -> result<release_request> {
        std::vector<field_error> errors;
        release_request req;
        req.reservation_id = http::path_param(ctx, "id");
        if (!ctx.body.is_null()) {
          object_reader body(ctx.body, "", {"reason"}, errors);
          if (auto s = body.string("reason", false)) req.reason = std::move(*s);
        }
        return checked(std::move(req), errors);
      },
      ok<reservation>);

  r = doc(http::verb::post, "/v1/inventory/reservations/{id}/commit", "commitReservation",
          "The reserved goods left: on-hand and reserved both fall. Idempotent; a released or expired reservation "
          "is 409",
          staff_write());
  r.responses = {{200, reservation_schema()}, {404, nullptr}, {409, nullptr}, {422, nullptr}};
  decl.route<commit>(
      r,
      [](http::request_context& ctx) -> result<commit_request> { return commit_request{http::path_param(ctx, "id")}; },
      ok<reservation>);

  r = doc(http::verb::post, "/v1/inventory/transfers", "createTransfer",
          "Ship stock from one location to another: it leaves from at once (409 when not available) and is in "
          "transit until received",
          staff_write());
  r.request_schema = object_schema({"from", "to", "lines"},
                                   {{"from", string_schema()}, {"to", string_schema()}, {"lines", lines_schema()}});
  r.responses = {{201, transfer_schema()}, {404, nullptr}, {409, nullptr}, {422, nullptr}};
  decl.route<create_transfer>(
      r,
      [](http::request_context& ctx) -> result<create_transfer_request> {
        std::vector<field_error> errors;
        object_reader body(ctx.body, "", {"from", "to", "lines"}, errors);
        create_transfer_request req;
        if (auto s = body.string("from", true)) req.from = std::move(*s);
        if (auto s = body.string("to", true)) req.to = std::move(*s);
        req.lines = read_lines(body, errors);
        return checked(std::move(req), errors);
      },
      [](const transfer& t, http::request_context&) {
        auto res = http::json_body(201, t);
        res.set(bhttp::field::location, "/v1/inventory/transfers/" + t.id);
        return res;
      });

  r = doc(http::verb::get, "/v1/inventory/transfers/{id}", "getTransfer", "A transfer", staff_read());
  r.responses = {{200, transfer_schema()}, {404, nullptr}};
  decl.route<get_transfer>(
      r,
      [](http::request_context& ctx) -> result<get_transfer_request> {
        return get_transfer_request{http::path_param(ctx, "id")};
      },
      ok<transfer>);

  r = doc(http::verb::post, "/v1/inventory/transfers/{id}/receive", "receiveTransfer",
          "Record what arrived at the destination (never more than is still in transit)", staff_write());
  r.request_schema = object_schema({"lines"}, {{"lines", lines_schema()}});
  r.responses = {{200, transfer_schema()}, {404, nullptr}, {409, nullptr}, {422, nullptr}};
  decl.route<receive_transfer>(
      r,
      [](http::request_context& ctx) -> result<receive_transfer_request> {
        std::vector<field_error> errors;
        object_reader body(ctx.body, "", {"lines"}, errors);
        receive_transfer_request req;
        req.id = http::path_param(ctx, "id");
        req.lines = read_lines(body, errors);
        return checked(std::move(req), errors);
      },
      ok<transfer>);

  r = doc(http::verb::put, "/v1/inventory/thresholds", "setLowStockThreshold",
          "Set (or with null clear) the low-stock threshold of a SKU at a location", staff_write());
  r.request_schema = object_schema({"sku", "location", "threshold"},
                                   {{"sku", string_schema()},
                                    {"location", string_schema()},
                                    {"threshold", {{"type", json::array({"integer", "null"})}, {"minimum", 0}}}});
  r.responses = {{200, level_schema()}, {404, nullptr}, {422, nullptr}};
  decl.route<set_threshold>(
      r,
      [](http::request_context& ctx) -> result<set_threshold_request> {
        std::vector<field_error> errors;
        object_reader body(ctx.body, "", {"sku", "location", "threshold"}, errors);
        set_threshold_request req;
        if (auto s = body.string("sku", true)) req.sku = std::move(*s);
        if (auto s = body.string("location", true)) req.location = std::move(*s);
        if (const json* t = body.member("threshold", true); t && !t->is_null())
          req.threshold = body.integer("threshold", true);
        return checked(std::move(req), errors);
      },
      ok<stock_level>);

  r = doc(http::verb::get, "/v1/inventory/low-stock", "listLowStock",
          "Levels whose available stock is at or below their threshold", staff_read());
  r.responses = {{200, page_schema(level_schema())}, {422, nullptr}};
  r.query = http::page_query_docs("modules.inventory.page_limit_max (100 by default)", 20);
  r.query.push_back({"location", "string", "Only this location"});
  decl.route<list_low_stock>(
      r,
      [](http::request_context& ctx) -> result<list_low_stock_request> {
        std::vector<field_error> errors;
        list_low_stock_request req;
        http::read_page_query(ctx, req.limit, req.cursor, errors);
        req.location = query(ctx, "location");
        return checked(std::move(req), errors);
      },
      ok<level_page>);

  r = doc(http::verb::get, "/v1/inventory/locations", "listLocations", "Locations in id order", staff_read());
  r.responses = {{200, page_schema(location_schema())}, {422, nullptr}};
  r.query = http::page_query_docs("modules.inventory.page_limit_max (100 by default)", 20);
  decl.route<list_locations>(
      r,
      [](http::request_context& ctx) -> result<list_locations_request> {
        std::vector<field_error> errors;
        list_locations_request req;
        http::read_page_query(ctx, req.limit, req.cursor, errors);
        return checked(std::move(req), errors);
      },
      ok<location_page>);

  r = doc(http::verb::post, "/v1/inventory/locations", "createLocation", "Add a warehouse or store. Admins", admins());
  r.request_schema =
      object_schema({"id", "name"}, {{"id", {{"type", "string"}, {"pattern", "^[a-z0-9-]{1,64}$"}}},
                                     {"name", string_schema()},
                                     {"kind", {{"type", "string"}, {"enum", json::array({"warehouse", "store"})}}}});
  r.responses = {{201, location_schema()}, {409, nullptr}, {422, nullptr}};
  decl.route<create_location>(
      r,
      [](http::request_context& ctx) -> result<create_location_request> {
        std::vector<field_error> errors;
        object_reader body(ctx.body, "", {"id", "name", "kind"}, errors);
        create_location_request req;
        if (auto s = body.string("id", true)) req.id = std::move(*s);
        if (auto s = body.string("name", true)) req.name = std::move(*s);
        if (auto s = body.string("kind", false)) {
          auto k = location_kind_from_string(*s);
          if (k)
            req.kind = *k;
          else
            body.fail("kind", "expected \"warehouse\" or \"store\"");
        }
        return checked(std::move(req), errors);
      },
      [](const location& l, http::request_context&) {
        auto res = http::json_body(201, l);
        res.set(bhttp::field::location, "/v1/inventory/locations/" + l.id);
        return res;
      });
}

}  // namespace agora::inventory::http_codec
