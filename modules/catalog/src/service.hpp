#pragma once

#include "import.hpp"
#include "product_cache.hpp"

#include <catalog/api.hpp>

#include <agora/module.hpp>

namespace agora::catalog {

// One replica of the catalog: answers its bus methods on the replica's strand, does all
// SQLite work on the module's store thread, and keeps a write-through read cache of
// products. The cache is disabled when more than one replica is configured, since then
// another replica's writes would not pass through it.
class service {
 public:
  explicit service(module_context& ctx);

  asio::awaitable<result<product_reply>> create_product(create_product_request req, const bus::call_context& c);
  asio::awaitable<result<product_reply>> get_product(get_product_request req, const bus::call_context& c);
  asio::awaitable<result<product_page>> list_products(list_products_request req, const bus::call_context& c);
  asio::awaitable<result<search_results>> search_products(search_products_request req, const bus::call_context& c);
  asio::awaitable<result<product_reply>> update_product(update_product_request req, const bus::call_context& c);
  asio::awaitable<result<deleted>> delete_product(delete_product_request req, const bus::call_context& c);

  asio::awaitable<result<variant>> create_variant(create_variant_request req, const bus::call_context& c);
  asio::awaitable<result<variant>> update_variant(update_variant_request req, const bus::call_context& c);
  asio::awaitable<result<deleted>> delete_variant(delete_variant_request req, const bus::call_context& c);
  asio::awaitable<result<variant_page>> list_variants(list_variants_request req, const bus::call_context& c);
  asio::awaitable<result<variant_info>> find_variant(find_variant_request req, const bus::call_context& c);

  asio::awaitable<result<import_report>> import_products(import_products_request req, const bus::call_context& c);

  // inventory.stock, group "catalog": keeps the copy of stock levels for the in-stock filter.
  asio::awaitable<result<void>> on_stock_event(const bus::event& ev);

  asio::awaitable<result<category>> create_category(create_category_request req, const bus::call_context& c);
  asio::awaitable<result<category>> get_category(get_category_request req, const bus::call_context& c);
  asio::awaitable<result<category_page>> list_categories(list_categories_request req, const bus::call_context& c);
  asio::awaitable<result<category>> update_category(update_category_request req, const bus::call_context& c);
  asio::awaitable<result<deleted>> delete_category(delete_category_request req, const bus::call_context& c);

  // agora catalog stats [--json]: products by status, and categories.
  asio::awaitable<int> stats(command_context& cmd);
  // agora catalog reindex: rebuilds the full-text search index from the products.
  asio::awaitable<int> reindex(command_context& cmd);

  // agora catalog import FILE: FILE is CSV or JSON lines (by its extension, else by its
  // first character); a regular file of at most modules.catalog.import_max_bytes. Exit 0
  // when every row was imported, 1 when some were refused (the others are imported).
  asio::awaitable<int> import_file(command_context& cmd);

  const product_cache& cache() const noexcept { return cache_; }

 private:
  class import_run;

  product_reply remember(product p);

  module_context& ctx_;
  product_cache cache_;
  std::int64_t page_limit_max_;
  std::int64_t search_limit_max_;
  metrics::counter& cache_hits_;
  metrics::counter& cache_misses_;
};

}  // namespace agora::catalog
