#include "http_codec.hpp"
#include "search_query.hpp"
#include "validation.hpp"

#include <agora/rest.hpp>

#include <boost/beast/http/field.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>

namespace agora::catalog::http_codec {

namespace {

using json = nlohmann::json;
namespace bhttp = boost::beast::http;

using http::money_schema;
using http::object_reader;
using http::page_schema;

std::optional<product_status> read_status(object_reader& body, std::string_view key) {
  const json* v = body.member(key, false);
  if (!v) return std::nullopt;
  auto s = v->is_string() ? product_status_from_string(v->get_ref<const std::string&>()) : std::nullopt;
  if (!s) body.fail(key, "expected \"active\" or \"archived\"");
  return s;
}

std::string path_id(const http::request_context& ctx) { return http::path_param(ctx, "id"); }

std::string render(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

http::response product_response(int status, const product_reply& r, http::request_context& ctx) {
  return http::versioned(status, r.item.version, ctx, [&] { return r.json ? *r.json : render(json(r.item)); });
}

http::response category_response(int status, const category& c, http::request_context& ctx) {
  return http::versioned(status, c.version, ctx, [&] { return render(json(c)); });
}

json id_schema(std::string_view prefix) {
  return {{"type", "string"}, {"pattern", "^" + std::string(prefix) + "_[0-9A-HJKMNP-TV-Z]{26}$"}};
}

json nullable(json schema) {
  schema["type"] = json::array({schema["type"], "null"});
  return schema;
}

json status_schema() { return {{"type", "string"}, {"enum", json::array({"active", "archived"})}}; }

json sku_schema() {
  return {{"type", "string"}, {"minLength", 1}, {"maxLength", sku_max}, {"pattern", "^[A-Za-z0-9._-]{1,64}$"}};
}

json text_schema(std::size_t min, std::size_t max) {
  return {{"type", "string"}, {"minLength", min}, {"maxLength", max}};
}

json time_schema() { return {{"type", "string"}, {"format", "date-time"}}; }

json tax_class_schema();
json variant_schema();

json product_schema() {
  return {{"type", "object"},
          {"required", json::array({"id", "sku", "name", "description", "price", "category_id", "status", "version",
                                    "created_at", "updated_at", "tax_class", "variants"})},
          {"properties",
           {{"id", id_schema("prod")},
            {"sku", sku_schema()},
            {"name", text_schema(1, product_name_max)},
            {"description", text_schema(0, description_max)},
            {"price", money_schema()},
            {"category_id", nullable(id_schema("cat"))},
            {"status", status_schema()},
            {"version", {{"type", "integer"}, {"minimum", 1}, {"description", "The ETag is this, quoted"}}},
            {"created_at", time_schema()},
            {"updated_at", time_schema()},
            {"tax_class", tax_class_schema()},
            {"variants",
             {{"type", "array"},
              {"items", variant_schema()},
              {"description", "The default variant (the product's sku and price) first, then in creation order"}}}}}};
}

json tax_class_schema() {
  return {{"type", "string"}, {"enum", json::array({"standard", "reduced", "zero"})}, {"default", "standard"}};
}

json barcode_schema() {
  return {{"type", "string"},
          {"pattern", "^([0-9]{12}|[0-9]{13})$"},
          {"description",
           "EAN-13, or UPC-A (12 digits, stored and answered as its EAN-13: \"0\" + the digits); the "
           "check digit is verified"}};
}

json variant_schema() {
  return {{"type", "object"},
          {"required", json::array({"id", "product_id", "sku", "barcode", "name", "price", "is_default", "version",
                                    "created_at", "updated_at"})},
          {"properties",
           {{"id", id_schema("var")},
            {"product_id", id_schema("prod")},
            {"sku", sku_schema()},
            {"barcode", nullable(barcode_schema())},
            {"name", text_schema(0, variant_name_max)},
            {"price", money_schema()},
            {"is_default", {{"type", "boolean"}, {"description", "The product's own sku and price; never deleted"}}},
            {"version", {{"type", "integer"}, {"minimum", 1}, {"description", "The ETag is this, quoted"}}},
            {"created_at", time_schema()},
            {"updated_at", time_schema()}}}};
}

json variant_info_schema() {
  return {{"type", "object"},
          {"required", json::array({"variant", "product_name", "tax_class", "status"})},
          {"properties",
           {{"variant", variant_schema()},
            {"product_name", text_schema(1, product_name_max)},
            {"tax_class", tax_class_schema()},
            {"status", status_schema()}}}};
}

json create_variant_schema() {
  return {{"type", "object"},
          {"required", json::array({"sku", "price"})},
          {"additionalProperties", false},
          {"properties",
           {{"sku", sku_schema()},
            {"barcode", nullable(barcode_schema())},
            {"name", text_schema(0, variant_name_max)},
            {"price", money_schema()}}}};
}

json update_variant_schema() {
  auto s = create_variant_schema();
  s.erase("required");
  s["description"] = "Only the fields present change; barcode null removes it";
  return s;
}

json import_report_schema() {
  return {{"type", "object"},
          {"required", json::array({"rows", "created", "updated", "unchanged", "errors", "error_count"})},
          {"properties",
           {{"rows", {{"type", "integer"}}},
            {"created", {{"type", "integer"}}},
            {"updated", {{"type", "integer"}}},
            {"unchanged", {{"type", "integer"}}},
            {"errors",
             {{"type", "array"},
              {"items",
               {{"type", "object"},
                {"properties",
                 {{"line", {{"type", "integer"}}}, {"sku", {{"type", "string"}}}, {"reason", {{"type", "string"}}}}}}},
              {"description", "The rows refused, by line number (at most 1000 listed)"}}},
            {"error_count", {{"type", "integer"}}}}}};
}

json category_schema() {
  return {{"type", "object"},
          {"required", json::array({"id", "name", "parent_id", "description", "version", "created_at", "updated_at"})},
          {"properties",
           {{"id", id_schema("cat")},
            {"name", text_schema(1, category_name_max)},
            {"parent_id", nullable(id_schema("cat"))},
            {"description", text_schema(0, description_max)},
            {"version", {{"type", "integer"}, {"minimum", 1}}},
            {"created_at", time_schema()},
            {"updated_at", time_schema()}}}};
}

json search_results_schema() {
  return {
      {"type", "object"},
      {"required", json::array({"data", "all_words"})},
      {"properties",
       {{"data",
         {{"type", "array"},
          {"items",
           {{"type", "object"},
            {"required", json::array({"product", "score", "snippet"})},
            {"properties",
             {{"product", product_schema()},
              {"score",
               {{"type", "number"}, {"description", "Relevance, higher is better; comparable only within one reply"}}},
              {"snippet",
               {{"type", "string"},
                {"description", "Plain text from the description around the matched words, cut with …"}}}}}}}}},
        {"all_words",
         {{"type", "boolean"},
          {"description", "false when no product matched every word and the hits match some of them"}}}}}};
}

json barcode_schema();

json create_product_schema() {
  return {{"type", "object"},
          {"required", json::array({"sku", "name", "price"})},
          {"additionalProperties", false},
          {"properties",
           {{"sku", sku_schema()},
            {"name", text_schema(1, product_name_max)},
            {"description", text_schema(0, description_max)},
            {"price", money_schema()},
            {"category_id", nullable(id_schema("cat"))},
            {"status", status_schema()},
            {"tax_class", tax_class_schema()},
            {"barcode", nullable(barcode_schema())}}}};
}

json update_product_schema() {
  auto s = create_product_schema();
  s.erase("required");
  s["properties"].erase("barcode");
  s["description"] = "Only the fields present change; category_id null removes the category";
  return s;
}

json create_category_schema() {
  return {{"type", "object"},
          {"required", json::array({"name"})},
          {"additionalProperties", false},
          {"properties",
           {{"name", text_schema(1, category_name_max)},
            {"parent_id", nullable(id_schema("cat"))},
            {"description", text_schema(0, description_max)}}}};
}

json update_category_schema() {
  auto s = create_category_schema();
  s.erase("required");
  s["description"] = "Only the fields present change; parent_id null makes it a root category";
  return s;
}

http::route make_route(http::verb method, std::string pattern, std::string operation_id, std::string summary) {
  auto r = http::describe(method, std::move(pattern), std::move(operation_id), std::move(summary));
  r.tag = "catalog";
  // Reads are open to anyone; changes are for managers and admins (or a key with
  // catalog:write).
  if (method == http::verb::get)
    r.who = access::anyone();
  else
    r.who = access::any_role({std::string(roles::manager), std::string(roles::admin)}, "catalog:write");
  return r;
}

// price_min, price_max, currency and in_stock from the query string.
template <class R>
void read_filter_query(const http::request_context& ctx, R& r, std::vector<field_error>& errors) {
  auto amount = [&](std::string_view key, std::optional<std::int64_t>& into) {
    auto v = ctx.query_param(key);
    if (!v) return;
    std::int64_t n = 0;
    auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc() || ptr != v->data() + v->size() || v->empty())
      errors.push_back({std::string(key), "must be an integer amount of minor units"});
    else
      into = n;
  };
  amount("price_min", r.price_min);
  amount("price_max", r.price_max);
  if (auto c = ctx.query_param("currency")) r.currency = std::string(*c);
  if (auto s = ctx.query_param("in_stock")) {
    if (*s == "true")
      r.in_stock = true;
    else if (*s == "false")
      r.in_stock = false;
    else
      errors.push_back({"in_stock", "expected true or false"});
  }
  check_filters(r.price_min, r.price_max, r.currency, errors);
}

void add_filter_docs(std::vector<http::query_param_doc>& q) {
  q.push_back({"price_min", "integer", "Only products with a variant priced at least this (minor units of currency)"});
  q.push_back({"price_max", "integer", "Only products with a variant priced at most this (minor units of currency)"});
  q.push_back({"currency", "string", "The ISO 4217 currency of price_min/price_max; required with either, only then"});
  q.push_back({"in_stock", "boolean",
               "true: only products with a variant available somewhere (the catalog's copy of inventory's levels); "
               "false: only those with none"});
}

std::vector<http::query_param_doc> page_query() {
  return http::page_query_docs("modules.catalog.page_limit_max (100 by default)", 20);
}

}  // namespace

result<create_product_request> decode_create_product(http::request_context& ctx) {
  std::vector<field_error> errors;
  object_reader body(ctx.body, "",
                     {"sku", "name", "description", "price", "category_id", "status", "tax_class", "barcode"}, errors);
  create_product_request r;
  bool complete = true;
  auto take = [&](auto opt, auto& into) {
    if (opt)
      into = std::move(*opt);
    else
      complete = false;
  };
  take(body.string("sku", true), r.sku);
  take(body.string("name", true), r.name);
  if (auto d = body.string("description", false)) r.description = std::move(*d);
  take(body.money_value("price", true), r.price);
  if (auto c = body.nullable_string("category_id")) r.category_id = std::move(*c);
  if (auto s = read_status(body, "status")) r.status = *s;
  if (auto t = body.string("tax_class", false)) r.tax_class = std::move(*t);
  if (auto b = body.nullable_string("barcode"); b && *b) r.barcode = std::move(*b);
  if (!body.ok()) return error::invalid(std::move(errors));
  auto value_errors = normalize_and_validate(r);
  if (!complete) {
    // Fields that failed to parse hold placeholders; report only the others' value errors.
    std::erase_if(value_errors, [&](const field_error& e) {
      return std::any_of(errors.begin(), errors.end(), [&](const field_error& t) {
        return e.field == t.field || e.field.starts_with(t.field + ".") || t.field.starts_with(e.field + ".");
      });
    });
  }
  errors = http::merge_field_errors(std::move(errors), std::move(value_errors));
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

result<get_product_request> decode_get_product(http::request_context& ctx) { return get_product_request{path_id(ctx)}; }

result<list_products_request> decode_list_products(http::request_context& ctx) {
  std::vector<field_error> errors;
  list_products_request r;
  http::read_page_query(ctx, r.limit, r.cursor, errors);
  if (auto c = ctx.query_param("category_id")) r.category_id = std::string(*c);
  if (auto s = ctx.query_param("status")) {
    r.status = product_status_from_string(*s);
    if (!r.status) errors.push_back({"status", "expected \"active\" or \"archived\""});
  }
  read_filter_query(ctx, r, errors);
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

result<search_products_request> decode_search_products(http::request_context& ctx) {
  std::vector<field_error> errors;
  search_products_request r;
  if (auto q = ctx.query_param("q")) {
    r.query = std::string(*q);
    parse_search_query(r.query, "q", errors);
  } else {
    errors.push_back({"q", "is required"});
  }
  http::read_limit_query(ctx, r.limit, errors);
  if (auto c = ctx.query_param("category_id")) {
    r.category_id = std::string(*c);
    check_reference(*r.category_id, "cat", "category_id", errors);
  }
  if (auto s = ctx.query_param("status")) {
    r.status = product_status_from_string(*s);
    if (!r.status) errors.push_back({"status", "expected \"active\" or \"archived\""});
  }
  if (auto cur = ctx.query_param("cursor")) r.cursor = std::string(*cur);
  read_filter_query(ctx, r, errors);
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

result<update_product_request> decode_update_product(http::request_context& ctx) {
  std::vector<field_error> errors;
  object_reader body(ctx.body, "", {"sku", "name", "description", "price", "category_id", "status", "tax_class"},
                     errors);
  update_product_request r;
  r.id = path_id(ctx);
  r.expected_version = http::if_match(ctx);
  r.sku = body.string("sku", false);
  r.name = body.string("name", false);
  r.description = body.string("description", false);
  r.price = body.money_value("price", false);
  r.category_id = body.nullable_string("category_id");
  r.status = read_status(body, "status");
  r.tax_class = body.string("tax_class", false);
  errors = http::merge_field_errors(std::move(errors), normalize_and_validate(r));
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

result<delete_product_request> decode_delete_product(http::request_context& ctx) {
  return delete_product_request{path_id(ctx), http::if_match(ctx)};
}

result<create_variant_request> decode_create_variant(http::request_context& ctx) {
  std::vector<field_error> errors;
  object_reader body(ctx.body, "", {"sku", "barcode", "name", "price"}, errors);
  create_variant_request r;
  r.product_id = path_id(ctx);
  auto sku = body.string("sku", true);
  auto price = body.money_value("price", true);
  if (sku) r.sku = std::move(*sku);
  if (price) r.price = std::move(*price);
  if (auto b = body.nullable_string("barcode"); b && *b) r.barcode = std::move(*b);
  if (auto n = body.string("name", false)) r.name = std::move(*n);
  if (!body.ok()) return error::invalid(std::move(errors));
  auto value_errors = normalize_and_validate(r);
  std::erase_if(value_errors, [](const field_error& e) { return e.field == "product_id"; });
  errors = http::merge_field_errors(std::move(errors), std::move(value_errors));
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

result<update_variant_request> decode_update_variant(http::request_context& ctx) {
  std::vector<field_error> errors;
  object_reader body(ctx.body, "", {"sku", "barcode", "name", "price"}, errors);
  update_variant_request r;
  r.product_id = path_id(ctx);
  r.variant_id = http::path_param(ctx, "variant_id");
  r.expected_version = http::if_match(ctx);
  r.sku = body.string("sku", false);
  r.barcode = body.nullable_string("barcode");
  r.name = body.string("name", false);
  r.price = body.money_value("price", false);
  errors = http::merge_field_errors(std::move(errors), normalize_and_validate(r));
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

result<delete_variant_request> decode_delete_variant(http::request_context& ctx) {
  return delete_variant_request{path_id(ctx), http::path_param(ctx, "variant_id"), http::if_match(ctx)};
}

result<list_variants_request> decode_list_variants(http::request_context& ctx) {
  std::vector<field_error> errors;
  list_variants_request r;
  r.product_id = path_id(ctx);
  http::read_page_query(ctx, r.limit, r.cursor, errors);
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

result<find_variant_request> decode_find_variant(http::request_context& ctx) {
  find_variant_request r;
  if (auto s = ctx.query_param("sku")) r.sku = std::string(*s);
  if (auto b = ctx.query_param("barcode")) r.barcode = std::string(*b);
  return r;
}

result<import_products_request> decode_import(http::request_context& ctx) {
  auto type = ctx.header("Content-Type").value_or("");
  auto media = std::string(type.substr(0, type.find(';')));
  std::transform(media.begin(), media.end(), media.begin(), [](unsigned char ch) { return std::tolower(ch); });
  media = trim(media);
  import_products_request r;
  if (media == "text/csv")
    r.format = "csv";
  else if (media == "application/x-ndjson" || media == "application/jsonl" || media == "application/json" ||
           media == "application/x-jsonlines")
    r.format = "jsonl";
  else
    return error::invalid({{"content_type", "must be text/csv or JSON lines (application/x-ndjson)"}});
  r.body = std::move(ctx.req.body());
  return r;
}

result<create_category_request> decode_create_category(http::request_context& ctx) {
  std::vector<field_error> errors;
  object_reader body(ctx.body, "", {"name", "parent_id", "description"}, errors);
  create_category_request r;
  auto name = body.string("name", true);
  if (name) r.name = std::move(*name);
  if (auto p = body.nullable_string("parent_id")) r.parent_id = std::move(*p);
  if (auto d = body.string("description", false)) r.description = std::move(*d);
  if (!body.ok()) return error::invalid(std::move(errors));
  auto value_errors = normalize_and_validate(r);
  if (!name) std::erase_if(value_errors, [](const field_error& e) { return e.field == "name"; });
  errors = http::merge_field_errors(std::move(errors), std::move(value_errors));
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

result<get_category_request> decode_get_category(http::request_context& ctx) {
  return get_category_request{path_id(ctx)};
}

result<list_categories_request> decode_list_categories(http::request_context& ctx) {
  std::vector<field_error> errors;
  list_categories_request r;
  http::read_page_query(ctx, r.limit, r.cursor, errors);
  if (auto p = ctx.query_param("parent_id")) r.parent_id = std::string(*p);
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

result<update_category_request> decode_update_category(http::request_context& ctx) {
  std::vector<field_error> errors;
  object_reader body(ctx.body, "", {"name", "parent_id", "description"}, errors);
  update_category_request r;
  r.id = path_id(ctx);
  r.expected_version = http::if_match(ctx);
  r.name = body.string("name", false);
  r.parent_id = body.nullable_string("parent_id");
  r.description = body.string("description", false);
  errors = http::merge_field_errors(std::move(errors), normalize_and_validate(r));
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

result<delete_category_request> decode_delete_category(http::request_context& ctx) {
  return delete_category_request{path_id(ctx), http::if_match(ctx)};
}

http::response encode_created_product(const product_reply& r, http::request_context& ctx) {
  auto res = product_response(201, r, ctx);
  res.set(bhttp::field::location, "/v1/products/" + r.item.id);
  return res;
}

http::response encode_product(const product_reply& r, http::request_context& ctx) {
  return product_response(200, r, ctx);
}

http::response encode_product_page(const product_page& r, http::request_context&) { return http::json_body(200, r); }

http::response encode_search_results(const search_results& r, http::request_context&) {
  return http::json_body(200, r);
}

http::response encode_created_category(const category& r, http::request_context& ctx) {
  auto res = category_response(201, r, ctx);
  res.set(bhttp::field::location, "/v1/categories/" + r.id);
  return res;
}

http::response encode_category(const category& r, http::request_context& ctx) { return category_response(200, r, ctx); }

http::response encode_category_page(const category_page& r, http::request_context&) {
  return http::json_body(200, r);
}

http::response encode_deleted(const deleted&, http::request_context&) { return http::no_content(); }

http::response encode_created_variant(const variant& r, http::request_context& ctx) {
  auto res = http::versioned(201, r.version, ctx, [&] { return render(json(r)); });
  res.set(bhttp::field::location, "/v1/products/" + r.product_id + "/variants/" + r.id);
  return res;
}

http::response encode_variant(const variant& r, http::request_context& ctx) {
  return http::versioned(200, r.version, ctx, [&] { return render(json(r)); });
}

http::response encode_variant_page(const variant_page& r, http::request_context&) { return http::json_body(200, r); }

http::response encode_variant_info(const variant_info& r, http::request_context&) { return http::json_body(200, r); }

http::response encode_import_report(const import_report& r, http::request_context&) { return http::json_body(200, r); }

http::route create_product_route() {
  auto r = make_route(http::verb::post, "/v1/products", "createProduct",
                      "Create a product; answers 201 with Location and ETag");
  r.request_schema = create_product_schema();
  r.responses = {{201, product_schema()}, {409, nullptr}, {422, nullptr}};
  return r;
}

http::route get_product_route() {
  auto r = make_route(http::verb::get, "/v1/products/{id}", "getProduct",
                      "Get a product with its ETag; If-None-Match with that ETag answers 304");
  r.responses = {{200, product_schema()}, {304, nullptr}, {404, nullptr}};
  r.request_headers = {"If-None-Match"};
  return r;
}

http::route list_products_route() {
  auto r = make_route(http::verb::get, "/v1/products", "listProducts",
                      "List products in id order (creation order to the millisecond), a page at a time");
  r.responses = {{200, page_schema(product_schema())}, {422, nullptr}};
  r.query = page_query();
  r.query.push_back({"category_id", "string", "Only products of this category and of the categories below it"});
  r.query.push_back({"status", "string", "Only products with this status: active or archived"});
  add_filter_docs(r.query);
  return r;
}

http::route search_products_route() {
  auto r = make_route(
      http::verb::get, "/v1/products/search", "searchProducts",
      "Full-text search of product names, skus and descriptions, most relevant first. The words are plain text "
      "(no query syntax), accents and case are ignored, each word matches as a prefix (\"blu shi\" finds \"Blue "
      "shirt\"); every word must match, and when no product matches them all, any word may (all_words is then false). "
      "Pages follow with next_cursor");
  r.responses = {{200, search_results_schema()}, {422, nullptr}};
  r.query = {{"q", "string",
              "Required. The words to find: 1 to " + std::to_string(search_query_max) + " characters, at most " +
                  std::to_string(search_words_max) + " words"},
             {"limit", "integer", "Most hits: 1 to modules.catalog.search_limit_max (50 by default); default 10"},
             {"category_id", "string", "Only products of this category and of the categories below it"},
             {"status", "string", "Only products with this status: active (the default) or archived"},
             {"cursor", "string",
              "The previous reply's next_cursor, with the same q and filters: the next hits in relevance order"}};
  add_filter_docs(r.query);
  return r;
}

http::route update_product_route() {
  auto r = make_route(http::verb::patch, "/v1/products/{id}", "updateProduct",
                      "Change some fields of a product. If-Match with its ETag makes the change conditional (412 "
                      "when it has changed); without If-Match the last write wins");
  r.request_schema = update_product_schema();
  r.responses = {{200, product_schema()}, {404, nullptr}, {409, nullptr}, {412, nullptr}, {422, nullptr}};
  r.request_headers = {"If-Match"};
  return r;
}

http::route delete_product_route() {
  auto r = make_route(http::verb::delete_, "/v1/products/{id}", "deleteProduct",
                      "Delete a product; If-Match with its ETag makes it conditional (412 when it has changed)");
  r.responses = {{204, nullptr}, {404, nullptr}, {412, nullptr}};
  r.request_headers = {"If-Match"};
  return r;
}

http::route create_variant_route() {
  auto r = make_route(http::verb::post, "/v1/products/{id}/variants", "createVariant",
                      "Add a variant (its own sku, barcode and price) to a product; answers 201 with Location and "
                      "ETag");
  r.request_schema = create_variant_schema();
  r.responses = {{201, variant_schema()}, {404, nullptr}, {409, nullptr}, {422, nullptr}};
  return r;
}

http::route update_variant_route() {
  auto r = make_route(http::verb::patch, "/v1/products/{id}/variants/{variant_id}", "updateVariant",
                      "Change some fields of a variant (the default variant's sku and price are the product's). "
                      "If-Match with its ETag makes the change conditional (412 when it has changed)");
  r.request_schema = update_variant_schema();
  r.responses = {{200, variant_schema()}, {404, nullptr}, {409, nullptr}, {412, nullptr}, {422, nullptr}};
  r.request_headers = {"If-Match"};
  return r;
}

http::route delete_variant_route() {
  auto r = make_route(http::verb::delete_, "/v1/products/{id}/variants/{variant_id}", "deleteVariant",
                      "Delete a variant other than the default one (409 for the default); If-Match makes it "
                      "conditional");
  r.responses = {{204, nullptr}, {404, nullptr}, {409, nullptr}, {412, nullptr}};
  r.request_headers = {"If-Match"};
  return r;
}

http::route list_variants_route() {
  auto r = make_route(http::verb::get, "/v1/products/{id}/variants", "listVariants",
                      "List a product's variants in id order (the default variant first by creation), a page at a "
                      "time");
  r.responses = {{200, page_schema(variant_schema())}, {404, nullptr}, {422, nullptr}};
  r.query = page_query();
  return r;
}

http::route find_variant_route() {
  auto r = make_route(http::verb::get, "/v1/variants", "findVariant",
                      "Find a variant by sku or by barcode (exactly one), with its product's name, tax class and "
                      "status; a UPC-A finds its EAN-13 form");
  r.responses = {{200, variant_info_schema()}, {404, nullptr}, {422, nullptr}};
  r.query = {{"sku", "string", "The variant's sku"},
             {"barcode", "string", "An EAN-13 or UPC-A code, check digit included"}};
  return r;
}

http::route import_route() {
  auto r = make_route(http::verb::post, "/v1/catalog/import", "importProducts",
                      "Import products and variants from CSV (text/csv, a header line naming the columns) or JSON "
                      "lines (application/x-ndjson), idempotent by sku: each row creates, updates or leaves a "
                      "variant; bad rows are reported by line number and the others imported. Columns: sku, name, "
                      "price, currency, description, category, tax_class, barcode, product_sku, variant_name");
  r.who = access::any_role({std::string(roles::admin)}, "catalog:write");
  r.parse_body = false;
  r.request_schema = {{"type", "string"}, {"description", "CSV or JSON lines, by Content-Type"}};
  r.responses = {{200, import_report_schema()}, {413, nullptr}, {422, nullptr}};
  return r;
}

http::route create_category_route() {
  auto r = make_route(http::verb::post, "/v1/categories", "createCategory",
                      "Create a category; answers 201 with Location and ETag");
  r.request_schema = create_category_schema();
  r.responses = {{201, category_schema()}, {409, nullptr}, {422, nullptr}};
  return r;
}

http::route get_category_route() {
  auto r = make_route(http::verb::get, "/v1/categories/{id}", "getCategory",
                      "Get a category with its ETag; If-None-Match with that ETag answers 304");
  r.responses = {{200, category_schema()}, {304, nullptr}, {404, nullptr}};
  r.request_headers = {"If-None-Match"};
  return r;
}

http::route list_categories_route() {
  auto r = make_route(http::verb::get, "/v1/categories", "listCategories",
                      "List categories in id order (creation order to the millisecond), a page at a time");
  r.responses = {{200, page_schema(category_schema())}, {422, nullptr}};
  r.query = page_query();
  r.query.push_back({"parent_id", "string", "Only the children of this category"});
  return r;
}

http::route update_category_route() {
  auto r = make_route(http::verb::patch, "/v1/categories/{id}", "updateCategory",
                      "Change some fields of a category. If-Match with its ETag makes the change conditional (412 "
                      "when it has changed); without If-Match the last write wins");
  r.request_schema = update_category_schema();
  r.responses = {{200, category_schema()}, {404, nullptr}, {409, nullptr}, {412, nullptr}, {422, nullptr}};
  r.request_headers = {"If-Match"};
  return r;
}

http::route delete_category_route() {
  auto r = make_route(http::verb::delete_, "/v1/categories/{id}", "deleteCategory",
                      "Delete a category that has no products and no child categories (409 otherwise); If-Match "
                      "makes it conditional");
  r.responses = {{204, nullptr}, {404, nullptr}, {409, nullptr}, {412, nullptr}};
  r.request_headers = {"If-Match"};
  return r;
}

}  // namespace agora::catalog::http_codec
