#pragma once

#include <catalog/api.hpp>

#include <agora/http.hpp>

#include <optional>
#include <string_view>

// The catalog's HTTP side: request decoders (body, path, query and conditional headers
// into bus requests, every bad field reported at once), response encoders (status,
// ETag, Location, 304) and the OpenAPI description of each route.
namespace agora::catalog::http_codec {

result<create_product_request> decode_create_product(http::request_context& ctx);
result<get_product_request> decode_get_product(http::request_context& ctx);
result<list_products_request> decode_list_products(http::request_context& ctx);
result<search_products_request> decode_search_products(http::request_context& ctx);
result<update_product_request> decode_update_product(http::request_context& ctx);
result<delete_product_request> decode_delete_product(http::request_context& ctx);

result<create_variant_request> decode_create_variant(http::request_context& ctx);
result<update_variant_request> decode_update_variant(http::request_context& ctx);
result<delete_variant_request> decode_delete_variant(http::request_context& ctx);
result<list_variants_request> decode_list_variants(http::request_context& ctx);
result<find_variant_request> decode_find_variant(http::request_context& ctx);
// The import route's body as a request: the format from Content-Type (text/csv, or
// application/x-ndjson / application/jsonl / application/json for JSON lines).
result<import_products_request> decode_import(http::request_context& ctx);

result<create_category_request> decode_create_category(http::request_context& ctx);
result<get_category_request> decode_get_category(http::request_context& ctx);
result<list_categories_request> decode_list_categories(http::request_context& ctx);
result<update_category_request> decode_update_category(http::request_context& ctx);
result<delete_category_request> decode_delete_category(http::request_context& ctx);

http::response encode_created_product(const product_reply& r, http::request_context& ctx);
http::response encode_product(const product_reply& r, http::request_context& ctx);
http::response encode_product_page(const product_page& r, http::request_context& ctx);
http::response encode_search_results(const search_results& r, http::request_context& ctx);
http::response encode_created_category(const category& r, http::request_context& ctx);
http::response encode_category(const category& r, http::request_context& ctx);
http::response encode_category_page(const category_page& r, http::request_context& ctx);
http::response encode_deleted(const deleted& r, http::request_context& ctx);
http::response encode_created_variant(const variant& r, http::request_context& ctx);
http::response encode_variant(const variant& r, http::request_context& ctx);
http::response encode_variant_page(const variant_page& r, http::request_context& ctx);
http::response encode_variant_info(const variant_info& r, http::request_context& ctx);
http::response encode_import_report(const import_report& r, http::request_context& ctx);

// Route declarations (method, pattern, OpenAPI fields) without a handler.
http::route create_product_route();
http::route get_product_route();
http::route list_products_route();
http::route search_products_route();
http::route update_product_route();
http::route delete_product_route();
http::route create_category_route();
http::route get_category_route();
http::route list_categories_route();
http::route update_category_route();
http::route delete_category_route();
http::route create_variant_route();
http::route update_variant_route();
http::route delete_variant_route();
http::route list_variants_route();
http::route find_variant_route();
http::route import_route();

}  // namespace agora::catalog::http_codec
