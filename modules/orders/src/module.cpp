#include "http_codec.hpp"
#include "service.hpp"
#include "settings.hpp"

#include <orders/api.hpp>

#include "agora_orders_migrations.hpp"

namespace agora::orders {

module_definition module() {
  namespace hc = http_codec;
  module_decl<service> decl("orders");
  // One replica: a saga runs on the replica that started (or resumed) it, so two would
  // resume the same unfinished sagas at start (harmless, every step being idempotent,
  // but twice the calls).
  decl.replicas(1)
      .durability(store::durability::full)
      .depends_on("cart")
      .depends_on("inventory")
      .migrations(db::migrations())
      .setting(settings::web_location)
      .setting(settings::reservation_ttl_s)
      .setting(settings::step_timeout_ms)
      .setting(settings::retry_max_ms)
      .setting(settings::page_limit_max)
      .setting(settings::payment_decline_ratio)
      .setting(settings::payment_failure_ratio)
      .setting(settings::payment_latency_ms)
      .handle<checkout>(&service::checkout)
      .handle<get_order>(&service::get_order)
      .handle<list_orders>(&service::list_orders)
      .handle<cancel_order>(&service::cancel_order)
      .handle<refund_order>(&service::refund_order)
      .handle<update_fulfilment>(&service::update_fulfilment)
      .route<checkout>(hc::checkout_route(), hc::decode_checkout, hc::encode_checked_out)
      .route<get_order>(hc::get_order_route(), hc::decode_get_order, hc::encode_order)
      .route<list_orders>(hc::list_orders_route(), hc::decode_list_orders, hc::encode_order_page)
      .route<cancel_order>(hc::cancel_order_route(), hc::decode_cancel_order, hc::encode_order)
      .route<refund_order>(hc::refund_order_route(), hc::decode_refund_order, hc::encode_order)
      .route<update_fulfilment>(hc::fulfilment_route(), hc::decode_fulfilment, hc::encode_order)
      .publishes(std::string(orders_topic),
                 {std::string(order_placed), std::string(order_paid), std::string(order_canceled),
                  std::string(order_refunded), std::string(order_fulfilment)});
  return std::move(decl).build();
}

}  // namespace agora::orders
