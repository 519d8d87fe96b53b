#pragma once

#include "payment.hpp"
#include "store.hpp"

#include <orders/api.hpp>

#include <agora/module.hpp>
#include <agora/task_group.hpp>

#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace agora::orders {

// One replica of orders. Each order's checkout saga runs as a coroutine on the replica's
// strand (one per order, never two), persisting the step it reached in the order row
// after every step, so start() resumes the sagas a crash interrupted. A checkout request
// waits for its saga to settle (done or failed) until its deadline, then answers the
// order as it stands.
class service {
 public:
  explicit service(module_context& ctx);

  asio::awaitable<void> start();
  asio::awaitable<void> stop();

  asio::awaitable<result<order>> checkout(checkout_request req, const bus::call_context& c);
  asio::awaitable<result<order>> get_order(get_order_request req, const bus::call_context& c);
  asio::awaitable<result<order_page>> list_orders(list_orders_request req, const bus::call_context& c);
  asio::awaitable<result<order>> cancel_order(cancel_order_request req, const bus::call_context& c);
  asio::awaitable<result<order>> refund_order(refund_order_request req, const bus::call_context& c);
  asio::awaitable<result<order>> update_fulfilment(update_fulfilment_request req, const bus::call_context& c);

 private:
  // What one step did: moved on (stored), or must be tried again later (a module or the
  // provider is unavailable after the point of no return).
  enum class step_outcome { advanced, retry };

  void launch(const std::string& id, bus::trace tr);
  asio::awaitable<void> drive(std::string id, bus::trace tr);
  asio::awaitable<step_outcome> advance(order_record& r, const bus::trace& tr);
  asio::awaitable<step_outcome> validate(order_record& r, const bus::trace& tr);
  asio::awaitable<step_outcome> reserve(order_record& r, const bus::trace& tr);
  asio::awaitable<step_outcome> authorize(order_record& r);
  asio::awaitable<step_outcome> commit_stock(order_record& r, const bus::trace& tr);
  asio::awaitable<step_outcome> close_cart(order_record& r, const bus::trace& tr);
  asio::awaitable<step_outcome> capture(order_record& r);
  asio::awaitable<step_outcome> compensate(order_record& r, const bus::trace& tr);
  asio::awaitable<step_outcome> undo_canceled(order_record& r, const bus::trace& tr);

  // Sets the order canceled with `reason` (the checkout's failure `why` for its reply)
  // and moves it to the compensation step, stored with its order.canceled event.
  asio::awaitable<step_outcome> fail(order_record& r, std::string reason, const error& why);
  // The event announcing `o` as the next save stores it (its version one higher).
  bus::event announce(const order& o, std::string_view type, std::optional<money> amount,
                      std::vector<refund_line> lines, const bus::call_context& c) const;
  // Stores the record (with its lines when asked) and, when `event_type` is set, the
  // event announcing it, in one store job.
  asio::awaitable<result<void>> store_record(order_record& r, std::string_view event_type, bool with_lines = false,
                                             std::optional<money> amount = std::nullopt,
                                             std::vector<refund_line> lines = {});
  void change(order_record& r, std::string_view field, std::string to, std::string reason, std::string actor);

  asio::awaitable<void> wait_settled(const std::string& id, bus::clock::time_point deadline);
  void settled(const std::string& id);
  asio::awaitable<result<order_record>> load(const std::string& id, const bus::call_context& c);
  bus::request_options step_options(const bus::trace& tr) const;
  std::chrono::steady_clock::time_point step_deadline() const;

  module_context& ctx_;
  std::string web_location_;
  std::int64_t reservation_ttl_s_;
  std::chrono::milliseconds step_timeout_;
  std::chrono::milliseconds retry_max_;
  std::int64_t page_limit_max_;
  std::unique_ptr<payment_provider> payments_;
  task_group sagas_;
  std::unordered_set<std::string> driving_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<asio::steady_timer>>> waiters_;
  metrics::counter& checkouts_confirmed_;
  metrics::counter& checkouts_failed_;
  metrics::counter& step_retries_;
  metrics::gauge& sagas_running_;
};

}  // namespace agora::orders
