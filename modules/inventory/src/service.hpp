#pragma once

#include <inventory/api.hpp>

#include <agora/module.hpp>
#include <agora/task_group.hpp>

namespace agora::inventory {

// One replica of the inventory: answers its bus methods on the replica's strand and does
// every check together with the change it guards in one store transaction (the store
// thread runs them one at a time, BEGIN IMMEDIATE keeps other processes out). Replica 0
// also runs the expiry sweep.
class service {
 public:
  explicit service(module_context& ctx);

  asio::awaitable<void> start();
  asio::awaitable<void> stop();

  asio::awaitable<result<reservation>> reserve(reserve_request req, const bus::call_context& c);
  asio::awaitable<result<reservation>> release(release_request req, const bus::call_context& c);
  asio::awaitable<result<reservation>> commit(commit_request req, const bus::call_context& c);
  asio::awaitable<result<reservation>> get_reservation(get_reservation_request req, const bus::call_context& c);
  asio::awaitable<result<stock_level>> adjust(adjust_request req, const bus::call_context& c);
  asio::awaitable<result<level_page>> get_levels(get_levels_request req, const bus::call_context& c);
  asio::awaitable<result<stock_level>> get_level(get_level_request req, const bus::call_context& c);
  asio::awaitable<result<transfer>> create_transfer(create_transfer_request req, const bus::call_context& c);
  asio::awaitable<result<transfer>> receive_transfer(receive_transfer_request req, const bus::call_context& c);
  asio::awaitable<result<transfer>> get_transfer(get_transfer_request req, const bus::call_context& c);
  asio::awaitable<result<transfer_page>> list_transfers(list_transfers_request req, const bus::call_context& c);
  asio::awaitable<result<stock_level>> set_threshold(set_threshold_request req, const bus::call_context& c);
  asio::awaitable<result<level_page>> list_low_stock(list_low_stock_request req, const bus::call_context& c);
  asio::awaitable<result<location>> create_location(create_location_request req, const bus::call_context& c);
  asio::awaitable<result<location_page>> list_locations(list_locations_request req, const bus::call_context& c);

  // Expires every active reservation past its expires_at (by the module clock); answers
  // how many this call expired. Safe to run anywhere at once: each reservation moves in its
  // own transaction, only while still active.
  asio::awaitable<result<std::int64_t>> sweep();

 private:
  asio::awaitable<void> sweep_loop();
  asio::awaitable<result<level_page>> levels(std::optional<std::string> sku, std::optional<std::string> location,
                                             bool low_only, std::optional<std::int64_t> limit, std::string cursor,
                                             const bus::call_context& c);

  module_context& ctx_;
  std::int64_t default_ttl_s_;
  std::int64_t quantity_max_;
  std::int64_t page_limit_max_;
  std::chrono::milliseconds sweep_period_;
  task_group tasks_;
};

}  // namespace agora::inventory
