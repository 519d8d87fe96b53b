#include "bus/local_core.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace agora::bus::local {

std::shared_ptr<method_state> core::find_method(std::string_view name) const {
  std::shared_lock lock(methods_mu_);
  auto it = methods_.find(name);
  return it == methods_.end() ? nullptr : it->second;
}

void core::serve(responder r) {
  std::shared_ptr<method_state> m;
  {
    std::unique_lock lock(methods_mu_);
    auto& slot = methods_[r.method];
    if (!slot) slot = std::make_shared<method_state>(r.method, reg_);
    m = slot;
  }
  m->add(std::move(r));
}

void core::unserve(std::string_view method, std::string_view replica) {
  if (auto m = find_method(method)) m->remove(replica);
}

void core::start_call(std::shared_ptr<call_base> op, std::shared_ptr<replica_state> rep) {
  deadlines_->add(op);
  auto ex = rep->r.ex;
  asio::post(ex, [self = shared_from_this(), op = std::move(op), rep = std::move(rep)]() mutable {
    auto ex = rep->r.ex;
    asio::co_spawn(ex, serve_call(std::move(self), std::move(op), std::move(rep)), spawn_done);
  });
}

asio::awaitable<void> core::serve_call(std::shared_ptr<core> self, std::shared_ptr<call_base> op,
                                       std::shared_ptr<replica_state> rep) {
  result<message> r = error::internal("no reply");
  try {
    r = co_await rep->r.handler(std::move(op->msg_), op->ctx_);
  } catch (const std::exception& e) {
    log::warn("bus", "request handler threw", {{"method", op->method_->name_}, {"error", e.what()}}, &op->tr_);
    r = error::internal(fmt::format("{} failed", op->method_->name_));
  } catch (...) {
    log::warn("bus", "request handler threw", {{"method", op->method_->name_}}, &op->tr_);
    r = error::internal(fmt::format("{} failed", op->method_->name_));
  }
  rep->in_flight.fetch_sub(1, std::memory_order_relaxed);
  op->method_->in_flight_.fetch_sub(1, std::memory_order_relaxed);
  if (op->claim()) {
    auto listed = self->deadlines_->remove(*op);
    op->settle(std::move(r));
  }
  self->requests_in_flight_.fetch_sub(1);
  self->note_progress();
}

asio::awaitable<result<message>> core::request(std::shared_ptr<core> c, std::string method, message msg,
                                               request_options opts) {
  if (c->draining_.load(std::memory_order_relaxed)) co_return error::unavailable("bus is draining");
  auto m = c->find_method(method);
  if (!m) co_return error::unavailable(fmt::format("no replica serves {}", method));
  if (m->in_flight_.fetch_add(1, std::memory_order_relaxed) >= c->opts_.max_in_flight_requests) {
    m->in_flight_.fetch_sub(1, std::memory_order_relaxed);
    auto e = error::unavailable(fmt::format("too many requests in flight for {}", method));
    m->refuse(e);
    co_return e;
  }
  auto rep = m->pick();
  if (!rep) {
    m->in_flight_.fetch_sub(1, std::memory_order_relaxed);
    auto e = error::unavailable(fmt::format("no replica serves {}", method));
    m->refuse(e);
    co_return e;
  }
  const auto start = clock::now();
  const auto timeout = std::clamp(opts.timeout, std::chrono::milliseconds(0), longest_timeout);
  c->requests_in_flight_.fetch_add(1);
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(result<message>)>(
      [](auto handler, std::shared_ptr<core> c, std::shared_ptr<method_state> m, std::shared_ptr<replica_state> rep,
         message msg, trace tr, principal who, clock::time_point start, clock::time_point deadline) {
        auto op = std::make_shared<call_op<decltype(handler)>>(std::move(handler), std::move(m), std::move(msg),
                                                               std::move(tr), start, deadline);
        op->ctx_.who = std::move(who);
        c->start_call(std::move(op), std::move(rep));
      },
      asio::use_awaitable, c, std::move(m), std::move(rep), std::move(msg), std::move(opts.tr), std::move(opts.who), start,
      start + timeout);
}

}  // namespace agora::bus::local
