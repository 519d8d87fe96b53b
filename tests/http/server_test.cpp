#include "test_server.hpp"

#include "support/http_client.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <mutex>
#include <regex>
#include <stdexcept>

using namespace agora::http;
using agora::http::testing::test_server;
using agora::test::http_client;
using agora::test::http_reply;
using namespace std::chrono_literals;

namespace {

using ms = std::chrono::milliseconds;

asio::awaitable<response> echo(request_context& ctx) {
  nlohmann::json params = nlohmann::json::object();
  for (const auto& [k, v] : ctx.params) params[k] = v;
  nlohmann::json query = nlohmann::json::array();
  for (const auto& [k, v] : ctx.query) query.push_back({k, v});
  co_return json_response(200, {{"params", params},
                                {"query", query},
                                {"path", ctx.path},
                                {"body", ctx.body},
                                {"request_id", ctx.tr.request_id},
                                {"traceparent", ctx.tr.traceparent},
                                {"route", ctx.matched ? ctx.matched->pattern : ""}});
}

asio::awaitable<void> sleep_for(ms d) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(asio::use_awaitable);
}

const nlohmann::json object_schema = {{"type", "object"}};

void add_common_routes(router& r) {
  r.add({.method = verb::get, .pattern = "/healthz", .fn = echo, .operation_id = "health"});
  r.add({.method = verb::get, .pattern = "/items/{id}", .fn = echo, .operation_id = "getItem"});
  r.add({.method = verb::delete_, .pattern = "/items/{id}", .fn = echo, .operation_id = "deleteItem"});
  r.add({.method = verb::post,
         .pattern = "/items",
         .fn = echo,
         .operation_id = "createItem",
         .request_schema = object_schema});
  r.add({.method = verb::get,
         .pattern = "/slow",
         .fn = [](request_context& ctx) -> asio::awaitable<response> {
           co_await sleep_for(ms(std::stoi(std::string(ctx.query_param("ms").value_or("300")))));
           co_return json_response(200, {{"slept", true}});
         },
         .operation_id = "slow"});
}

server_options fast_options() {
  server_options o;
  o.read_timeout = ms(2000);
  o.idle_timeout = ms(5000);
  o.handler_timeout = ms(5000);
  return o;
}

bool eventually_exposes(const agora::metrics::registry& m, std::string_view line) {
  for (int i = 0; i < 100; ++i) {
    if (m.expose().find(line) != std::string::npos) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

bool is_hex(const std::string& s) { return std::regex_match(s, std::regex("[0-9a-f]+")); }

}  // namespace

TEST_CASE("a request reaches its route with decoded params and query", "[http]") {
  test_server s;
  add_common_routes(s.routes);
  s.start(fast_options());
  auto reply = agora::test::http_get(s.port(), "/items/a%20b?x=1&y=two+words&z=%E2%82%AC&flag");
  REQUIRE(reply.status() == 200);
  auto body = reply.json();
  CHECK(body["params"]["id"] == "a b");
  CHECK(body["path"] == "/items/a%20b");
  CHECK(body["route"] == "/items/{id}");
  CHECK(body["query"] == nlohmann::json::parse(R"([["x","1"],["y","two words"],["z","€"],["flag",""]])"));
  CHECK(reply.header("Content-Type") == "application/json");
  CHECK_FALSE(reply.header("Date").empty());
}

TEST_CASE("an unknown path is a 404 problem", "[http]") {
  test_server s;
  add_common_routes(s.routes);
  s.start(fast_options());
  auto reply = agora::test::http_get(s.port(), "/nowhere");
  CHECK(reply.status() == 404);
  CHECK(reply.header("Content-Type") == "application/problem+json");
  auto body = reply.json();
  CHECK(body["status"] == 404);
  CHECK(body["title"] == "Not Found");
  CHECK(body["type"] == "https://agora.dev/problems/not-found");
  CHECK(agora::test::http_get(s.port(), "/healthz/").status() == 404);
}

TEST_CASE("a known path with another method is a 405 problem with Allow", "[http]") {
  test_server s;
  add_common_routes(s.routes);
  s.start(fast_options());
  http_client c("127.0.0.1", s.port());
  auto reply = c.request(verb::put, "/items/7", "{}");
  CHECK(reply.status() == 405);
  CHECK(reply.header("Allow") == "DELETE, GET");
  CHECK(reply.json()["status"] == 405);
  CHECK(c.get("/healthz").status() == 200);
}

TEST_CASE("a JSON route refuses other media types with 415", "[http]") {
  test_server s;
  add_common_routes(s.routes);
  s.start(fast_options());
  http_client c("127.0.0.1", s.port());
  CHECK(c.request(verb::post, "/items", R"({"a":1})", {{"Content-Type", "text/plain"}}).status() == 415);
  CHECK(c.request(verb::post, "/items", "", {}).status() == 415);
  auto ok = c.request(verb::post, "/items", R"({"a":1})", {{"Content-Type", "application/json; charset=utf-8"}});
  CHECK(ok.status() == 200);
  CHECK(ok.json()["body"]["a"] == 1);
}

TEST_CASE("a malformed JSON body is a 400 problem naming the byte", "[http]") {
  test_server s;
  add_common_routes(s.routes);
  s.start(fast_options());
  http_client c("127.0.0.1", s.port());
  auto reply = c.request(verb::post, "/items", R"({"a": tru})");
  CHECK(reply.status() == 400);
  auto body = reply.json();
  CHECK(body["detail"].get<std::string>().find("byte 10") != std::string::npos);
  CHECK(body["errors"][0]["field"] == "body");
  CHECK(c.get("/healthz").status() == 200);
}

TEST_CASE("a body over body_limit is a 413 problem, then the connection closes", "[http]") {
  test_server s;
  add_common_routes(s.routes);
  auto opts = fast_options();
  opts.body_limit = 1024;
  s.start(opts);
  http_client c("127.0.0.1", s.port());
  std::string body(4096, 'x');
  c.send_raw("POST /items HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n" +
             body);
  auto reply = c.read_reply();
  CHECK(reply.status() == 413);
  CHECK(reply.header("Content-Type") == "application/problem+json");
  CHECK(reply.header("Connection") == "close");
  CHECK(c.wait_closed(2000ms));

  http_client chunked("127.0.0.1", s.port());
  chunked.send_raw(
      "POST /items HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n800\r\n" +
      std::string(2048, 'y') + "\r\n0\r\n\r\n");
  CHECK(chunked.read_reply().status() == 413);
  CHECK(s.metrics.expose().find("agora_http_rejected_total{reason=\"body_too_large\"} 2") != std::string::npos);
}

TEST_CASE("a header over header_limit is a 431 problem", "[http]") {
  test_server s;
  add_common_routes(s.routes);
  auto opts = fast_options();
  opts.header_limit = 1024;
  s.start(opts);
  http_client c("127.0.0.1", s.port());
  c.send_raw("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(4096, 'a') + "\r\n\r\n");
  auto reply = c.read_reply();
  CHECK(reply.status() == 431);
  CHECK(reply.json()["status"] == 431);
  CHECK(c.wait_closed(2000ms));
  CHECK(s.metrics.expose().find("agora_http_rejected_total{reason=\"header_too_large\"} 1") != std::string::npos);
}

TEST_CASE("garbage on the wire is a 400 problem", "[http]") {
  test_server s;
  add_common_routes(s.routes);
  s.start(fast_options());
  http_client c("127.0.0.1", s.port());
  c.send_raw("NOT HTTP AT ALL\r\n\r\n");
  CHECK(c.read_reply().status() == 400);
  CHECK(c.wait_closed(2000ms));
}

TEST_CASE("one keep-alive connection serves many requests, pipelined ones in order", "[http]") {
  test_server s;
  add_common_routes(s.routes);
  s.start(fast_options());
  http_client c("127.0.0.1", s.port());
  for (int i = 0; i < 5; ++i) {
    auto reply = c.get("/items/" + std::to_string(i));
    REQUIRE(reply.status() == 200);
    CHECK(reply.json()["params"]["id"] == std::to_string(i));
    CHECK(reply.raw.keep_alive());
  }
  std::string batch;
  for (int i = 0; i < 4; ++i) batch += "GET /items/p" + std::to_string(i) + " HTTP/1.1\r\nHost: t\r\n\r\n";
  batch += "GET /slow?ms=50 HTTP/1.1\r\nHost: t\r\n\r\nGET /items/last HTTP/1.1\r\nHost: t\r\n\r\n";
  c.send_raw(batch);
  for (int i = 0; i < 4; ++i) CHECK(c.read_reply().json()["params"]["id"] == "p" + std::to_string(i));
  CHECK(c.read_reply().json()["slept"] == true);
  CHECK(c.read_reply().json()["params"]["id"] == "last");
  CHECK(s.srv->connections() == 1);
}

TEST_CASE("HTTP/1.0 and Connection: close end the connection after the response", "[http]") {
  test_server s;
  add_common_routes(s.routes);
  s.start(fast_options());
  http_client old("127.0.0.1", s.port());
  old.send_raw("GET /healthz HTTP/1.0\r\n\r\n");
  auto reply = old.read_reply();
  CHECK(reply.status() == 200);
  CHECK(reply.raw.version() == 10);
  CHECK(old.wait_closed(2000ms));

  http_client closing("127.0.0.1", s.port());
  CHECK(closing.get("/healthz", {{"Connection", "close"}}).header("Connection") == "close");
  CHECK(closing.wait_closed(2000ms));
}

TEST_CASE("Expect: 100-continue gets an interim response before the body", "[http]") {
  test_server s;
  add_common_routes(s.routes);
  s.start(fast_options());
  http_client c("127.0.0.1", s.port());
  c.send_raw(
      "POST /items HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 7\r\n"
      "Expect: 100-continue\r\n\r\n");
  auto interim = c.read_reply();
  CHECK(interim.status() == 100);
  c.send_raw(R"({"a":2})");
  auto reply = c.read_reply();
  CHECK(reply.status() == 200);
  CHECK(reply.json()["body"]["a"] == 2);
}

TEST_CASE("a stalled client is dropped after read_timeout without delaying others", "[http]") {
  test_server s(2);
  add_common_routes(s.routes);
  auto opts = fast_options();
  opts.read_timeout = ms(300);
  s.start(opts);

  http_client stalled("127.0.0.1", s.port());
  auto started = std::chrono::steady_clock::now();
  stalled.send_raw("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Half: ");

  http_client trickle("127.0.0.1", s.port());
  trickle.send_raw("POST /items HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n");

  http_client normal("127.0.0.1", s.port());
  ms worst{0};
  for (int i = 0; i < 10; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    CHECK(normal.get("/healthz").status() == 200);
    worst = std::max(worst, std::chrono::duration_cast<ms>(std::chrono::steady_clock::now() - t0));
    if (i % 3 == 0 && i < 7) trickle.send_raw("{");
    std::this_thread::sleep_for(15ms);
  }
  CHECK(worst < ms(100));

  CHECK(stalled.wait_closed(2000ms));
  auto dropped_after = std::chrono::steady_clock::now() - started;
  CHECK(dropped_after >= ms(250));
  CHECK(dropped_after < ms(1500));
  CHECK(trickle.wait_closed(2000ms));

  http_client silent("127.0.0.1", s.port());
  CHECK(silent.wait_closed(2000ms));
  // The stream closes the socket when its timer fires, a moment before the count.
  CHECK(eventually_exposes(s.metrics, "agora_http_rejected_total{reason=\"timeout\"} 3"));
  CHECK(normal.get("/healthz").status() == 200);
}

TEST_CASE("an idle keep-alive connection is closed after idle_timeout", "[http]") {
  test_server s;
  add_common_routes(s.routes);
  auto opts = fast_options();
  opts.idle_timeout = ms(200);
  s.start(opts);
  http_client c("127.0.0.1", s.port());
  CHECK(c.get("/healthz").status() == 200);
  auto t0 = std::chrono::steady_clock::now();
  CHECK(c.wait_closed(2000ms));
  CHECK(std::chrono::steady_clock::now() - t0 >= ms(150));
}

TEST_CASE("a handler that throws is a 500 problem without the exception text", "[http]") {
  std::mutex m;
  std::vector<std::string> lines;
  agora::log::global().capture([&](const std::string& line) {
    std::lock_guard lock(m);
    lines.push_back(line);
  });
  test_server s;
  s.routes.add({.method = verb::get, .pattern = "/boom", .fn = [](request_context&) -> asio::awaitable<response> {
                  throw std::runtime_error("secret table users_pw");
                  co_return json_response(200, nullptr);
                }});
  s.start(fast_options());
  auto reply = agora::test::http_get(s.port(), "/boom", {{"X-Request-Id", "req-boom-1"}});
  agora::log::global().capture(nullptr);
  CHECK(reply.status() == 500);
  CHECK(reply.header("Content-Type") == "application/problem+json");
  CHECK(reply.body().find("secret") == std::string::npos);
  CHECK(reply.json()["detail"] == "internal error");
  std::lock_guard lock(m);
  bool logged = false;
  for (const auto& line : lines) {
    auto j = nlohmann::json::parse(line);
    if (j["level"] == "error" && j["request_id"] == "req-boom-1" && j["error"] == "secret table users_pw")
      logged = true;
  }
  CHECK(logged);
}

TEST_CASE("X-Request-Id is taken when sane, made otherwise, and echoed", "[http]") {
  test_server s;
  add_common_routes(s.routes);
  s.start(fast_options());
  http_client c("127.0.0.1", s.port());

  auto taken = c.get("/healthz", {{"X-Request-Id", "abc.DEF_123-x"}});
  CHECK(taken.header("X-Request-Id") == "abc.DEF_123-x");
  CHECK(taken.json()["request_id"] == "abc.DEF_123-x");

  auto made = c.get("/healthz");
  auto id = made.header("X-Request-Id");
  CHECK(id.size() >= 16);
  CHECK(is_hex(id));
  CHECK(made.json()["request_id"] == id);
  CHECK(c.get("/healthz").header("X-Request-Id") != id);

  auto bad = c.get("/healthz", {{"X-Request-Id", "has space;and=stuff"}});
  CHECK(is_hex(bad.header("X-Request-Id")));
  auto too_long = c.get("/healthz", {{"X-Request-Id", std::string(129, 'a')}});
  CHECK(too_long.header("X-Request-Id") != std::string(129, 'a'));
  CHECK(c.get("/healthz", {{"X-Request-Id", std::string(128, 'a')}}).header("X-Request-Id") == std::string(128, 'a'));
  CHECK(c.get("/nowhere", {{"X-Request-Id", "r404"}}).header("X-Request-Id") == "r404");
}

TEST_CASE("traceparent is continued with a new span, or started", "[http]") {
  test_server s;
  add_common_routes(s.routes);
  s.start(fast_options());
  http_client c("127.0.0.1", s.port());
  const std::regex shape("00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})");

  const std::string incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto cont = c.get("/healthz", {{"traceparent", incoming}});
  std::smatch m;
  auto tp = cont.header("traceparent");
  REQUIRE(std::regex_match(tp, m, shape));
  CHECK(m[1] == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(m[2] != "00f067aa0ba902b7");
  CHECK(m[3] == "01");
  CHECK(cont.json()["traceparent"] == tp);

  for (std::string bad : {"", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "garbage"}) {
    auto made = bad.empty() ? c.get("/healthz") : c.get("/healthz", {{"traceparent", bad}});
    auto fresh = made.header("traceparent");
    REQUIRE(std::regex_match(fresh, m, shape));
    CHECK(m[1] != "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(m[1] != std::string(32, '0'));
  }
}

TEST_CASE("filters run in order around the handler and can stop the request", "[http]") {
  test_server s;
  add_common_routes(s.routes);
  std::atomic<int> handler_calls{0};
  s.routes.add({.method = verb::get, .pattern = "/guarded", .fn = [&](request_context&) -> asio::awaitable<response> {
                  ++handler_calls;
                  co_return json_response(200, {{"ok", true}});
                }});
  s.routes.use([](request_context& ctx, const next_fn& next) -> asio::awaitable<response> {
    auto res = co_await next(ctx);
    res.insert("X-Order", "first");
    co_return res;
  });
  s.routes.use([](request_context& ctx, const next_fn& next) -> asio::awaitable<response> {
    if (ctx.header("Authorization") != std::optional<std::string_view>{"Bearer ok"})
      co_return problem(401, "who are you");
    auto res = co_await next(ctx);
    res.insert("X-Order", "second");
    co_return res;
  });
  s.start(fast_options());
  http_client c("127.0.0.1", s.port());

  auto refused = c.get("/guarded");
  CHECK(refused.status() == 401);
  CHECK(handler_calls == 0);
  CHECK(refused.header("X-Order") == "first");

  auto ok = c.get("/guarded", {{"Authorization", "Bearer ok"}});
  CHECK(ok.status() == 200);
  CHECK(handler_calls == 1);
  std::vector<std::string> order;
  for (const auto& f : ok.raw)
    if (f.name_string() == "X-Order") order.emplace_back(f.value());
  CHECK(order == std::vector<std::string>{"second", "first"});

  CHECK(c.get("/nowhere", {{"Authorization", "Bearer ok"}}).header("X-Order").empty());
}

TEST_CASE("a handler slower than handler_timeout is a 504 problem", "[http]") {
  test_server s;
  add_common_routes(s.routes);
  auto opts = fast_options();
  opts.handler_timeout = ms(200);
  s.start(opts);
  http_client c("127.0.0.1", s.port());
  auto t0 = std::chrono::steady_clock::now();
  auto reply = c.get("/slow?ms=5000");
  auto took = std::chrono::steady_clock::now() - t0;
  CHECK(reply.status() == 504);
  CHECK(reply.header("Content-Type") == "application/problem+json");
  CHECK(took >= ms(150));
  CHECK(took < ms(2000));
  CHECK(c.get("/slow?ms=10").status() == 200);
}

TEST_CASE("metrics count requests by method, route pattern and status", "[http]") {
  test_server s;
  add_common_routes(s.routes);
  s.start(fast_options());
  http_client c("127.0.0.1", s.port());
  for (int i = 0; i < 3; ++i) CHECK(c.get("/items/" + std::to_string(i)).status() == 200);
  CHECK(c.get("/nowhere/at/all").status() == 404);
  CHECK(c.request(verb::post, "/items", "{", {}).status() == 400);
  // A request is counted just after its response is written; on one connection the next
  // request starts only after that, so this one orders the counts before the scrape.
  CHECK(c.get("/healthz").status() == 200);
  std::string text;
  for (int i = 0; i < 100; ++i) {
    text = s.metrics.expose();
    if (text.find("agora_http_requests_in_flight 0") != std::string::npos) break;
    std::this_thread::sleep_for(10ms);
  }
  CHECK(text.find(R"(agora_http_requests_total{method="GET",route="/items/{id}",status="200"} 3)") !=
        std::string::npos);
  CHECK(text.find(R"(agora_http_requests_total{method="GET",route="unmatched",status="404"} 1)") != std::string::npos);
  CHECK(text.find(R"(agora_http_requests_total{method="POST",route="/items",status="400"} 1)") != std::string::npos);
  CHECK(text.find(R"(agora_http_request_duration_seconds_count{method="GET",route="/items/{id}"} 3)") !=
        std::string::npos);
  CHECK(text.find("agora_http_connections 1") != std::string::npos);
  CHECK(text.find("agora_http_requests_in_flight 0") != std::string::npos);
  CHECK(text.find("/items/0") == std::string::npos);
  CHECK(text.find("/nowhere") == std::string::npos);
}

TEST_CASE("connections beyond max_connections get a 503 with Retry-After", "[http]") {
  test_server s;
  add_common_routes(s.routes);
  auto opts = fast_options();
  opts.max_connections = 2;
  s.start(opts);
  http_client a("127.0.0.1", s.port());
  http_client b("127.0.0.1", s.port());
  // Busy ones: idle ones would be closed to make room.
  a.send(verb::get, "/slow?ms=600");
  b.send(verb::get, "/slow?ms=600");
  CHECK(eventually_exposes(s.metrics, "agora_http_requests_in_flight 2"));
  http_client extra("127.0.0.1", s.port());
  extra.send_raw("GET /items/1 HTTP/1.1\r\nHost: t\r\n\r\n");
  auto reply = extra.read_reply();
  CHECK(reply.status() == 503);
  CHECK(reply.header("Retry-After") == "1");
  CHECK(extra.wait_closed(2000ms));
  CHECK(s.metrics.expose().find("agora_http_rejected_total{reason=\"too_many_connections\"} 1") != std::string::npos);
  CHECK(a.read_reply().status() == 200);
  CHECK(b.read_reply().status() == 200);
  a.close();
  for (int i = 0; i < 100 && s.srv->connections() > 1; ++i) std::this_thread::sleep_for(10ms);
  CHECK(agora::test::http_get(s.port(), "/healthz").status() == 200);
}

TEST_CASE("shutdown finishes an in-flight request, closes idle ones and refuses new connections", "[http]") {
  test_server s;
  add_common_routes(s.routes);
  s.start(fast_options());
  http_client idle("127.0.0.1", s.port());
  CHECK(idle.get("/healthz").status() == 200);

  http_client busy("127.0.0.1", s.port());
  busy.send(verb::get, "/slow?ms=400");
  std::this_thread::sleep_for(100ms);

  auto t0 = std::chrono::steady_clock::now();
  auto stopping = std::async(std::launch::async, [&] { s.stop(ms(3000)); });
  CHECK(idle.wait_closed(1000ms));
  std::this_thread::sleep_for(50ms);
  CHECK_THROWS(http_client("127.0.0.1", s.port(), ms(500)));
  CHECK(stopping.wait_for(0ms) == std::future_status::timeout);

  auto reply = busy.read_reply();
  CHECK(reply.status() == 200);
  CHECK(reply.header("Connection") == "close");
  stopping.get();
  auto took = std::chrono::steady_clock::now() - t0;
  CHECK(took >= ms(250));
  CHECK(took < ms(2500));
  CHECK(s.srv->connections() == 0);
}

TEST_CASE("shutdown closes a request still running at the deadline", "[http]") {
  test_server s;
  add_common_routes(s.routes);
  s.start(fast_options());
  http_client busy("127.0.0.1", s.port());
  busy.send(verb::get, "/slow?ms=10000");
  std::this_thread::sleep_for(100ms);
  auto t0 = std::chrono::steady_clock::now();
  s.stop(ms(200));
  CHECK(std::chrono::steady_clock::now() - t0 < ms(1500));
  CHECK(busy.wait_closed(1000ms));
  CHECK(s.srv->connections() == 0);
}

namespace {

// Streams `n` SSE events, one every `gap`, and records how the stream ended.
struct stream_probe {
  std::atomic<int> written{0};
  std::atomic<bool> write_failed{false};
  std::atomic<bool> saw_gone{false};
  std::atomic<bool> done{false};
};

route streaming_route(std::shared_ptr<stream_probe> probe, int n, ms gap) {
  return {.method = verb::get,
          .pattern = "/events",
          .fn = [probe, n, gap](request_context& ctx) -> asio::awaitable<response> {
            ctx.stream = [probe, n, gap](body_writer& w) -> asio::awaitable<void> {
              w.on_client_gone([probe] { probe->saw_gone = true; });
              for (int i = 0; i < n; ++i) {
                if (i > 0) co_await sleep_for(gap);
                std::string event = "data: {\"i\":" + std::to_string(i) + "}\n\n";
                if (!co_await w.write(event)) {
                  probe->write_failed = true;
                  break;
                }
                ++probe->written;
              }
              probe->done = true;
            };
            response res{boost::beast::http::status::ok, 11};
            res.set(boost::beast::http::field::content_type, "text/event-stream");
            co_return res;
          },
          .operation_id = "events",
          .content_type = "text/event-stream"};
}

}  // namespace

TEST_CASE("a streamed response is sent chunked, event by event, and then closes", "[http]") {
  test_server s;
  auto probe = std::make_shared<stream_probe>();
  s.routes.add(streaming_route(probe, 3, ms(20)));
  s.start(fast_options());
  http_client c("127.0.0.1", s.port());
  auto reply = c.get("/events");
  CHECK(reply.status() == 200);
  CHECK(reply.header("Content-Type") == "text/event-stream");
  CHECK(reply.header("Transfer-Encoding") == "chunked");
  CHECK(reply.header("Connection") == "close");
  CHECK(!reply.header("X-Request-Id").empty());
  CHECK(reply.body() == "data: {\"i\":0}\n\ndata: {\"i\":1}\n\ndata: {\"i\":2}\n\n");
  CHECK(c.wait_closed(1000ms));
  CHECK(probe->written == 3);
  CHECK_FALSE(probe->write_failed);
  CHECK(eventually_exposes(s.metrics, "agora_http_requests_total{method=\"GET\",route=\"/events\",status=\"200\"} 1"));
}

TEST_CASE("a client that leaves mid-stream is noticed while the producer waits", "[http]") {
  test_server s;
  auto probe = std::make_shared<stream_probe>();
  s.routes.add(streaming_route(probe, 1000, ms(50)));
  s.start(fast_options());
  {
    http_client c("127.0.0.1", s.port());
    c.send(verb::get, "/events");
    std::this_thread::sleep_for(150ms);
  }  // closes the connection
  for (int i = 0; i < 200 && !probe->done; ++i) std::this_thread::sleep_for(10ms);
  CHECK(probe->saw_gone);
  CHECK(probe->done);
  CHECK(probe->written < 1000);
  for (int i = 0; i < 100 && s.srv->connections() != 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(s.srv->connections() == 0);
}

TEST_CASE("a streaming route that answers an error sends it whole, not streamed", "[http]") {
  test_server s;
  s.routes.add({.method = verb::get,
                .pattern = "/events",
                .fn = [](request_context& ctx) -> asio::awaitable<response> {
                  ctx.stream = [](body_writer& w) -> asio::awaitable<void> { co_await w.write("never"); };
                  co_return problem(429, "too many streams");
                },
                .operation_id = "events"});
  s.start(fast_options());
  http_client c("127.0.0.1", s.port());
  auto reply = c.get("/events");
  CHECK(reply.status() == 429);
  CHECK(reply.header("Transfer-Encoding").empty());
  CHECK(reply.json()["detail"] == "too many streams");
  CHECK(c.get("/events").status() == 429);  // the connection stayed open
}

TEST_CASE("a route that parses its own body gets it raw, documented all the same", "[http]") {
  test_server s;
  auto r = describe(verb::post, "/raw", "raw", "Takes its body as it is");
  r.request_schema = object_schema;
  r.parse_body = false;
  r.fn = [](request_context& ctx) -> asio::awaitable<response> {
    co_return json_response(200, {{"got", ctx.req.body()}, {"parsed", !ctx.body.is_null()}});
  };
  s.routes.add(std::move(r));
  s.start(fast_options());
  http_client c("127.0.0.1", s.port());
  auto reply = c.request(verb::post, "/raw", "{not json", {{"Content-Type", "text/plain"}});
  CHECK(reply.status() == 200);
  CHECK(reply.json()["got"] == "{not json");
  CHECK(reply.json()["parsed"] == false);
  auto doc = s.routes.openapi("t", "1");
  CHECK(doc["paths"]["/raw"]["post"].contains("requestBody"));
}

namespace {

struct wait_probe {
  std::atomic<bool> noticed{false};  // its on_client_gone callback ran
  std::atomic<bool> cancelled{false};
  std::atomic<bool> completed{false};
};

// GET /wait?ms=N: sleeps N ms, noting whether it finished or was cancelled.
route waiting_route(std::shared_ptr<wait_probe> probe, bool cancel_on_disconnect) {
  route r;
  r.method = verb::get;
  r.pattern = "/wait";
  r.operation_id = "wait";
  r.cancel_on_disconnect = cancel_on_disconnect;
  r.fn = [probe](request_context& ctx) -> asio::awaitable<response> {
    ctx.on_client_gone([probe] { probe->noticed = true; });
    try {
      co_await sleep_for(ms(std::stoi(std::string(ctx.query_param("ms").value_or("300")))));
    } catch (const boost::system::system_error&) {
      probe->cancelled = true;
      throw;
    }
    probe->completed = true;
    co_return json_response(200, {{"waited", true}});
  };
  return r;
}

template <class F>
bool within(ms limit, F done) {
  for (auto end = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < end;) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

}  // namespace

TEST_CASE("a cancel_on_disconnect handler is cancelled when its client leaves", "[http]") {
  test_server s;
  auto probe = std::make_shared<wait_probe>();
  s.routes.add(waiting_route(probe, true));
  s.start(fast_options());
  {
    http_client c("127.0.0.1", s.port());
    c.send_raw("GET /wait?ms=10000 HTTP/1.1\r\nHost: t\r\n\r\n");
    std::this_thread::sleep_for(100ms);
  }  // closes the connection while the handler waits
  CHECK(within(ms(3000), [&] { return probe->noticed.load(); }));
  CHECK(within(ms(3000), [&] { return probe->cancelled.load(); }));
  CHECK_FALSE(probe->completed);
  CHECK(eventually_exposes(s.metrics, "agora_http_client_gone_total 1"));
  CHECK(eventually_exposes(s.metrics, "agora_http_requests_total{method=\"GET\",route=\"/wait\",status=\"499\"} 1"));
  CHECK(within(ms(1000), [&] { return s.srv->connections() == 0; }));
}

TEST_CASE("a client that stays gets its answer from a cancel_on_disconnect route, pipelined too", "[http]") {
  test_server s;
  auto probe = std::make_shared<wait_probe>();
  s.routes.add(waiting_route(probe, true));
  s.start(fast_options());
  http_client c("127.0.0.1", s.port());
  auto reply = c.get("/wait?ms=50");
  CHECK(reply.status() == 200);
  CHECK(reply.raw.keep_alive());
  // The second request arrives while the first handler runs: bytes, not a goodbye.
  c.send_raw("GET /wait?ms=150 HTTP/1.1\r\nHost: t\r\n\r\n");
  std::this_thread::sleep_for(50ms);
  c.send_raw("GET /wait?ms=10 HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(c.read_reply().status() == 200);
  CHECK(c.read_reply().status() == 200);
  CHECK_FALSE(probe->cancelled);
  CHECK(c.get("/wait?ms=1").status() == 200);  // the connection still serves
}

TEST_CASE("without cancel_on_disconnect a handler runs to its end after the client leaves", "[http]") {
  test_server s;
  auto probe = std::make_shared<wait_probe>();
  s.routes.add(waiting_route(probe, false));
  s.start(fast_options());
  {
    http_client c("127.0.0.1", s.port());
    c.send_raw("GET /wait?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n");
    std::this_thread::sleep_for(50ms);
  }
  CHECK(within(ms(2000), [&] { return probe->completed.load(); }));
  CHECK_FALSE(probe->cancelled);
  CHECK_FALSE(probe->noticed);
}
