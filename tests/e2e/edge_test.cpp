#include <agora/testing.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <set>
#include <string>
#include <thread>

using agora::testing::harness;
namespace asio = boost::asio;

namespace {
void check_problem(const agora::testing::reply& r, int status) {
  INFO(r.body);
  CHECK(r.status == status);
  CHECK(r.header("content-type").rfind("application/problem+json", 0) == 0);
  auto j = r.json();
  CHECK(j.at("status") == status);
  CHECK(j.contains("title"));
  CHECK(j.contains("type"));
}

const nlohmann::json lamp = {{"sku", "LAMP-1"}, {"name", "Desk lamp"}, {"price", {{"amount", 1999}, {"currency", "EUR"}}}};
}  // namespace

TEST_CASE("health, readiness, metrics and the OpenAPI document are served", "[e2e]") {
  harness h;
  auto c = h.connect_as_admin();
  CHECK(c.get("/healthz").status == 200);
  CHECK(c.get("/readyz").json().at("status") == "ready");
  auto m = c.get("/metrics");
  CHECK(m.status == 200);
  CHECK(m.body.find("agora_http_requests_total") != std::string::npos);
  auto doc = c.get("/openapi.json").json();
  CHECK(doc.at("openapi").get<std::string>().rfind("3.1", 0) == 0);
  CHECK(doc.at("paths").contains("/v1/products/{id}"));
}

TEST_CASE("bad input gets a clear problem and harms nothing", "[e2e]") {
  harness h({.settings = {{"server.body_limit_bytes", 4096}}});
  auto c = h.connect_as_admin();

  SECTION("malformed JSON is 400") {
    check_problem(c.request("POST", "/v1/products", "{\"sku\": ", {{"Content-Type", "application/json"}}), 400);
  }
  SECTION("wrong content type is 415") {
    check_problem(c.request("POST", "/v1/products", "sku=1", {{"Content-Type", "application/x-www-form-urlencoded"}}), 415);
  }
  SECTION("oversize body is 413") {
    std::string big = "{\"name\":\"" + std::string(10000, 'x') + "\"}";
    check_problem(c.request("POST", "/v1/products", big, {{"Content-Type", "application/json"}}), 413);
  }
  SECTION("unknown route is 404") { check_problem(c.get("/v1/nothing-here"), 404); }
  SECTION("wrong method is 405 with Allow") {
    auto r = c.request("PUT", "/v1/products");
    check_problem(r, 405);
    CHECK(r.header("allow").find("GET") != std::string::npos);
    CHECK(r.header("allow").find("POST") != std::string::npos);
  }
  SECTION("invalid fields are 422, each named") {
    auto r = c.post("/v1/products", {{"sku", ""}, {"name", 5}, {"price", {{"amount", -1}, {"currency", "euro"}}}});
    check_problem(r, 422);
    auto errors = r.json().at("errors");
    std::set<std::string> fields;
    for (const auto& e : errors) fields.insert(e.at("field").get<std::string>());
    CHECK(fields.count("sku"));
    CHECK(fields.count("name"));
    CHECK(fields.count("price.amount"));
    CHECK(fields.count("price.currency"));
  }
  // Whatever came before, the server still answers normally.
  auto after = h.connect_as_admin();
  CHECK(after.post("/v1/products", lamp).status == 201);
  CHECK(after.get("/healthz").status == 200);
}

TEST_CASE("a stalled client is timed out while others are served", "[e2e]") {
  harness h({.settings = {{"server.read_timeout_ms", 400}}});
  asio::io_context io;
  asio::ip::tcp::socket stalled(io);
  stalled.connect({asio::ip::make_address("127.0.0.1"), h.port()});
  std::string half = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  asio::write(stalled, asio::buffer(half));

  auto c = h.connect_as_admin();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) REQUIRE(c.get("/healthz").status == 200);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(400));

  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  char buf[512];
  boost::system::error_code ec;
  std::size_t n = 0;
  for (;;) {
    auto got = stalled.read_some(asio::buffer(buf), ec);
    n += got;
    if (ec) break;
  }
  CHECK((ec == asio::error::eof || ec == asio::error::connection_reset));
}

TEST_CASE("request ids and traceparent are taken or made, and echoed", "[e2e]") {
  harness h;
  auto c = h.connect_as_admin();
  auto made = c.get("/healthz");
  CHECK_FALSE(made.header("x-request-id").empty());
  CHECK(made.header("traceparent").size() == 55);
  auto taken = c.get("/healthz", {{"X-Request-Id", "req-123"},
                                  {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}});
  CHECK(taken.header("x-request-id") == "req-123");
  CHECK(taken.header("traceparent").substr(0, 35) == "00-4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST_CASE("graceful stop finishes what is in flight and the data stays", "[e2e]") {
  harness h;
  auto c = h.connect_as_admin();
  auto created = c.post("/v1/products", lamp);
  REQUIRE(created.status == 201);
  auto id = created.json().at("id").get<std::string>();
  h.restart();
  auto again = h.connect_as_admin().get("/v1/products/" + id);
  CHECK(again.status == 200);
  CHECK(again.json().at("sku") == "LAMP-1");
}
