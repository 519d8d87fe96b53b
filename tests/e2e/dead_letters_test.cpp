#include <agora/ids.hpp>
#include <agora/testing.hpp>

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace asio = boost::asio;
using agora::store::database;

namespace {

// A consumer that refuses every event while `refusing` is set, and counts those it handled.
std::atomic<bool> refusing{true};
std::atomic<int> handled{0};

class refuser {
 public:
  explicit refuser(agora::module_context&) {}
  asio::awaitable<agora::result<void>> on_product(const agora::bus::event&) {
    if (refusing.load()) co_return agora::error::unavailable("refusing on purpose");
    ++handled;
    co_return agora::ok();
  }
};

agora::module_definition refuser_module() {
  return agora::module_decl<refuser>("refuser")
      .depends_on("catalog")
      .consumes("catalog.products", "refuser", &refuser::on_product)
      .build();
}

agora::testing::options with_refuser(std::filesystem::path dir) {
  agora::testing::options o;
  o.modules = agora::all_modules();
  o.modules.push_back(refuser_module());
  o.data_dir = std::move(dir);
  o.settings = {{"bus.max_attempts", 2}, {"bus.backoff_initial_ms", 1}, {"bus.backoff_max_ms", 5}};
  return o;
}

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
  std::filesystem::path path = std::filesystem::temp_directory_path() / agora::new_id("agora-dead-letters-test");
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

void commit_product_events(const std::filesystem::path& dir, int n) {
  database db(dir / "catalog.db", "catalog", {});
  db.transaction([&] {
    for (int i = 0; i < n; ++i) {
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

std::vector<agora::bus::dead_letter> refused(agora::testing::harness& h) {
  std::vector<agora::bus::dead_letter> out;
  for (auto& d : h.app().message_bus().dead_letters())
    if (d.group == "refuser") out.push_back(d);
  return out;
}

}  // namespace

TEST_CASE("dead letters survive a restart and a handled replay forgets them", "[e2e][outbox][dead_letters]") {
  scratch_dir dir;
  std::filesystem::create_directories(dir.path);
  refusing = true;
  handled = 0;
  commit_product_events(dir.path, 2);
  const auto catalog_db = dir.path / "catalog.db";
  agora::testing::harness h(with_refuser(dir.path));
  // Buried, then kept in catalog's store with the outbox row gone.
  REQUIRE(eventually([&] {
    return scalar(catalog_db, "SELECT COUNT(*) FROM _agora_dead_letters WHERE consumer_group = 'refuser'") == 2 &&
           scalar(catalog_db, "SELECT COUNT(*) FROM _agora_outbox") == 0;
  }));
  REQUIRE(eventually([&] {
    auto d = refused(h);
    return d.size() == 2 && d[0].kept_id != 0 && d[1].kept_id != 0;
  }));
  CHECK(scalar(catalog_db, "SELECT MIN(attempts) FROM _agora_dead_letters") == 2);

  h.restart();
  auto listed = refused(h);
  REQUIRE(listed.size() == 2);
  for (const auto& d : listed) {
    CHECK(d.kept_by == "catalog");
    CHECK(d.attempts == 2);
    CHECK(d.last_error.message == "refusing on purpose");
    CHECK(d.ev->topic == "catalog.products");
  }
  // The admin route lists them too.
  auto admin = h.connect_as_admin();
  auto page = admin.request("GET", "/v1/admin/dead-letters");
  REQUIRE(page.status == 200);
  int durable = 0;
  const auto body = page.json();
  for (const auto& d : body.at("data"))
    if (d.at("group") == "refuser" && d.at("durable") == true) ++durable;
  CHECK(durable == 2);

  // A replay that is buried again stays kept, with its count updated.
  auto again = admin.request("POST", "/v1/admin/dead-letters/" + std::to_string(listed[0].seq) + "/replay");
  REQUIRE(again.status == 202);
  REQUIRE(eventually([&] {
    auto d = refused(h);
    return d.size() == 2 && d.back().kept_id == listed[0].kept_id && d.back().seq != listed[0].seq;
  }));
  CHECK(scalar(catalog_db, "SELECT COUNT(*) FROM _agora_dead_letters") == 2);

  // A replay that is handled forgets the letter, in the bus and in the store.
  refusing = false;
  for (const auto& d : refused(h)) {
    auto r = admin.request("POST", "/v1/admin/dead-letters/" + std::to_string(d.seq) + "/replay");
    CHECK(r.status == 202);
  }
  REQUIRE(eventually([&] { return handled.load() == 2; }));
  REQUIRE(eventually([&] { return scalar(catalog_db, "SELECT COUNT(*) FROM _agora_dead_letters") == 0; }));
  CHECK(refused(h).empty());
  h.restart();
  CHECK(refused(h).empty());
}
