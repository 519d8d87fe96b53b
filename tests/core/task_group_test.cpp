#include <agora/log.hpp>
#include <agora/task_group.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

struct pool {
  asio::io_context io{2};
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  std::vector<std::thread> threads;
  pool() {
    for (int i = 0; i < 2; ++i) threads.emplace_back([this] { io.run(); });
  }
  ~pool() {
    work.reset();
    io.stop();
    for (auto& t : threads) t.join();
  }
  asio::any_io_executor strand() { return asio::make_strand(io); }
  template <class T>
  T run(asio::awaitable<T> a) {
    return asio::co_spawn(strand(), std::move(a), asio::use_future).get();
  }
};

// Waits on a timer that only cancellation ends (a day is "never" for a test).
asio::awaitable<void> park(std::atomic<int>& started, std::atomic<int>& aborted) {
  asio::steady_timer t(co_await asio::this_coro::executor, 24h);
  ++started;
  auto [ec] = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  if (ec == asio::error::operation_aborted) ++aborted;
}

asio::awaitable<void> count_after(std::atomic<int>& done, std::chrono::milliseconds delay) {
  asio::steady_timer t(co_await asio::this_coro::executor, delay);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  ++done;
}

asio::awaitable<void> fail_now() {
  co_await asio::this_coro::executor;
  throw std::runtime_error("sweep broke");
}

}  // namespace

TEST_CASE("stop with no task running returns at once", "[core][task_group]") {
  pool p;
  agora::task_group g;
  CHECK(g.size() == 0);
  p.run(g.stop());
  CHECK(g.size() == 0);
  std::atomic<int> done{0};
  CHECK_FALSE(g.spawn(p.strand(), count_after(done, 0ms)));
}

TEST_CASE("stop cancels running tasks and returns once every one has finished", "[core][task_group]") {
  pool p;
  agora::task_group g;
  std::atomic<int> started{0}, aborted{0};
  for (int i = 0; i < 8; ++i) REQUIRE(g.spawn(p.strand(), park(started, aborted), "parked"));
  while (started.load() < 8) std::this_thread::yield();
  CHECK(g.size() == 8);
  p.run(g.stop());
  CHECK(aborted.load() == 8);
  CHECK(g.size() == 0);
}

TEST_CASE("wait drains tasks without cancelling them", "[core][task_group]") {
  pool p;
  agora::task_group g;
  std::atomic<int> done{0};
  for (int i = 0; i < 16; ++i) REQUIRE(g.spawn(p.strand(), count_after(done, std::chrono::milliseconds(i))));
  p.run(g.wait());
  CHECK(done.load() == 16);
  CHECK(g.size() == 0);
}

TEST_CASE("a task that throws is logged by name and the others carry on", "[core][task_group]") {
  std::mutex mu;
  std::vector<std::string> lines;
  agora::log::global().capture([&](const std::string& line) {
    std::lock_guard lock(mu);
    lines.push_back(line);
  });
  {
    pool p;
    agora::task_group g;
    std::atomic<int> done{0};
    REQUIRE(g.spawn(p.strand(), count_after(done, 20ms), "slow"));
    REQUIRE(g.spawn(p.strand(), fail_now(), "reservation sweep"));
    REQUIRE(g.spawn(p.strand(), count_after(done, 0ms), "fast"));
    p.run(g.wait());
    CHECK(done.load() == 2);
  }
  agora::log::global().capture(nullptr);
  std::lock_guard lock(mu);
  bool logged = false;
  for (const auto& l : lines)
    if (l.find("reservation sweep") != std::string::npos && l.find("sweep broke") != std::string::npos) logged = true;
  CHECK(logged);
}
