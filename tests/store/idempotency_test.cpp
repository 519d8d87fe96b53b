#include <agora/clock.hpp>
#include <agora/idempotency.hpp>
#include <agora/store.hpp>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <random>
#include <stdexcept>

using agora::errc;
using agora::store::database;
using agora::store::migration;
namespace idem = agora::idempotency;

namespace {

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / fmt::format("agora-idem-{:x}{:x}", rd(), rd());
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

const std::vector<migration> schema = {{1, "init", "CREATE TABLE orders (id TEXT PRIMARY KEY, body TEXT NOT NULL);"}};

std::int64_t count(database& db, std::string_view sql) {
  auto& q = db.prepare(sql);
  q.step();
  auto n = q.int64(0);
  q.reset();
  return n;
}

// The protocol of <agora/idempotency.hpp> in one job: recall, else place and record.
agora::result<std::string> place(database& db, std::string_view key, const nlohmann::json& request) {
  return db.transaction([&]() -> agora::result<std::string> {
    auto fp = idem::fingerprint(request);
    auto prior = idem::recall(db, "orders.place", key, fp);
    if (!prior) return std::move(prior).err();
    if (*prior) return std::move(**prior);
    auto id = fmt::format("ord_{}", count(db, "SELECT COUNT(*) FROM orders") + 1);
    db.prepare("INSERT INTO orders(id, body) VALUES (?, ?)").bind_all(id, request.dump()).run();
    db.record_idempotency("orders.place", key, fp, id);
    return id;
  });
}

}  // namespace

TEST_CASE("a new idempotency key runs the effect and records its outcome", "[store][idempotency]") {
  temp_dir dir;
  database db(dir.path / "o.db", "orders", schema);
  auto r = place(db, "k-1", {{"cart_id", "cart_1"}});
  REQUIRE(r);
  CHECK(*r == "ord_1");
  auto hit = db.find_idempotency("orders.place", "k-1");
  REQUIRE(hit);
  CHECK(hit->outcome == "ord_1");
  CHECK(hit->fingerprint == idem::fingerprint({{"cart_id", "cart_1"}}));
  CHECK_FALSE(db.find_idempotency("orders.place", "k-2"));
  CHECK_FALSE(db.find_idempotency("sales.place", "k-1"));
}

TEST_CASE("a replay with the same request answers the first outcome and does nothing", "[store][idempotency]") {
  temp_dir dir;
  database db(dir.path / "o.db", "orders", schema);
  REQUIRE(place(db, "k-1", {{"cart_id", "cart_1"}, {"note", "x"}}));
  // Member order does not change the fingerprint.
  auto again = place(db, "k-1", nlohmann::json::parse(R"({"note":"x","cart_id":"cart_1"})"));
  REQUIRE(again);
  CHECK(*again == "ord_1");
  CHECK(count(db, "SELECT COUNT(*) FROM orders") == 1);
  auto other = place(db, "k-2", {{"cart_id", "cart_1"}, {"note", "x"}});
  REQUIRE(other);
  CHECK(*other == "ord_2");
}

TEST_CASE("the same key with another request is refused with 422 naming the header", "[store][idempotency]") {
  temp_dir dir;
  database db(dir.path / "o.db", "orders", schema);
  REQUIRE(place(db, "k-1", {{"cart_id", "cart_1"}}));
  auto r = place(db, "k-1", {{"cart_id", "cart_2"}});
  REQUIRE_FALSE(r);
  CHECK(r.err().code == errc::invalid_argument);
  CHECK(r.err().message == "Idempotency-Key was already used with a different request");
  REQUIRE(r.err().fields.size() == 1);
  CHECK(r.err().fields[0].field == "Idempotency-Key");
  CHECK(count(db, "SELECT COUNT(*) FROM orders") == 1);
}

TEST_CASE("a rolled-back job leaves no idempotency key recorded", "[store][idempotency]") {
  temp_dir dir;
  database db(dir.path / "o.db", "orders", schema);
  CHECK_THROWS_AS(db.transaction([&] {
                    db.prepare("INSERT INTO orders(id, body) VALUES ('ord_9', '{}')").run();
                    db.record_idempotency("orders.place", "k-1", idem::fingerprint({}), "ord_9");
                    throw std::runtime_error("the payment failed");
                  }),
                  std::runtime_error);
  CHECK_FALSE(db.find_idempotency("orders.place", "k-1"));
  auto r = place(db, "k-1", {{"cart_id", "cart_1"}});
  REQUIRE(r);
  CHECK(*r == "ord_1");
}

TEST_CASE("keys older than the retention are swept, younger ones kept", "[store][idempotency]") {
  temp_dir dir;
  agora::manual_clock time;
  agora::store::options opts;
  opts.clock = &time;
  database db(dir.path / "o.db", "orders", schema, nullptr, opts);
  REQUIRE(place(db, "old", {{"cart_id", "cart_1"}}));
  time.advance(std::chrono::hours(20));
  REQUIRE(place(db, "young", {{"cart_id", "cart_2"}}));
  time.advance(std::chrono::hours(5));
  CHECK(db.sweep_idempotency(std::chrono::hours(24)) == 1);
  CHECK_FALSE(db.find_idempotency("orders.place", "old"));
  CHECK(db.find_idempotency("orders.place", "young"));
  // A swept key is new again.
  auto r = place(db, "old", {{"cart_id", "cart_3"}});
  REQUIRE(r);
  CHECK(*r == "ord_3");
}

TEST_CASE("idempotency keys are 1 to 255 visible ASCII characters", "[store][idempotency]") {
  CHECK(idem::check_key("a"));
  CHECK(idem::check_key(std::string(255, '~')));
  CHECK(idem::check_key("3f1c-ORDER_7!"));
  for (std::string bad : {std::string(), std::string(256, 'a'), std::string("with space"), std::string("tab\t"),
                          std::string("caf\xc3\xa9"), std::string("nul\0x", 5), std::string("\x7f")}) {
    auto r = idem::check_key(bad);
    REQUIRE_FALSE(r);
    CHECK(r.err().code == errc::invalid_argument);
    REQUIRE(r.err().fields.size() == 1);
    CHECK(r.err().fields[0].field == "Idempotency-Key");
  }
}

TEST_CASE("the fingerprint is the SHA-256 of the canonical JSON", "[store][idempotency]") {
  CHECK(idem::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(idem::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(idem::fingerprint(nlohmann::json::parse(R"({"b":1,"a":[1,2]})")) == idem::sha256_hex(R"({"a":[1,2],"b":1})"));
  CHECK(idem::fingerprint({{"a", 1}}) != idem::fingerprint({{"a", 2}}));
}

TEST_CASE("durability sets the synchronous pragma in effect", "[store]") {
  temp_dir dir;
  for (auto [d, expected] : {std::pair{agora::store::durability::normal, 1}, std::pair{agora::store::durability::full, 2}}) {
    agora::store::options opts;
    opts.durability = d;
    database db(dir.path / fmt::format("d{}.db", expected), "m", schema, nullptr, opts);
    CHECK(count(db, "PRAGMA synchronous") == expected);
    CHECK(db.durability() == d);
  }
  CHECK(agora::store::durability_from_string("full") == agora::store::durability::full);
  CHECK(agora::store::durability_from_string("normal") == agora::store::durability::normal);
  CHECK_FALSE(agora::store::durability_from_string("off"));
}
