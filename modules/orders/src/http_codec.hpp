#pragma once

#include <orders/api.hpp>

#include <agora/http.hpp>

// Orders' HTTP side: each route's documentation, and its request → bus request and
// reply → response conversions.
namespace agora::orders::http_codec {

http::route checkout_route();
result<checkout_request> decode_checkout(http::request_context& ctx);
http::response encode_checked_out(const order& o, http::request_context& ctx);

http::route get_order_route();
result<get_order_request> decode_get_order(http::request_context& ctx);
http::response encode_order(const order& o, http::request_context& ctx);

http::route list_orders_route();
result<list_orders_request> decode_list_orders(http::request_context& ctx);
http::response encode_order_page(const order_page& p, http::request_context& ctx);

http::route cancel_order_route();
result<cancel_order_request> decode_cancel_order(http::request_context& ctx);

http::route refund_order_route();
result<refund_order_request> decode_refund_order(http::request_context& ctx);

http::route fulfilment_route();
result<update_fulfilment_request> decode_fulfilment(http::request_context& ctx);

}  // namespace agora::orders::http_codec
