#include "runtime/outbox_relay.hpp"

#include <agora/log.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace agora::runtime {

namespace {
struct outbox_row {
  std::int64_t seq;
  std::string event;
};
constexpr std::size_t batch = 256;
}  // namespace

outbox_relay::outbox_relay(std::string module, store::worker& store, bus::bus& b, bus::executor ex,
                           metrics::registry& m, std::chrono::milliseconds idle_reread)
    : module_(std::move(module)),
      store_(store),
      bus_(b),
      ex_(std::move(ex)),
      idle_reread_(idle_reread),
      wake_(ex_),
      published_(m.counter_of("agora_outbox_published_total", "Outbox events handed to the bus",
                              {{"module", module_}})),
      pending_(m.gauge_of("agora_outbox_unsettled", "Outbox events published and not yet settled",
                          {{"module", module_}})) {}

void outbox_relay::start() {
  running_ = true;
  tasks_.spawn(ex_, run(shared_from_this()), "outbox relay of " + module_);
}

asio::awaitable<void> outbox_relay::run(std::shared_ptr<outbox_relay> self) {
  // Stopping is the task group's cancellation: the loop reads it between steps and still
  // deletes what has settled, so a cancelled co_await must not throw.
  co_await asio::this_coro::throw_if_cancelled(false);
  try {
    co_await self->loop();
  } catch (...) {
    self->running_ = false;
    self->wake_flushers();
    throw;
  }
}

void outbox_relay::notify() {
  asio::post(ex_, [self = shared_from_this()] {
    self->dirty_ = true;
    self->wake_.cancel();
  });
}

void outbox_relay::settle(std::int64_t seq) {
  unsettled_.erase(seq);
  pending_.set(static_cast<double>(unsettled_.size()));
  settled_.push_back(seq);
  wake_.cancel();
}

void outbox_relay::wake_flushers() {
  for (auto* t : flushers_) t->cancel();
}

asio::awaitable<void> outbox_relay::delete_settled() {
  auto seqs = std::move(settled_);
  settled_.clear();
  auto job = [seqs = std::move(seqs)](store::database& db) {
    db.transaction([&] {
      for (auto seq : seqs) db.prepare("DELETE FROM _agora_outbox WHERE seq = ?").bind(1, seq).run();
    });
  };
  auto r = co_await store_.run(std::move(job));
  if (!r) {
    log::warn("outbox", "could not delete settled rows; they will be published again", {{"module", module_}});
  }
}

asio::awaitable<void> outbox_relay::loop() {
  auto cancel = co_await asio::this_coro::cancellation_state;
  auto stopping = [&cancel] { return cancel.cancelled() != asio::cancellation_type::none; };
  while (!stopping()) {
    if (!settled_.empty()) {
      co_await delete_settled();
      continue;
    }
    if (dirty_) {
      dirty_ = false;
      auto read = [after = last_seq_](store::database& db) {
        std::vector<outbox_row> out;
        auto& q = db.prepare("SELECT seq, event FROM _agora_outbox WHERE seq > ? ORDER BY seq LIMIT ?");
        q.bind_all(after, static_cast<std::int64_t>(batch));
        while (q.step()) out.push_back({q.int64(0), q.text(1)});
        return out;
      };
      auto rows = co_await store_.run(std::move(read));
      if (!rows) {
        dirty_ = true;
        if (stopping()) break;
        wake_.expires_after(std::chrono::milliseconds(200));
        co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      if (rows->size() == batch) dirty_ = true;
      for (auto& row : *rows) {
        bus::event ev;
        try {
          ev = nlohmann::json::parse(row.event).get<bus::event>();
        } catch (const std::exception& e) {
          log::error("outbox", "dropping an unreadable outbox row", {{"module", module_}, {"seq", row.seq}});
          last_seq_ = row.seq;
          settled_.push_back(row.seq);
          continue;
        }
        unsettled_.insert(row.seq);
        pending_.set(static_cast<double>(unsettled_.size()));
        auto seq = row.seq;
        auto shared = std::make_shared<const bus::event>(std::move(ev));
        std::function<void()> on_settled = [self = shared_from_this(), seq] {
          asio::post(self->ex_, [self, seq] { self->settle(seq); });
        };
        auto r = co_await bus_.publish(std::move(shared), std::move(on_settled));
        if (!r) {
          unsettled_.erase(seq);
          dirty_ = true;
          if (!stopping()) {
            wake_.expires_after(std::chrono::milliseconds(100));
            co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
          }
          break;
        }
        published_.inc();
        last_seq_ = seq;
      }
      continue;
    }
    // Nothing to delete or read, checked in this strand turn: a settle or notify posted
    // from now on finds this wait pending and cancels it.
    if (unsettled_.empty()) wake_flushers();
    wake_.expires_after(idle_reread_);
    auto [ec] = co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!ec) dirty_ = true;
  }
  if (!settled_.empty()) co_await delete_settled();
  running_ = false;
  wake_flushers();
}

asio::awaitable<bool> outbox_relay::flush(bus::clock::time_point deadline) {
  co_return co_await asio::co_spawn(ex_, flush_here(deadline), asio::use_awaitable);
}

asio::awaitable<bool> outbox_relay::flush_here(bus::clock::time_point deadline) {
  asio::steady_timer t(ex_);
  while (busy() && running_ && bus::clock::now() < deadline) {
    t.expires_at(deadline);
    flushers_.insert(&t);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    flushers_.erase(&t);
  }
  co_return !busy();
}

asio::awaitable<void> outbox_relay::stop() { co_await tasks_.stop(); }

}  // namespace agora::runtime
