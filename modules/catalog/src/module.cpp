#include "http_codec.hpp"
#include "service.hpp"
#include "settings.hpp"

#include <catalog/api.hpp>

#include "agora_catalog_migrations.hpp"

namespace agora::catalog {

module_definition module() {
  namespace hc = http_codec;
  module_decl<service> decl("catalog");
  decl.replicas(1)
      .migrations(db::migrations())
      .setting(settings::cache_size)
      .setting(settings::page_limit_max)
      .setting(settings::search_limit_max)
      .setting(settings::import_max_bytes)
      .handle<create_product>(&service::create_product)
      .handle<get_product>(&service::get_product)
      .handle<list_products>(&service::list_products)
      .handle<search_products>(&service::search_products)
      .handle<update_product>(&service::update_product)
      .handle<delete_product>(&service::delete_product)
      .handle<create_category>(&service::create_category)
      .handle<get_category>(&service::get_category)
      .handle<list_categories>(&service::list_categories)
      .handle<update_category>(&service::update_category)
      .handle<delete_category>(&service::delete_category)
      .handle<create_variant>(&service::create_variant)
      .handle<update_variant>(&service::update_variant)
      .handle<delete_variant>(&service::delete_variant)
      .handle<list_variants>(&service::list_variants)
      .handle<find_variant>(&service::find_variant)
      .handle<import_products>(&service::import_products)
      .route<create_product>(hc::create_product_route(), hc::decode_create_product, hc::encode_created_product)
      .route<get_product>(hc::get_product_route(), hc::decode_get_product, hc::encode_product)
      .route<list_products>(hc::list_products_route(), hc::decode_list_products, hc::encode_product_page)
      .route<search_products>(hc::search_products_route(), hc::decode_search_products, hc::encode_search_results)
      .route<update_product>(hc::update_product_route(), hc::decode_update_product, hc::encode_product)
      .route<delete_product>(hc::delete_product_route(), hc::decode_delete_product, hc::encode_deleted)
      .route<create_category>(hc::create_category_route(), hc::decode_create_category, hc::encode_created_category)
      .route<get_category>(hc::get_category_route(), hc::decode_get_category, hc::encode_category)
      .route<list_categories>(hc::list_categories_route(), hc::decode_list_categories, hc::encode_category_page)
      .route<update_category>(hc::update_category_route(), hc::decode_update_category, hc::encode_category)
      .route<delete_category>(hc::delete_category_route(), hc::decode_delete_category, hc::encode_deleted)
      .route<list_variants>(hc::list_variants_route(), hc::decode_list_variants, hc::encode_variant_page)
      .route<create_variant>(hc::create_variant_route(), hc::decode_create_variant, hc::encode_created_variant)
      .route<update_variant>(hc::update_variant_route(), hc::decode_update_variant, hc::encode_variant)
      .route<delete_variant>(hc::delete_variant_route(), hc::decode_delete_variant, hc::encode_deleted)
      .route<find_variant>(hc::find_variant_route(), hc::decode_find_variant, hc::encode_variant_info)
      .route<import_products>(hc::import_route(), hc::decode_import, hc::encode_import_report)
      .command(
          {.name = "stats", .summary = "Print the counts of products (by status) and categories", .usage = "[--json]"},
          &service::stats)
      .command({.name = "reindex", .summary = "Rebuild the product search index from the products table"},
               &service::reindex)
      .command({.name = "import",
                .summary = "Import products and variants from a CSV or JSON lines file, idempotent by sku",
                .usage = "FILE"},
               &service::import_file)
      .publishes(std::string(products_topic),
                 {std::string(product_created), std::string(product_updated), std::string(product_deleted)})
      .publishes(std::string(categories_topic),
                 {std::string(category_created), std::string(category_updated), std::string(category_deleted)})
      .publishes(std::string(variants_topic),
                 {std::string(variant_created), std::string(variant_updated), std::string(variant_deleted)})
      .consumes(std::string(stock_topic), std::string(stock_consumer_group), &service::on_stock_event);
  return std::move(decl).build();
}

}  // namespace agora::catalog
