#pragma once

#include <catalog/api.hpp>

#include <agora/store.hpp>

#include <optional>
#include <string_view>
#include <vector>

// The catalog's SQL. Every function runs on the store thread with the module's database
// and throws store::sqlite_error on failure; callers own the transactions.
namespace agora::catalog::sql {

std::optional<product> find_product(store::database& db, std::string_view id);
void insert_product(store::database& db, const product& p);
// Writes every column of `p` where the row still has `previous_version`; false if not.
bool update_product(store::database& db, const product& p, std::int64_t previous_version);
void delete_product(store::database& db, std::string_view id);
bool sku_taken(store::database& db, std::string_view sku, std::string_view other_than);
// Up to `limit` products with id > `after` (all when empty), in id order.
std::vector<product> list_products(store::database& db, std::string_view after,
                                   const std::optional<std::string>& category_id, std::optional<product_status> status,
                                   std::int64_t limit);
// Up to `limit` products of `status` (and of `category_id`, when given) that `match`, an
// FTS5 expression, finds in product_search: most relevant first, ties in id order.
std::vector<search_hit> search_products(store::database& db, std::string_view match,
                                        const std::optional<std::string>& category_id, product_status status,
                                        std::int64_t limit);

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
