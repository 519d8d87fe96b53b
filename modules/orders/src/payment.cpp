#include "payment.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace agora::orders {

namespace {

using steady = std::chrono::steady_clock;

std::optional<payment> find_payment(store::database& db, const std::string& order_id, std::string& status) {
  auto& q = db.prepare("SELECT id, status, amount, currency, captured, refunded FROM fake_payments WHERE order_id = ?");
  q.bind(1, order_id);
  if (!q.step()) return std::nullopt;
  payment p;
  q.columns(p.id, status, p.amount.amount, p.amount.currency, p.captured, p.refunded);
  p.status = status;
  return p;
}

void set_status(store::database& db, const payment& p, const std::string& now) {
  db.prepare("UPDATE fake_payments SET status = ?, captured = ?, refunded = ?, updated_at = ? WHERE id = ?")
      .bind_all(p.status, p.captured, p.refunded, now, p.id)
      .run();
}

error declined() { return error::conflict("payment declined"); }

}  // namespace

fake_payment_provider::fake_payment_provider(store::worker& store, const agora::clock& time, options o)
    : store_(store), clock_(time), opts_(o), rng_(std::random_device{}()) {}

bool fake_payment_provider::roll(double ratio) {
  if (ratio <= 0) return false;
  if (ratio >= 1) return true;
  std::lock_guard lock(rng_mutex_);
  return std::uniform_real_distribution<double>(0, 1)(rng_) < ratio;
}

// Takes the provider's latency; false (after waiting until the deadline) when the answer
// would come too late.
asio::awaitable<bool> fake_payment_provider::wait_latency(steady::time_point deadline) {
  if (opts_.latency.count() == 0) co_return steady::now() < deadline;
  auto until = steady::now() + opts_.latency;
  asio::steady_timer timer(co_await asio::this_coro::executor, std::min(until, deadline));
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return until <= deadline;
}

asio::awaitable<result<payment>> fake_payment_provider::authorize(std::string order_id, money amount, std::string token,
                                                                  steady::time_point deadline) {
  if (token == "tok_fail" || roll(opts_.failure_ratio)) co_return error::unavailable("payment provider failed");
  bool decline = token == "tok_decline" || roll(opts_.decline_ratio);
  auto now = clock_.now_rfc3339();
  auto id = clock_.new_id("pay");
  auto job = [&](store::database& db) -> result<payment> {
    return db.transaction([&]() -> result<payment> {
      std::string status;
      if (auto p = find_payment(db, order_id, status)) {
        if (status == "declined") return declined();
        if (status == "voided") return error::conflict("payment voided");
        return *p;
      }
      db.prepare(
            "INSERT INTO fake_payments(id, order_id, amount, currency, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)")
          .bind_all(id, order_id, amount.amount, amount.currency, decline ? "declined" : "authorized", now, now)
          .run();
      if (decline) return declined();
      return payment{id, "authorized", amount, 0, 0};
    });
  };
  auto r = co_await store_.run(std::move(job));
  if (token == "tok_timeout") {
    asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return error::timeout("payment provider did not answer in time");
  }
  if (!co_await wait_latency(deadline)) co_return error::timeout("payment provider did not answer in time");
  co_return r;
}

asio::awaitable<result<payment>> fake_payment_provider::capture(std::string order_id, steady::time_point deadline) {
  if (roll(opts_.failure_ratio)) co_return error::unavailable("payment provider failed");
  auto now = clock_.now_rfc3339();
  auto job = [&](store::database& db) -> result<payment> {
    return db.transaction([&]() -> result<payment> {
      std::string status;
      auto p = find_payment(db, order_id, status);
      if (!p || status == "declined") return error::not_found("no authorised payment for " + order_id);
      if (status == "voided") return error::conflict("payment voided");
      if (status == "authorized") {
        p->status = "captured";
        p->captured = p->amount.amount;
        set_status(db, *p, now);
        db.prepare("UPDATE fake_payments SET captures = captures + 1 WHERE id = ?").bind(1, p->id).run();
      }
      return *p;
    });
  };
  auto r = co_await store_.run(std::move(job));
  if (!co_await wait_latency(deadline)) co_return error::timeout("payment provider did not answer in time");
  co_return r;
}

asio::awaitable<result<payment>> fake_payment_provider::void_authorization(std::string order_id,
                                                                           steady::time_point deadline) {
  if (roll(opts_.failure_ratio)) co_return error::unavailable("payment provider failed");
  auto now = clock_.now_rfc3339();
  auto job = [&](store::database& db) -> result<payment> {
    return db.transaction([&]() -> result<payment> {
      std::string status;
      auto p = find_payment(db, order_id, status);
      if (!p || status == "declined") return error::not_found("no authorised payment for " + order_id);
      if (status == "captured" || status == "refunded") return error::conflict("payment captured; refund it instead");
      if (status == "authorized") {
        p->status = "voided";
        set_status(db, *p, now);
      }
      return *p;
    });
  };
  auto r = co_await store_.run(std::move(job));
  if (!co_await wait_latency(deadline)) co_return error::timeout("payment provider did not answer in time");
  co_return r;
}

asio::awaitable<result<payment>> fake_payment_provider::refund(std::string order_id, std::string refund_id,
                                                               money amount, steady::time_point deadline) {
  if (roll(opts_.failure_ratio)) co_return error::unavailable("payment provider failed");
  auto now = clock_.now_rfc3339();
  auto job = [&](store::database& db) -> result<payment> {
    return db.transaction([&]() -> result<payment> {
      std::string status;
      auto p = find_payment(db, order_id, status);
      if (!p || (status != "captured" && status != "refunded"))
        return error::conflict("no captured payment to refund for " + order_id);
      auto& seen = db.prepare("SELECT 1 FROM fake_refunds WHERE id = ?");
      seen.bind(1, refund_id);
      if (seen.step()) return *p;
      if (amount.currency != p->amount.currency || amount.amount <= 0 || amount.amount > p->captured - p->refunded)
        return error::conflict("refund exceeds what was captured and not yet refunded");
      db.prepare("INSERT INTO fake_refunds(id, payment_id, amount, created_at) VALUES (?, ?, ?, ?)")
          .bind_all(refund_id, p->id, amount.amount, now)
          .run();
      p->refunded += amount.amount;
      if (p->refunded == p->captured) p->status = "refunded";
      set_status(db, *p, now);
      return *p;
    });
  };
  auto r = co_await store_.run(std::move(job));
  if (!co_await wait_latency(deadline)) co_return error::timeout("payment provider did not answer in time");
  co_return r;
}

}  // namespace agora::orders
