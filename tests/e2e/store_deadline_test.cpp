#include <agora/testing.hpp>

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <chrono>
#include <string>
#include <thread>

using agora::testing::harness;
using namespace std::chrono_literals;

namespace {

std::int64_t rows_with_sku(const std::filesystem::path& file, const std::string& sku) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_busy_timeout(db, 2000);
  sqlite3_stmt* q = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM products WHERE sku = ?", -1, &q, nullptr) == SQLITE_OK);
  sqlite3_bind_text(q, 1, sku.c_str(), -1, SQLITE_TRANSIENT);
  std::int64_t n = -1;
  if (sqlite3_step(q) == SQLITE_ROW) n = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  sqlite3_close(db);
  return n;
}

// Another process's writer: holds catalog's write lock from now for `hold`.
class lock_holder {
 public:
  lock_holder(const std::filesystem::path& file, std::chrono::milliseconds hold) {
    REQUIRE(sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
    release_ = std::thread([this, hold] {
      std::this_thread::sleep_for(hold);
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    });
  }
  ~lock_holder() {
    if (release_.joinable()) release_.join();
    sqlite3_close(db_);
  }
  void join() { release_.join(); }

 private:
  sqlite3* db_ = nullptr;
  std::thread release_;
};

}  // namespace

// The probe: SQLite's busy wait (5 s) outlasted the bus deadline, so a create answered
// 504 while its row was committed. Whatever the lock's length, the answer must tell the
// truth: 201 with the row, or an error with no row.
TEST_CASE("a create that waits on a locked database never answers an error for a committed row",
          "[e2e][store]") {
  constexpr auto timeout = 800ms;
  harness h({.settings = {{"bus.request_timeout_ms", timeout.count()}}});
  const auto file = h.data_dir() / "catalog.db";
  auto c = h.connect_as_admin();
  REQUIRE(c.get("/v1/products").status == 200);

  int n = 0;
  for (auto hold : {timeout - 50ms, timeout + 400ms, 2 * timeout}) {
    const std::string sku = "LOCKED-" + std::to_string(n++);
    INFO("lock held " << hold.count() << " ms; sku " << sku);
    lock_holder lock(file, hold);
    auto r = c.post("/v1/products", {{"sku", sku}, {"name", "Locked"}, {"price", {{"amount", 100}, {"currency", "EUR"}}}});
    lock.join();
    // A list goes through the same store thread, after the create's job: once it has
    // answered, that job has finished one way or the other.
    REQUIRE(c.get("/v1/products?limit=1").status == 200);
    const auto rows = rows_with_sku(file, sku);
    INFO("status " << r.status << ": " << r.body);
    if (r.status == 201) {
      CHECK(rows == 1);
    } else {
      CHECK((r.status == 503 || r.status == 504));
      CHECK(rows == 0);
    }
  }
}
