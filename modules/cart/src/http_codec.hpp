#pragma once

#include <cart/api.hpp>

#include <agora/http.hpp>

// HTTP requests → cart bus requests, replies → responses. Every route is open to anyone:
// the handler decides, from the signed-in principal or the X-Cart-Token header, whose
// cart it is.
namespace agora::cart::http_codec {

result<create_cart_request> decode_create_cart(http::request_context& ctx);
result<get_cart_request> decode_get_cart(http::request_context& ctx);
result<add_line_request> decode_add_line(http::request_context& ctx);
result<update_line_request> decode_update_line(http::request_context& ctx);
result<remove_line_request> decode_remove_line(http::request_context& ctx);

http::response encode_created_cart(const create_cart_reply& r, http::request_context& ctx);
http::response encode_cart(const cart& r, http::request_context& ctx);

http::route create_cart_route();
http::route get_cart_route();
http::route add_line_route();
http::route update_line_route();
http::route remove_line_route();

}  // namespace agora::cart::http_codec
