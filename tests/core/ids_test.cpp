#include <agora/ids.hpp>

#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <thread>
#include <vector>

TEST_CASE("ids carry their prefix, are unique and sort by creation time", "[ids]") {
  std::set<std::string> seen;
  std::string prev;
  for (int i = 0; i < 10000; ++i) {
    auto id = agora::new_id("prod");
    REQUIRE(id.rfind("prod_", 0) == 0);
    REQUIRE(id.size() == 5 + 26);
    REQUIRE(seen.insert(id).second);
    REQUIRE(id.substr(5) > prev);  // strictly: in creation order even within one millisecond
    prev = id.substr(5);
  }
}

TEST_CASE("ids made on many threads at once are unique and each thread's are ordered", "[ids]") {
  constexpr int threads = 4, per_thread = 5000;
  std::vector<std::vector<std::string>> made(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&made, t] {
      for (int i = 0; i < per_thread; ++i) made[t].push_back(agora::new_id("x"));
    });
  for (auto& th : pool) th.join();
  std::set<std::string> all;
  for (const auto& ids : made) {
    for (std::size_t i = 1; i < ids.size(); ++i) REQUIRE(ids[i] > ids[i - 1]);
    all.insert(ids.begin(), ids.end());
  }
  CHECK(all.size() == threads * per_thread);
}

TEST_CASE("cursors round-trip and malformed ones decode to nothing", "[ids]") {
  for (std::string s : {"", "a", "ab", "abc", "prod_01H|2026-01-01T00:00:00Z", "\xff\x00\x10"})
    CHECK(agora::decode_cursor(agora::encode_cursor(s)) == s);
  CHECK(agora::decode_cursor("not a cursor!").empty());
}

TEST_CASE("times are RFC 3339 UTC with milliseconds", "[ids]") {
  auto t = agora::to_rfc3339(std::chrono::system_clock::time_point{std::chrono::milliseconds(1700000000123)});
  CHECK(t == "2023-11-14T22:13:20.123Z");
}

TEST_CASE("RFC 3339 times are read back exactly and malformed ones refused", "[ids]") {
  using namespace std::chrono;
  auto t = agora::from_rfc3339("2026-11-23T12:00:00.123Z");
  REQUIRE(t);
  CHECK(agora::to_rfc3339(*t) == "2026-11-23T12:00:00.123Z");
  auto now = time_point_cast<milliseconds>(system_clock::now());
  CHECK(agora::from_rfc3339(agora::to_rfc3339(now)) == now);
  CHECK(agora::from_rfc3339("2026-11-23T14:30:00+02:30") == agora::from_rfc3339("2026-11-23T12:00:00Z"));
  CHECK(agora::from_rfc3339("2026-11-23t12:00:00z") == agora::from_rfc3339("2026-11-23T12:00:00Z"));
  for (std::string_view bad : {"", "2026-11-23", "2026-11-23 12:00:00Z", "2026-13-01T00:00:00Z",
                               "2026-02-30T00:00:00Z", "2026-11-23T24:00:00Z", "2026-11-23T12:00:00",
                               "2026-11-23T12:00:00.Z", "2026-11-23T12:00:00Zjunk", "2026-11-23T12:00:00+2:00",
                               "２026-11-23T12:00:00Z", "2026-11-23T12:00:00.1234567890Z"})
    CHECK_FALSE(agora::from_rfc3339(bad));
}
