#pragma once

#include <agora/clock.hpp>
#include <agora/result.hpp>
#include <agora/store.hpp>
#include <agora/values.hpp>

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>

// How orders take money: a provider interface, and the built-in fake provider used by
// default, in tests and in demos.
namespace agora::orders {

namespace asio = boost::asio;

struct payment {
  std::string id;      // "pay_…"
  std::string status;  // authorized, captured, voided
  money amount;
  std::int64_t captured = 0;
  std::int64_t refunded = 0;
};

// A payment provider. Every call is idempotent by the order id (the key a real provider
// is given), so a saga step that is retried after a crash or a timeout never takes money
// twice. A call answers by `deadline` or fails with deadline_exceeded, in which case the
// provider may or may not have acted (the saga voids or retries, both safe).
// Errors: conflict "payment declined" (authorize), unavailable (the provider failed),
// deadline_exceeded, conflict for a call the payment's state does not allow.
class payment_provider {
 public:
  virtual ~payment_provider() = default;
  virtual asio::awaitable<result<payment>> authorize(std::string order_id, money amount, std::string token,
                                                     std::chrono::steady_clock::time_point deadline) = 0;
  virtual asio::awaitable<result<payment>> capture(std::string order_id,
                                                   std::chrono::steady_clock::time_point deadline) = 0;
  // Voids an authorisation; answers not_found when none was ever made (nothing to undo).
  virtual asio::awaitable<result<payment>> void_authorization(std::string order_id,
                                                              std::chrono::steady_clock::time_point deadline) = 0;
  // Returns `amount` of a captured payment; `refund_id` makes a retried refund one refund.
  virtual asio::awaitable<result<payment>> refund(std::string order_id, std::string refund_id, money amount,
                                                  std::chrono::steady_clock::time_point deadline) = 0;
};

// The fake provider. It keeps its ledger in tables of orders' database (fake_payments,
// fake_refunds), each call in its own transaction, as an outside system would. How it
// answers:
//   - token "tok_decline": declined; "tok_fail": unavailable; "tok_timeout": authorises,
//     then does not answer before the deadline (the hard case: money held, caller unsure);
//   - otherwise, declines a share `decline_ratio` of authorisations and fails a share
//     `failure_ratio` of all calls at random, and takes `latency` per call (a call whose
//     latency would pass its deadline acts, then answers deadline_exceeded).
class fake_payment_provider final : public payment_provider {
 public:
  struct options {
    double decline_ratio = 0;
    double failure_ratio = 0;
    std::chrono::milliseconds latency{0};
  };
  fake_payment_provider(store::worker& store, const agora::clock& time, options o);

  asio::awaitable<result<payment>> authorize(std::string order_id, money amount, std::string token,
                                             std::chrono::steady_clock::time_point deadline) override;
  asio::awaitable<result<payment>> capture(std::string order_id,
                                           std::chrono::steady_clock::time_point deadline) override;
  asio::awaitable<result<payment>> void_authorization(std::string order_id,
                                                      std::chrono::steady_clock::time_point deadline) override;
  asio::awaitable<result<payment>> refund(std::string order_id, std::string refund_id, money amount,
                                          std::chrono::steady_clock::time_point deadline) override;

 private:
  bool roll(double ratio);
  asio::awaitable<bool> wait_latency(std::chrono::steady_clock::time_point deadline);

  store::worker& store_;
  const agora::clock& clock_;
  options opts_;
  std::mutex rng_mutex_;
  std::mt19937_64 rng_;
};

}  // namespace agora::orders
