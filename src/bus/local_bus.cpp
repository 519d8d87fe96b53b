#include <agora/local_bus.hpp>

#include "bus/deadlines.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <climits>
#include <ctime>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <shared_mutex>
#include <unordered_map>

namespace agora::bus {
namespace {

using detail::deadline_list;
using detail::pending_call;
// A publisher waiting for space, with the executor it resumes on.
struct space_handler {
  executor ex;
  asio::any_completion_handler<void(result<void>)> h;
};

constexpr std::size_t run_batch = 256;
constexpr std::size_t outcome_count = 2 + static_cast<std::size_t>(errc::deadline_exceeded);
constexpr std::chrono::milliseconds longest_timeout = std::chrono::hours(24);
// Kept between a handler's reply-by time (call_context::deadline) and the caller's
// deadline, for the reply's way back.
constexpr std::chrono::milliseconds reply_allowance{250};

std::string rfc3339_now() {
  const auto now = std::chrono::system_clock::now();
  const auto t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

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

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <class V>
using string_map = std::unordered_map<std::string, V, string_hash, std::equal_to<>>;

struct replica_state {
  explicit replica_state(responder r) : r(std::move(r)) {}
  responder r;
  std::atomic<int> in_flight{0};
};

class method_state {
 public:
  method_state(std::string name, metrics::registry& reg)
      : name_(std::move(name)),
        reg_(reg),
        duration_(reg.histogram_of("agora_bus_request_duration_seconds",
                                   "Round trip of bus requests, by method", {{"method", name_}})) {
    outcome(0);
  }

  // Least requests in flight; among equals, the one after the last pick.
  std::shared_ptr<replica_state> pick() {
    std::lock_guard lock(mu_);
    const auto n = replicas_.size();
    if (n == 0) return nullptr;
    const auto start = next_++ % n;
    replica_state* best = nullptr;
    std::size_t best_index = 0;
    int best_load = INT_MAX;
    for (std::size_t i = 0; i < n; ++i) {
      const auto index = (start + i) % n;
      const int load = replicas_[index]->in_flight.load(std::memory_order_relaxed);
      if (load < best_load) {
        best = replicas_[index].get();
        best_index = index;
        best_load = load;
      }
    }
    best->in_flight.fetch_add(1, std::memory_order_relaxed);
    return replicas_[best_index];
  }

  void add(responder r) {
    std::lock_guard lock(mu_);
    auto rep = std::make_shared<replica_state>(std::move(r));
    auto same = std::find_if(replicas_.begin(), replicas_.end(),
                             [&](const auto& x) { return x->r.replica == rep->r.replica; });
    if (same != replicas_.end()) *same = std::move(rep);
    else replicas_.push_back(std::move(rep));
  }

  void remove(std::string_view replica) {
    std::lock_guard lock(mu_);
    std::erase_if(replicas_, [&](const auto& x) { return x->r.replica == replica; });
  }

  void record(const result<message>& r, clock::duration took) {
    outcome(r ? 0 : 1 + static_cast<std::size_t>(r.err().code)).inc();
    duration_.observe(std::chrono::duration<double>(took).count());
  }

  void refuse(error e) { outcome(1 + static_cast<std::size_t>(e.code)).inc(); }

  nlohmann::json stats() {
    std::lock_guard lock(mu_);
    auto names = nlohmann::json::array();
    for (const auto& r : replicas_)
      names.push_back({{"replica", r->r.replica}, {"in_flight", r->in_flight.load()}});
    return {{"responders", std::move(names)}, {"in_flight", in_flight_.load()}};
  }

  const std::string name_;
  std::atomic<std::size_t> in_flight_{0};

 private:
  metrics::counter& outcome(std::size_t index) {
    auto* c = outcomes_[index].load(std::memory_order_acquire);
    if (!c) {
      const std::string label = index == 0 ? "ok" : std::string(to_string(static_cast<errc>(index - 1)));
      c = &reg_.counter_of("agora_bus_requests_total", "Bus requests, by method and outcome",
                           {{"method", name_}, {"outcome", label}});
      outcomes_[index].store(c, std::memory_order_release);
    }
    return *c;
  }

  metrics::registry& reg_;
  metrics::histogram& duration_;
  std::array<std::atomic<metrics::counter*>, outcome_count> outcomes_{};
  std::mutex mu_;
  std::vector<std::shared_ptr<replica_state>> replicas_;
  std::size_t next_ = 0;
};

// One request: the message, the context the handler sees (valid until the handler's
// awaitable finishes, since the responder coroutine holds the call), and the caller.
class call_base : public pending_call {
 public:
  call_base(std::shared_ptr<method_state> m, message msg, trace tr, clock::time_point start,
            clock::time_point deadline)
      : pending_call(deadline), method_(std::move(m)), msg_(std::move(msg)), tr_(std::move(tr)), start_(start) {
    ctx_.method = method_->name_;
    ctx_.tr = &tr_;
    ctx_.deadline = deadline - std::min<clock::duration>((deadline - start) / 10, reply_allowance);
  }

  void settle(result<message> r) {
    method_->record(r, clock::now() - start_);
    finish(std::move(r));
  }

  void on_deadline() override {
    settle(error::timeout(fmt::format("{} did not reply in time", method_->name_)));
  }

  std::shared_ptr<method_state> method_;
  message msg_;
  trace tr_;
  call_context ctx_;
  clock::time_point start_;

 protected:
  virtual void finish(result<message> r) = 0;
};

template <class Handler>
class call_op final : public call_base {
 public:
  call_op(Handler h, std::shared_ptr<method_state> m, message msg, trace tr, clock::time_point start,
          clock::time_point deadline)
      : call_base(std::move(m), std::move(msg), std::move(tr), start, deadline), handler_(std::move(h)) {}

 private:
  void finish(result<message> r) override {
    auto ex = asio::get_associated_executor(handler_);
    asio::dispatch(ex, [h = std::move(handler_), r = std::move(r)]() mutable { std::move(h)(std::move(r)); });
  }

  Handler handler_;
};

struct consumer_state {
  explicit consumer_state(subscription s) : s(std::move(s)) {}
  subscription s;
};

struct settle_state {
  settle_state(std::size_t groups, std::function<void()> fn) : remaining(groups), fn(std::move(fn)) {}
  std::atomic<std::size_t> remaining;
  std::function<void()> fn;
};

struct delivery {
  event_ptr ev;
  std::shared_ptr<settle_state> settle;
  int attempts = 0;
};

// One ordered lane of a group. At most one run (a coroutine on the owner's executor)
// works on it at a time: `active` says one is scheduled, running or waiting a backoff.
struct partition {
  std::mutex mu;
  std::deque<delivery> queue;
  bool active = false;
  std::shared_ptr<consumer_state> owner;
};

void complete_space(space_handler w, result<void> r) {
  asio::post(w.ex, [h = std::move(w.h), r = std::move(r)]() mutable { std::move(h)(std::move(r)); });
}

class group_state {
 public:
  group_state(std::string topic, std::string name, const options& o, metrics::registry& reg)
      : topic_(std::move(topic)),
        name_(std::move(name)),
        capacity_(std::max<std::size_t>(o.queue_capacity, 1)),
        deliveries_(reg.counter_of("agora_bus_deliveries_total", "Events handed to consumers, retries included",
                                   {{"topic", topic_}, {"group", name_}})),
        redeliveries_(reg.counter_of("agora_bus_redeliveries_total", "Events redelivered after a nack",
                                     {{"topic", topic_}, {"group", name_}})),
        dead_letters_(reg.counter_of("agora_bus_dead_letters_total", "Events moved to the dead letters",
                                     {{"topic", topic_}, {"group", name_}})),
        dead_letters_dropped_(reg.counter_of("agora_bus_dead_letters_dropped_total",
                                             "Dead letters dropped, oldest first, beyond capacity",
                                             {{"topic", topic_}, {"group", name_}})) {
    const auto n = std::max<std::size_t>(o.partitions, 1);
    parts_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) parts_.push_back(std::make_unique<partition>());
  }

  bool try_reserve() noexcept {
    auto d = depth_.load();
    while (d < capacity_)
      if (depth_.compare_exchange_weak(d, d + 1)) return true;
    return false;
  }

  void force_reserve() noexcept { depth_.fetch_add(1); }

  // Space freed: wake as many waiting publishers. The seq_cst pair with add_waiter
  // (waiters_ then depth_ there, depth_ then waiters_ here) means no wake-up is lost.
  void release(std::size_t n) {
    if (n == 0) return;
    depth_.fetch_sub(n);
    if (waiter_count_.load() == 0) return;
    std::vector<space_handler> woken;
    {
      std::lock_guard lock(mu_);
      while (n-- > 0 && !waiters_.empty()) {
        woken.push_back(std::move(waiters_.front()));
        waiters_.pop_front();
        waiter_count_.fetch_sub(1);
      }
    }
    for (auto& h : woken) complete_space(std::move(h), ok());
  }

  void add_waiter(space_handler h, const std::atomic<bool>& draining) {
    std::unique_lock lock(mu_);
    if (draining.load()) {
      lock.unlock();
      complete_space(std::move(h), error::unavailable("bus is draining"));
      return;
    }
    waiter_count_.fetch_add(1);
    if (depth_.load() < capacity_) {
      waiter_count_.fetch_sub(1);
      lock.unlock();
      complete_space(std::move(h), ok());
      return;
    }
    waiters_.push_back(std::move(h));
  }

  void fail_waiters() {
    std::deque<space_handler> failed;
    {
      std::lock_guard lock(mu_);
      failed.swap(waiters_);
      waiter_count_.fetch_sub(failed.size());
    }
    for (auto& h : failed) complete_space(std::move(h), error::unavailable("bus is draining"));
  }

  void add_consumer(subscription s) {
    std::lock_guard lock(mu_);
    consumers_.push_back(std::make_shared<consumer_state>(std::move(s)));
    for (std::size_t i = 0; i < parts_.size(); ++i) {
      std::lock_guard part_lock(parts_[i]->mu);
      parts_[i]->owner = consumers_[i % consumers_.size()];
    }
  }

  nlohmann::json stats(std::size_t dead) {
    auto names = nlohmann::json::array();
    {
      std::lock_guard lock(mu_);
      for (const auto& c : consumers_) names.push_back(c->s.consumer);
    }
    return {{"depth", depth_.load()}, {"in_flight", in_flight_.load()}, {"consumers", std::move(names)},
            {"dead_letters", dead}};
  }

  std::size_t depth() const noexcept { return depth_.load(std::memory_order_relaxed); }

  const std::string topic_;
  const std::string name_;
  const std::size_t capacity_;
  std::vector<std::unique_ptr<partition>> parts_;
  std::atomic<std::size_t> in_flight_{0};
  metrics::counter& deliveries_;
  metrics::counter& redeliveries_;
  metrics::counter& dead_letters_;
  metrics::counter& dead_letters_dropped_;
  std::uint64_t depth_gauge_ = 0;

 private:
  std::atomic<std::size_t> depth_{0};  // queued plus being handled: what capacity bounds
  std::atomic<std::size_t> waiter_count_{0};
  std::mutex mu_;
  std::vector<std::shared_ptr<consumer_state>> consumers_;
  std::deque<space_handler> waiters_;
};

using group_list = std::vector<std::shared_ptr<group_state>>;

struct dead_entry {
  dead_letter letter;
  std::shared_ptr<group_state> group;
};

class core : public std::enable_shared_from_this<core> {
 public:
  core(executor timers, options o, metrics::registry& reg)
      : timers_(timers),
        timer_strand_(asio::make_strand(timers)),
        opts_(o),
        reg_(reg),
        deadlines_(std::make_shared<deadline_list>(timers)) {}

  std::shared_ptr<method_state> find_method(std::string_view name) const {
    std::shared_lock lock(methods_mu_);
    auto it = methods_.find(name);
    return it == methods_.end() ? nullptr : it->second;
  }

  void serve(responder r) {
    std::shared_ptr<method_state> m;
    {
      std::unique_lock lock(methods_mu_);
      auto& slot = methods_[r.method];
      if (!slot) slot = std::make_shared<method_state>(r.method, reg_);
      m = slot;
    }
    m->add(std::move(r));
  }

  void unserve(std::string_view method, std::string_view replica) {
    if (auto m = find_method(method)) m->remove(replica);
  }

  void start_call(std::shared_ptr<call_base> op, std::shared_ptr<replica_state> rep) {
    deadlines_->add(op);
    auto ex = rep->r.ex;
    asio::post(ex, [self = shared_from_this(), op = std::move(op), rep = std::move(rep)]() mutable {
      auto ex = rep->r.ex;
      asio::co_spawn(ex, serve_call(std::move(self), std::move(op), std::move(rep)), spawn_done);
    });
  }

  static asio::awaitable<void> serve_call(std::shared_ptr<core> self, std::shared_ptr<call_base> op,
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

  static void spawn_done(std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      log::error("bus", "bus task failed", {{"error", x.what()}});
    } catch (...) {
      log::error("bus", "bus task failed");
    }
  }

  void subscribe(subscription s) {
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

  std::shared_ptr<const group_list> groups_of(std::string_view topic) const {
    std::shared_lock lock(topics_mu_);
    auto it = topics_.find(topic);
    return it == topics_.end() ? nullptr : it->second;
  }

  std::vector<std::shared_ptr<group_state>> all_groups() const {
    std::vector<std::shared_ptr<group_state>> out;
    std::shared_lock lock(topics_mu_);
    for (const auto& [topic, list] : topics_)
      if (list) out.insert(out.end(), list->begin(), list->end());
    return out;
  }

  std::size_t partition_of(const event& ev) const { return std::hash<std::string>{}(ev.key()); }

  void enqueue(const std::shared_ptr<group_state>& g, delivery d, std::size_t hash) {
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

  void start_run(std::shared_ptr<group_state> g, partition* p, std::shared_ptr<consumer_state> owner) {
    auto ex = owner->s.ex;
    asio::post(ex, [self = shared_from_this(), g = std::move(g), p, owner = std::move(owner)]() mutable {
      auto ex = owner->s.ex;
      asio::co_spawn(ex, run_partition(std::move(self), std::move(g), p, std::move(owner)), spawn_done);
    });
  }

  void resume(std::shared_ptr<group_state> g, partition* p) {
    std::shared_ptr<consumer_state> owner;
    {
      std::lock_guard lock(p->mu);
      owner = p->owner;
    }
    start_run(std::move(g), p, std::move(owner));
  }

  // Handles up to run_batch events of one partition in order, then hands over to a new
  // run so that one busy partition does not hold its consumer's executor.
  static asio::awaitable<void> run_partition(std::shared_ptr<core> self, std::shared_ptr<group_state> g,
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

  void settle(delivery& d) {
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

  void bury(const std::shared_ptr<group_state>& g, const delivery& d, error last) {
    g->dead_letters_.inc();
    log::warn("bus", "event dead-lettered",
              {{"topic", g->topic_}, {"group", g->name_}, {"id", d.ev->id}, {"attempts", d.attempts},
               {"error", last.message}},
              &d.ev->tr);
    std::lock_guard lock(dead_mu_);
    dead_.push_back({{next_seq_++, g->name_, d.ev, d.attempts, std::move(last), rfc3339_now()}, g});
    while (dead_.size() > opts_.dead_letter_capacity) {
      dead_.front().group->dead_letters_dropped_.inc();
      dead_.pop_front();
    }
  }

  void schedule_retry(std::shared_ptr<group_state> g, partition* p, std::chrono::milliseconds delay) {
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

  std::vector<dead_letter> dead_letters() const {
    std::lock_guard lock(dead_mu_);
    std::vector<dead_letter> out;
    out.reserve(dead_.size());
    for (const auto& e : dead_) out.push_back(e.letter);
    return out;
  }

  result<void> replay(std::uint64_t seq) {
    if (draining_.load()) return error::unavailable("bus is draining");
    std::shared_ptr<group_state> g;
    event_ptr ev;
    {
      std::lock_guard lock(dead_mu_);
      auto it = std::find_if(dead_.begin(), dead_.end(), [&](const auto& e) { return e.letter.seq == seq; });
      if (it == dead_.end()) return error::not_found(fmt::format("no dead letter {}", seq));
      if (!it->group->try_reserve())
        return error{errc::resource_exhausted, fmt::format("group {} is full", it->group->name_), {}};
      g = std::move(it->group);
      ev = std::move(it->letter.ev);
      dead_.erase(it);
    }
    const auto hash = partition_of(*ev);
    enqueue(g, delivery{std::move(ev), nullptr, 0}, hash);
    return ok();
  }

  nlohmann::json stats() const {
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

  void release(group_state& g, std::size_t n) {
    g.release(n);
    note_progress();
  }

  // After work finished: once draining, wakes drain() when nothing is left. The seq_cst
  // pair with drain (counters then draining_ here, draining_ then counters there) means
  // the last piece of work to finish always sees the drain.
  void note_progress() {
    if (draining_.load() && idle()) asio::post(timer_strand_, [self = shared_from_this()] { self->wake_drainers(); });
  }

  // On the timer strand: waits until idle or the deadline, woken by note_progress.
  asio::awaitable<void> wait_idle(clock::time_point deadline) {
    asio::steady_timer t(timer_strand_);
    while (!idle() && clock::now() < deadline) {
      t.expires_at(deadline);
      drainers_.insert(&t);
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      drainers_.erase(&t);
    }
  }

  void wake_drainers() {
    for (auto* t : drainers_) t->cancel();
  }

  bool idle() const {
    if (requests_in_flight_.load() != 0) return false;
    for (const auto& g : all_groups())
      if (g->depth() != 0) return false;
    return true;
  }

  void stop_consuming() {
    stopped_.store(true);
    asio::post(timer_strand_, [self = shared_from_this()] {
      for (const auto& t : self->retry_timers_) t->cancel();
    });
  }

  executor timers_;
  asio::strand<executor> timer_strand_;
  options opts_;
  metrics::registry& reg_;
  std::shared_ptr<deadline_list> deadlines_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<std::size_t> requests_in_flight_{0};

 private:
  mutable std::shared_mutex methods_mu_;
  string_map<std::shared_ptr<method_state>> methods_;
  mutable std::shared_mutex topics_mu_;
  string_map<std::shared_ptr<const group_list>> topics_;
  mutable std::mutex dead_mu_;
  std::deque<dead_entry> dead_;
  std::uint64_t next_seq_ = 1;
  std::set<std::shared_ptr<asio::steady_timer>> retry_timers_;  // timer strand only
  std::set<asio::steady_timer*> drainers_;                       // timer strand only
};

template <class Token>
auto async_wait_space(std::shared_ptr<core> c, std::shared_ptr<group_state> g, Token&& token) {
  return asio::async_initiate<Token, void(result<void>)>(
      [](auto handler, std::shared_ptr<core> c, std::shared_ptr<group_state> g) {
        auto ex = asio::get_associated_executor(handler, c->timers_);
        g->add_waiter({std::move(ex), std::move(handler)}, c->draining_);
      },
      token, std::move(c), std::move(g));
}

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
    auto c = core_;
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
           message msg, trace tr, clock::time_point start, clock::time_point deadline) {
          auto op = std::make_shared<call_op<decltype(handler)>>(std::move(handler), std::move(m), std::move(msg),
                                                                 std::move(tr), start, deadline);
          c->start_call(std::move(op), std::move(rep));
        },
        asio::use_awaitable, c, std::move(m), std::move(rep), std::move(msg), std::move(opts.tr), start,
        start + timeout);
  }

  void subscribe(subscription s) override { core_->subscribe(std::move(s)); }

  asio::awaitable<result<void>> publish(event_ptr ev, std::function<void()> on_settled) override {
    auto c = core_;
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
    auto settle = on_settled ? std::make_shared<settle_state>(list.size(), std::move(on_settled)) : nullptr;
    const auto hash = c->partition_of(*ev);
    for (const auto& g : list) c->enqueue(g, delivery{ev, settle, 0}, hash);
    co_return ok();
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
