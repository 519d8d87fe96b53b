#include <agora/local_bus.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

namespace {

namespace asio = boost::asio;
namespace bus = agora::bus;
using agora::errc;
using agora::error;
using agora::result;
using namespace std::chrono_literals;

// Four io threads, so that strands and partitions really run in parallel.
struct harness {
  agora::metrics::registry reg;
  asio::io_context io{4};
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  std::vector<std::thread> threads;

  harness() {
    for (int i = 0; i < 4; ++i) threads.emplace_back([this] { io.run(); });
  }
  ~harness() {
    work.reset();
    io.stop();
    for (auto& t : threads) t.join();
  }
  bus::executor strand() { return asio::make_strand(io); }
  bus::executor pool() { return io.get_executor(); }
  std::unique_ptr<bus::bus> make(bus::options o = {}) { return bus::make_local_bus(io.get_executor(), o, reg); }
};

template <class T>
std::future<T> spawn(bus::executor ex, asio::awaitable<T> a) {
  auto p = std::make_shared<std::promise<T>>();
  auto f = p->get_future();
  asio::co_spawn(
      ex,
      [a = std::move(a), p]() mutable -> asio::awaitable<void> {
        try {
          if constexpr (std::is_void_v<T>) {
            co_await std::move(a);
            p->set_value();
          } else {
            p->set_value(co_await std::move(a));
          }
        } catch (...) {
          p->set_exception(std::current_exception());
        }
      },
      asio::detached);
  return f;
}

// For a coroutine lambda that outlives the statement spawning it: the closure (and so
// its captures) must live as long as the coroutine, so the lambda itself is stored.
template <class F>
auto spawn_fn(bus::executor ex, F f) {
  using T = typename decltype(f())::value_type;
  auto p = std::make_shared<std::promise<T>>();
  auto fut = p->get_future();
  asio::co_spawn(
      ex,
      [f = std::move(f), p]() mutable -> asio::awaitable<void> {
        try {
          if constexpr (std::is_void_v<T>) {
            co_await f();
            p->set_value();
          } else {
            p->set_value(co_await f());
          }
        } catch (...) {
          p->set_exception(std::current_exception());
        }
      },
      asio::detached);
  return fut;
}

template <class T>
T run(bus::executor ex, asio::awaitable<T> a) {
  return spawn(std::move(ex), std::move(a)).get();
}

// Handlers park here until the test opens it; closing the channel wakes every waiter.
struct gate {
  explicit gate(asio::io_context& io) : ch(io, 0) {}
  asio::awaitable<void> wait() { co_await ch.async_receive(asio::as_tuple(asio::use_awaitable)); }
  void open() { ch.close(); }
  asio::experimental::concurrent_channel<void(boost::system::error_code)> ch;
};

// A one-shot notice that a test thread can wait for with a bound.
struct notice {
  std::promise<void> p;
  std::shared_future<void> f = p.get_future().share();
  std::once_flag once;
  void set() { std::call_once(once, [this] { p.set_value(); }); }
  bool wait(std::chrono::milliseconds bound = 10s) const { return f.wait_for(bound) == std::future_status::ready; }
};

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds bound = 10s) {
  const auto until = std::chrono::steady_clock::now() + bound;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

bus::responder doubler(std::string replica, bus::executor ex) {
  return {"math.double", std::move(replica), std::move(ex),
          [](bus::message m, const bus::call_context&) -> asio::awaitable<result<bus::message>> {
            co_return bus::message(std::any_cast<int>(m) * 2);
          },
          {}, {}};
}

bus::event_ptr make_event(std::string topic, std::string key, int seq, std::string id = {}) {
  auto e = std::make_shared<bus::event>();
  e->id = id.empty() ? key + "-" + std::to_string(seq) : std::move(id);
  e->source = "agora/test";
  e->type = "test.happened";
  e->subject = std::move(key);
  e->topic = std::move(topic);
  e->data = {{"seq", seq}};
  return e;
}

using event_handler = std::function<asio::awaitable<result<void>>(const bus::event&)>;

bus::subscription sub(std::string topic, std::string group, std::string consumer, bus::executor ex, event_handler h) {
  return {std::move(topic), std::move(group), std::move(consumer), std::move(ex), std::move(h)};
}

std::uint64_t counter(agora::metrics::registry& reg, std::string_view name, const agora::metrics::labels& l) {
  return reg.counter_of(name, "", l).value();
}

}  // namespace

TEST_CASE("a request gets its replica's reply", "[bus]") {
  harness h;
  auto b = h.make();
  b->serve(doubler("math#0", h.strand()));
  auto r = run(h.strand(), b->request("math.double", bus::message(21)));
  REQUIRE(r);
  CHECK(std::any_cast<int>(r.value()) == 42);
  CHECK(counter(h.reg, "agora_bus_requests_total", {{"method", "math.double"}, {"outcome", "ok"}}) == 1);
}

TEST_CASE("a handler's typed error reaches the caller unchanged", "[bus]") {
  harness h;
  auto b = h.make();
  b->serve({"stock.reserve", "stock#0", h.strand(),
            [](bus::message, const bus::call_context&) -> asio::awaitable<result<bus::message>> {
              co_return error::invalid({{"quantity", "must be positive"}}, "bad quantity");
            },
            {}, {}});
  auto r = run(h.strand(), b->request("stock.reserve", bus::message(0)));
  REQUIRE_FALSE(r);
  CHECK(r.err().code == errc::invalid_argument);
  CHECK(r.err().message == "bad quantity");
  REQUIRE(r.err().fields.size() == 1);
  CHECK(r.err().fields[0].field == "quantity");
}

TEST_CASE("a handler that throws answers internal and the bus carries on", "[bus]") {
  harness h;
  auto b = h.make();
  b->serve({"boom.now", "boom#0", h.strand(),
            [](bus::message, const bus::call_context&) -> asio::awaitable<result<bus::message>> {
              throw std::runtime_error("secret detail");
              co_return bus::message(1);
            },
            {}, {}});
  auto r = run(h.strand(), b->request("boom.now", bus::message(0)));
  REQUIRE_FALSE(r);
  CHECK(r.err().code == errc::internal);
  CHECK(r.err().message.find("secret") == std::string::npos);
}

TEST_CASE("a request to an unknown method is unavailable", "[bus]") {
  harness h;
  auto b = h.make();
  auto r = run(h.strand(), b->request("nobody.home", bus::message(0)));
  REQUIRE_FALSE(r);
  CHECK(r.err().code == errc::unavailable);
}

TEST_CASE("the handler runs on its replica's executor, the caller resumes on its own", "[bus]") {
  harness h;
  auto b = h.make();
  auto replica_strand = asio::make_strand(h.io);
  std::atomic<bool> on_replica{false};
  b->serve({"where.am_i", "where#0", replica_strand,
            [&](bus::message, const bus::call_context&) -> asio::awaitable<result<bus::message>> {
              on_replica = replica_strand.running_in_this_thread();
              co_return bus::message(0);
            },
            {}, {}});
  auto caller_strand = asio::make_strand(h.io);
  bool resumed_home = run(bus::executor(caller_strand), [&]() -> asio::awaitable<bool> {
    auto r = co_await b->request("where.am_i", bus::message(0));
    co_return r.has_value() && caller_strand.running_in_this_thread();
  }());
  CHECK(on_replica);
  CHECK(resumed_home);
}

TEST_CASE("a missed deadline answers deadline_exceeded and the late reply is dropped", "[bus]") {
  harness h;
  auto b = h.make();
  gate g(h.io);
  notice finished;
  std::string method_seen_late;
  b->serve({"slow.op", "slow#0", h.strand(),
            [&](bus::message m, const bus::call_context& ctx) -> asio::awaitable<result<bus::message>> {
              co_await g.wait();
              method_seen_late = std::string(ctx.method);
              finished.set();
              co_return bus::message(std::any_cast<std::string>(m) + " done");
            },
            {}, {}});
  bus::request_options opts;
  opts.timeout = 30ms;
  const auto start = std::chrono::steady_clock::now();
  auto r = run(h.strand(), b->request("slow.op", bus::message(std::string("job")), opts));
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(r);
  CHECK(r.err().code == errc::deadline_exceeded);
  CHECK(took >= 30ms);
  CHECK(took < 2s);

  g.open();
  REQUIRE(finished.wait());
  CHECK(method_seen_late == "slow.op");
  REQUIRE(eventually([&] { return b->stats()["requests_in_flight"] == 0; }));
  CHECK(counter(h.reg, "agora_bus_requests_total", {{"method", "slow.op"}, {"outcome", "deadline_exceeded"}}) == 1);
  CHECK(counter(h.reg, "agora_bus_requests_total", {{"method", "slow.op"}, {"outcome", "ok"}}) == 0);
}

TEST_CASE("many requests racing their deadlines all get exactly one answer", "[bus]") {
  harness h;
  auto b = h.make();
  b->serve({"racy.op", "racy#0", h.pool(),
            [&](bus::message m, const bus::call_context&) -> asio::awaitable<result<bus::message>> {
              asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::microseconds(std::any_cast<int>(m)));
              co_await t.async_wait(asio::use_awaitable);
              co_return bus::message(1);
            },
            {}, {}});
  std::vector<std::future<std::pair<int, int>>> callers;
  for (int c = 0; c < 8; ++c) {
    callers.push_back(spawn_fn(h.strand(), [&, c]() -> asio::awaitable<std::pair<int, int>> {
      int ok = 0, late = 0;
      for (int i = 0; i < 50; ++i) {
        bus::request_options o;
        o.timeout = 2ms;
        auto r = co_await b->request("racy.op", bus::message((i * 97 + c * 31) % 4000), o);
        if (r) ++ok;
        else if (r.err().code == errc::deadline_exceeded) ++late;
      }
      co_return std::pair{ok, late};
    }));
  }
  int ok = 0, late = 0;
  for (auto& f : callers) {
    auto [o, l] = f.get();
    ok += o;
    late += l;
  }
  CHECK(ok + late == 400);
  REQUIRE(eventually([&] { return b->stats()["requests_in_flight"] == 0; }));
}

TEST_CASE("replicas share load: the one with fewest requests in flight is picked", "[bus]") {
  harness h;
  auto b = h.make();
  gate g(h.io);
  std::atomic<int> a_calls{0}, b_calls{0};
  b->serve({"work.do", "work#a", h.strand(),
            [&](bus::message, const bus::call_context&) -> asio::awaitable<result<bus::message>> {
              ++a_calls;
              co_await g.wait();
              co_return bus::message(std::string("a"));
            },
            {}, {}});
  std::vector<std::future<result<bus::message>>> parked;
  for (int i = 0; i < 3; ++i) parked.push_back(spawn(h.strand(), b->request("work.do", bus::message(0))));
  REQUIRE(eventually([&] { return a_calls == 3; }));

  b->serve({"work.do", "work#b", h.strand(),
            [&](bus::message, const bus::call_context&) -> asio::awaitable<result<bus::message>> {
              ++b_calls;
              co_return bus::message(std::string("b"));
            },
            {}, {}});
  for (int i = 0; i < 5; ++i) {
    auto r = run(h.strand(), b->request("work.do", bus::message(0)));
    REQUIRE(r);
    CHECK(std::any_cast<std::string>(r.value()) == "b");
  }
  CHECK(b_calls == 5);
  auto stats = b->stats()["methods"]["work.do"];
  CHECK(stats["in_flight"] == 3);
  CHECK(stats["responders"].size() == 2);
  g.open();
  for (auto& f : parked) CHECK(f.get());
}

TEST_CASE("concurrent requests spread evenly over idle replicas", "[bus]") {
  harness h;
  auto b = h.make();
  gate g(h.io);
  std::atomic<int> calls[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    b->serve({"spread.do", "spread#" + std::to_string(i), h.strand(),
              [&, i](bus::message, const bus::call_context&) -> asio::awaitable<result<bus::message>> {
                ++calls[i];
                co_await g.wait();
                co_return bus::message(i);
              },
              {}, {}});
  }
  std::vector<std::future<result<bus::message>>> parked;
  for (int i = 0; i < 10; ++i) parked.push_back(spawn(h.strand(), b->request("spread.do", bus::message(0))));
  REQUIRE(eventually([&] { return calls[0] + calls[1] == 10; }));
  CHECK(calls[0] == 5);
  CHECK(calls[1] == 5);
  g.open();
  for (auto& f : parked) CHECK(f.get());
}

TEST_CASE("an unserved replica gets no more requests, and none left means unavailable", "[bus]") {
  harness h;
  auto b = h.make();
  b->serve(doubler("math#0", h.strand()));
  std::atomic<int> second{0};
  b->serve({"math.double", "math#1", h.strand(),
            [&](bus::message m, const bus::call_context&) -> asio::awaitable<result<bus::message>> {
              ++second;
              co_return bus::message(std::any_cast<int>(m) * 2);
            },
            {}, {}});
  b->unserve("math.double", "math#1");
  for (int i = 0; i < 4; ++i) CHECK(run(h.strand(), b->request("math.double", bus::message(i))));
  CHECK(second == 0);
  b->unserve("math.double", "math#0");
  auto r = run(h.strand(), b->request("math.double", bus::message(1)));
  REQUIRE_FALSE(r);
  CHECK(r.err().code == errc::unavailable);
}

TEST_CASE("beyond max_in_flight_requests a method fails fast with unavailable", "[bus]") {
  harness h;
  bus::options o;
  o.max_in_flight_requests = 2;
  auto b = h.make(o);
  gate g(h.io);
  std::atomic<int> entered{0};
  b->serve({"narrow.op", "narrow#0", h.pool(),
            [&](bus::message, const bus::call_context&) -> asio::awaitable<result<bus::message>> {
              ++entered;
              co_await g.wait();
              co_return bus::message(0);
            },
            {}, {}});
  auto first = spawn(h.strand(), b->request("narrow.op", bus::message(0)));
  auto second = spawn(h.strand(), b->request("narrow.op", bus::message(0)));
  REQUIRE(eventually([&] { return entered == 2; }));
  auto third = run(h.strand(), b->request("narrow.op", bus::message(0)));
  REQUIRE_FALSE(third);
  CHECK(third.err().code == errc::unavailable);
  g.open();
  CHECK(first.get());
  CHECK(second.get());
  CHECK(run(h.strand(), b->request("narrow.op", bus::message(0))));
}

TEST_CASE("request and event traces pass through unchanged", "[bus]") {
  harness h;
  auto b = h.make();
  bus::trace seen_request;
  b->serve({"trace.echo", "trace#0", h.strand(),
            [&](bus::message, const bus::call_context& ctx) -> asio::awaitable<result<bus::message>> {
              seen_request = *ctx.tr;
              co_return bus::message(0);
            },
            {}, {}});
  bus::request_options opts;
  opts.tr = {"req_1", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"};
  REQUIRE(run(h.strand(), b->request("trace.echo", bus::message(0), opts)));
  CHECK(seen_request.request_id == "req_1");
  CHECK(seen_request.traceparent == opts.tr.traceparent);

  notice handled;
  bus::trace seen_event;
  const bus::event* seen_address = nullptr;
  b->subscribe(sub("t.trace", "g", "g#0", h.strand(), [&](const bus::event& e) -> asio::awaitable<result<void>> {
    seen_event = e.tr;
    seen_address = &e;
    handled.set();
    co_return agora::ok();
  }));
  auto ev = make_event("t.trace", "k", 1);
  std::const_pointer_cast<bus::event>(ev)->tr = opts.tr;
  REQUIRE(run(h.strand(), b->publish(ev)));
  REQUIRE(handled.wait());
  CHECK(seen_event.request_id == "req_1");
  CHECK(seen_event.traceparent == opts.tr.traceparent);
  CHECK(seen_address == ev.get());
}

TEST_CASE("events of one key are handled one at a time, in publish order, despite failures", "[bus]") {
  harness h;
  bus::options o;
  o.partitions = 8;
  o.queue_capacity = 512;
  o.max_attempts = 10;
  o.backoff_initial = 1ms;
  o.backoff_max = 4ms;
  auto b = h.make(o);

  constexpr int publishers = 4, keys_per_publisher = 12, per_key = 120;
  constexpr int total = publishers * keys_per_publisher * per_key;
  std::mutex mu;
  std::map<std::string, std::vector<int>> handled;
  std::map<std::string, int> busy;
  std::set<std::string> failed_once;
  bool overlap = false;
  std::atomic<int> settled{0};
  notice all_settled;

  auto handler = [&](const bus::event& e) -> asio::awaitable<result<void>> {
    {
      std::lock_guard lock(mu);
      if (busy[e.key()]++ != 0) overlap = true;
    }
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    const int seq = e.data.at("seq").get<int>();
    bool fail = false;
    {
      std::lock_guard lock(mu);
      --busy[e.key()];
      if (seq % 7 == 3 && failed_once.insert(e.id).second) fail = true;
      else handled[e.key()].push_back(seq);
    }
    if (seq % 11 == 5 && !fail && e.id.back() == '5') co_return agora::ok();
    if (fail) co_return error::unavailable("transient");
    co_return agora::ok();
  };
  for (int c = 0; c < 3; ++c) b->subscribe(sub("t.order", "g", "g#" + std::to_string(c), h.pool(), handler));

  std::vector<std::future<void>> pubs;
  for (int p = 0; p < publishers; ++p) {
    pubs.push_back(spawn_fn(h.strand(), [&, p]() -> asio::awaitable<void> {
      for (int i = 0; i < per_key; ++i) {
        for (int k = 0; k < keys_per_publisher; ++k) {
          auto r = co_await b->publish(make_event("t.order", "p" + std::to_string(p) + "k" + std::to_string(k), i),
                                       [&] {
                                         if (++settled == total) all_settled.set();
                                       });
          if (!r) throw std::runtime_error(r.err().message);
        }
      }
    }));
  }
  for (auto& f : pubs) f.get();
  REQUIRE(all_settled.wait(30s));
  std::lock_guard lock(mu);
  CHECK_FALSE(overlap);
  REQUIRE(handled.size() == publishers * keys_per_publisher);
  for (const auto& [key, seqs] : handled) {
    INFO("key " << key);
    REQUIRE(seqs.size() == per_key);
    for (int i = 0; i < per_key; ++i) REQUIRE(seqs[i] == i);
  }
  CHECK(counter(h.reg, "agora_bus_redeliveries_total", {{"topic", "t.order"}, {"group", "g"}}) == failed_once.size());
  CHECK(b->dead_letters().empty());
}

TEST_CASE("each group gets each event once", "[bus]") {
  harness h;
  auto b = h.make();
  constexpr int events = 600;
  std::mutex mu;
  std::map<std::string, std::map<std::string, int>> counts;
  std::atomic<int> settled{0};
  notice all_settled;
  for (const auto* group : {"billing", "reporting", "search"}) {
    for (int c = 0; c < 2; ++c) {
      b->subscribe(sub("t.fan", group, std::string(group) + "#" + std::to_string(c), h.strand(),
                       [&, g = std::string(group)](const bus::event& e) -> asio::awaitable<result<void>> {
                         std::lock_guard lock(mu);
                         ++counts[g][e.id];
                         co_return agora::ok();
                       }));
    }
  }
  run(h.strand(), [&]() -> asio::awaitable<void> {
    for (int i = 0; i < events; ++i)
      (void)co_await b->publish(make_event("t.fan", "k" + std::to_string(i % 37), i), [&] {
        if (++settled == events) all_settled.set();
      });
  }());
  REQUIRE(all_settled.wait());
  std::lock_guard lock(mu);
  REQUIRE(counts.size() == 3);
  for (const auto& [group, ids] : counts) {
    INFO("group " << group);
    CHECK(ids.size() == events);
    for (const auto& [id, n] : ids) CHECK(n == 1);
  }
}

TEST_CASE("a nacked event is redelivered with backoff until it succeeds", "[bus]") {
  harness h;
  bus::options o;
  o.backoff_initial = 20ms;
  o.backoff_max = 100ms;
  auto b = h.make(o);
  std::atomic<int> attempts{0};
  std::vector<std::chrono::steady_clock::time_point> at;
  std::mutex mu;
  notice settled;
  std::atomic<int> settle_count{0};
  b->subscribe(sub("t.retry", "g", "g#0", h.strand(), [&](const bus::event&) -> asio::awaitable<result<void>> {
    {
      std::lock_guard lock(mu);
      at.push_back(std::chrono::steady_clock::now());
    }
    if (++attempts <= 2) throw std::runtime_error("flaky");
    co_return agora::ok();
  }));
  REQUIRE(run(h.strand(), b->publish(make_event("t.retry", "k", 1), [&] {
    ++settle_count;
    settled.set();
  })));
  REQUIRE(settled.wait());
  CHECK(attempts == 3);
  std::lock_guard lock(mu);
  REQUIRE(at.size() == 3);
  CHECK(at[1] - at[0] >= 10ms);  // first backoff: 20 ms with jitter in [10, 20]
  CHECK(at[2] - at[1] >= 20ms);  // second: 40 ms with jitter in [20, 40]
  CHECK(settle_count == 1);
  CHECK(counter(h.reg, "agora_bus_redeliveries_total", {{"topic", "t.retry"}, {"group", "g"}}) == 2);
  // Deliveries are counted per batch, just after the batch's events settle.
  CHECK(eventually([&] { return counter(h.reg, "agora_bus_deliveries_total", {{"topic", "t.retry"}, {"group", "g"}}) == 3; }));
  CHECK(b->dead_letters().empty());
}

TEST_CASE("after max_attempts an event is dead-lettered, listed, and can be replayed", "[bus]") {
  harness h;
  bus::options o;
  o.max_attempts = 3;
  o.backoff_initial = 1ms;
  o.backoff_max = 2ms;
  auto b = h.make(o);
  std::atomic<bool> healthy{false};
  std::atomic<int> attempts{0};
  notice handled_after_replay;
  notice next_handled;
  b->subscribe(sub("t.dlq", "g", "g#0", h.strand(), [&](const bus::event& e) -> asio::awaitable<result<void>> {
    if (e.id == "next") {
      next_handled.set();
      co_return agora::ok();
    }
    ++attempts;
    if (!healthy) co_return error::unavailable("downstream down");
    handled_after_replay.set();
    co_return agora::ok();
  }));
  std::atomic<int> settled{0};
  notice settled_once;
  REQUIRE(run(h.strand(), b->publish(make_event("t.dlq", "k", 1, "poison"), [&] {
    ++settled;
    settled_once.set();
  })));
  REQUIRE(settled_once.wait());
  CHECK(attempts == 3);
  REQUIRE(run(h.strand(), b->publish(make_event("t.dlq", "k", 2, "next"))));
  REQUIRE(next_handled.wait());

  auto dead = b->dead_letters();
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].ev->id == "poison");
  CHECK(dead[0].group == "g");
  CHECK(dead[0].attempts == 3);
  CHECK(dead[0].last_error.code == errc::unavailable);
  CHECK_FALSE(dead[0].failed_at.empty());
  CHECK(b->stats()["topics"]["t.dlq"]["g"]["dead_letters"] == 1);
  CHECK(counter(h.reg, "agora_bus_dead_letters_total", {{"topic", "t.dlq"}, {"group", "g"}}) == 1);

  healthy = true;
  REQUIRE(b->replay(dead[0].seq));
  REQUIRE(handled_after_replay.wait());
  CHECK(attempts == 4);
  CHECK(b->dead_letters().empty());
  CHECK(settled == 1);
  auto again = b->replay(dead[0].seq);
  REQUIRE_FALSE(again);
  CHECK(again.err().code == errc::not_found);
}

TEST_CASE("dead letters beyond capacity drop the oldest and count it", "[bus]") {
  harness h;
  bus::options o;
  o.max_attempts = 1;
  o.dead_letter_capacity = 2;
  auto b = h.make(o);
  std::atomic<int> settled{0};
  notice all;
  b->subscribe(sub("t.full", "g", "g#0", h.strand(), [&](const bus::event&) -> asio::awaitable<result<void>> {
    co_return error::internal("always");
  }));
  for (int i = 0; i < 5; ++i)
    REQUIRE(run(h.strand(), b->publish(make_event("t.full", "k", i), [&] {
      if (++settled == 5) all.set();
    })));
  REQUIRE(all.wait());
  auto dead = b->dead_letters();
  REQUIRE(dead.size() == 2);
  CHECK(dead[0].ev->id == "k-3");
  CHECK(dead[1].ev->id == "k-4");
  CHECK(counter(h.reg, "agora_bus_dead_letters_dropped_total", {{"topic", "t.full"}, {"group", "g"}}) == 3);
}

TEST_CASE("on_settled runs once when every group acked or dead-lettered", "[bus]") {
  harness h;
  bus::options o;
  o.max_attempts = 2;
  o.backoff_initial = 1ms;
  o.backoff_max = 1ms;
  auto b = h.make(o);
  b->subscribe(sub("t.settle", "acks", "acks#0", h.strand(),
                   [&](const bus::event&) -> asio::awaitable<result<void>> { co_return agora::ok(); }));
  b->subscribe(sub("t.settle", "fails", "fails#0", h.strand(),
                   [&](const bus::event&) -> asio::awaitable<result<void>> { co_return error::internal("no"); }));
  std::atomic<int> calls{0};
  notice settled;
  REQUIRE(run(h.strand(), b->publish(make_event("t.settle", "k", 1), [&] {
    ++calls;
    settled.set();
  })));
  REQUIRE(settled.wait());
  REQUIRE(eventually([&] { return b->stats()["topics"]["t.settle"]["fails"]["depth"] == 0; }));
  CHECK(calls == 1);
  CHECK(b->dead_letters().size() == 1);

  int immediate = 0;
  REQUIRE(run(h.strand(), b->publish(make_event("t.nobody", "k", 1), [&] { ++immediate; })));
  CHECK(immediate == 1);
}

TEST_CASE("a full group makes a blocking publisher wait until space frees, and nothing is lost", "[bus]") {
  harness h;
  bus::options o;
  o.queue_capacity = 4;
  o.partitions = 2;
  auto b = h.make(o);
  gate g(h.io);
  std::mutex mu;
  std::vector<int> seen;
  notice all;
  constexpr int events = 20;
  b->subscribe(sub("t.block", "g", "g#0", h.strand(), [&](const bus::event& e) -> asio::awaitable<result<void>> {
    co_await g.wait();
    std::lock_guard lock(mu);
    seen.push_back(e.data.at("seq").get<int>());
    if (seen.size() == events) all.set();
    co_return agora::ok();
  }));
  std::atomic<int> published{0};
  auto publisher = spawn_fn(h.strand(), [&]() -> asio::awaitable<void> {
    for (int i = 0; i < events; ++i) {
      auto r = co_await b->publish(make_event("t.block", "same", i));
      if (!r) throw std::runtime_error(r.err().message);
      ++published;
    }
  });
  REQUIRE(eventually([&] { return b->stats()["topics"]["t.block"]["g"]["depth"] == 4; }));
  CHECK(published == 4);
  CHECK(publisher.wait_for(20ms) == std::future_status::timeout);
  CHECK(published == 4);
  g.open();
  publisher.get();
  REQUIRE(all.wait());
  std::lock_guard lock(mu);
  for (int i = 0; i < events; ++i) CHECK(seen[i] == i);
}

TEST_CASE("a full group with overflow::fail refuses at once and enqueues to no group", "[bus]") {
  harness h;
  bus::options o;
  o.queue_capacity = 2;
  o.on_full = bus::overflow::fail;
  auto b = h.make(o);
  gate g(h.io);
  std::atomic<int> fast_seen{0};
  notice fast_two;
  b->subscribe(sub("t.fail", "gated", "gated#0", h.strand(), [&](const bus::event&) -> asio::awaitable<result<void>> {
    co_await g.wait();
    co_return agora::ok();
  }));
  b->subscribe(sub("t.fail", "fast", "fast#0", h.strand(), [&](const bus::event&) -> asio::awaitable<result<void>> {
    if (++fast_seen == 2) fast_two.set();
    co_return agora::ok();
  }));
  REQUIRE(run(h.strand(), b->publish(make_event("t.fail", "k", 0))));
  REQUIRE(run(h.strand(), b->publish(make_event("t.fail", "k", 1))));
  REQUIRE(fast_two.wait());
  int settled = 0;
  auto r = run(h.strand(), b->publish(make_event("t.fail", "k", 2), [&] { ++settled; }));
  REQUIRE_FALSE(r);
  CHECK(r.err().code == errc::resource_exhausted);
  auto stats = b->stats()["topics"]["t.fail"];
  CHECK(stats["gated"]["depth"] == 2);
  CHECK(stats["fast"]["depth"] == 0);
  CHECK(fast_seen == 2);
  g.open();
  REQUIRE(eventually([&] { return b->stats()["topics"]["t.fail"]["gated"]["depth"] == 0; }));
  CHECK(fast_seen == 2);
  CHECK(settled == 0);
}

TEST_CASE("drain refuses new work, lets queued work finish, then returns", "[bus]") {
  harness h;
  auto b = h.make();
  gate g(h.io);
  std::atomic<int> handled{0};
  b->subscribe(sub("t.drain", "g", "g#0", h.strand(), [&](const bus::event&) -> asio::awaitable<result<void>> {
    co_await g.wait();
    ++handled;
    co_return agora::ok();
  }));
  b->serve(doubler("math#0", h.strand()));
  for (int i = 0; i < 10; ++i) REQUIRE(run(h.strand(), b->publish(make_event("t.drain", "k" + std::to_string(i), i))));

  auto drained = spawn(h.strand(), b->drain(std::chrono::steady_clock::now() + 10s));
  REQUIRE(eventually([&] { return b->stats()["draining"] == true; }));
  auto refused = run(h.strand(), b->publish(make_event("t.drain", "k", 99)));
  REQUIRE_FALSE(refused);
  CHECK(refused.err().code == errc::unavailable);
  auto refused_request = run(h.strand(), b->request("math.double", bus::message(1)));
  REQUIRE_FALSE(refused_request);
  CHECK(refused_request.err().code == errc::unavailable);
  CHECK(drained.wait_for(10ms) == std::future_status::timeout);
  g.open();
  drained.get();
  CHECK(handled == 10);
  CHECK(b->stats()["topics"]["t.drain"]["g"]["depth"] == 0);
}

TEST_CASE("drain gives up at its deadline and releases blocked publishers", "[bus]") {
  harness h;
  bus::options o;
  o.queue_capacity = 1;
  auto b = h.make(o);
  gate g(h.io);
  b->subscribe(sub("t.stuck", "g", "g#0", h.strand(), [&](const bus::event&) -> asio::awaitable<result<void>> {
    co_await g.wait();
    co_return agora::ok();
  }));
  REQUIRE(run(h.strand(), b->publish(make_event("t.stuck", "k", 0))));
  auto blocked = spawn(h.strand(), b->publish(make_event("t.stuck", "k", 1)));
  CHECK(blocked.wait_for(20ms) == std::future_status::timeout);
  const auto start = std::chrono::steady_clock::now();
  run(h.strand(), b->drain(start + 50ms));
  CHECK(std::chrono::steady_clock::now() - start >= 50ms);
  auto r = blocked.get();
  REQUIRE_FALSE(r);
  CHECK(r.err().code == errc::unavailable);
  g.open();
  REQUIRE(eventually([&] { return b->stats()["topics"]["t.stuck"]["g"]["depth"] == 0; }));
}

TEST_CASE("stats and metrics describe methods and groups", "[bus]") {
  harness h;
  auto b = h.make();
  b->serve(doubler("math#0", h.strand()));
  notice handled;
  b->subscribe(sub("t.stats", "g", "g#0", h.strand(), [&](const bus::event&) -> asio::awaitable<result<void>> {
    handled.set();
    co_return agora::ok();
  }));
  REQUIRE(run(h.strand(), b->request("math.double", bus::message(2))));
  REQUIRE(run(h.strand(), b->publish(make_event("t.stats", "k", 0))));
  REQUIRE(handled.wait());
  auto s = b->stats();
  CHECK(s["methods"]["math.double"]["responders"][0]["replica"] == "math#0");
  CHECK(s["topics"]["t.stats"]["g"]["consumers"][0] == "g#0");
  const auto text = h.reg.expose();
  CHECK(text.find("agora_bus_queue_depth") != std::string::npos);
  CHECK(text.find("agora_bus_request_duration_seconds") != std::string::npos);
}

TEST_CASE("stress: publishers, consumers and requests at once", "[.slow][bus]") {
  for (int round = 0; round < 20; ++round) {
    harness h;
    bus::options o;
    o.queue_capacity = 64;
    o.partitions = 4;
    o.backoff_initial = 1ms;
    o.backoff_max = 2ms;
    auto b = h.make(o);
    b->serve(doubler("math#0", h.strand()));
    b->serve(doubler("math#1", h.pool()));
    constexpr int per_publisher = 2000, publishers = 4;
    std::atomic<int> settled{0};
    notice all;
    std::mutex mu;
    std::unordered_map<std::string, int> last;
    bool disorder = false;
    for (const auto* group : {"a", "b"}) {
      b->subscribe(sub("t.stress", group, std::string(group) + "#0", h.pool(),
                       [&, grp = std::string(group)](const bus::event& e) -> asio::awaitable<result<void>> {
                         const int seq = e.data.at("seq").get<int>();
                         if (seq % 97 == 13 && e.id.size() % 2 == 0) {
                           static thread_local int flip = 0;
                           if (++flip % 2) co_return error::unavailable("flaky");
                         }
                         std::lock_guard lock(mu);
                         auto& l = last[grp + e.key()];
                         if (seq <= l && seq != 0) disorder = true;
                         l = seq;
                         co_return agora::ok();
                       }));
    }
    std::vector<std::future<void>> work;
    for (int p = 0; p < publishers; ++p) {
      work.push_back(spawn_fn(h.strand(), [&, p]() -> asio::awaitable<void> {
        for (int i = 0; i < per_publisher; ++i) {
          (void)co_await b->publish(make_event("t.stress", "p" + std::to_string(p) + "-" + std::to_string(i % 9), i),
                                    [&] {
                                      if (++settled == publishers * per_publisher) all.set();
                                    });
          if (i % 10 == 0) {
            bus::request_options ro;
            ro.timeout = std::chrono::milliseconds(i % 3);
            (void)co_await b->request("math.double", bus::message(i), ro);
          }
        }
      }));
    }
    for (auto& f : work) f.get();
    REQUIRE(all.wait(60s));
    CHECK_FALSE(disorder);
    run(h.strand(), b->drain(std::chrono::steady_clock::now() + 5s));
  }
}

TEST_CASE("a reply handed back at the handler's deadline still reaches the caller", "[bus]") {
  harness h;
  auto b = h.make();
  bus::clock::time_point told;
  b->serve({"slow.op", "slow#0", h.strand(),
            [&](bus::message m, const bus::call_context& ctx) -> asio::awaitable<result<bus::message>> {
              told = ctx.deadline;
              asio::steady_timer t(co_await asio::this_coro::executor, ctx.deadline);
              co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
              co_return m;
            },
            {}, {}});
  const auto start = bus::clock::now();
  bus::request_options opts(2s);
  auto r = run(h.strand(), b->request("slow.op", bus::message(7), opts));
  REQUIRE(r);
  CHECK(std::any_cast<int>(r.value()) == 7);
  CHECK(told > start);
  CHECK(told < start + 2s);
}

TEST_CASE("a handler called without a bus has no deadline", "[bus]") {
  bus::call_context ctx;
  CHECK(ctx.deadline == bus::clock::time_point::max());
}

TEST_CASE("drain waits for requests in flight and returns as the last one ends", "[bus]") {
  harness h;
  auto b = h.make();
  gate g(h.io);
  notice entered;
  b->serve({"slow.op", "slow#0", h.strand(),
            [&](bus::message m, const bus::call_context&) -> asio::awaitable<result<bus::message>> {
              entered.set();
              co_await g.wait();
              co_return m;
            },
            {}, {}});
  auto reply = spawn(h.strand(), b->request("slow.op", bus::message(1), bus::request_options(1h)));
  REQUIRE(entered.wait());
  auto drained = spawn(h.strand(), b->drain(bus::clock::now() + 1h));
  REQUIRE(eventually([&] { return b->stats()["draining"] == true; }));
  CHECK(drained.wait_for(10ms) == std::future_status::timeout);
  g.open();
  drained.get();
  REQUIRE(reply.get());
  CHECK(b->stats()["requests_in_flight"] == 0);
}

namespace {

struct recording_keeper final : bus::dead_letter_keeper {
  std::mutex mu;
  std::vector<std::int64_t> handled_ids;
  std::vector<std::pair<std::int64_t, int>> buried;  // id, attempts
  notice any_handled;
  notice any_buried;
  void handled(std::int64_t id) override {
    {
      std::lock_guard lock(mu);
      handled_ids.push_back(id);
    }
    any_handled.set();
  }
  void buried_again(std::int64_t id, const bus::dead_letter& now) override {
    {
      std::lock_guard lock(mu);
      buried.emplace_back(id, now.attempts);
    }
    any_buried.set();
  }
};

}  // namespace

TEST_CASE("a publisher hears of its buried event, and the keeper of a kept letter of its replay", "[bus]") {
  harness h;
  bus::options o;
  o.max_attempts = 2;
  o.backoff_initial = 1ms;
  o.backoff_max = 1ms;
  auto b = h.make(o);
  std::atomic<bool> healthy{false};
  b->subscribe(sub("t.kept", "g", "g#0", h.strand(), [&](const bus::event&) -> asio::awaitable<result<void>> {
    if (!healthy) co_return error::unavailable("down");
    co_return agora::ok();
  }));
  std::vector<bus::dead_letter> heard;
  std::mutex heard_mu;
  notice settled;
  bus::publish_hooks hooks;
  hooks.on_buried = [&](const bus::dead_letter& d) {
    std::lock_guard lock(heard_mu);
    heard.push_back(d);
  };
  hooks.on_settled = [&] { settled.set(); };
  REQUIRE(run(h.strand(), b->publish_tracked(make_event("t.kept", "k", 1, "poison"), std::move(hooks))));
  REQUIRE(settled.wait());
  {
    std::lock_guard lock(heard_mu);
    REQUIRE(heard.size() == 1);  // heard before it settled
    CHECK(heard[0].group == "g");
    CHECK(heard[0].attempts == 2);
  }
  auto keeper = std::make_shared<recording_keeper>();
  REQUIRE(b->keep_dead_letter(heard[0].seq, "pub", 41, keeper));
  CHECK_FALSE(b->keep_dead_letter(9999, "pub", 42, keeper));
  auto dead = b->dead_letters();
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].kept_by == "pub");
  CHECK(dead[0].kept_id == 41);

  // Buried again after a replay: the keeper hears it, and the new letter is still kept.
  REQUIRE(b->replay(dead[0].seq));
  REQUIRE(keeper->any_buried.wait());
  REQUIRE(eventually([&] { return b->dead_letters().size() == 1; }));
  dead = b->dead_letters();
  CHECK(dead[0].kept_id == 41);
  {
    std::lock_guard lock(keeper->mu);
    REQUIRE(keeper->buried.size() == 1);
    CHECK(keeper->buried[0] == std::pair<std::int64_t, int>{41, 2});
  }
  // Handled after a replay: the keeper hears it and the bus lists nothing.
  healthy = true;
  REQUIRE(b->replay(dead[0].seq));
  REQUIRE(keeper->any_handled.wait());
  {
    std::lock_guard lock(keeper->mu);
    CHECK(keeper->handled_ids == std::vector<std::int64_t>{41});
  }
  CHECK(b->dead_letters().empty());
}

TEST_CASE("a restored dead letter is listed with a new seq, and one of an unserved group cannot be replayed", "[bus]") {
  harness h;
  auto b = h.make();
  std::atomic<int> handled{0};
  b->subscribe(sub("t.restored", "g", "g#0", h.strand(), [&](const bus::event&) -> asio::awaitable<result<void>> {
    ++handled;
    co_return agora::ok();
  }));
  auto keeper = std::make_shared<recording_keeper>();
  bus::dead_letter served;
  served.group = "g";
  served.ev = make_event("t.restored", "k", 1, "a");
  served.attempts = 5;
  served.kept_by = "pub";
  served.kept_id = 7;
  bus::dead_letter orphan = served;
  orphan.group = "gone";
  orphan.kept_id = 8;
  const auto s1 = b->restore_dead_letter(served, keeper);
  const auto s2 = b->restore_dead_letter(orphan, keeper);
  CHECK(s1 != s2);
  auto dead = b->dead_letters();
  REQUIRE(dead.size() == 2);
  CHECK(dead[0].seq == s1);
  CHECK(dead[0].kept_id == 7);
  auto refused = b->replay(s2);
  REQUIRE_FALSE(refused);
  CHECK(refused.err().code == errc::unavailable);
  REQUIRE(b->replay(s1));
  REQUIRE(keeper->any_handled.wait());
  CHECK(handled == 1);
  {
    std::lock_guard lock(keeper->mu);
    CHECK(keeper->handled_ids == std::vector<std::int64_t>{7});
  }
  REQUIRE(b->dead_letters().size() == 1);
  CHECK(b->dead_letters()[0].group == "gone");
}
