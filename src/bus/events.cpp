#include "bus/local_core.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>

namespace agora::bus::local {

namespace {

double unit_random() {
  thread_local std::minstd_rand rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

// Exponential backoff with equal jitter: half the step fixed, half random.
std::chrono::milliseconds backoff_for(int attempt, const options& o) {
  const double initial = static_cast<double>(std::max<std::int64_t>(o.backoff_initial.count(), 0));
  const double most = static_cast<double>(std::max<std::int64_t>(o.backoff_max.count(), 0));
  const double step = std::min(initial * std::exp2(std::min(attempt - 1, 40)), most);
  return std::chrono::milliseconds(static_cast<std::int64_t>(step * (0.5 + 0.5 * unit_random())));
}

}  // namespace

asio::awaitable<result<void>> core::publish(std::shared_ptr<core> c, event_ptr ev, publish_hooks hooks) {
  auto& on_settled = hooks.on_settled;
  if (!ev) co_return error{errc::invalid_argument, "no event", {}};
  if (c->draining_.load(std::memory_order_relaxed)) co_return error::unavailable("bus is draining");
  auto groups = c->groups_of(ev->topic);
  if (!groups || groups->empty()) {
    if (on_settled) on_settled();
    co_return ok();
  }
  const auto& list = *groups;
  for (std::size_t i = 0; i < list.size(); ++i) {
    while (!list[i]->try_reserve()) {
      if (c->opts_.on_full == overflow::fail) {
        for (std::size_t j = 0; j < i; ++j) c->release(*list[j], 1);
        co_return error{errc::resource_exhausted, fmt::format("group {} of {} is full", list[i]->name_, ev->topic),
                        {}};
      }
      auto waited = co_await async_wait_space(c, list[i], asio::use_awaitable);
      if (!waited) {
        for (std::size_t j = 0; j < i; ++j) c->release(*list[j], 1);
        co_return waited;
      }
    }
  }
  auto settle = on_settled || hooks.on_buried
                    ? std::make_shared<settle_state>(list.size(), std::move(on_settled), std::move(hooks.on_buried))
                    : nullptr;
  const auto hash = c->partition_of(*ev);
  for (const auto& g : list) c->enqueue(g, delivery{ev, settle, 0}, hash);
  co_return ok();
}

void core::subscribe(subscription s) {
  std::shared_ptr<group_state> g;
  {
    std::unique_lock lock(topics_mu_);
    auto& list = topics_[s.topic];
    if (list) {
      for (const auto& x : *list)
        if (x->name_ == s.group) g = x;
    }
    if (!g) {
      g = std::make_shared<group_state>(s.topic, s.group, opts_, reg_);
      g->depth_gauge_ = reg_.gauge_callback("agora_bus_queue_depth", "Events queued or being handled, by group",
                                            {{"topic", g->topic_}, {"group", g->name_}},
                                            [g] { return static_cast<double>(g->depth()); });
      auto grown = list ? std::make_shared<group_list>(*list) : std::make_shared<group_list>();
      grown->push_back(g);
      list = std::move(grown);
    }
  }
  g->add_consumer(std::move(s));
}

std::shared_ptr<const group_list> core::groups_of(std::string_view topic) const {
  std::shared_lock lock(topics_mu_);
  auto it = topics_.find(topic);
  return it == topics_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<group_state>> core::all_groups() const {
  std::vector<std::shared_ptr<group_state>> out;
  std::shared_lock lock(topics_mu_);
  for (const auto& [topic, list] : topics_)
    if (list) out.insert(out.end(), list->begin(), list->end());
  return out;
}

void core::enqueue(const std::shared_ptr<group_state>& g, delivery d, std::size_t hash) {
  auto* p = g->parts_[hash % g->parts_.size()].get();
  std::shared_ptr<consumer_state> owner;
  {
    std::lock_guard lock(p->mu);
    p->queue.push_back(std::move(d));
    if (!p->active) {
      p->active = true;
      owner = p->owner;
    }
  }
  if (owner) start_run(g, p, std::move(owner));
}

void core::start_run(std::shared_ptr<group_state> g, partition* p, std::shared_ptr<consumer_state> owner) {
  auto ex = owner->s.ex;
  asio::post(ex, [self = shared_from_this(), g = std::move(g), p, owner = std::move(owner)]() mutable {
    auto ex = owner->s.ex;
    asio::co_spawn(ex, run_partition(std::move(self), std::move(g), p, std::move(owner)), spawn_done);
  });
}

void core::resume(std::shared_ptr<group_state> g, partition* p) {
  std::shared_ptr<consumer_state> owner;
  {
    std::lock_guard lock(p->mu);
    owner = p->owner;
  }
  start_run(std::move(g), p, std::move(owner));
}

asio::awaitable<void> core::run_partition(std::shared_ptr<core> self, std::shared_ptr<group_state> g,
                                          partition* p, std::shared_ptr<consumer_state> owner) {
  std::vector<delivery> batch;
  {
    std::lock_guard lock(p->mu);
    if (!self->stopped_.load()) {
      const auto n = std::min(p->queue.size(), run_batch);
      batch.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(p->queue.front()));
        p->queue.pop_front();
      }
    }
    if (batch.empty()) {
      const auto dropped = p->queue.size();
      p->queue.clear();
      p->active = false;
      self->release(*g, dropped);
      co_return;
    }
  }
  g->in_flight_.fetch_add(batch.size(), std::memory_order_relaxed);

  std::size_t done = 0;
  std::size_t attempts = 0;
  std::optional<std::chrono::milliseconds> retry_after;
  for (; done < batch.size(); ++done) {
    if (self->stopped_.load(std::memory_order_relaxed)) break;
    auto& d = batch[done];
    result<void> r;
    ++attempts;
    try {
      r = co_await owner->s.handler(*d.ev);
    } catch (const std::exception& e) {
      log::warn("bus", "event handler threw",
                {{"topic", g->topic_}, {"group", g->name_}, {"id", d.ev->id}, {"error", e.what()}}, &d.ev->tr);
      r = error::internal("event handler failed");
    } catch (...) {
      r = error::internal("event handler failed");
    }
    if (r) {
      if (d.kept && d.kept->keeper) d.kept->keeper->handled(d.kept->id);
      self->settle(d);
      continue;
    }
    if (++d.attempts >= self->opts_.max_attempts) {
      self->bury(g, d, std::move(r).err());
      self->settle(d);
      continue;
    }
    g->redeliveries_.inc();
    retry_after = backoff_for(d.attempts, self->opts_);
    break;
  }
  g->deliveries_.inc(attempts);
  g->in_flight_.fetch_sub(batch.size(), std::memory_order_relaxed);

  if (retry_after) {
    {
      std::lock_guard lock(p->mu);
      for (auto i = batch.size(); i-- > done;) p->queue.push_front(std::move(batch[i]));
    }
    self->release(*g, done);
    self->schedule_retry(std::move(g), p, *retry_after);
    co_return;
  }

  std::size_t freed = batch.size();
  std::shared_ptr<consumer_state> next;
  {
    std::lock_guard lock(p->mu);
    if (self->stopped_.load()) {
      freed += p->queue.size();
      p->queue.clear();
    }
    if (p->queue.empty()) p->active = false;
    else next = p->owner;
  }
  self->release(*g, freed);
  if (next) self->start_run(std::move(g), p, std::move(next));
}

void core::settle(delivery& d) {
  if (d.settle && d.settle->remaining.fetch_sub(1) == 1) {
    try {
      if (d.settle->fn) d.settle->fn();
    } catch (const std::exception& e) {
      log::error("bus", "on_settled threw", {{"id", d.ev->id}, {"error", e.what()}}, &d.ev->tr);
    } catch (...) {
      log::error("bus", "on_settled threw", {{"id", d.ev->id}}, &d.ev->tr);
    }
  }
  d.settle.reset();
}

void core::schedule_retry(std::shared_ptr<group_state> g, partition* p, std::chrono::milliseconds delay) {
  asio::post(timer_strand_, [self = shared_from_this(), g = std::move(g), p, delay]() mutable {
    if (self->stopped_.load()) {
      self->resume(std::move(g), p);
      return;
    }
    auto t = std::make_shared<asio::steady_timer>(self->timer_strand_, delay);
    self->retry_timers_.insert(t);
    t->async_wait([self, g = std::move(g), p, t](boost::system::error_code) mutable {
      self->retry_timers_.erase(t);
      self->resume(std::move(g), p);
    });
  });
}

void core::release(group_state& g, std::size_t n) {
  g.release(n);
  note_progress();
}

void core::stop_consuming() {
  stopped_.store(true);
  asio::post(timer_strand_, [self = shared_from_this()] {
    for (const auto& t : self->retry_timers_) t->cancel();
  });
}

}  // namespace agora::bus::local
