#include "http_codec.hpp"
#include "service.hpp"
#include "settings.hpp"

#include <inventory/api.hpp>

#include "agora_inventory_migrations.hpp"

namespace agora::inventory {

module_definition module() {
  module_decl<service> decl("inventory");
  decl.replicas(1)
      .durability(store::durability::full)
      .migrations(db::migrations())
      .setting(settings::reservation_ttl_s)
      .setting(settings::sweep_period_ms)
      .setting(settings::quantity_max)
      .setting(settings::page_limit_max)
      .handle<reserve>(&service::reserve)
      .handle<release>(&service::release)
      .handle<commit>(&service::commit)
      .handle<get_reservation>(&service::get_reservation)
      .handle<adjust>(&service::adjust)
      .handle<get_levels>(&service::get_levels)
      .handle<get_level>(&service::get_level)
      .handle<create_transfer>(&service::create_transfer)
      .handle<receive_transfer>(&service::receive_transfer)
      .handle<get_transfer>(&service::get_transfer)
      .handle<list_transfers>(&service::list_transfers)
      .handle<set_threshold>(&service::set_threshold)
      .handle<list_low_stock>(&service::list_low_stock)
      .handle<create_location>(&service::create_location)
      .handle<list_locations>(&service::list_locations)
      .publishes(std::string(stock_topic),
                 {std::string(stock_adjusted), std::string(stock_reserved), std::string(stock_released),
                  std::string(stock_committed), std::string(stock_expired), std::string(stock_transferred_out),
                  std::string(stock_received), std::string(low_stock)});
  http_codec::add_routes(decl);
  return std::move(decl).build();
}

}  // namespace agora::inventory
