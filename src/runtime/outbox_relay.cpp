#include "runtime/outbox_relay.hpp"

#include <agora/log.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
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
                           metrics::registry& m)
    : module_(std::move(module)),
      store_(store),
      bus_(b),
      ex_(std::move(ex)),
      wake_(ex_),
      published_(m.counter_of("agora_outbox_published_total", "Outbox events handed to the bus",
                              {{"module", module_}})),
      pending_(m.gauge_of("agora_outbox_unsettled", "Outbox events published and not yet settled",
                          {{"module", module_}})) {}

void outbox_relay::start() {
  running_ = true;
  asio::co_spawn(ex_, [self = shared_from_this()]() -> asio::awaitable<void> { co_await self->loop(); },
                 [self = shared_from_this()](std::exception_ptr e) {
                   self->running_ = false;
                   if (e) log::error("outbox", "relay stopped by an exception", {{"module", self->module_}});
                 });
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
  while (!stopping_) {
    if (!settled_.empty()) co_await delete_settled();
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
          if (!stopping_) {
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
    wake_.expires_after(std::chrono::seconds(5));
    auto [ec] = co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!ec) dirty_ = true;
  }
  if (!settled_.empty()) co_await delete_settled();
  running_ = false;
}

asio::awaitable<bool> outbox_relay::flush(bus::clock::time_point deadline) {
  co_return co_await asio::co_spawn(ex_, flush_here(deadline), asio::use_awaitable);
}

asio::awaitable<bool> outbox_relay::flush_here(bus::clock::time_point deadline) {
  asio::steady_timer t(ex_);
  while ((dirty_ || !unsettled_.empty() || !settled_.empty()) && bus::clock::now() < deadline && running_) {
    t.expires_after(std::chrono::milliseconds(2));
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return !dirty_ && unsettled_.empty();
}

asio::awaitable<void> outbox_relay::stop() {
  co_await asio::co_spawn(ex_, stop_here(), asio::use_awaitable);
}

asio::awaitable<void> outbox_relay::stop_here() {
  stopping_ = true;
  wake_.cancel();
  asio::steady_timer t(ex_);
  while (running_) {
    wake_.cancel();
    t.expires_after(std::chrono::milliseconds(1));
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace agora::runtime
