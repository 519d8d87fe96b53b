#pragma once

#include <agora/values.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

// The catalog's one door: the values it owns, the bus methods it answers and the events
// it publishes. Everything here is a plain value with a JSON form, so the same types
// travel over an in-process bus (moved) or a networked one (serialised). The door stands
// on nothing of the runtime (no <agora/module.hpp>, Beast or store): only the wiring that
// calls module() needs module_definition whole.
namespace agora {
struct module_definition;
}

namespace agora::catalog {

using agora::money;  // integer minor units of an active ISO 4217 currency (agora/values.hpp)

enum class product_status { active, archived };

std::string_view to_string(product_status s) noexcept;
std::optional<product_status> product_status_from_string(std::string_view s) noexcept;

// A product's tax class, which the cart maps to a rate per region: "standard" (the
// default), "reduced" or "zero". Kept as a string on the wire; is_tax_class checks one.
inline constexpr std::string_view tax_standard = "standard";
inline constexpr std::string_view tax_reduced = "reduced";
inline constexpr std::string_view tax_zero = "zero";
bool is_tax_class(std::string_view s) noexcept;

// One sellable version of a product (a size, a colour): its own SKU, barcode and price.
// Every product has at least one variant and exactly one default variant, made with the
// product; the product's `sku` and `price` are always the default variant's (changing
// either side changes the other). `version` starts at 1 and grows by one on every change
// of the variant itself; the HTTP ETag of a variant is its quoted version.
struct variant {
  std::string id;                      // "var_…"
  std::string product_id;              // "prod_…"
  std::string sku;                     // unique across all variants; 1–64 of [A-Za-z0-9._-]
  std::optional<std::string> barcode;  // unique; EAN-13 (a UPC-A is stored as "0" + its 12 digits)
  std::string name;                    // 0–200 characters, trimmed: "Red / L"; "" for a default variant
  money price;
  bool is_default = false;
  std::int64_t version = 0;
  std::string created_at;
  std::string updated_at;

  friend bool operator==(const variant&, const variant&) = default;
};

// A sellable product. `version` starts at 1 and grows by one on every change; the HTTP
// ETag is the quoted version. Times are RFC 3339 UTC.
struct product {
  std::string id;           // "prod_…"
  std::string sku;          // unique; 1–64 of [A-Za-z0-9._-]
  std::string name;         // 1–200 characters, trimmed
  std::string description;  // ≤ 5000 characters
  money price;
  std::optional<std::string> category_id;  // "cat_…", an existing category
  product_status status = product_status::active;
  std::int64_t version = 0;
  std::string created_at;
  std::string updated_at;
  std::string tax_class = std::string(tax_standard);
  // Every variant, the default one first, then in creation order. A change of any variant
  // is a change of the product (its version grows), so the product's ETag covers them.
  std::vector<variant> variants;

  friend bool operator==(const product&, const product&) = default;
};

// A category of products; categories form a forest (parent_id, never a cycle).
struct category {
  std::string id;                        // "cat_…"
  std::string name;                      // unique; 1–100 characters, trimmed
  std::optional<std::string> parent_id;  // an existing category
  std::string description;               // ≤ 5000 characters
  std::int64_t version = 0;
  std::string created_at;
  std::string updated_at;

  friend bool operator==(const category&, const category&) = default;
};

// The reply of the product methods that return one product. `json` is the product's
// JSON text, rendered by the catalog once per version and shared read-only, so a hot
// read serialises nothing; it is null after a networked hop (then render `item`).
struct product_reply {
  product item;
  std::shared_ptr<const std::string> json;
};

// Creates the product and its default variant (sku, price, barcode).
struct create_product_request {
  std::string sku;
  std::string name;
  std::string description;
  money price;
  std::optional<std::string> category_id;
  product_status status = product_status::active;
  std::string tax_class = std::string(tax_standard);
  std::optional<std::string> barcode;  // the default variant's
};

struct get_product_request {
  std::string id;
};

// The filters of list and search. `category_id` keeps the products of that category and
// of every category below it. `price_min`/`price_max` (minor units, inclusive) keep the
// products with a variant priced in `currency` inside the range; `currency` is required
// when either is given and only then (invalid_argument on `currency` otherwise).
// `in_stock` true keeps the products with a variant available (> 0) at some location, false
// those with none, by the copy of stock levels the catalog keeps from inventory's events
// (topic "inventory.stock"): eventually consistent, never a promise the stock is there.
//
// Products in id order: creation order to the millisecond (ids sort by time). `limit` defaults to 20 and may not exceed
// the `modules.catalog.page_limit_max` setting; `cursor` is the previous page's next_cursor.
struct list_products_request {
  std::optional<std::int64_t> limit;
  std::string cursor;
  std::optional<std::string> category_id;  // with its subcategories
  std::optional<product_status> status;
  std::optional<std::int64_t> price_min;
  std::optional<std::int64_t> price_max;
  std::optional<std::string> currency;
  std::optional<bool> in_stock;
};

using product_page = page<product>;

// Full-text search over products' names, skus and descriptions (SQLite FTS5, accents
// and case ignored: "creme" finds "Crème"). `query` is plain words, never query syntax:
// quotes, `*`, `-`, `AND`/`OR`/`NEAR`, parentheses and `column:` are matched as text.
// Words are separated by white space; a word keeps its inner punctuation as a phrase
// ("MUG-1", "t-shirt"); each word matches as a prefix of the product's words ("blu shi"
// finds "Blue shirt", "cup" finds "cups"). First every word must match; when that finds
// nothing, any word may, and the reply says so (`all_words` false). `query`: 1–500
// characters of valid UTF-8 after trimming, at most 32 words, at least one with a letter
// or digit. `limit` defaults to 10 and may not exceed the `modules.catalog.search_limit_max`
// setting (50 by default). `cursor` is the previous reply's next_cursor: the pages follow
// the relevance order, and the cursor is opaque (it holds the position in that order, the
// all_words mode and a digest of the query and filters, so it is refused with another
// query). Over unchanged products the pages cover every hit exactly once; a write between
// pages can shift a hit across the page boundary. Only active products unless `status`
// says otherwise; `category_id` keeps the products of that category and its subcategories;
// price and stock filters as in list_products_request. Errors: invalid_argument naming
// `query`, `limit`, `cursor`, `category_id` (malformed id; an unknown one finds nothing),
// `price_min`, `price_max` or `currency`.
struct search_products_request {
  std::string query;
  std::optional<std::int64_t> limit;
  std::optional<product_status> status;
  std::optional<std::string> category_id;
  std::string cursor;
  std::optional<std::int64_t> price_min;
  std::optional<std::int64_t> price_max;
  std::optional<std::string> currency;
  std::optional<bool> in_stock;
};

// One product found. `score` is its relevance, higher is better (bm25 with the name
// weighted above the sku and the sku above the description); compare scores only within
// one reply. `snippet` is plain text from the description around the matched words (its
// start when only the name or sku matched), cut with "…", at most about 16 words; empty
// when the product has no description.
struct search_hit {
  product item;
  double score = 0;
  std::string snippet;

  friend bool operator==(const search_hit&, const search_hit&) = default;
};

// The hits, most relevant first (ties in the order the products were created).
struct search_results {
  std::vector<search_hit> data;
  bool all_words = true;  // false: no product matched every word, these match some
  std::optional<std::string> next_cursor;  // empty on the last page
};

// Only the fields present change. With `expected_version` set, a product at none of its
// versions is refused with failed_precondition; without it the last write wins.
struct update_product_request {
  std::string id;
  std::optional<version_match> expected_version;  // If-Match
  std::optional<std::string> sku;
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::optional<money> price;
  nullable_patch<std::string> category_id;
  std::optional<product_status> status;
  std::optional<std::string> tax_class;
};

// Deleting a product deletes its variants.
struct delete_product_request {
  std::string id;
  std::optional<version_match> expected_version;  // If-Match
};

struct deleted {
  std::string id;
  std::int64_t version = 0;  // the version that was deleted
};

// A new, non-default variant of an existing product.
struct create_variant_request {
  std::string product_id;
  std::string sku;
  std::optional<std::string> barcode;  // EAN-13 or UPC-A digits, check digit verified
  std::string name;                    // "Red / L"
  money price;
};

// Only the fields present change; a change of the default variant's sku or price is also
// the product's (its version grows). With `expected_version` set, a variant at none of
// its versions is refused with failed_precondition.
struct update_variant_request {
  std::string product_id;
  std::string variant_id;
  std::optional<version_match> expected_version;  // If-Match
  std::optional<std::string> sku;
  nullable_patch<std::string> barcode;  // null removes it
  std::optional<std::string> name;
  std::optional<money> price;
};

// The default variant (so also a product's last variant) cannot be deleted: conflict.
struct delete_variant_request {
  std::string product_id;
  std::string variant_id;
  std::optional<version_match> expected_version;  // If-Match
};

// A product's variants, the default first, then in creation order (id order).
struct list_variants_request {
  std::string product_id;
  std::optional<std::int64_t> limit;
  std::string cursor;
};

using variant_page = page<variant>;

// Exactly one of `sku` or `barcode`. A barcode is EAN-13 or UPC-A (12 digits, found as
// "0" + its digits): both forms find the same variant.
struct find_variant_request {
  std::optional<std::string> sku;
  std::optional<std::string> barcode;
};

// A variant with what a cart or an order needs of its product. It is also the data of
// the variant events.
struct variant_info {
  variant item;
  std::string product_name;
  std::string tax_class;  // "standard", "reduced" or "zero"
  product_status status = product_status::active;

  friend bool operator==(const variant_info&, const variant_info&) = default;
};

// Bulk import (agora catalog import FILE, POST /v1/catalog/import). `format` is "jsonl"
// (one JSON object a line) or "csv" (a header line naming the columns, RFC 4180 quoting).
// The columns, the same in both: sku (required), name, price (minor units) and currency,
// description, category (a category's name or id), tax_class, barcode, product_sku (the
// sku of the product's default variant: the row becomes, or updates, a variant of that
// product; without it, the row is a product and its default variant), variant_name.
// Idempotent by sku: a row whose sku exists updates that variant (and, for a default
// variant, its product) or leaves it unchanged; it never adds a second one. Each bad row
// is reported with its line number (1-based; a CSV record spanning lines is reported at
// its first) and reason, and the other rows are imported.
struct import_products_request {
  std::string format;  // "jsonl" or "csv"
  std::string body;
};

struct import_problem {
  std::int64_t line = 0;
  std::string sku;  // empty when the row had none readable
  std::string reason;

  friend bool operator==(const import_problem&, const import_problem&) = default;
};

struct import_report {
  std::int64_t rows = 0;  // data rows read (not the CSV header nor blank lines)
  std::int64_t created = 0;
  std::int64_t updated = 0;
  std::int64_t unchanged = 0;
  std::vector<import_problem> errors;  // the rows refused, in line order (at most 1000 listed)
  std::int64_t error_count = 0;        // all the rows refused
};

struct create_category_request {
  std::string name;
  std::optional<std::string> parent_id;
  std::string description;
};

struct get_category_request {
  std::string id;
};

struct list_categories_request {
  std::optional<std::int64_t> limit;
  std::string cursor;
  std::optional<std::string> parent_id;
};

using category_page = page<category>;

struct update_category_request {
  std::string id;
  std::optional<version_match> expected_version;  // If-Match
  std::optional<std::string> name;
  nullable_patch<std::string> parent_id;
  std::optional<std::string> description;
};

// A category that still has products or child categories is refused with conflict.
struct delete_category_request {
  std::string id;
  std::optional<version_match> expected_version;  // If-Match
};

// Bus methods. Errors: invalid_argument naming each bad field (also a category_id or
// parent_id that does not exist), not_found, conflict (duplicate sku or category name,
// a category still in use), failed_precondition (expected_version differs).
struct create_product {
  static constexpr std::string_view name = "catalog.create_product";
  using request = create_product_request;
  using reply = product_reply;
};
struct get_product {
  static constexpr std::string_view name = "catalog.get_product";
  using request = get_product_request;
  using reply = product_reply;
};
struct list_products {
  static constexpr std::string_view name = "catalog.list_products";
  using request = list_products_request;
  using reply = product_page;
};
struct search_products {
  static constexpr std::string_view name = "catalog.search_products";
  using request = search_products_request;
  using reply = search_results;
};
struct update_product {
  static constexpr std::string_view name = "catalog.update_product";
  using request = update_product_request;
  using reply = product_reply;
};
struct delete_product {
  static constexpr std::string_view name = "catalog.delete_product";
  using request = delete_product_request;
  using reply = deleted;
};
struct create_category {
  static constexpr std::string_view name = "catalog.create_category";
  using request = create_category_request;
  using reply = category;
};
struct get_category {
  static constexpr std::string_view name = "catalog.get_category";
  using request = get_category_request;
  using reply = category;
};
struct list_categories {
  static constexpr std::string_view name = "catalog.list_categories";
  using request = list_categories_request;
  using reply = category_page;
};
struct update_category {
  static constexpr std::string_view name = "catalog.update_category";
  using request = update_category_request;
  using reply = category;
};
struct delete_category {
  static constexpr std::string_view name = "catalog.delete_category";
  using request = delete_category_request;
  using reply = deleted;
};
// Variant methods. Errors as above, plus: conflict for an sku or barcode that another
// variant has or for deleting a default variant, not_found for an unknown product or a
// variant that is not this product's. Any change of a variant is a change of its product:
// the product's version grows and product.updated is published with its variants.
struct create_variant {
  static constexpr std::string_view name = "catalog.create_variant";
  using request = create_variant_request;
  using reply = variant;
};
struct update_variant {
  static constexpr std::string_view name = "catalog.update_variant";
  using request = update_variant_request;
  using reply = variant;
};
struct delete_variant {
  static constexpr std::string_view name = "catalog.delete_variant";
  using request = delete_variant_request;
  using reply = deleted;
};
struct list_variants {
  static constexpr std::string_view name = "catalog.list_variants";
  using request = list_variants_request;
  using reply = variant_page;
};
// Errors: not_found for an unknown sku or barcode; invalid_argument when neither or
// both are given, or when the one given is malformed (a barcode's check digit included).
struct find_variant {
  static constexpr std::string_view name = "catalog.find_variant";
  using request = find_variant_request;
  using reply = variant_info;
};
// Admin only over HTTP. Errors: invalid_argument naming `format` (the rows' own problems
// are in the report, not errors).
struct import_products {
  static constexpr std::string_view name = "catalog.import_products";
  using request = import_products_request;
  using reply = import_report;
};

// Events, published after the change commits (outbox). source "agora/catalog", subject
// the product or category id, data the product or category JSON (for a deletion: as it
// was just before).
inline constexpr std::string_view event_source = "agora/catalog";
inline constexpr std::string_view products_topic = "catalog.products";
inline constexpr std::string_view product_created = "product.created";
inline constexpr std::string_view product_updated = "product.updated";
inline constexpr std::string_view product_deleted = "product.deleted";
inline constexpr std::string_view categories_topic = "catalog.categories";
inline constexpr std::string_view category_created = "category.created";
inline constexpr std::string_view category_updated = "category.updated";
inline constexpr std::string_view category_deleted = "category.deleted";
// Variant events: subject and partition key the variant's SKU, data its variant_info JSON
// (for a deletion: as it was). Every change that changes a variant_info is announced: a
// variant's own change, and a change of its product's name, tax class or status (one
// variant.updated per variant). A variant whose SKU changes is announced as
// variant.deleted under the old SKU, then variant.created under the new one, so a
// consumer keyed by SKU never holds a stale one. Creating a product announces its default
// variant; deleting one announces each of its variants.
inline constexpr std::string_view variants_topic = "catalog.variants";
inline constexpr std::string_view variant_created = "variant.created";
inline constexpr std::string_view variant_updated = "variant.updated";
inline constexpr std::string_view variant_deleted = "variant.deleted";
// The stock copy: catalog consumes inventory's stock events in this group.
inline constexpr std::string_view stock_topic = "inventory.stock";
inline constexpr std::string_view stock_consumer_group = "catalog";

// JSON forms (field lists; see agora/json_fields.hpp). A product's JSON is also its HTTP
// body and its events' data.
void to_json(nlohmann::json& j, const product_status& v);
void from_json(const nlohmann::json& j, product_status& v);
void to_json(nlohmann::json& j, const product_reply& v);
void from_json(const nlohmann::json& j, product_reply& v);

constexpr auto json_fields(const product*) {
  return std::tuple{json_field("id", &product::id),
                    json_field("sku", &product::sku),
                    json_field("name", &product::name),
                    json_field("description", &product::description, json_default),
                    json_field("price", &product::price),
                    json_field("category_id", &product::category_id),
                    json_field("status", &product::status),
                    json_field("version", &product::version),
                    json_field("created_at", &product::created_at),
                    json_field("updated_at", &product::updated_at),
                    json_field("tax_class", &product::tax_class, json_default),
                    json_field("variants", &product::variants, json_default)};
}
constexpr auto json_fields(const variant*) {
  return std::tuple{json_field("id", &variant::id),
                    json_field("product_id", &variant::product_id),
                    json_field("sku", &variant::sku),
                    json_field("barcode", &variant::barcode),
                    json_field("name", &variant::name, json_default),
                    json_field("price", &variant::price),
                    json_field("is_default", &variant::is_default, json_default),
                    json_field("version", &variant::version),
                    json_field("created_at", &variant::created_at),
                    json_field("updated_at", &variant::updated_at)};
}
constexpr auto json_fields(const variant_info*) {
  return std::tuple{json_field("variant", &variant_info::item), json_field("product_name", &variant_info::product_name),
                    json_field("tax_class", &variant_info::tax_class), json_field("status", &variant_info::status)};
}
constexpr auto json_fields(const create_variant_request*) {
  using r = create_variant_request;
  return std::tuple{json_field("product_id", &r::product_id), json_field("sku", &r::sku),
                    json_field("barcode", &r::barcode), json_field("name", &r::name, json_default),
                    json_field("price", &r::price)};
}
constexpr auto json_fields(const update_variant_request*) {
  using r = update_variant_request;
  return std::tuple{json_field("product_id", &r::product_id),
                    json_field("variant_id", &r::variant_id),
                    json_field("expected_version", &r::expected_version),
                    json_field("sku", &r::sku),
                    json_field("barcode", &r::barcode),
                    json_field("name", &r::name),
                    json_field("price", &r::price)};
}
constexpr auto json_fields(const delete_variant_request*) {
  using r = delete_variant_request;
  return std::tuple{json_field("product_id", &r::product_id), json_field("variant_id", &r::variant_id),
                    json_field("expected_version", &r::expected_version)};
}
constexpr auto json_fields(const list_variants_request*) {
  using r = list_variants_request;
  return std::tuple{json_field("product_id", &r::product_id), json_field("limit", &r::limit),
                    json_field("cursor", &r::cursor, json_default)};
}
constexpr auto json_fields(const find_variant_request*) {
  return std::tuple{json_field("sku", &find_variant_request::sku),
                    json_field("barcode", &find_variant_request::barcode)};
}
constexpr auto json_fields(const import_products_request*) {
  return std::tuple{json_field("format", &import_products_request::format),
                    json_field("body", &import_products_request::body)};
}
constexpr auto json_fields(const import_problem*) {
  return std::tuple{json_field("line", &import_problem::line), json_field("sku", &import_problem::sku, json_default),
                    json_field("reason", &import_problem::reason)};
}
constexpr auto json_fields(const import_report*) {
  using r = import_report;
  return std::tuple{json_field("rows", &r::rows),       json_field("created", &r::created),
                    json_field("updated", &r::updated), json_field("unchanged", &r::unchanged),
                    json_field("errors", &r::errors),   json_field("error_count", &r::error_count)};
}
constexpr auto json_fields(const category*) {
  return std::tuple{json_field("id", &category::id),
                    json_field("name", &category::name),
                    json_field("parent_id", &category::parent_id),
                    json_field("description", &category::description, json_default),
                    json_field("version", &category::version),
                    json_field("created_at", &category::created_at),
                    json_field("updated_at", &category::updated_at)};
}
constexpr auto json_fields(const create_product_request*) {
  using r = create_product_request;
  return std::tuple{json_field("sku", &r::sku),
                    json_field("name", &r::name),
                    json_field("description", &r::description, json_default),
                    json_field("price", &r::price),
                    json_field("category_id", &r::category_id),
                    json_field("status", &r::status, json_default),
                    json_field("tax_class", &r::tax_class, json_default),
                    json_field("barcode", &r::barcode)};
}
constexpr auto json_fields(const get_product_request*) { return std::tuple{json_field("id", &get_product_request::id)}; }
constexpr auto json_fields(const list_products_request*) {
  using r = list_products_request;
  return std::tuple{json_field("limit", &r::limit),
                    json_field("cursor", &r::cursor, json_default),
                    json_field("category_id", &r::category_id),
                    json_field("status", &r::status),
                    json_field("price_min", &r::price_min),
                    json_field("price_max", &r::price_max),
                    json_field("currency", &r::currency),
                    json_field("in_stock", &r::in_stock)};
}
constexpr auto json_fields(const search_products_request*) {
  using r = search_products_request;
  return std::tuple{json_field("query", &r::query),
                    json_field("limit", &r::limit),
                    json_field("status", &r::status),
                    json_field("category_id", &r::category_id),
                    json_field("cursor", &r::cursor, json_default),
                    json_field("price_min", &r::price_min),
                    json_field("price_max", &r::price_max),
                    json_field("currency", &r::currency),
                    json_field("in_stock", &r::in_stock)};
}
constexpr auto json_fields(const search_hit*) {
  return std::tuple{json_field("product", &search_hit::item), json_field("score", &search_hit::score),
                    json_field("snippet", &search_hit::snippet, json_default)};
}
constexpr auto json_fields(const search_results*) {
  return std::tuple{json_field("data", &search_results::data),
                    json_field("all_words", &search_results::all_words, json_default),
                    json_field("next_cursor", &search_results::next_cursor)};
}
constexpr auto json_fields(const update_product_request*) {
  using r = update_product_request;
  return std::tuple{json_field("id", &r::id),
                    json_field("expected_version", &r::expected_version),
                    json_field("sku", &r::sku),
                    json_field("name", &r::name),
                    json_field("description", &r::description),
                    json_field("price", &r::price),
                    json_field("category_id", &r::category_id),
                    json_field("status", &r::status),
                    json_field("tax_class", &r::tax_class)};
}
constexpr auto json_fields(const delete_product_request*) {
  return std::tuple{json_field("id", &delete_product_request::id),
                    json_field("expected_version", &delete_product_request::expected_version)};
}
constexpr auto json_fields(const deleted*) {
  return std::tuple{json_field("id", &deleted::id), json_field("version", &deleted::version)};
}
constexpr auto json_fields(const create_category_request*) {
  using r = create_category_request;
  return std::tuple{json_field("name", &r::name), json_field("parent_id", &r::parent_id),
                    json_field("description", &r::description, json_default)};
}
constexpr auto json_fields(const get_category_request*) {
  return std::tuple{json_field("id", &get_category_request::id)};
}
constexpr auto json_fields(const list_categories_request*) {
  using r = list_categories_request;
  return std::tuple{json_field("limit", &r::limit), json_field("cursor", &r::cursor, json_default),
                    json_field("parent_id", &r::parent_id)};
}
constexpr auto json_fields(const update_category_request*) {
  using r = update_category_request;
  return std::tuple{json_field("id", &r::id), json_field("expected_version", &r::expected_version),
                    json_field("name", &r::name), json_field("parent_id", &r::parent_id),
                    json_field("description", &r::description)};
}
constexpr auto json_fields(const delete_category_request*) {
  return std::tuple{json_field("id", &delete_category_request::id),
                    json_field("expected_version", &delete_category_request::expected_version)};
}

// The catalog's declaration for the runtime: methods, routes under /v1/products,
// /v1/variants, /v1/categories and /v1/catalog/import, events, the stock consumer,
// migrations and settings (modules.catalog.cache_size, modules.catalog.page_limit_max,
// modules.catalog.search_limit_max, modules.catalog.import_max_bytes), and the command
// `agora catalog import FILE`. One replica: its read cache relies on being the only writer.
module_definition module();

}  // namespace agora::catalog
