#include <agora/store.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <random>
#include <stdexcept>
#include <thread>

namespace asio = boost::asio;
using agora::errc;
using agora::store::database;
using agora::store::migration;
using agora::store::worker;
using steady = std::chrono::steady_clock;

namespace {

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / fmt::format("agora-group-{:x}{:x}", rd(), rd());
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

const std::vector<migration> schema = {
    {1, "init", "CREATE TABLE items (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL);"}};

std::int64_t count(database& db, std::string_view sql) {
  auto& q = db.prepare(sql);
  q.step();
  auto n = q.int64(0);
  q.reset();
  return n;
}

void insert(database& db, const std::string& id) { db.prepare("INSERT INTO items(id) VALUES (?)").bind(1, id).run(); }

// Holds the store thread in one job, so that the jobs submitted meanwhile queue up and
// are taken together as one group when it opens.
struct gate {
  std::promise<void> open_p;
  std::shared_future<void> opened = open_p.get_future().share();
  std::future<agora::result<void>> held;

  explicit gate(worker& w) {
    std::promise<void> entered;
    auto in = entered.get_future();
    held = std::async(std::launch::async, [&w, f = opened, e = std::move(entered)]() mutable {
      return w.run_sync([&](database&) {
        e.set_value();
        f.wait();
      });
    });
    in.wait();
  }
  // Waits until `n` jobs are queued behind the gate, then lets them all run.
  void open_when_queued(worker& w, std::size_t n) {
    while (w.queued() < n) std::this_thread::yield();
    open_p.set_value();
    REQUIRE(held.get());
  }
};

struct metrics_of {
  agora::metrics::registry& m;
  std::uint64_t commits() { return m.counter_of("agora_store_commits_total", "", {{"module", "m"}}).value(); }
};

// Submits `job` from a coroutine on io (one thread: jobs are submitted in call order).
template <class F>
auto submit(asio::io_context& io, worker& w, F job, steady::time_point deadline = steady::time_point::max()) {
  using R = agora::result<typename agora::store::unwrap_result<std::invoke_result_t<F, database&>>::type>;
  auto answer = std::make_shared<std::promise<R>>();
  auto fut = answer->get_future();
  asio::co_spawn(
      io,
      [&w, job = std::move(job), deadline, answer]() mutable -> asio::awaitable<void> {
        auto r = co_await w.run(std::move(job), deadline);
        answer->set_value(std::move(r));
      },
      asio::detached);
  return fut;
}

// Runs io on a thread until every submitted job has been answered.
struct runner {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::thread t{[this] { io.run(); }};
  ~runner() {
    work.reset();
    t.join();
  }
};

}  // namespace

TEST_CASE("a group commits its jobs with one commit, and a failing job loses only its own changes and events",
          "[store][group]") {
  temp_dir dir;
  agora::metrics::registry m;
  worker w("m", dir.path / "m.db", schema, m);
  std::atomic<int> signals{0};
  w.on_outbox([&] { ++signals; });
  w.start();
  metrics_of mm{m};
  runner r;
  gate g(w);
  const auto commits_before = mm.commits();
  std::vector<std::future<agora::result<void>>> answers;
  for (int i = 0; i < 10; ++i) {
    answers.push_back(submit(r.io, w, [i](database& db) {
      db.transaction([&] {
        insert(db, fmt::format("k{}", i));
        if (i == 4) {
          agora::bus::event ev;
          ev.id = "evt_failed";
          db.enqueue_event(ev);
          throw std::runtime_error("job 4 fails");
        }
      });
    }));
  }
  g.open_when_queued(w, 10);
  for (int i = 0; i < 10; ++i) {
    auto a = answers[static_cast<std::size_t>(i)].get();
    if (i == 4) {
      REQUIRE_FALSE(a);
      CHECK(a.err().code == errc::internal);
    } else {
      CHECK(a);
    }
  }
  // The gate's group and the ten jobs' group: two commits.
  CHECK(mm.commits() - commits_before == 2);
  auto rows = w.run_sync([](database& db) {
    return std::pair{count(db, "SELECT COUNT(*) FROM items"), count(db, "SELECT COUNT(*) FROM items WHERE id = 'k4'")};
  });
  REQUIRE(rows);
  CHECK(rows->first == 9);
  CHECK(rows->second == 0);
  auto events = w.run_sync([](database& db) { return count(db, "SELECT COUNT(*) FROM _agora_outbox"); });
  CHECK(*events == 0);
  CHECK(signals.load() == 0);
}

TEST_CASE("a group runs its jobs in submission order and each sees the earlier ones", "[store][group]") {
  temp_dir dir;
  agora::metrics::registry m;
  worker w("m", dir.path / "m.db", schema, m);
  w.start();
  runner r;
  gate g(w);
  std::vector<std::future<agora::result<std::int64_t>>> answers;
  for (int i = 0; i < 30; ++i)
    answers.push_back(submit(r.io, w, [i](database& db) {
      if (i % 3 == 2) return count(db, "SELECT COUNT(*) FROM items");  // a read in the group
      db.transaction([&] { insert(db, fmt::format("k{:02}", i)); });
      return std::int64_t{-1};
    }));
  g.open_when_queued(w, 30);
  for (int i = 0; i < 30; ++i) {
    auto a = answers[static_cast<std::size_t>(i)].get();
    REQUIRE(a);
    if (i % 3 == 2) CHECK(*a == (i / 3) * 2 + 2);
  }
  auto order = w.run_sync([](database& db) {
    std::vector<std::string> ids;
    auto& q = db.prepare("SELECT id FROM items ORDER BY seq");
    while (q.step()) ids.push_back(q.text(0));
    return ids;
  });
  REQUIRE(order);
  REQUIRE(order->size() == 20);
  CHECK(std::is_sorted(order->begin(), order->end()));
}

TEST_CASE("a caller is answered only once its change is committed", "[store][group]") {
  temp_dir dir;
  agora::metrics::registry m;
  worker w("m", dir.path / "m.db", schema, m);
  w.start();
  // Another connection sees only committed rows (WAL).
  database reader(dir.path / "m.db", "m", schema);
  asio::io_context io;
  std::atomic<int> seen_committed{0};
  constexpr int callers = 100;
  for (int i = 0; i < callers; ++i) {
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          auto job = [i](database& db) { db.transaction([&] { insert(db, fmt::format("k{}", i)); }); };
          auto a = co_await w.run(std::move(job));
          if (a) {
            // io runs on this one thread, so the reader is never used concurrently.
            auto& q = reader.prepare("SELECT COUNT(*) FROM items WHERE id = ?");
            q.bind(1, fmt::format("k{}", i));
            q.step();
            if (q.int64(0) == 1) ++seen_committed;
            q.reset();
          }
        },
        asio::detached);
  }
  io.run();
  CHECK(seen_committed.load() == callers);
}

TEST_CASE("a job's nested transactions are savepoints inside the group", "[store][group]") {
  temp_dir dir;
  agora::metrics::registry m;
  worker w("m", dir.path / "m.db", schema, m);
  w.start();
  runner r;
  gate g(w);
  auto first = submit(r.io, w, [](database& db) { db.transaction([&] { insert(db, "before"); }); });
  auto nested = submit(r.io, w, [](database& db) {
    db.transaction([&] {
      insert(db, "outer");
      try {
        db.transaction([&] {
          insert(db, "inner");
          throw std::runtime_error("inner fails");
        });
      } catch (const std::runtime_error&) {
      }
      db.transaction([&] { db.transaction([&] { insert(db, "deep"); }); });
    });
  });
  g.open_when_queued(w, 2);
  REQUIRE(first.get());
  REQUIRE(nested.get());
  auto ids = w.run_sync([](database& db) {
    std::vector<std::string> out;
    auto& q = db.prepare("SELECT id FROM items ORDER BY seq");
    while (q.step()) out.push_back(q.text(0));
    return out;
  });
  REQUIRE(ids);
  CHECK(*ids == std::vector<std::string>{"before", "outer", "deep"});
}

TEST_CASE("a job queued past its deadline in a group runs nothing, and the others commit", "[store][group]") {
  temp_dir dir;
  agora::metrics::registry m;
  worker w("m", dir.path / "m.db", schema, m);
  w.start();
  runner r;
  gate g(w);
  std::atomic<bool> ran{false};
  auto a = submit(r.io, w, [](database& db) { db.transaction([&] { insert(db, "a"); }); });
  auto late = submit(
      r.io, w,
      [&ran](database& db) {
        ran = true;
        insert(db, "late");
      },
      steady::now() + std::chrono::milliseconds(1));
  auto b = submit(r.io, w, [](database& db) { db.transaction([&] { insert(db, "b"); }); });
  while (w.queued() < 3) std::this_thread::yield();
  std::this_thread::sleep_until(steady::now() + std::chrono::milliseconds(2));  // the deadline, not a wait for work
  g.open_when_queued(w, 3);
  CHECK(a.get());
  CHECK(b.get());
  auto l = late.get();
  REQUIRE_FALSE(l);
  CHECK(l.err().code == errc::deadline_exceeded);
  CHECK_FALSE(ran);
  auto n = w.run_sync([](database& db) { return count(db, "SELECT COUNT(*) FROM items"); });
  CHECK(*n == 2);
}

TEST_CASE("a group whose member's deadline passes before the commit writes nothing", "[store][group]") {
  temp_dir dir;
  agora::metrics::registry m;
  worker w("m", dir.path / "m.db", schema, m);
  w.start();
  runner r;
  gate g(w);
  const auto deadline = steady::now() + std::chrono::seconds(1);
  auto early = submit(r.io, w, [](database& db) { db.transaction([&] { insert(db, "early"); }); }, deadline);
  // Starts well before the early deadline's margin and runs past the deadline.
  auto slow = submit(r.io, w, [deadline](database& db) {
    db.transaction([&] { insert(db, "slow"); });
    std::this_thread::sleep_until(deadline + std::chrono::milliseconds(20));
  });
  g.open_when_queued(w, 2);
  auto e = early.get();
  REQUIRE_FALSE(e);
  CHECK(e.err().code == errc::deadline_exceeded);
  auto s = slow.get();
  REQUIRE_FALSE(s);
  CHECK(s.err().code == errc::unavailable);
  auto n = w.run_sync([](database& db) { return count(db, "SELECT COUNT(*) FROM items"); });
  CHECK(*n == 0);
}

TEST_CASE("a group stops growing near a member deadline, and the rest runs in the next group", "[store][group]") {
  temp_dir dir;
  agora::metrics::registry m;
  worker w("m", dir.path / "m.db", schema, m);
  w.start();
  metrics_of mm{m};
  runner r;
  gate g(w);
  // 2 s ahead: the first job keeps 100 ms of it for the commit.
  const auto deadline = steady::now() + std::chrono::seconds(2);
  auto first = submit(r.io, w, [](database& db) { db.transaction([&] { insert(db, "first"); }); }, deadline);
  auto slow = submit(r.io, w, [deadline](database& db) {
    db.transaction([&] { insert(db, "slow"); });
    std::this_thread::sleep_until(deadline - std::chrono::milliseconds(80));
  });
  auto after = submit(r.io, w, [](database& db) { db.transaction([&] { insert(db, "after"); }); });
  const auto commits_before = mm.commits();
  g.open_when_queued(w, 3);
  CHECK(first.get());
  CHECK(slow.get());
  CHECK(after.get());
  // The gate's, {first, slow} and {after}.
  CHECK(mm.commits() - commits_before == 3);
  auto n = w.run_sync([](database& db) { return count(db, "SELECT COUNT(*) FROM items"); });
  CHECK(*n == 3);
}

TEST_CASE("many coroutines on many threads: every job answered once, failures isolated",
          "[store][group]") {
  temp_dir dir;
  agora::metrics::registry m;
  worker w("m", dir.path / "m.db", schema, m);
  w.start();
  asio::io_context io;
  constexpr int callers = 600;
  std::atomic<int> ok{0}, refused{0};
  for (int i = 0; i < callers; ++i) {
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          auto job = [i](database& db) {
            db.transaction([&] {
              insert(db, fmt::format("k{}", i));
              if (i % 7 == 0) insert(db, fmt::format("k{}", i));  // a duplicate: this job fails
            });
          };
          auto a = co_await w.run(std::move(job));
          if (a)
            ++ok;
          else if (a.err().code == errc::conflict)
            ++refused;
        },
        asio::detached);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&] { io.run(); });
  for (auto& t : threads) t.join();
  const int failing = (callers + 6) / 7;
  CHECK(ok.load() == callers - failing);
  CHECK(refused.load() == failing);
  auto n = w.run_sync([](database& db) { return count(db, "SELECT COUNT(*) FROM items"); });
  CHECK(*n == callers - failing);
  auto& sizes = m.histogram_of("agora_store_group_size", "", {{"module", "m"}},
                               {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096});
  CHECK(sizes.sum() >= callers);
}

TEST_CASE("group_commit_max 1 runs every job alone, each committing by itself", "[store][group]") {
  temp_dir dir;
  agora::metrics::registry m;
  agora::store::options o;
  o.group_commit_max = 1;
  worker w("m", dir.path / "m.db", schema, m, o);
  w.start();
  metrics_of mm{m};
  runner r;
  gate g(w);
  const auto before = mm.commits();
  std::vector<std::future<agora::result<void>>> answers;
  for (int i = 0; i < 5; ++i)
    answers.push_back(submit(r.io, w, [i](database& db) { db.transaction([&] { insert(db, fmt::format("k{}", i)); }); }));
  g.open_when_queued(w, 5);
  for (auto& a : answers) CHECK(a.get());
  CHECK(mm.commits() - before == 5);
}
