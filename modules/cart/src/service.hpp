#pragma once

#include "pricing.hpp"
#include "store.hpp"

#include <cart/api.hpp>
#include <catalog/api.hpp>

#include <agora/module.hpp>
#include <agora/task_group.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace agora::cart {

// One replica of the cart module. Every change is one store job that reads the cart,
// checks it and writes it with its event, so replicas (which share the store thread)
// never lose each other's changes; a replica keeps no cart state of its own.
class service {
 public:
  explicit service(module_context& ctx);

  asio::awaitable<void> start();
  asio::awaitable<void> stop();

  asio::awaitable<result<create_cart_reply>> create_cart(create_cart_request req, const bus::call_context& c);
  asio::awaitable<result<cart>> get_cart(get_cart_request req, const bus::call_context& c);
  asio::awaitable<result<cart>> add_line(add_line_request req, const bus::call_context& c);
  asio::awaitable<result<cart>> update_line(update_line_request req, const bus::call_context& c);
  asio::awaitable<result<cart>> remove_line(remove_line_request req, const bus::call_context& c);
  asio::awaitable<result<cart>> merge_guest_cart(merge_guest_cart_request req, const bus::call_context& c);
  asio::awaitable<result<cart>> begin_checkout(begin_checkout_request req, const bus::call_context& c);
  asio::awaitable<result<cart>> end_checkout(end_checkout_request req, const bus::call_context& c);

  // catalog.variants: re-prices the lines of open carts holding the variant's SKU.
  asio::awaitable<result<void>> on_variant_event(const bus::event& ev);

  // Marks every open cart idle past its expires_at expired; answers how many.
  asio::awaitable<result<std::int64_t>> sweep();

 private:
  using time_point = agora::clock::time_point;
  template <class Change>
  asio::awaitable<result<cart>> edit(std::string cart_id, const std::optional<std::string>& cart_token,
                                     std::optional<version_match> expected, std::string_view event_type,
                                     const bus::call_context& c, Change change);
  asio::awaitable<result<catalog::variant_info>> find_variant(const std::string& sku, const bus::call_context& c);
  asio::awaitable<void> sweep_loop();

  // On the store thread, inside a transaction.
  cart new_cart(std::optional<std::string> customer_id, std::string region, time_point now) const;
  void touch(cart& c, time_point now) const;
  cart priced(cart c) const;
  void enqueue(store::database& db, std::string_view type, const cart& c, const bus::call_context& call,
               time_point now) const;
  void expire(store::database& db, sql::cart_record& rec, time_point now, const bus::call_context& call) const;
  result<std::optional<std::string>> merge_into(store::database& db, sql::cart_record& guest, sql::cart_record& into,
                                                time_point now, const bus::call_context& call) const;

  module_context& ctx_;
  tax_table taxes_;
  bool prices_include_tax_;
  std::string default_region_;
  std::int64_t quantity_max_;
  std::int64_t lines_max_;
  std::chrono::seconds idle_expiry_;
  std::chrono::milliseconds sweep_interval_;
  task_group tasks_;
};

}  // namespace agora::cart
