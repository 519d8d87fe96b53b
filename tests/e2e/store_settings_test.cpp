#include <agora/clock.hpp>
#include <agora/testing.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

using agora::store::database;

namespace {

std::int64_t synchronous(agora::testing::harness& h, std::string_view module) {
  auto r = h.app().module_store(module)->run_sync([](database& db) {
    auto& q = db.prepare("PRAGMA synchronous");
    q.step();
    auto v = q.int64(0);
    q.reset();
    return v;
  });
  REQUIRE(r);
  return *r;
}

}  // namespace

TEST_CASE("modules.<name>.durability sets the synchronous pragma of that module's store", "[e2e][store]") {
  agora::testing::options o;
  o.settings = {{"modules.customers.durability", "full"}};
  agora::testing::harness h(o);
  CHECK(h.app().settings().string("modules.catalog.durability") == "normal");
  CHECK(synchronous(h, "catalog") == 1);  // NORMAL
  CHECK(synchronous(h, "customers") == 2);  // FULL
  CHECK(h.app().module_store("customers")->settings().durability == agora::store::durability::full);
}

TEST_CASE("a bad durability stops the start", "[e2e][store]") {
  agora::testing::options o;
  o.settings = {{"modules.catalog.durability", "off"}};
  CHECK_THROWS(agora::testing::harness(o));
}

TEST_CASE("the runtime sweeps idempotency keys older than the retention", "[e2e][store][idempotency]") {
  agora::manual_clock time;
  agora::testing::options o;
  o.clock = &time;
  o.settings = {{"store.idempotency_retention_s", 3600}, {"store.idempotency_sweep_s", 1}};
  agora::testing::harness h(o);
  auto* s = h.app().module_store("catalog");
  REQUIRE(s->run_sync([](database& db) {
    db.transaction([&] { db.record_idempotency("test.scope", "old-key", "fp", "outcome"); });
  }));
  time.advance(std::chrono::minutes(50));
  REQUIRE(s->run_sync([](database& db) {
    db.transaction([&] { db.record_idempotency("test.scope", "young-key", "fp", "outcome"); });
  }));
  time.advance(std::chrono::minutes(20));
  auto find = [&](const char* key) {
    auto r = s->run_sync([key](database& db) { return db.find_idempotency("test.scope", key).has_value(); });
    REQUIRE(r);
    return *r;
  };
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (find("old-key") && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(find("old-key"));
  CHECK(find("young-key"));
}
