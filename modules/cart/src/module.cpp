#include "http_codec.hpp"
#include "service.hpp"
#include "settings.hpp"

#include <cart/api.hpp>
#include <catalog/api.hpp>

#include "agora_cart_migrations.hpp"

namespace agora::cart {

module_definition module() {
  namespace hc = http_codec;
  module_decl<service> decl("cart");
  decl.replicas(3)
      .depends_on("catalog")
      .migrations(db::migrations())
      .setting(settings::prices_include_tax)
      .setting(settings::default_region)
      .setting(settings::tax_rates)
      .setting(settings::quantity_max)
      .setting(settings::lines_max)
      .setting(settings::idle_expiry_s)
      .setting(settings::sweep_interval_ms)
      .handle<create_cart>(&service::create_cart)
      .handle<get_cart>(&service::get_cart)
      .handle<add_line>(&service::add_line)
      .handle<update_line>(&service::update_line)
      .handle<remove_line>(&service::remove_line)
      .handle<merge_guest_cart>(&service::merge_guest_cart)
      .handle<begin_checkout>(&service::begin_checkout)
      .handle<end_checkout>(&service::end_checkout)
      .route<create_cart>(hc::create_cart_route(), hc::decode_create_cart, hc::encode_created_cart)
      .route<get_cart>(hc::get_cart_route(), hc::decode_get_cart, hc::encode_cart)
      .route<add_line>(hc::add_line_route(), hc::decode_add_line, hc::encode_cart)
      .route<update_line>(hc::update_line_route(), hc::decode_update_line, hc::encode_cart)
      .route<remove_line>(hc::remove_line_route(), hc::decode_remove_line, hc::encode_cart)
      .consumes(std::string(catalog::variants_topic), "cart", &service::on_variant_event)
      .publishes(std::string(carts_topic),
                 {std::string(cart_created), std::string(cart_line_added), std::string(cart_line_updated),
                  std::string(cart_line_removed), std::string(cart_checked_out), std::string(cart_expired),
                  std::string(cart_merged)});
  return std::move(decl).build();
}

}  // namespace agora::cart
