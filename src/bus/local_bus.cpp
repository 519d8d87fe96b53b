#include <agora/local_bus.hpp>

#include "bus/local_core.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <unordered_map>

namespace agora::bus {
namespace local {

core::core(executor timers, options o, metrics::registry& reg)
    : timers_(timers),
      timer_strand_(asio::make_strand(timers)),
      opts_(o),
      reg_(reg),
      deadlines_(std::make_shared<deadline_list>(timers)) {}

void core::spawn_done(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    log::error("bus", "bus task failed", {{"error", x.what()}});
  } catch (...) {
    log::error("bus", "bus task failed");
  }
}

nlohmann::json core::stats() const {
  auto methods = nlohmann::json::object();
  {
    std::shared_lock lock(methods_mu_);
    for (const auto& [name, m] : methods_) methods[name] = m->stats();
  }
  std::unordered_map<const group_state*, std::size_t> dead_by_group;
  {
    std::lock_guard lock(dead_mu_);
    for (const auto& e : dead_) ++dead_by_group[e.group.get()];
  }
  auto topics = nlohmann::json::object();
  for (const auto& g : all_groups()) topics[g->topic_][g->name_] = g->stats(dead_by_group[g.get()]);
  return {{"methods", std::move(methods)},
          {"topics", std::move(topics)},
          {"requests_in_flight", requests_in_flight_.load()},
          {"draining", draining_.load()}};
}

void core::note_progress() {
  if (draining_.load() && idle()) asio::post(timer_strand_, [self = shared_from_this()] { self->wake_drainers(); });
}

asio::awaitable<void> core::wait_idle(clock::time_point deadline) {
  asio::steady_timer t(timer_strand_);
  while (!idle() && clock::now() < deadline) {
    t.expires_at(deadline);
    drainers_.insert(&t);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    drainers_.erase(&t);
  }
}

void core::wake_drainers() {
  for (auto* t : drainers_) t->cancel();
}

bool core::idle() const {
  if (requests_in_flight_.load() != 0) return false;
  for (const auto& g : all_groups())
    if (g->depth() != 0) return false;
  return true;
}

}  // namespace local

namespace {

using local::core;

class local_bus final : public bus {
 public:
  local_bus(executor timers, options o, metrics::registry& reg)
      : core_(std::make_shared<core>(std::move(timers), o, reg)), reg_(reg) {}

  ~local_bus() override {
    core_->draining_.store(true);
    core_->stop_consuming();
    core_->deadlines_->stop();
    for (const auto& g : core_->all_groups()) {
      g->fail_waiters();
      reg_.remove_callback(g->depth_gauge_);
    }
  }

  void serve(responder r) override { core_->serve(std::move(r)); }

  void unserve(std::string_view method, std::string_view replica) override { core_->unserve(method, replica); }

  asio::awaitable<result<message>> request(std::string method, message msg, request_options opts) override {
    return core::request(core_, std::move(method), std::move(msg), std::move(opts));
  }

  void subscribe(subscription s) override { core_->subscribe(std::move(s)); }

  asio::awaitable<result<void>> publish(event_ptr ev, std::function<void()> on_settled) override {
    return core::publish(core_, std::move(ev), publish_hooks{std::move(on_settled), {}});
  }

  asio::awaitable<result<void>> publish_tracked(event_ptr ev, publish_hooks hooks) override {
    return core::publish(core_, std::move(ev), std::move(hooks));
  }

  bool keep_dead_letter(std::uint64_t seq, std::string module, std::int64_t kept_id,
                        std::shared_ptr<dead_letter_keeper> keeper) override {
    return core_->keep_dead_letter(seq, std::move(module), kept_id, std::move(keeper));
  }

  std::uint64_t restore_dead_letter(dead_letter letter, std::shared_ptr<dead_letter_keeper> keeper) override {
    return core_->restore_dead_letter(std::move(letter), std::move(keeper));
  }

  std::vector<dead_letter> dead_letters() const override { return core_->dead_letters(); }

  result<void> replay(std::uint64_t seq) override { return core_->replay(seq); }

  nlohmann::json stats() const override { return core_->stats(); }

  asio::awaitable<void> drain(clock::time_point deadline) override {
    auto c = core_;
    c->draining_.store(true);
    for (const auto& g : c->all_groups()) g->fail_waiters();
    co_await asio::co_spawn(c->timer_strand_, c->wait_idle(deadline), asio::use_awaitable);
    if (!c->idle()) c->stop_consuming();
  }

 private:
  std::shared_ptr<core> core_;
  metrics::registry& reg_;
};

}  // namespace

std::unique_ptr<bus> make_local_bus(executor timers, options opts, metrics::registry& metrics) {
  return std::make_unique<local_bus>(std::move(timers), opts, metrics);
}

}  // namespace agora::bus
