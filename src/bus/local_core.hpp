#pragma once

#include <agora/bus.hpp>
#include <agora/metrics.hpp>

#include "bus/deadlines.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <fmt/format.h>

#include <array>
#include <atomic>
#include <climits>
#include <deque>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <unordered_map>

// The in-process bus's shared state. Its rooms: requests.cpp (methods, replicas, calls),
// events.cpp (groups, partitions, deliveries, publish), dead_letters.cpp (burial, listing,
// replay) and local_bus.cpp (the bus object, stats, drain).
namespace agora::bus::local {

using detail::deadline_list;
using detail::pending_call;
// A publisher waiting for space, with the executor it resumes on.
struct space_handler {
  executor ex;
  asio::any_completion_handler<void(result<void>)> h;
};

inline constexpr std::size_t run_batch = 256;
inline constexpr std::size_t outcome_count = 2 + static_cast<std::size_t>(errc::deadline_exceeded);
inline constexpr std::chrono::milliseconds longest_timeout = std::chrono::hours(24);
// Kept between a handler's reply-by time (call_context::deadline) and the caller's
// deadline, for the reply's way back.
inline constexpr std::chrono::milliseconds reply_allowance{250};


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
  settle_state(std::size_t groups, std::function<void()> fn, std::function<void(const dead_letter&)> buried = {})
      : remaining(groups), fn(std::move(fn)), on_buried(std::move(buried)) {}
  std::atomic<std::size_t> remaining;
  std::function<void()> fn;
  std::function<void(const dead_letter&)> on_buried;
};

// A dead letter its publisher keeps durably.
struct kept_link {
  std::string module;
  std::int64_t id = 0;
  std::shared_ptr<dead_letter_keeper> keeper;
};

struct delivery {
  event_ptr ev;
  std::shared_ptr<settle_state> settle;
  int attempts = 0;
  std::shared_ptr<const kept_link> kept;  // set on the replay of a kept letter
};

// One ordered lane of a group. At most one run (a coroutine on the owner's executor)
// works on it at a time: `active` says one is scheduled, running or waiting a backoff.
struct partition {
  std::mutex mu;
  std::deque<delivery> queue;
  bool active = false;
  std::shared_ptr<consumer_state> owner;
};

inline void complete_space(space_handler w, result<void> r) {
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
  std::shared_ptr<group_state> group;  // null for a restored letter no group here serves
  std::shared_ptr<const kept_link> kept;
};

class core : public std::enable_shared_from_this<core> {
 public:
  core(executor timers, options o, metrics::registry& reg);

  // requests.cpp
  std::shared_ptr<method_state> find_method(std::string_view name) const;
  void serve(responder r);
  void unserve(std::string_view method, std::string_view replica);
  void start_call(std::shared_ptr<call_base> op, std::shared_ptr<replica_state> rep);
  static asio::awaitable<void> serve_call(std::shared_ptr<core> self, std::shared_ptr<call_base> op,
                                          std::shared_ptr<replica_state> rep);

  // local_bus.cpp
  static void spawn_done(std::exception_ptr e);

  // requests.cpp
  static asio::awaitable<result<message>> request(std::shared_ptr<core> c, std::string method, message msg,
                                                  request_options opts);

  // events.cpp
  static asio::awaitable<result<void>> publish(std::shared_ptr<core> c, event_ptr ev, publish_hooks hooks);
  void subscribe(subscription s);
  std::shared_ptr<const group_list> groups_of(std::string_view topic) const;
  std::vector<std::shared_ptr<group_state>> all_groups() const;
  std::size_t partition_of(const event& ev) const { return std::hash<std::string>{}(ev.key()); }
  void enqueue(const std::shared_ptr<group_state>& g, delivery d, std::size_t hash);
  void start_run(std::shared_ptr<group_state> g, partition* p, std::shared_ptr<consumer_state> owner);
  void resume(std::shared_ptr<group_state> g, partition* p);
  // Handles up to run_batch events of one partition in order, then hands over to a new
  // run so that one busy partition does not hold its consumer's executor.
  static asio::awaitable<void> run_partition(std::shared_ptr<core> self, std::shared_ptr<group_state> g,
                                             partition* p, std::shared_ptr<consumer_state> owner);
  void settle(delivery& d);

  // dead_letters.cpp
  void bury(const std::shared_ptr<group_state>& g, const delivery& d, error last);

  // events.cpp
  void schedule_retry(std::shared_ptr<group_state> g, partition* p, std::chrono::milliseconds delay);

  // dead_letters.cpp
  std::vector<dead_letter> dead_letters() const;
  result<void> replay(std::uint64_t seq);
  bool keep_dead_letter(std::uint64_t seq, std::string module, std::int64_t id,
                        std::shared_ptr<dead_letter_keeper> keeper);
  std::uint64_t restore_dead_letter(dead_letter letter, std::shared_ptr<dead_letter_keeper> keeper);

  // local_bus.cpp
  nlohmann::json stats() const;

  // events.cpp
  void release(group_state& g, std::size_t n);

  // local_bus.cpp
  // After work finished: once draining, wakes drain() when nothing is left. The seq_cst
  // pair with drain (counters then draining_ here, draining_ then counters there) means
  // the last piece of work to finish always sees the drain.
  void note_progress();
  // On the timer strand: waits until idle or the deadline, woken by note_progress.
  asio::awaitable<void> wait_idle(clock::time_point deadline);
  void wake_drainers();
  bool idle() const;

  // events.cpp
  void stop_consuming();

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

}  // namespace agora::bus::local
