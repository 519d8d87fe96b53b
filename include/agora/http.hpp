#pragma once

#include <agora/log.hpp>
#include <agora/metrics.hpp>
#include <agora/principal.hpp>
#include <agora/result.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// HTTP/1.1 edge: a Beast server, a router of declared routes, problem+json errors,
// and the OpenAPI document generated from the same declarations.
namespace agora::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using request = beast::http::request<beast::http::string_body>;
using response = beast::http::response<beast::http::string_body>;
using verb = beast::http::verb;

// Writes a streamed response body (Server-Sent Events, say) chunk by chunk.
class body_writer {
 public:
  virtual ~body_writer() = default;
  // Sends one chunk (chunked transfer encoding). False once the client is gone or the
  // write timed out: the producer should stop then.
  virtual asio::awaitable<bool> write(std::string_view data) = 0;
  // True as soon as the server notices the client closed its side, even while the
  // producer is waiting for data to send.
  virtual bool client_gone() const noexcept = 0;
  // Runs `f` once, on the connection's executor, when the client goes (immediately
  // if it already has): lets a producer cancel work it is waiting on.
  virtual void on_client_gone(std::function<void()> f) = 0;
  // True once the server, stopping, has reached its shutdown deadline with this stream
  // still open: the producer should end the stream now (an error event, then its end
  // marker); the server closes the connection shortly after either way.
  virtual bool stopping() const noexcept = 0;
  // Runs `f` once, on the connection's executor, when stopping() becomes true
  // (immediately if it is): lets a producer stop work it is waiting on.
  virtual void on_stopping(std::function<void()> f) = 0;
};

// A streamed body: the producer runs after the response head is written and writes
// the body; when it returns, the body ends. Streamed responses close the connection.
using stream_body = std::function<asio::awaitable<void>(body_writer&)>;

// What a handler sees of one request. Lives until the handler's awaitable completes.
struct request_context {
  request& req;
  std::string_view path;                                    // target without the query
  std::vector<std::pair<std::string, std::string>> params;  // path parameters, decoded
  std::vector<std::pair<std::string, std::string>> query;   // query parameters, decoded
  nlohmann::json body;          // parsed when the route takes a JSON body
  log::trace tr;                // X-Request-Id and traceparent (taken or made)
  const struct route* matched = nullptr;
  // Set by a handler that streams: its response (2xx) is sent as the head, with
  // chunked transfer encoding, and this writes the body. Ignored for other statuses.
  stream_body stream;

  std::optional<std::string_view> param(std::string_view name) const;
  std::optional<std::string_view> query_param(std::string_view name) const;
  std::optional<std::string_view> header(std::string_view name) const;

  // On a cancel_on_disconnect route: runs f, on the connection's executor, when the
  // client leaves while the handler runs (at once if it has left already). Lets a handler
  // stop work it started elsewhere (a generation on the engine thread) directly, rather
  // than rely on its coroutine noticing the cancellation. Never runs on other routes.
  void on_client_gone(std::function<void()> f) {
    if (client_left)
      f();
    else
      client_gone_callbacks.push_back(std::move(f));
  }
  bool client_left = false;                                  // set by the server
  std::vector<std::function<void()>> client_gone_callbacks;  // run by the server
  // When the server stops waiting for the handler (504): bus calls made for this
  // request get the time left, not a fixed timeout.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // The peer's IP address (the connection's, not a header's: a proxy in front sets
  // its own); empty when unknown.
  std::string client_address;
  // Who is calling: anonymous until the auth filter (auth::guard) verifies a credential.
  // Carried onto every bus call made for the request (route_env::options).
  principal who;
};

using handler = std::function<asio::awaitable<response>(request_context&)>;

// The shape of a route's error bodies: RFC 9457 problem+json, or OpenAI's
// {"error": {"message", "type", "param", "code"}} on the OpenAI-compatible routes.
enum class error_shape { problem, openai };

struct query_param_doc {
  std::string name;
  std::string type = "string";  // OpenAPI schema type
  std::string description;
};

// A declared route. The OpenAPI document is generated from these fields, so a
// route that is served is a route that is documented.
struct route {
  verb method = verb::get;
  std::string pattern;          // "/v1/products/{id}"
  handler fn;
  std::string operation_id;     // unique: "getProduct"
  std::string summary;
  std::string tag;              // the module: "catalog"
  nlohmann::json request_schema;               // JSON Schema of the body; null = no body
  std::map<int, nlohmann::json> responses;     // status → schema (null: no body)
  std::vector<query_param_doc> query;
  std::vector<std::string> request_headers;    // documented headers: "If-Match", "Idempotency-Key"
  std::string content_type = "application/json";  // of the success body
  // false: the handler reads req.body() itself (it answers bad bodies in its own shape,
  // as the OpenAI routes must); request_schema still documents the body.
  bool parse_body = true;
  // true: while the handler runs, the server watches the socket, and a client that
  // closes its side cancels the handler (terminal cancellation, as a handler timeout
  // does); the request is logged as 499 and nothing is written. For long work a client
  // may give up on (a generation). A client that half-closes after its request counts as
  // gone, as it does behind nginx.
  bool cancel_on_disconnect = false;
  // Who may call it: closed (an authenticated principal) unless declared otherwise;
  // enforced by the auth filter and documented as the operation's `security`.
  access who = access::signed_in();
  // What the filters (401, 403, 429) answer in; the handler answers in it too.
  error_shape errors = error_shape::problem;
  // true: an empty body is allowed (ctx.body stays null) where every member is optional
  // (POST /v1/orders/{id}/cancel with or without a reason).
  bool body_optional = false;
};

// A route with its documentation's essentials; fill in schemas and responses after.
route describe(verb method, std::string pattern, std::string operation_id, std::string summary);

// Continue (call next) or stop (return a response). Filters run in the order added,
// around the matched route's handler; unknown routes never reach them.
using next_fn = std::function<asio::awaitable<response>(request_context&)>;
using filter = std::function<asio::awaitable<response>(request_context&, const next_fn&)>;

class router {
 public:
  // Adding the same method and pattern twice, or two routes with one operation_id, throws.
  void add(route r);
  void use(filter f);

  struct match {
    const route* r = nullptr;                                 // null: see allow
    std::vector<std::pair<std::string, std::string>> params;
    std::vector<verb> allow;  // non-empty when the path exists for other methods (405)
  };
  match find(verb method, std::string_view path) const;

  const std::vector<std::unique_ptr<route>>& routes() const noexcept { return routes_; }
  const std::vector<filter>& filters() const noexcept { return filters_; }

  // OpenAPI 3.1 of every route, with the problem+json error responses.
  nlohmann::json openapi(std::string_view title, std::string_view version) const;

 private:
  std::vector<std::unique_ptr<route>> routes_;
  std::vector<filter> filters_;
};

// RFC 9457 problem details: application/problem+json with type, title, status, detail,
// and `errors` [{field, message}] for field problems. Never internals in `detail`.
response problem(int status, std::string_view detail, const std::vector<field_error>& fields = {});
response problem(const error& e);
response json_response(int status, const nlohmann::json& body);
// An error in `shape`; `code` is OpenAI's machine-readable code ("invalid_api_key"),
// unused by problem+json.
response error_response(error_shape shape, int status, std::string_view detail, std::string_view code = {});
std::string_view reason(int status);

struct server_options {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8080;                 // 0: any free port
  int io_threads = 0;                        // informational; the app runs the io_context
  std::size_t header_limit = 16 * 1024;      // beyond: 431
  std::size_t body_limit = 1024 * 1024;      // beyond: 413
  std::chrono::milliseconds read_timeout{10000};   // to receive one whole request
  std::chrono::milliseconds idle_timeout{30000};   // keep-alive between requests
  std::chrono::milliseconds handler_timeout{30000};  // beyond: 504
  // Beyond: 503, except for GET /healthz and /readyz on up to `probe_reserve` connections
  // at once, which are answered (so that health checks see a busy server, not a dead one).
  // From 90% of it on, each new connection closes the oldest idle keep-alive one.
  std::size_t max_connections = 10000;
  std::size_t probe_reserve = 32;
  // Open connections one client address may hold; beyond: 429 and close. 0: no cap.
  std::size_t max_connections_per_client = 1024;
  // Trailer fields of a chunked request count against header_limit together with the
  // header; beyond: 431.
};

// Listens, parses, routes, runs filters and handlers, writes responses, records
// agora_http_* metrics and one JSON access-log line per request.
class server {
 public:
  server(asio::io_context& io, server_options opts, const router& r, metrics::registry& m);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds and starts accepting. Throws std::system_error naming the address on failure.
  void start();
  std::uint16_t port() const noexcept;
  // Stops accepting, closes idle connections, lets in-flight requests finish until
  // `deadline`, then closes what is left.
  asio::awaitable<void> shutdown(std::chrono::steady_clock::time_point deadline);
  std::size_t connections() const noexcept;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace agora::http
