#include <agora/ids.hpp>
#include <agora/testing.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <chrono>
#include <thread>

namespace asio = boost::asio;
using agora::store::database;

namespace {

// A consumer module for these tests: records each catalog product event it handles,
// once, through its inbox.
class ledger {
 public:
  explicit ledger(agora::module_context& ctx) : ctx_(ctx) {}

  asio::awaitable<agora::result<void>> on_product(const agora::bus::event& ev) {
    auto job = [ev](database& db) {
      db.transaction([&] {
        if (!db.claim_event("ledger", ev.id)) return;
        db.prepare("INSERT INTO seen(event_id, type, subject) VALUES (?, ?, ?)")
            .bind_all(ev.id, ev.type, ev.subject)
            .run();
      });
    };
    co_return co_await ctx_.store().run(std::move(job));
  }

 private:
  agora::module_context& ctx_;
};

const std::vector<agora::store::migration> ledger_migrations = {
    {1, "init", "CREATE TABLE seen (event_id TEXT NOT NULL, type TEXT NOT NULL, subject TEXT NOT NULL);"}};

agora::module_definition ledger_module() {
  return agora::module_decl<ledger>("ledger")
      .depends_on("catalog")
      .migrations(ledger_migrations)
      .consumes("catalog.products", "ledger", &ledger::on_product)
      .build();
}

agora::testing::options with_ledger(std::filesystem::path dir) {
  agora::testing::options o;
  o.modules = agora::all_modules();
  o.modules.push_back(ledger_module());
  o.data_dir = std::move(dir);
  return o;
}

// Reads one number straight from a module's file, as an operator would with sqlite3.
std::int64_t scalar(const std::filesystem::path& file, std::string_view sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return -1;
  }
  sqlite3_busy_timeout(db, 2000);
  sqlite3_stmt* q = nullptr;
  std::int64_t v = -1;
  if (sqlite3_prepare_v2(db, std::string(sql).c_str(), -1, &q, nullptr) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
    v = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  sqlite3_close(db);
  return v;
}

template <class F>
bool eventually(F f, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return f();
}

struct scratch_dir {
  std::filesystem::path path = std::filesystem::temp_directory_path() / agora::new_id("agora-outbox-test");
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("events committed before a crash are delivered after it, once", "[e2e][outbox]") {
  scratch_dir dir;
  std::filesystem::create_directories(dir.path);
  // The state a crash leaves: events committed in catalog's outbox, never published.
  {
    database db(dir.path / "catalog.db", "catalog", {});
    db.transaction([&] {
      for (int i = 0; i < 3; ++i) {
        agora::bus::event ev;
        ev.id = agora::new_id("evt");
        ev.source = "agora/catalog";
        ev.type = "product.created";
        ev.subject = "prod_" + std::to_string(i);
        ev.topic = "catalog.products";
        ev.time = agora::now_rfc3339();
        ev.data = {{"id", ev.subject}};
        db.enqueue_event(ev);
      }
    });
  }
  {
    agora::testing::harness h(with_ledger(dir.path));
    REQUIRE(eventually([&] {
      return scalar(dir.path / "ledger.db", "SELECT COUNT(*) FROM seen") == 3;
    }));
    REQUIRE(eventually([&] { return scalar(dir.path / "catalog.db", "SELECT COUNT(*) FROM _agora_outbox") == 0; }));
  }
  // A restart delivers nothing again.
  agora::testing::harness h(with_ledger(dir.path));
  auto c = h.connect_as_admin();
  REQUIRE(c.post("/v1/products", {{"sku", "AFTER-1"}, {"name", "After"}, {"price", {{"amount", 5}, {"currency", "EUR"}}}})
              .status == 201);
  REQUIRE(eventually([&] {
    return scalar(dir.path / "ledger.db", "SELECT COUNT(*) FROM seen") == 4;
  }));
  CHECK(scalar(dir.path / "ledger.db", "SELECT COUNT(DISTINCT event_id) FROM seen") == 4);
}

TEST_CASE("a redelivered event changes nothing the second time", "[e2e][outbox]") {
  scratch_dir dir;
  agora::testing::harness h(with_ledger(dir.path));
  auto ev = std::make_shared<agora::bus::event>();
  ev->id = agora::new_id("evt");
  ev->type = "product.updated";
  ev->subject = "prod_x";
  ev->topic = "catalog.products";
  for (int i = 0; i < 3; ++i) {
    auto r = asio::co_spawn(asio::system_executor(), h.app().message_bus().publish(ev), asio::use_future).get();
    REQUIRE(r);
  }
  REQUIRE(eventually([&] {
    return scalar(dir.path / "ledger.db", "SELECT COUNT(*) FROM _agora_inbox") == 1;
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(scalar(dir.path / "ledger.db", "SELECT COUNT(*) FROM seen") == 1);
}
