#include <agora/store.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <thread>

namespace asio = boost::asio;
using agora::store::database;
using agora::store::migration;
using agora::store::worker;

namespace {

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / fmt::format("agora-store-{:x}{:x}", rd(), rd());
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

const std::vector<migration> v1 = {{1, "init", "CREATE TABLE items (id TEXT PRIMARY KEY, n INTEGER NOT NULL);"}};
const std::vector<migration> v2 = {{1, "init", "CREATE TABLE items (id TEXT PRIMARY KEY, n INTEGER NOT NULL);"},
                                   {2, "add_note", "ALTER TABLE items ADD COLUMN note TEXT;"}};

std::int64_t count(database& db, std::string_view sql) {
  auto& q = db.prepare(sql);
  q.step();
  return q.int64(0);
}

}  // namespace

TEST_CASE("migrations are applied once, in order, and recorded", "[store]") {
  temp_dir dir;
  auto file = dir.path / "m.db";
  {
    database db(file, "m", v1);
    CHECK(db.schema_version() == 1);
    db.exec("INSERT INTO items VALUES ('a', 1)");
  }
  {
    database db(file, "m", v2);
    CHECK(db.schema_version() == 2);
    CHECK(count(db, "SELECT COUNT(*) FROM _agora_migrations") == 2);
    db.exec("UPDATE items SET note = 'kept' WHERE id = 'a'");
    CHECK(count(db, "SELECT n FROM items WHERE id = 'a'") == 1);
  }
  {
    database db(file, "m", v2);
    CHECK(count(db, "SELECT COUNT(*) FROM _agora_migrations") == 2);
  }
}

TEST_CASE("a database written by a newer binary is refused with a clear message", "[store]") {
  temp_dir dir;
  auto file = dir.path / "m.db";
  { database db(file, "m", v2); }
  try {
    database db(file, "m", v1);
    FAIL("opened a newer database");
  } catch (const agora::store::open_error& e) {
    std::string msg = e.what();
    CHECK(msg.find("schema version 2") != std::string::npos);
    CHECK(msg.find("only up to 1") != std::string::npos);
  }
}

TEST_CASE("a failing migration stops the open and leaves the previous version", "[store]") {
  temp_dir dir;
  auto file = dir.path / "m.db";
  { database db(file, "m", v1); }
  std::vector<migration> broken = {v1[0], {2, "broken", "ALTER TABLE nope ADD COLUMN x TEXT;"}};
  REQUIRE_THROWS_WITH(database(file, "m", broken), Catch::Contains("migration 2 (broken) failed"));
  database db(file, "m", v1);
  CHECK(db.schema_version() == 1);
}

TEST_CASE("misnumbered migrations are refused", "[store]") {
  temp_dir dir;
  std::vector<migration> gap = {{1, "a", "SELECT 1;"}, {3, "c", "SELECT 1;"}};
  REQUIRE_THROWS_AS(database(dir.path / "m.db", "m", gap), agora::store::open_error);
}

TEST_CASE("the database is in WAL mode and statements are cached", "[store]") {
  temp_dir dir;
  database db(dir.path / "m.db", "m", v1);
  auto& q = db.prepare("PRAGMA journal_mode");
  REQUIRE(q.step());
  CHECK(q.text(0) == "wal");
  auto& a = db.prepare("SELECT n FROM items WHERE id = ?");
  auto& b = db.prepare("SELECT n FROM items WHERE id = ?");
  CHECK(&a == &b);
}

TEST_CASE("a transaction that throws leaves nothing, outbox included", "[store]") {
  temp_dir dir;
  database db(dir.path / "m.db", "m", v1);
  agora::bus::event ev;
  ev.id = "evt_1";
  ev.type = "item.created";
  REQUIRE_THROWS(db.transaction([&] {
    db.prepare("INSERT INTO items VALUES (?, ?)").bind_all("a", 1).run();
    db.enqueue_event(ev);
    throw std::runtime_error("boom");
  }));
  CHECK(count(db, "SELECT COUNT(*) FROM items") == 0);
  CHECK(count(db, "SELECT COUNT(*) FROM _agora_outbox") == 0);
  CHECK_FALSE(db.take_outbox_signal());

  db.transaction([&] {
    db.prepare("INSERT INTO items VALUES (?, ?)").bind_all("a", 1).run();
    db.enqueue_event(ev);
  });
  CHECK(count(db, "SELECT COUNT(*) FROM _agora_outbox") == 1);
  CHECK(db.take_outbox_signal());
  CHECK_FALSE(db.take_outbox_signal());
  auto& q = db.prepare("SELECT event FROM _agora_outbox");
  REQUIRE(q.step());
  auto stored = nlohmann::json::parse(q.text(0));
  CHECK(stored.at("id") == "evt_1");
  CHECK(stored.at("type") == "item.created");
}

TEST_CASE("the inbox claims an event id once per group", "[store]") {
  temp_dir dir;
  database db(dir.path / "m.db", "m", v1);
  CHECK(db.claim_event("reporting", "evt_1"));
  CHECK_FALSE(db.claim_event("reporting", "evt_1"));
  CHECK(db.claim_event("search", "evt_1"));
}

TEST_CASE("store jobs run on the store thread and resume the caller on its executor", "[store]") {
  temp_dir dir;
  agora::metrics::registry m;
  worker w("m", dir.path / "m.db", v1, m);
  w.start();
  asio::io_context io;
  auto io_thread = std::this_thread::get_id();
  auto fut = asio::co_spawn(
      io,
      [&]() -> asio::awaitable<std::pair<bool, bool>> {
        auto r = co_await w.run([](database& db) {
          db.prepare("INSERT INTO items VALUES (?, ?)").bind_all("a", 7).run();
          return std::this_thread::get_id();
        });
        bool back_on_io = std::this_thread::get_id() == io_thread;
        co_return std::pair{r && *r != io_thread, back_on_io};
      },
      asio::use_future);
  io.run();
  auto [ran_elsewhere, resumed_here] = fut.get();
  CHECK(ran_elsewhere);
  CHECK(resumed_here);
  auto n = w.run_sync([](database& db) { return count(db, "SELECT n FROM items WHERE id = 'a'"); });
  REQUIRE(n);
  CHECK(*n == 7);
}

TEST_CASE("store failures become typed errors, not exceptions", "[store]") {
  temp_dir dir;
  agora::metrics::registry m;
  worker w("m", dir.path / "m.db", v1, m);
  w.start();
  auto dup = w.run_sync([](database& db) {
    db.prepare("INSERT INTO items VALUES (?, ?)").bind_all("a", 1).run();
    db.prepare("INSERT INTO items VALUES (?, ?)").bind_all("a", 2).run();
  });
  REQUIRE_FALSE(dup);
  CHECK(dup.err().code == agora::errc::conflict);
  CHECK(dup.err().message.find("UNIQUE") == std::string::npos);
  auto bad = w.run_sync([](database& db) { db.exec("SELECT * FROM nowhere"); });
  REQUIRE_FALSE(bad);
  CHECK(bad.err().code == agora::errc::internal);
  CHECK(bad.err().message == "store failure");
}

TEST_CASE("the outbox signal fires after a committed job only", "[store]") {
  temp_dir dir;
  agora::metrics::registry m;
  worker w("m", dir.path / "m.db", v1, m);
  std::atomic<int> signals{0};
  w.on_outbox([&] { ++signals; });
  w.start();
  agora::bus::event ev;
  ev.id = "evt_1";
  (void)w.run_sync([&](database& db) { db.transaction([&] { db.enqueue_event(ev); }); });
  (void)w.run_sync([&](database& db) {
    db.transaction([&] {
      db.enqueue_event(ev);
      throw std::runtime_error("no");
    });
  });
  (void)w.run_sync([&](database& db) { return 1; });
  CHECK(signals.load() == 1);
}

TEST_CASE("many concurrent callers are served in order without loss", "[store]") {
  temp_dir dir;
  agora::metrics::registry m;
  worker w("m", dir.path / "m.db", v1, m);
  w.start();
  asio::io_context io;
  constexpr int callers = 200;
  std::vector<std::future<bool>> futures;
  for (int i = 0; i < callers; ++i) {
    futures.push_back(asio::co_spawn(
        io,
        [&w, i]() -> asio::awaitable<bool> {
          auto job = [i](database& db) {
            db.transaction([&] { db.prepare("INSERT INTO items VALUES (?, ?)").bind_all(fmt::format("k{}", i), i).run(); });
          };
          auto r = co_await w.run(std::move(job));
          co_return r.has_value();
        },
        asio::use_future));
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) threads.emplace_back([&] { io.run(); });
  for (auto& t : threads) t.join();
  for (auto& f : futures) CHECK(f.get());
  auto n = w.run_sync([](database& db) { return count(db, "SELECT COUNT(*) FROM items"); });
  CHECK(*n == callers);
}

namespace {

template <class F>
auto run_by(worker& w, F job, std::chrono::steady_clock::time_point deadline) {
  asio::io_context io;
  auto fut = asio::co_spawn(io, w.run(std::move(job), deadline), asio::use_future);
  io.run();
  return fut.get();
}

}  // namespace

TEST_CASE("a job still queued at its caller's deadline runs nothing", "[store]") {
  temp_dir dir;
  agora::metrics::registry m;
  worker w("m", dir.path / "m.db", v1, m);
  w.start();
  std::atomic<bool> ran{false};
  auto r = run_by(w, [&](database&) { ran = true; }, std::chrono::steady_clock::now() - std::chrono::milliseconds(1));
  REQUIRE_FALSE(r);
  CHECK(r.err().code == agora::errc::deadline_exceeded);
  CHECK_FALSE(ran);
}

TEST_CASE("a transaction that would commit after its deadline rolls back and says so", "[store]") {
  temp_dir dir;
  agora::metrics::registry m;
  worker w("m", dir.path / "m.db", v1, m);
  w.start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  auto r = run_by(
      w,
      [deadline](database& db) {
        db.transaction([&] {
          db.prepare("INSERT INTO items VALUES (?, ?)").bind_all("late", 1).run();
          std::this_thread::sleep_until(deadline);
        });
      },
      deadline);
  REQUIRE_FALSE(r);
  CHECK(r.err().code == agora::errc::deadline_exceeded);
  auto n = w.run_sync([](database& db) { return count(db, "SELECT COUNT(*) FROM items"); });
  REQUIRE(n);
  CHECK(*n == 0);
  // The bound ends with its job: an unbounded transaction commits.
  REQUIRE(w.run_sync([](database& db) {
    db.transaction([&] { db.prepare("INSERT INTO items VALUES (?, ?)").bind_all("later", 2).run(); });
  }));
}

TEST_CASE("waiting for another writer's lock ends before the caller's deadline", "[store]") {
  temp_dir dir;
  agora::metrics::registry m;
  worker w("m", dir.path / "m.db", v1, m);
  w.start();
  database other(dir.path / "m.db", "m", v1);
  other.exec("BEGIN IMMEDIATE");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(400);
  auto r = run_by(
      w,
      [](database& db) {
        db.transaction([&] { db.prepare("INSERT INTO items VALUES (?, ?)").bind_all("blocked", 1).run(); });
      },
      deadline);
  // The lock is released only now, so an answer means the wait gave up on its own.
  other.exec("ROLLBACK");
  REQUIRE_FALSE(r);
  CHECK(r.err().code == agora::errc::unavailable);
  auto n = w.run_sync([](database& db) { return count(db, "SELECT COUNT(*) FROM items"); });
  REQUIRE(n);
  CHECK(*n == 0);
}
