#include "runtime/outbox_relay.hpp"

#include <agora/log.hpp>

#include <fmt/format.h>

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

struct kept_row {
  std::uint64_t bus_seq;
  std::int64_t id;
};
}  // namespace

class outbox_relay::keeper final : public bus::dead_letter_keeper {
 public:
  explicit keeper(std::weak_ptr<outbox_relay> r) : relay_(std::move(r)) {}
  void handled(std::int64_t id) override {
    if (auto r = relay_.lock()) r->forget_letter(id);
  }
  void buried_again(std::int64_t id, const bus::dead_letter& now) override {
    if (auto r = relay_.lock()) r->update_letter(id, now);
  }

 private:
  std::weak_ptr<outbox_relay> relay_;
};

void outbox_relay::forget_letter(std::int64_t id) {
  tasks_.spawn(ex_, forget_row(id), "dead letter of " + module_);
}

void outbox_relay::update_letter(std::int64_t id, const bus::dead_letter& now) {
  tasks_.spawn(ex_, update_row(id, now.attempts, nlohmann::json(now.last_error).dump(), now.failed_at),
               "dead letter of " + module_);
}

asio::awaitable<void> outbox_relay::forget_row(std::int64_t id) {
  auto del = [id](store::database& db) {
    db.prepare("DELETE FROM _agora_dead_letters WHERE id = ?").bind(1, id).run();
  };
  auto r = co_await store_.run(std::move(del));
  if (!r)
    log::warn("outbox", "could not forget a replayed dead letter; it shows again after a restart",
              {{"module", module_}, {"id", id}});
}

asio::awaitable<void> outbox_relay::update_row(std::int64_t id, int attempts, std::string last_error,
                                               std::string failed_at) {
  auto upd = [&](store::database& db) {
    db.prepare("UPDATE _agora_dead_letters SET attempts = ?, last_error = ?, failed_at = ? WHERE id = ?")
        .bind_all(static_cast<std::int64_t>(attempts), last_error, failed_at, id)
        .run();
  };
  auto r = co_await store_.run(std::move(upd));
  if (!r) log::warn("outbox", "could not update a dead letter", {{"module", module_}, {"id", id}});
}

asio::awaitable<std::size_t> outbox_relay::load_dead_letters() {
  if (!keeper_) keeper_ = std::make_shared<keeper>(weak_from_this());
  struct row {
    std::int64_t id;
    std::string event, group;
    std::int64_t attempts;
    std::string last_error, failed_at;
  };
  auto read = [](store::database& db) {
    std::vector<row> out;
    auto& q = db.prepare(
        "SELECT id, event, consumer_group, attempts, last_error, failed_at FROM _agora_dead_letters ORDER BY id");
    while (q.step()) {
      row r;
      q.columns(r.id, r.event, r.group, r.attempts, r.last_error, r.failed_at);
      out.push_back(std::move(r));
    }
    return out;
  };
  auto rows = co_await store_.run(std::move(read));
  if (!rows) throw std::runtime_error(fmt::format("{}: cannot read its dead letters: {}", module_, rows.err().message));
  std::size_t n = 0;
  for (auto& r : *rows) {
    bus::dead_letter d;
    try {
      d.ev = std::make_shared<const bus::event>(nlohmann::json::parse(r.event).get<bus::event>());
      d.last_error = nlohmann::json::parse(r.last_error).get<error>();
    } catch (const std::exception&) {
      log::error("outbox", "an unreadable dead letter is left in the store", {{"module", module_}, {"id", r.id}});
      continue;
    }
    d.group = std::move(r.group);
    d.attempts = static_cast<int>(r.attempts);
    d.failed_at = std::move(r.failed_at);
    d.kept_by = module_;
    d.kept_id = r.id;
    bus_.restore_dead_letter(std::move(d), keeper_);
    ++n;
  }
  if (n > 0) log::info("outbox", "dead letters listed again", {{"module", module_}, {"count", n}});
  co_return n;
}

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
  if (!keeper_) keeper_ = std::make_shared<keeper>(weak_from_this());
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
  std::vector<bus::dead_letter> letters;
  for (auto seq : seqs) {
    auto it = buried_.find(seq);
    if (it == buried_.end()) continue;
    for (auto& d : it->second) letters.push_back(std::move(d));
    buried_.erase(it);
  }
  auto job = [seqs = std::move(seqs), &letters](store::database& db) {
    std::vector<kept_row> kept;
    db.transaction([&] {
      for (const auto& d : letters) {
        db.prepare(
              "INSERT INTO _agora_dead_letters(event, consumer_group, attempts, last_error, failed_at) "
              "VALUES (?, ?, ?, ?, ?)")
            .bind_all(nlohmann::json(*d.ev).dump(), d.group, static_cast<std::int64_t>(d.attempts),
                      nlohmann::json(d.last_error).dump(), d.failed_at)
            .run();
        auto& id = db.prepare("SELECT last_insert_rowid()");
        id.step();
        kept.push_back({d.seq, id.int64(0)});
        id.reset();
      }
      for (auto seq : seqs) db.prepare("DELETE FROM _agora_outbox WHERE seq = ?").bind(1, seq).run();
    });
    return kept;
  };
  auto r = co_await store_.run(std::move(job));
  if (!r) {
    log::warn("outbox", "could not delete settled rows; they will be published again", {{"module", module_}});
    co_return;
  }
  for (const auto& k : *r) bus_.keep_dead_letter(k.bus_seq, module_, k.id, keeper_);
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
        bus::publish_hooks hooks;
        hooks.on_settled = [self = shared_from_this(), seq] {
          asio::post(self->ex_, [self, seq] { self->settle(seq); });
        };
        hooks.on_buried = [self = shared_from_this(), seq](const bus::dead_letter& d) {
          asio::post(self->ex_, [self, seq, d] { self->buried_[seq].push_back(d); });
        };
        auto r = co_await bus_.publish_tracked(std::move(shared), std::move(hooks));
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
