// Hostile clients against the server: inputs that used to escape as exceptions, framing
// that used to be buffered without bound, and connection floods from one address.
#include "test_server.hpp"

#include "support/http_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/time.h>

#include <future>
#include <string>

using namespace agora::http;
using agora::http::testing::test_server;
using agora::test::http_client;
using agora::test::http_reply;
using namespace std::chrono_literals;

namespace {

using ms = std::chrono::milliseconds;

asio::awaitable<response> echo_body(request_context& ctx) { co_return json_response(200, {{"body", ctx.body}}); }

asio::awaitable<void> sleep_for(ms d) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(asio::use_awaitable);
}

void add_routes(router& r) {
  r.add({.method = verb::get, .pattern = "/healthz", .fn = echo_body, .operation_id = "health"});
  r.add({.method = verb::get, .pattern = "/readyz", .fn = echo_body, .operation_id = "ready"});
  r.add({.method = verb::get, .pattern = "/items/{id}", .fn = echo_body, .operation_id = "getItem"});
  r.add({.method = verb::post,
         .pattern = "/items",
         .fn = echo_body,
         .operation_id = "createItem",
         .request_schema = {{"type", "object"}}});
  r.add({.method = verb::get,
         .pattern = "/slow",
         .fn = [](request_context&) -> asio::awaitable<response> {
           co_await sleep_for(ms(1500));
           co_return json_response(200, {{"slept", true}});
         },
         .operation_id = "slow"});
}

server_options options() {
  server_options o;
  o.read_timeout = ms(3000);
  o.idle_timeout = ms(10000);
  o.handler_timeout = ms(5000);
  return o;
}

bool exposes(const agora::metrics::registry& m, std::string_view line) {
  for (int i = 0; i < 200; ++i) {
    if (m.expose().find(line) != std::string::npos) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

void check_problem(const http_reply& r, int status) {
  INFO(r.body());
  CHECK(r.status() == status);
  CHECK(r.header("Content-Type") == "application/problem+json");
  auto j = r.json();
  CHECK(j["status"] == status);
  CHECK(j["type"].is_string());
  CHECK(j["title"].is_string());
  CHECK(j["detail"].is_string());
}

std::string chunked_post_head() {
  return "POST /items HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
         "2\r\n{}\r\n0\r\n";
}

// One request on a fresh connection from `source` (any 127.0.0.0/8 address is loopback
// on Linux): a second client as far as a per-address cap can tell.
std::optional<http_reply> get_from(const std::string& source, std::uint16_t port, std::string_view target,
                                   asio::ip::tcp::socket* keep = nullptr) {
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.open(asio::ip::tcp::v4());
  socket.bind({asio::ip::make_address(source), 0});
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  timeval tv{3, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string req = "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n\r\n";
  asio::write(socket, asio::buffer(req));
  beast::flat_buffer buffer;
  beast::http::response<beast::http::string_body> res;
  boost::system::error_code ec;
  beast::http::read(socket, buffer, res, ec);
  if (ec) return std::nullopt;
  if (keep) *keep = std::move(socket);
  return http_reply{std::move(res)};
}

}  // namespace

TEST_CASE("a JSON number beyond a double is a 400 problem, and the connection goes on", "[http][hardening]") {
  test_server s;
  add_routes(s.routes);
  s.start(options());
  http_client c("127.0.0.1", s.port());
  const std::string digits309(309, '9');  // beyond DBL_MAX (1.8e308)
  const std::vector<std::string> bodies = {R"({"x":1e309})", R"({"x":-1e400})", "{\"x\":" + digits309 + "}",
                                           "[" + digits309 + "]"};
  for (const auto& body : bodies) {
    INFO(body.substr(0, 20));
    check_problem(c.request(verb::post, "/items", body), 400);
  }
  // Pipelined behind one: both answered, in order.
  c.send_raw("POST /items HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
             "{\"x\":1e309}GET /items/7 HTTP/1.1\r\nHost: t\r\n\r\n");
  check_problem(c.read_reply(), 400);
  CHECK(c.read_reply().status() == 200);
  CHECK(c.get("/healthz").status() == 200);
  CHECK(exposes(s.metrics, "agora_http_requests_total{method=\"POST\",route=\"/items\",status=\"400\"} 5"));
  CHECK(exposes(s.metrics, "agora_http_requests_in_flight 0"));
}

TEST_CASE("a streaming producer that throws anything ends its stream and is counted", "[http][hardening]") {
  test_server s;
  s.routes.add({.method = verb::get,
                .pattern = "/events",
                .fn = [](request_context& ctx) -> asio::awaitable<response> {
                  ctx.stream = [](body_writer& w) -> asio::awaitable<void> {
                    co_await w.write("data: 1\n\n");
                    throw 42;
                  };
                  response res{boost::beast::http::status::ok, 11};
                  res.set(boost::beast::http::field::content_type, "text/event-stream");
                  co_return res;
                },
                .operation_id = "events"});
  s.start(options());
  http_client c("127.0.0.1", s.port());
  auto reply = c.get("/events");
  CHECK(reply.status() == 200);
  CHECK(reply.body() == "data: 1\n\n");
  CHECK(exposes(s.metrics, "agora_http_requests_total{method=\"GET\",route=\"/events\",status=\"200\"} 1"));
  CHECK(exposes(s.metrics, "agora_http_requests_in_flight 0"));
}

TEST_CASE("a header field over 64 KiB is a 431 problem even under a large header_limit", "[http][hardening]") {
  test_server s;
  add_routes(s.routes);
  auto opts = options();
  opts.header_limit = 1024 * 1024;
  s.start(opts);
  http_client c("127.0.0.1", s.port());
  c.send_raw("GET /items/1 HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(70000, 'a') + "\r\n\r\n");
  check_problem(c.read_reply(), 431);
  CHECK(c.wait_closed(2000ms));
  CHECK(agora::test::http_get(s.port(), "/healthz").status() == 200);
}

TEST_CASE("chunked trailers count against the header limit", "[http][hardening]") {
  test_server s;
  add_routes(s.routes);
  auto opts = options();
  SECTION("one trailer field over 64 KiB, under a large header_limit") {
    opts.header_limit = 1024 * 1024;
    s.start(opts);
    http_client c("127.0.0.1", s.port());
    c.send_raw(chunked_post_head() + "X-T: " + std::string(70000, 'b') + "\r\n\r\n");
    check_problem(c.read_reply(), 431);
  }
  SECTION("a flood of trailer fields is refused before it ends, not buffered") {
    opts.header_limit = 8 * 1024;
    s.start(opts);
    http_client c("127.0.0.1", s.port());
    c.send_raw(chunked_post_head());
    const std::string field = "X-T: " + std::string(1000, 'c') + "\r\n";
    try {
      for (int i = 0; i < 64; ++i) c.send_raw(field);  // 64 KB, never ended
    } catch (const std::runtime_error&) {
      // the server may have answered and closed already
    }
    auto reply = c.try_read_reply(2000ms);
    REQUIRE(reply);
    check_problem(*reply, 431);
  }
  SECTION("small trailers within the limit are accepted") {
    s.start(opts);
    http_client c("127.0.0.1", s.port());
    c.send_raw(chunked_post_head() + "X-T: small\r\n\r\n");
    CHECK(c.read_reply().status() == 200);
    CHECK(c.get("/healthz").status() == 200);
  }
  CHECK(exposes(s.metrics, "agora_http_requests_in_flight 0"));
}

TEST_CASE("an HTTP/1.1 request without exactly one Host is a 400 problem", "[http][hardening]") {
  test_server s;
  add_routes(s.routes);
  s.start(options());
  SECTION("none") {
    http_client c("127.0.0.1", s.port());
    c.send_raw("GET /healthz HTTP/1.1\r\n\r\n");
    check_problem(c.read_reply(), 400);
    CHECK(c.wait_closed(2000ms));
  }
  SECTION("two") {
    http_client c("127.0.0.1", s.port());
    c.send_raw("GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    check_problem(c.read_reply(), 400);
  }
  SECTION("HTTP/1.0 needs none") {
    http_client c("127.0.0.1", s.port());
    c.send_raw("GET /healthz HTTP/1.0\r\n\r\n");
    CHECK(c.read_reply().status() == 200);
  }
}

TEST_CASE("a request that will be refused gets its answer instead of 100 Continue", "[http][hardening]") {
  test_server s;
  add_routes(s.routes);
  s.start(options());
  auto expect = [&](std::string_view method, std::string_view target, std::string_view type) {
    http_client c("127.0.0.1", s.port());
    c.send_raw(std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: t\r\nContent-Type: " +
               std::string(type) + "\r\nContent-Length: 7\r\nExpect: 100-continue\r\n\r\n");
    auto reply = c.read_reply();
    CHECK(c.wait_closed(2000ms));
    return reply;
  };
  check_problem(expect("POST", "/nowhere", "application/json"), 404);
  auto wrong_method = expect("PUT", "/items", "application/json");
  check_problem(wrong_method, 405);
  CHECK(wrong_method.header("Allow") == "POST");
  check_problem(expect("POST", "/items", "text/plain"), 415);
}

TEST_CASE("a stream still open at the shutdown deadline ends with an error event and data: DONE", "[http][hardening]") {
  test_server s;
  s.routes.add({.method = verb::get,
                .pattern = "/events",
                .fn = [](request_context& ctx) -> asio::awaitable<response> {
                  ctx.stream = [](body_writer& w) -> asio::awaitable<void> {
                    co_await w.write("data: 1\n\n");
                    asio::steady_timer wait(co_await asio::this_coro::executor);
                    wait.expires_after(std::chrono::seconds(30));
                    w.on_stopping([&wait] { wait.cancel(); });
                    co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
                    if (!w.stopping()) co_return;
                    co_await w.write("event: error\ndata: {\"error\":\"stopping\"}\n\n");
                    co_await w.write("data: [DONE]\n\n");
                  };
                  response res{boost::beast::http::status::ok, 11};
                  res.set(boost::beast::http::field::content_type, "text/event-stream");
                  co_return res;
                },
                .operation_id = "events"});
  s.start(options());
  http_client c("127.0.0.1", s.port());
  c.send(verb::get, "/events");
  for (int i = 0; i < 200 && s.metrics.expose().find("agora_http_requests_in_flight 1") == std::string::npos; ++i)
    std::this_thread::sleep_for(10ms);
  auto stopping = std::async(std::launch::async, [&] { s.stop(ms(100)); });
  auto reply = c.read_reply();
  stopping.get();
  CHECK(reply.status() == 200);
  CHECK(reply.body() == "data: 1\n\nevent: error\ndata: {\"error\":\"stopping\"}\n\ndata: [DONE]\n\n");
}

TEST_CASE("one address cannot hold more than max_connections_per_client", "[http][hardening]") {
  test_server s;
  add_routes(s.routes);
  auto opts = options();
  opts.max_connections_per_client = 2;
  s.start(opts);
  http_client a("127.0.0.1", s.port());
  http_client b("127.0.0.1", s.port());
  CHECK(a.get("/healthz").status() == 200);
  CHECK(b.get("/healthz").status() == 200);
  http_client third("127.0.0.1", s.port());
  third.send_raw("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  auto refused = third.read_reply();
  check_problem(refused, 429);
  CHECK(refused.header("Retry-After") == "1");
  CHECK(third.wait_closed(2000ms));
  CHECK(s.metrics.expose().find("agora_http_rejected_total{reason=\"too_many_connections_per_client\"} 1") !=
        std::string::npos);

  auto other = get_from("127.0.0.2", s.port(), "/items/1");
  REQUIRE(other);
  CHECK(other->status() == 200);

  a.close();
  bool served = false;
  for (int i = 0; i < 200 && !served; ++i) {
    auto again = get_from("127.0.0.1", s.port(), "/items/1");
    served = again && again->status() == 200;
    if (!served) std::this_thread::sleep_for(10ms);
  }
  CHECK(served);
}

TEST_CASE("at max_connections, health and readiness probes are still answered", "[http][hardening]") {
  test_server s;
  add_routes(s.routes);
  auto opts = options();
  opts.max_connections = 2;
  s.start(opts);
  http_client a("127.0.0.1", s.port());
  http_client b("127.0.0.1", s.port());
  a.send(verb::get, "/slow");  // busy, so not closed to make room
  b.send(verb::get, "/slow");
  for (int i = 0; i < 200 && s.metrics.expose().find("agora_http_requests_in_flight 2") == std::string::npos; ++i)
    std::this_thread::sleep_for(10ms);

  http_client extra("127.0.0.1", s.port());
  extra.send_raw("GET /items/1 HTTP/1.1\r\nHost: t\r\n\r\n");
  auto refused = extra.read_reply();
  check_problem(refused, 503);
  CHECK(refused.header("Retry-After") == "1");

  for (std::string_view probe : {"/healthz", "/readyz"}) {
    http_client p("127.0.0.1", s.port());
    auto reply = p.get(probe);
    CHECK(reply.status() == 200);
    CHECK(reply.header("Connection") == "close");
    CHECK(p.wait_closed(2000ms));
  }
  CHECK(a.read_reply().status() == 200);
  CHECK(b.read_reply().status() == 200);
  CHECK(s.metrics.expose().find("agora_http_rejected_total{reason=\"too_many_connections\"} 1") != std::string::npos);
}

TEST_CASE("near max_connections the oldest idle keep-alive connection makes room", "[http][hardening]") {
  test_server s;
  add_routes(s.routes);
  auto opts = options();
  opts.max_connections = 3;
  s.start(opts);
  http_client a("127.0.0.1", s.port());
  CHECK(a.get("/healthz").status() == 200);
  // When the server marks a idle is not observable from here; on a loaded machine its
  // coroutine may resume after b's whole exchange. A pause makes a the oldest for sure.
  std::this_thread::sleep_for(100ms);
  http_client b("127.0.0.1", s.port());
  CHECK(b.get("/healthz").status() == 200);
  http_client c("127.0.0.1", s.port());
  CHECK(c.get("/healthz").status() == 200);

  http_client d("127.0.0.1", s.port());
  CHECK(d.get("/items/1").status() == 200);
  CHECK(a.wait_closed(2000ms));
  CHECK(b.get("/items/2").status() == 200);
  CHECK(exposes(s.metrics, "agora_http_idle_closed_total 1"));
}
