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

struct create_product_request {
  std::string sku;
  std::string name;
  std::string description;
  money price;
  std::optional<std::string> category_id;
  product_status status = product_status::active;
};

struct get_product_request {
  std::string id;
};

// Products in id order: creation order to the millisecond (ids sort by time). `limit` defaults to 20 and may not exceed
// the `modules.catalog.page_limit_max` setting; `cursor` is the previous page's next_cursor.
struct list_products_request {
  std::optional<std::int64_t> limit;
  std::string cursor;
  std::optional<std::string> category_id;
  std::optional<product_status> status;
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
// setting (50 by default); there is no cursor: the best hits come first, refine the query
// for others. Only active products unless `status` says otherwise; `category_id` keeps
// the products of that one category (not its subcategories). Errors: invalid_argument
// naming `query`, `limit` or `category_id` (malformed id; an unknown one finds nothing).
struct search_products_request {
  std::string query;
  std::optional<std::int64_t> limit;
  std::optional<product_status> status;
  std::optional<std::string> category_id;
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

// The hits, most relevant first (ties in id order).
struct search_results {
  std::vector<search_hit> data;
  bool all_words = true;  // false: no product matched every word, these match some
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
};

struct delete_product_request {
  std::string id;
  std::optional<version_match> expected_version;  // If-Match
};

struct deleted {
  std::string id;
  std::int64_t version = 0;  // the version that was deleted
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
                    json_field("updated_at", &product::updated_at)};
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
                    json_field("status", &r::status, json_default)};
}
constexpr auto json_fields(const get_product_request*) { return std::tuple{json_field("id", &get_product_request::id)}; }
constexpr auto json_fields(const list_products_request*) {
  using r = list_products_request;
  return std::tuple{json_field("limit", &r::limit), json_field("cursor", &r::cursor, json_default),
                    json_field("category_id", &r::category_id), json_field("status", &r::status)};
}
constexpr auto json_fields(const search_products_request*) {
  using r = search_products_request;
  return std::tuple{json_field("query", &r::query), json_field("limit", &r::limit), json_field("status", &r::status),
                    json_field("category_id", &r::category_id)};
}
constexpr auto json_fields(const search_hit*) {
  return std::tuple{json_field("product", &search_hit::item), json_field("score", &search_hit::score),
                    json_field("snippet", &search_hit::snippet, json_default)};
}
constexpr auto json_fields(const search_results*) {
  return std::tuple{json_field("data", &search_results::data),
                    json_field("all_words", &search_results::all_words, json_default)};
}
constexpr auto json_fields(const update_product_request*) {
  using r = update_product_request;
  return std::tuple{json_field("id", &r::id),       json_field("expected_version", &r::expected_version),
                    json_field("sku", &r::sku),     json_field("name", &r::name),
                    json_field("description", &r::description), json_field("price", &r::price),
                    json_field("category_id", &r::category_id), json_field("status", &r::status)};
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

// The catalog's declaration for the runtime: methods, routes under /v1/products and
// /v1/categories, events, migrations and settings (modules.catalog.cache_size,
// modules.catalog.page_limit_max, modules.catalog.search_limit_max). One replica: its read
// cache relies on being the only writer.
module_definition module();

}  // namespace agora::catalog
