#include "address_http.hpp"

#include "address_rules.hpp"

#include <agora/rest.hpp>

#include <boost/beast/http/field.hpp>

namespace agora::customers {

namespace {

using json = nlohmann::json;
using http::object_reader;
using http::page_schema;
namespace bhttp = boost::beast::http;

constexpr std::string_view collection = "/v1/customers/me/addresses";

std::string render(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

http::route doc(http::verb method, std::string pattern, std::string operation_id, std::string summary) {
  auto r = http::describe(method, std::move(pattern), std::move(operation_id), std::move(summary));
  r.who = access::signed_in("account");
  return r;
}

json text(std::size_t min, std::size_t max) { return {{"type", "string"}, {"minLength", min}, {"maxLength", max}}; }
json nullable_text(std::size_t max) {
  return {{"type", json::array({"string", "null"})}, {"maxLength", max}};
}
json kind_schema() { return {{"type", "string"}, {"enum", json::array({"shipping", "billing"})}}; }

json field_schemas(bool patch) {
  return {{"kind", kind_schema()},
          {"is_default",
           {{"type", "boolean"},
            {"description", "Makes it the default of its kind, clearing the previous one; the first address of a "
                            "kind is always made the default"}}},
          {"recipient", text(1, 200)},
          {"line1", text(1, 200)},
          {"line2", nullable_text(200)},
          {"city", text(1, 100)},
          {"region", nullable_text(100)},
          {"postal_code", {{"type", "string"}, {"pattern", "^[A-Za-z0-9 -]{1,20}$"}}},
          {"country",
           {{"type", "string"}, {"pattern", "^[A-Z]{2}$"}, {"description", "ISO 3166-1 alpha-2, upper case"}}},
          {"phone",
           {{"type", json::array({"string", "null"})},
            {"pattern", "^[0-9 +()-]{1,32}$"},
            {"description", patch ? "null clears it" : "Digits, spaces, + - ( )"}}}};
}

json address_schema() {
  auto props = field_schemas(false);
  props["id"] = {{"type", "string"}, {"pattern", "^adr_[0-9A-HJKMNP-TV-Z]{26}$"}};
  props["version"] = {{"type", "integer"}, {"description", "The ETag is this, quoted"}};
  props["created_at"] = {{"type", "string"}, {"format", "date-time"}};
  props["updated_at"] = {{"type", "string"}, {"format", "date-time"}};
  return {{"type", "object"},
          {"required", json::array({"id", "kind", "is_default", "recipient", "line1", "line2", "city", "region",
                                    "postal_code", "country", "phone", "version", "created_at", "updated_at"})},
          {"properties", std::move(props)}};
}

// A nullable member of a create body: null is the same as absent.
std::optional<std::string> optional_string(object_reader& body, std::string_view key) {
  auto v = body.nullable_string(key);
  if (!v || !*v) return std::nullopt;
  return std::move(*v);
}

result<create_address_request> decode_create(http::request_context& ctx) {
  std::vector<field_error> errors;
  object_reader body(ctx.body, "",
                     {"kind", "is_default", "recipient", "line1", "line2", "city", "region", "postal_code", "country",
                      "phone"},
                     errors);
  if (!body.ok()) return error::invalid(std::move(errors));
  create_address_request r;
  if (auto v = body.string("kind", true)) r.kind = std::move(*v);
  if (auto v = body.boolean("is_default", false)) r.is_default = *v;
  if (auto v = body.string("recipient", true)) r.recipient = std::move(*v);
  if (auto v = body.string("line1", true)) r.line1 = std::move(*v);
  r.line2 = optional_string(body, "line2");
  if (auto v = body.string("city", true)) r.city = std::move(*v);
  r.region = optional_string(body, "region");
  if (auto v = body.string("postal_code", true)) r.postal_code = std::move(*v);
  if (auto v = body.string("country", true)) r.country = std::move(*v);
  r.phone = optional_string(body, "phone");
  errors = http::merge_field_errors(std::move(errors), normalize_and_validate(r));
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

result<list_addresses_request> decode_list(http::request_context& ctx) {
  std::vector<field_error> errors;
  list_addresses_request r;
  http::read_page_query(ctx, r.limit, r.cursor, errors);
  if (auto kind = ctx.query_param("kind")) {
    r.kind = std::string(*kind);
    if (!is_address_kind(*r.kind)) errors.push_back({"kind", "must be shipping or billing"});
  }
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

result<get_address_request> decode_get(http::request_context& ctx) {
  return get_address_request{http::path_param(ctx, "id")};
}

result<update_address_request> decode_update(http::request_context& ctx) {
  std::vector<field_error> errors;
  object_reader body(ctx.body, "",
                     {"kind", "is_default", "recipient", "line1", "line2", "city", "region", "postal_code", "country",
                      "phone"},
                     errors);
  if (!body.ok()) return error::invalid(std::move(errors));
  update_address_request r;
  r.id = http::path_param(ctx, "id");
  r.expected_version = http::if_match(ctx);
  r.kind = body.string("kind", false);
  r.is_default = body.boolean("is_default", false);
  r.recipient = body.string("recipient", false);
  r.line1 = body.string("line1", false);
  r.line2 = body.nullable_string("line2");
  r.city = body.string("city", false);
  r.region = body.nullable_string("region");
  r.postal_code = body.string("postal_code", false);
  r.country = body.string("country", false);
  r.phone = body.nullable_string("phone");
  errors = http::merge_field_errors(std::move(errors), normalize_and_validate(r));
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

result<delete_address_request> decode_delete(http::request_context& ctx) {
  return delete_address_request{http::path_param(ctx, "id"), http::if_match(ctx)};
}

http::response address_response(int status, const address& a, http::request_context& ctx) {
  return http::versioned(status, a.version, ctx, [&] { return render(json(a)); });
}

http::response encode_created(const address& a, http::request_context& ctx) {
  auto res = address_response(201, a, ctx);
  res.set(bhttp::field::location, std::string(collection) + "/" + a.id);
  return res;
}

http::response encode_address(const address& a, http::request_context& ctx) { return address_response(200, a, ctx); }

http::response encode_page(const address_page& p, http::request_context&) {
  return http::json_text(200, render(json(p)));
}

http::response encode_removed(const address_removed&, http::request_context&) { return http::no_content(); }

}  // namespace

void add_address_routes(module_decl<service>& decl) {
  const std::string item = std::string(collection) + "/{id}";

  auto r = doc(http::verb::post, std::string(collection), "createAddress",
               "Add an address to the signed-in account (at most 50); answers 201 with Location and ETag");
  r.request_schema = {{"type", "object"},
                      {"required", json::array({"kind", "recipient", "line1", "city", "postal_code", "country"})},
                      {"additionalProperties", false},
                      {"properties", field_schemas(false)}};
  r.responses = {{201, address_schema()}, {409, nullptr}, {422, nullptr}};
  decl.route<create_address>(r, decode_create, encode_created);

  r = doc(http::verb::get, std::string(collection), "listAddresses",
          "The signed-in account's addresses in creation order, a page at a time");
  r.query = http::page_query_docs("", 20);
  r.query.push_back({"kind", "string", "Only addresses of this kind: shipping or billing"});
  r.responses = {{200, page_schema(address_schema())}, {422, nullptr}};
  decl.route<list_addresses>(r, decode_list, encode_page);

  r = doc(http::verb::get, item, "getAddress",
          "One of the signed-in account's addresses with its ETag; If-None-Match with that ETag answers 304");
  r.request_headers = {"If-None-Match"};
  r.responses = {{200, address_schema()}, {304, nullptr}, {404, nullptr}};
  decl.route<get_address>(r, decode_get, encode_address);

  r = doc(http::verb::patch, item, "updateAddress",
          "Change some fields of an address (null clears line2, region or phone). If-Match with its ETag makes the "
          "change conditional (412 when it has changed)");
  r.request_schema = {{"type", "object"}, {"additionalProperties", false}, {"properties", field_schemas(true)}};
  r.request_headers = {"If-Match"};
  r.responses = {{200, address_schema()}, {404, nullptr}, {412, nullptr}, {422, nullptr}};
  decl.route<update_address>(r, decode_update, encode_address);

  r = doc(http::verb::delete_, item, "deleteAddress",
          "Delete an address; deleting the default leaves its kind without one. If-Match makes it conditional");
  r.request_headers = {"If-Match"};
  r.responses = {{204, nullptr}, {404, nullptr}, {412, nullptr}};
  decl.route<delete_address>(r, decode_delete, encode_removed);
}

}  // namespace agora::customers
