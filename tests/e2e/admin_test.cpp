#include <agora/testing.hpp>

#include <catch2/catch.hpp>

#include <string>

using agora::testing::harness;

TEST_CASE("a dead letter's number must be digits within 64 bits: anything else is 400", "[e2e][admin]") {
  harness h;
  auto c = h.connect_as_admin();
  for (std::string seq : {"-1", "+1", "1a", "0x10", "1.0", "%201", "18446744073709551616", "99999999999999999999999"}) {
    INFO(seq);
    auto r = c.request("POST", "/v1/admin/dead-letters/" + seq + "/replay");
    CHECK(r.status == 400);
    CHECK(r.header("content-type").rfind("application/problem+json", 0) == 0);
    CHECK(r.json().at("status") == 400);
  }
  // Well-formed numbers reach the bus, which has no such dead letter.
  for (std::string seq : {"0", "7", "18446744073709551615"}) {
    INFO(seq);
    auto r = c.request("POST", "/v1/admin/dead-letters/" + seq + "/replay");
    CHECK(r.status == 404);
    CHECK(r.json().at("detail").get<std::string>().find(seq) != std::string::npos);
  }
}
