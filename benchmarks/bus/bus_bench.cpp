#include <agora/local_bus.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace bus = agora::bus;
using bench_clock = std::chrono::steady_clock;

struct io_threads {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  std::vector<std::thread> threads;

  explicit io_threads(int n) : io(n) {
    for (int i = 0; i < n; ++i) threads.emplace_back([this] { io.run(); });
  }
  ~io_threads() {
    work.reset();
    io.stop();
    for (auto& t : threads) t.join();
  }
};

struct latency {
  double p50_us = 0;
  double p99_us = 0;
};

latency percentiles(std::vector<double>& ns) {
  std::sort(ns.begin(), ns.end());
  return {ns[ns.size() / 2] / 1000.0, ns[ns.size() * 99 / 100] / 1000.0};
}

bus::responder echo(bus::executor ex) {
  return {"bench.echo", "echo#0", std::move(ex),
          [](bus::message m, const bus::call_context&) -> asio::awaitable<agora::result<bus::message>> {
            co_return std::move(m);
          },
          {}, {}};
}

latency request_latency(int threads, int n) {
  agora::metrics::registry reg;  // outlives the io threads, which may still be finishing a run
  io_threads t(threads);
  auto b = bus::make_local_bus(t.io.get_executor(), {}, reg);
  b->serve(echo(asio::make_strand(t.io)));
  std::vector<double> ns(n);
  asio::co_spawn(
      asio::make_strand(t.io),
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < n / 10; ++i) (void)co_await b->request("bench.echo", bus::message(i));
        for (int i = 0; i < n; ++i) {
          const auto start = bench_clock::now();
          auto r = co_await b->request("bench.echo", bus::message(i));
          ns[i] = std::chrono::duration<double, std::nano>(bench_clock::now() - start).count();
          if (!r) std::abort();
        }
      },
      asio::use_future)
      .get();
  return percentiles(ns);
}

double request_throughput(int threads, int callers, int per_caller) {
  agora::metrics::registry reg;  // outlives the io threads, which may still be finishing a run
  io_threads t(threads);
  auto b = bus::make_local_bus(t.io.get_executor(), {}, reg);
  b->serve(echo(asio::make_strand(t.io)));
  b->serve({"bench.echo", "echo#1", asio::make_strand(t.io), echo({}).handler, {}, {}});
  std::vector<std::future<void>> done;
  const auto start = bench_clock::now();
  for (int c = 0; c < callers; ++c) {
    done.push_back(asio::co_spawn(
        asio::make_strand(t.io),
        [&]() -> asio::awaitable<void> {
          for (int i = 0; i < per_caller; ++i) (void)co_await b->request("bench.echo", bus::message(i));
        },
        asio::use_future));
  }
  for (auto& f : done) f.get();
  return callers * static_cast<double>(per_caller) / std::chrono::duration<double>(bench_clock::now() - start).count();
}

// Events published per second from one publisher until the last delivery was handled.
double publish_throughput(int threads, int groups, int n) {
  agora::metrics::registry reg;  // outlives the io threads, which may still be finishing a run
  io_threads t(threads);
  auto b = bus::make_local_bus(t.io.get_executor(), {}, reg);
  std::atomic<long> handled{0};
  std::promise<void> all;
  const long expected = static_cast<long>(n) * groups;
  for (int g = 0; g < groups; ++g) {
    b->subscribe({"bench.events", fmt::format("group{}", g), fmt::format("group{}#0", g), asio::make_strand(t.io),
                  [&](const bus::event&) -> asio::awaitable<agora::result<void>> {
                    if (handled.fetch_add(1, std::memory_order_relaxed) + 1 == expected) all.set_value();
                    co_return agora::ok();
                  }});
  }
  std::vector<bus::event_ptr> pool;
  for (int i = 0; i < 4096; ++i) {
    auto e = std::make_shared<bus::event>();
    e->id = fmt::format("evt_{}", i);
    e->topic = "bench.events";
    e->subject = fmt::format("key_{}", i);
    pool.push_back(std::move(e));
  }
  const auto start = bench_clock::now();
  asio::co_spawn(
      asio::make_strand(t.io),
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < n; ++i) (void)co_await b->publish(pool[i % pool.size()]);
      },
      asio::use_future)
      .get();
  all.get_future().wait();
  return n / std::chrono::duration<double>(bench_clock::now() - start).count();
}

// Anchors: what a plain mutex + condition_variable queue achieves on this machine.
struct handoff {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<long> q;
  void push(long v) {
    {
      std::lock_guard lock(mu);
      q.push_back(v);
    }
    cv.notify_one();
  }
  long pop() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return !q.empty(); });
    auto v = q.front();
    q.pop_front();
    return v;
  }
};

latency anchor_ping_pong(int n) {
  handoff there, back;
  std::thread peer([&] {
    for (long v; (v = there.pop()) >= 0;) back.push(v);
  });
  std::vector<double> ns(n);
  for (int i = 0; i < n / 10; ++i) {
    there.push(i);
    back.pop();
  }
  for (int i = 0; i < n; ++i) {
    const auto start = bench_clock::now();
    there.push(i);
    back.pop();
    ns[i] = std::chrono::duration<double, std::nano>(bench_clock::now() - start).count();
  }
  there.push(-1);
  peer.join();
  return percentiles(ns);
}

double anchor_queue_throughput(long n) {
  handoff h;
  std::thread consumer([&] {
    long seen = 0;
    std::deque<long> batch;
    while (seen < n) {
      {
        std::unique_lock lock(h.mu);
        h.cv.wait(lock, [&] { return !h.q.empty(); });
        batch.swap(h.q);
      }
      seen += static_cast<long>(batch.size());
      batch.clear();
    }
  });
  const auto start = bench_clock::now();
  for (long i = 0; i < n; ++i) h.push(i);
  consumer.join();
  return n / std::chrono::duration<double>(bench_clock::now() - start).count();
}

std::string verdict(bool met) { return met ? "met" : "NOT met"; }

}  // namespace

int main(int argc, char** argv) {
  const int scale = argc > 1 ? std::max(1, std::atoi(argv[1])) : 1;
  const int latency_n = 200000 * scale;
  const int events = 2000000 * scale;

  const auto anchor_rtt = anchor_ping_pong(latency_n / 4);
  const auto rtt1 = request_latency(1, latency_n);
  const auto rtt2 = request_latency(2, latency_n / 4);
  const double req_tp = request_throughput(2, 32, 20000 * scale);
  const double anchor_tp = anchor_queue_throughput(events);
  const double pub1 = publish_throughput(2, 1, events);
  const double pub3 = publish_throughput(2, 3, events);

  std::printf("agora_bus_bench on %u hardware threads (scale %d)\n\n", std::thread::hardware_concurrency(), scale);
  std::printf("| measure | bus | anchor (mutex+condvar) | bus/anchor | target | verdict |\n");
  std::printf("|---|---|---|---|---|---|\n");
  std::printf("| request/reply p50, 1 io thread, 2 strands | %.2f µs | %.2f µs | %.2f | < 5 µs | %s |\n", rtt1.p50_us,
              anchor_rtt.p50_us, rtt1.p50_us / anchor_rtt.p50_us, verdict(rtt1.p50_us < 5).c_str());
  std::printf("| request/reply p99, 1 io thread, 2 strands | %.2f µs | %.2f µs | %.2f | | |\n", rtt1.p99_us,
              anchor_rtt.p99_us, rtt1.p99_us / anchor_rtt.p99_us);
  std::printf("| request/reply p50, 2 io threads, 2 strands | %.2f µs | %.2f µs | %.2f | < 5 µs | %s |\n", rtt2.p50_us,
              anchor_rtt.p50_us, rtt2.p50_us / anchor_rtt.p50_us, verdict(rtt2.p50_us < 5).c_str());
  std::printf("| request/reply p99, 2 io threads, 2 strands | %.2f µs | %.2f µs | %.2f | | |\n", rtt2.p99_us,
              anchor_rtt.p99_us, rtt2.p99_us / anchor_rtt.p99_us);
  std::printf("| requests/s, 32 callers, 2 replicas, 2 io threads | %.0f | | | | |\n", req_tp);
  std::printf("| publish→consume, 1 group, events/s | %.0f | %.0f | %.2f | ≥ 2,000,000 | %s |\n", pub1, anchor_tp,
              pub1 / anchor_tp, verdict(pub1 >= 2e6).c_str());
  std::printf("| publish→consume, 3 groups, events/s (×3 deliveries) | %.0f | %.0f | %.2f | ≥ 2,000,000 | %s |\n", pub3,
              anchor_tp, pub3 / anchor_tp, verdict(pub3 >= 2e6).c_str());
  return 0;
}
