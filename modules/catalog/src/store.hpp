#pragma once

#include <catalog/api.hpp>

#include <agora/store.hpp>

#include <optional>
#include <string_view>
#include <vector>

// The catalog's SQL. Every function runs on the store thread with the module's database
// and throws store::sqlite_error on failure; callers own the transactions.
namespace agora::catalog::sql {

// The filters of list and search, already validated (see list_products_request).
struct product_filter {
  std::optional<std::string> category_id;  // with its subtree
  std::optional<std::int64_t> price_min;
  std::optional<std::int64_t> price_max;
  std::optional<std::string> currency;  // set when either price bound is
  std::optional<bool> in_stock;
};

// Products are read with their variants (the default first, then in id order).
std::optional<product> find_product(store::database& db, std::string_view id);
// The product whose default variant has `sku`.
std::optional<product> find_product_by_sku(store::database& db, std::string_view sku);
// Writes the product row only (its variants are written by the variant functions).
void insert_product(store::database& db, const product& p);
// Writes every column of `p` where the row still has `previous_version`; false if not.
bool update_product(store::database& db, const product& p, std::int64_t previous_version);
// Deletes the product and its variants.
void delete_product(store::database& db, std::string_view id);
// True when a variant other than `other_than` (a variant id) has `sku`.
bool sku_taken(store::database& db, std::string_view sku, std::string_view other_than);
bool barcode_taken(store::database& db, std::string_view barcode, std::string_view other_than);
// Up to `limit` products with id > `after` (all when empty), in id order.
std::vector<product> list_products(store::database& db, std::string_view after, const product_filter& filter,
                                   std::optional<product_status> status, std::int64_t limit);
// Up to `limit` products of `status` passing `filter` that `match`, an FTS5 expression,
// finds in product_search, after skipping `offset`: most relevant first, ties in id order.
std::vector<search_hit> search_products(store::database& db, std::string_view match, const product_filter& filter,
                                        product_status status, std::int64_t offset, std::int64_t limit);

std::vector<variant> variants_of(store::database& db, std::string_view product_id);
std::optional<variant> find_variant_by_sku(store::database& db, std::string_view sku);
std::optional<variant> find_variant_by_barcode(store::database& db, std::string_view barcode);
void insert_variant(store::database& db, const variant& v);
bool update_variant(store::database& db, const variant& v, std::int64_t previous_version);
void delete_variant(store::database& db, std::string_view id);
// Up to `limit` variants of the product after `after` (a variant id; all when empty), in id order.
std::vector<variant> list_variants(store::database& db, std::string_view product_id, std::string_view after,
                                   std::int64_t limit);

// The stock copy: writes (sku, location) unless the row holds a newer time; false when
// the row was newer and kept.
bool put_stock_level(store::database& db, std::string_view sku, std::string_view location, std::int64_t available,
                     std::string_view time);
std::optional<std::string> category_id_by_name(store::database& db, std::string_view name);

struct row_counts {
  std::int64_t active = 0;
  std::int64_t archived = 0;
  std::int64_t categories = 0;
};
row_counts count_rows(store::database& db);
// Rebuilds product_search (and its document numbers) from products, for an index that
// drifted from its table (a file restored or edited by hand); returns the products indexed.
std::int64_t rebuild_search(store::database& db);

std::optional<category> find_category(store::database& db, std::string_view id);
bool category_exists(store::database& db, std::string_view id);
void insert_category(store::database& db, const category& c);
bool update_category(store::database& db, const category& c, std::int64_t previous_version);
void delete_category(store::database& db, std::string_view id);
bool category_name_taken(store::database& db, std::string_view name, std::string_view other_than);
bool category_has_products(store::database& db, std::string_view id);
bool category_has_children(store::database& db, std::string_view id);
// True when `ancestor` is `start` or one of its ancestors.
bool is_ancestor_or_self(store::database& db, std::string_view ancestor, std::string_view start);
std::vector<category> list_categories(store::database& db, std::string_view after,
                                      const std::optional<std::string>& parent_id, std::int64_t limit);

}  // namespace agora::catalog::sql
