#include <agora/http.hpp>

#include "http/codec.hpp"
#include "http/streaming.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <unordered_map>

namespace agora::http {

namespace {

using tcp = asio::ip::tcp;
namespace bhttp = beast::http;
using clock = std::chrono::steady_clock;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t read_chunk = 8192;
constexpr std::size_t linger_budget = 1024 * 1024;
constexpr std::chrono::milliseconds linger_time{500};
constexpr std::chrono::milliseconds shutdown_grace{1000};
// A stream still open at the shutdown deadline gets this long to write its last event.
constexpr std::chrono::milliseconds stream_farewell{250};
// A connection over max_connections has this long to show it is a health probe.
constexpr std::chrono::milliseconds probe_read_time{1000};
// Candidates for closing, gathered by one scan of the open connections near the cap.
constexpr std::size_t eviction_batch = 64;

constexpr std::string_view requests_total = "agora_http_requests_total";
constexpr std::string_view requests_help = "HTTP requests answered, by method, route pattern and status";
constexpr std::string_view duration_name = "agora_http_request_duration_seconds";
constexpr std::string_view duration_help = "Time from a complete request to its written response";

std::string method_label(verb v) {
  if (v == verb::unknown) return "OTHER";
  return std::string(bhttp::to_string(v));
}

// The instruments of one (method, route) pair, resolved once; a status's counter is
// registered on first use and then read without a lock.
struct route_stats {
  route_stats(metrics::registry& reg, std::string method, std::string route)
      : registry(reg),
        method(std::move(method)),
        route(std::move(route)),
        duration(&reg.histogram_of(duration_name, duration_help, {{"method", this->method}, {"route", this->route}})),
        by_status(new std::atomic<metrics::counter*>[500]) {
    for (std::size_t i = 0; i < 500; ++i) by_status[i].store(nullptr, std::memory_order_relaxed);
  }

  void record(int status, double seconds) {
    if (status < 100 || status > 599) status = 500;
    auto& slot = by_status[static_cast<std::size_t>(status - 100)];
    metrics::counter* c = slot.load(std::memory_order_acquire);
    if (!c) {
      c = &registry.counter_of(requests_total, requests_help,
                               {{"method", method}, {"route", route}, {"status", std::to_string(status)}});
      slot.store(c, std::memory_order_release);
    }
    c->inc();
    duration->observe(seconds);
  }

  metrics::registry& registry;
  std::string method;
  std::string route;
  metrics::histogram* duration;
  std::unique_ptr<std::atomic<metrics::counter*>[]> by_status;
};

// The JSON body of a route that takes one: 415 and 400 problems when it is not.
std::optional<response> parse_body(request_context& ctx) {
  if (ctx.matched->request_schema.is_null() || !ctx.matched->parse_body) return std::nullopt;
  if (ctx.matched->body_optional && ctx.req.body().empty()) return std::nullopt;
  auto type = ctx.req.find(bhttp::field::content_type);
  if (type == ctx.req.end() || !detail::is_json_media_type(type->value()))
    return problem(415, "this route takes an application/json body");
  try {
    ctx.body = nlohmann::json::parse(ctx.req.body());
  } catch (const nlohmann::json::parse_error& e) {
    std::string where = "malformed JSON at byte " + std::to_string(e.byte);
    return problem(400, "the request body is not valid JSON (" + where + ")", {{"body", where}});
  } catch (const nlohmann::json::out_of_range&) {
    return problem(400, "the request body holds a number too large for a double", {{"body", "number out of range"}});
  } catch (const nlohmann::json::exception&) {
    return problem(400, "the request body is not valid JSON", {{"body", "not valid JSON"}});
  }
  return std::nullopt;
}

// A route with its filter chain bound once: chain[i] runs filter i with chain[i + 1]
// as `next`; the last entry is the handler.
struct route_state {
  route_state(const route& r, const std::vector<filter>& filters, metrics::registry& reg)
      : r(r), stats(reg, method_label(r.method), r.pattern) {
    chain.resize(filters.size() + 1);
    // The body is parsed after the filters, so a refused caller (401, 403, 429) costs no
    // JSON parse and learns nothing about the body's shape.
    chain.back() = [&r](request_context& ctx) -> asio::awaitable<response> {
      if (auto refused = parse_body(ctx)) co_return std::move(*refused);
      co_return co_await r.fn(ctx);
    };
    for (std::size_t i = filters.size(); i-- > 0;) {
      const filter* f = &filters[i];
      const next_fn* next = &chain[i + 1];
      chain[i] = [f, next](request_context& ctx) { return (*f)(ctx, *next); };
    }
  }

  const route& r;
  route_stats stats;
  std::vector<next_fn> chain;
};

bool expects_continue(const request& req) {
  if (req.version() < 11) return false;
  auto it = req.find(bhttp::field::expect);
  if (it == req.end()) return false;
  std::string_view v = it->value();
  constexpr std::string_view token = "100-continue";
  if (v.size() != token.size()) return false;
  for (std::size_t i = 0; i < v.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(v[i])) != token[i]) return false;
  return true;
}

bool is_probe_path(std::string_view path) { return path == "/healthz" || path == "/readyz"; }

// RFC 9112 §3.2: an HTTP/1.1 request carries exactly one Host field.
bool host_is_valid(const request& req) {
  if (req.version() < 11) return true;
  auto [first, last] = req.equal_range(bhttp::field::host);
  return first != last && std::next(first) == last;
}

// The bytes the request line and header fields took on the wire, near enough.
std::size_t header_bytes(const request& req) {
  std::size_t n = req.method_string().size() + req.target().size() + 12;
  for (const auto& f : req) n += f.name_string().size() + f.value().size() + 4;
  return n;
}

bool status_without_body(int status) { return (status >= 100 && status < 200) || status == 204 || status == 304; }

std::string allow_header(const std::vector<verb>& allow) {
  std::string out;
  for (verb v : allow) {
    if (!out.empty()) out.append(", ");
    out.append(bhttp::to_string(v));
  }
  return out;
}

}  // namespace

struct server::impl : std::enable_shared_from_this<impl> {
  struct connection : std::enable_shared_from_this<connection> {
    connection(tcp::socket socket, std::shared_ptr<impl> owner, std::string client)
        : stream(std::move(socket)),
          handler_timer(stream.get_executor()),
          server(std::move(owner)),
          client(std::move(client)) {}

    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    asio::steady_timer handler_timer;
    asio::cancellation_signal cancel;
    std::shared_ptr<impl> server;
    std::string client;      // the peer's address: the key of the per-client count
    std::string request_id;  // capacity reused across requests
    std::string traceparent;
    std::uint64_t handler_generation = 0;
    bool in_handler = false;
    bool handler_timed_out = false;
    bool client_gone = false;  // closed its side while a cancel_on_disconnect handler ran
    bool probe_only = false;   // over max_connections: serves one health or readiness probe
    request_context* watched = nullptr;  // the request whose handler the watch may cancel
    detail::chunk_writer* writer = nullptr;  // while a streamed body is produced
    // Waiting for a request (its first or the next); read by the acceptor when it looks
    // for connections to close near the cap, so atomic.
    std::atomic<bool> idle{false};
    std::atomic<std::uint64_t> idle_since{0};  // steady clock ticks when it became idle
  };

  impl(asio::io_context& io, server_options opts, const router& r, metrics::registry& m)
      : io_(io), opts_(std::move(opts)), router_(r), metrics_(m), acceptor_(asio::make_strand(io)) {
    auto reason_counter = [&](std::string_view reason) {
      return &m.counter_of("agora_http_rejected_total", "Connections or requests refused before a handler ran",
                           {{"reason", std::string(reason)}});
    };
    rejected_header_ = reason_counter("header_too_large");
    rejected_body_ = reason_counter("body_too_large");
    client_gone_ = &m.counter_of("agora_http_client_gone_total",
                                 "Requests whose handler was cancelled because the client closed the connection");
    rejected_timeout_ = reason_counter("timeout");
    rejected_connections_ = reason_counter("too_many_connections");
    rejected_per_client_ = reason_counter("too_many_connections_per_client");
    rejected_bad_request_ = reason_counter("bad_request");
    rejected_early_ = reason_counter("refused_before_body");
    idle_closed_ = &m.counter_of("agora_http_idle_closed_total",
                                 "Idle keep-alive connections closed to make room near max_connections");
    // Shared instruments, so that several servers on one registry add up.
    connections_gauge_ = &m.gauge_of("agora_http_connections", "Open HTTP connections");
    in_flight_gauge_ = &m.gauge_of("agora_http_requests_in_flight", "HTTP requests being handled");
  }

  void build_routes() {
    filters_ = router_.filters();
    routes_.clear();
    by_route_.clear();
    routes_.reserve(router_.routes().size());
    for (const auto& r : router_.routes()) {
      routes_.push_back(std::make_unique<route_state>(*r, filters_, metrics_));
      by_route_.emplace(r.get(), routes_.back().get());
    }
  }

  route_stats& unmatched_stats(verb v) {
    std::size_t index = static_cast<std::size_t>(v);
    if (index >= unmatched_.size()) index = 0;
    route_stats* s = unmatched_[index].load(std::memory_order_acquire);
    if (s) return *s;
    std::lock_guard lock(unmatched_mutex_);
    s = unmatched_[index].load(std::memory_order_acquire);
    if (!s) {
      unmatched_storage_.push_back(
          std::make_unique<route_stats>(metrics_, method_label(index == 0 ? verb::unknown : v), "unmatched"));
      s = unmatched_storage_.back().get();
      unmatched_[index].store(s, std::memory_order_release);
    }
    return *s;
  }

  route_stats& stats_of(verb method, std::string_view path) {
    auto m = router_.find(method, path);
    return m.r ? by_route_.at(m.r)->stats : unmatched_stats(method);
  }

  void start() {
    build_routes();
    boost::system::error_code ec;
    auto address = asio::ip::make_address(opts_.address, ec);
    if (ec) throw std::system_error(ec, "http: bad listen address '" + opts_.address + "'");
    tcp::endpoint endpoint{address, opts_.port};
    auto where = [&] { return "http: cannot listen on " + opts_.address + ":" + std::to_string(opts_.port); };
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      throw std::system_error(ec, where());
    }
    port_ = acceptor_.local_endpoint().port();
    tasks_.fetch_add(1);
    asio::co_spawn(acceptor_.get_executor(), accept_loop(shared_from_this()),
                   [self = shared_from_this()](std::exception_ptr e) {
                     self->task_done();
                     if (e) log::error("http", "accept loop failed");
                   });
  }

  asio::awaitable<void> accept_loop(std::shared_ptr<impl> self) {
    asio::steady_timer backoff(acceptor_.get_executor());
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(io_), use_tuple);
      if (stopping_.load() || !acceptor_.is_open()) break;
      if (ec) {
        if (ec == asio::error::operation_aborted) break;
        // Out of descriptors or a transient network error: back off instead of spinning.
        log::warn("http", "accept failed", {{"error", ec.message()}});
        backoff.expires_after(std::chrono::milliseconds(20));
        co_await backoff.async_wait(use_tuple);
        continue;
      }
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      admit(self, std::move(socket));
    }
  }

  // Decides what a new connection gets: served, served one health probe, or refused.
  void admit(const std::shared_ptr<impl>& self, tcp::socket socket) {
    boost::system::error_code ec;
    auto peer = socket.remote_endpoint(ec);
    std::string client = ec ? std::string() : peer.address().to_string();
    tasks_.fetch_add(1);
    if (opts_.max_connections_per_client > 0 && !client.empty() && !take_client_slot(client)) {
      rejected_per_client_->inc();
      auto exec = socket.get_executor();
      asio::co_spawn(exec, reject(self, beast::tcp_stream(std::move(socket)), 429,
                                  "this client has too many open connections"),
                     [self](std::exception_ptr) { self->task_done(); });
      return;
    }
    const std::size_t open = connections_.load();
    bool probe_only = false;
    if (open >= evict_threshold() && close_oldest_idle()) {
      // A slot is being freed: the newcomer takes it.
    } else if (open >= opts_.max_connections) {
      if (probing_.load() >= opts_.probe_reserve) {
        release_client_slot(client);
        rejected_connections_->inc();
        auto exec = socket.get_executor();
        asio::co_spawn(exec, reject(self, beast::tcp_stream(std::move(socket)), 503,
                                    "the server has too many open connections"),
                       [self](std::exception_ptr) { self->task_done(); });
        return;
      }
      probe_only = true;
    }
    auto c = std::make_shared<connection>(std::move(socket), self, std::move(client));
    c->probe_only = probe_only;
    if (probe_only) {
      probing_.fetch_add(1);
    } else {
      connections_.fetch_add(1);
      connections_gauge_->add(1);
    }
    {
      std::lock_guard lock(connections_mutex_);
      open_.emplace(c.get(), c);
    }
    auto exec = c->stream.get_executor();
    asio::co_spawn(exec, serve(c),
                   asio::bind_cancellation_slot(c->cancel.slot(), [self, c](std::exception_ptr e) {
                     {
                       std::lock_guard lock(self->connections_mutex_);
                       self->open_.erase(c.get());
                     }
                     if (c->probe_only) {
                       self->probing_.fetch_sub(1);
                     } else {
                       self->connections_.fetch_sub(1);
                       self->connections_gauge_->add(-1);
                     }
                     self->release_client_slot(c->client);
                     self->task_done();
                     if (e) log::error("http", "connection failed unexpectedly");
                   }));
  }

  bool take_client_slot(const std::string& client) {
    std::lock_guard lock(connections_mutex_);
    auto& n = per_client_[client];
    if (n >= opts_.max_connections_per_client) {
      if (n == 0) per_client_.erase(client);
      return false;
    }
    ++n;
    return true;
  }

  void release_client_slot(const std::string& client) {
    if (opts_.max_connections_per_client == 0 || client.empty()) return;
    std::lock_guard lock(connections_mutex_);
    auto it = per_client_.find(client);
    if (it == per_client_.end()) return;
    if (--it->second == 0) per_client_.erase(it);
  }

  std::size_t evict_threshold() const {
    const std::size_t cap = opts_.max_connections;
    return std::max<std::size_t>(1, cap - cap / 10);
  }

  // Near the cap, each newcomer closes the connection idle for longest. Candidates come
  // from one scan of the open connections, oldest first, and are used until spent; each
  // is closed only if it is still idle since the same moment. Runs on the acceptor.
  bool close_oldest_idle() {
    for (int scans = 0; scans < 2; ++scans) {
      while (!eviction_queue_.empty()) {
        auto [weak, since] = eviction_queue_.back();
        eviction_queue_.pop_back();
        auto c = weak.lock();
        if (!c || !c->idle.load() || c->idle_since.load() != since) continue;
        idle_closed_->inc();
        asio::post(c->stream.get_executor(), [c, since] {
          if (c->idle.load() && c->idle_since.load() == since) c->stream.close();
        });
        return true;
      }
      // With nothing idle, scanning again on every newcomer would cost a pass over all
      // connections each; once in a while is enough.
      const auto now = clock::now();
      if (scans > 0 || now - last_gather_ < std::chrono::milliseconds(50)) break;
      last_gather_ = now;
      gather_idle();
    }
    return false;
  }

  void gather_idle() {
    std::vector<std::pair<std::weak_ptr<connection>, std::uint64_t>> idle;
    {
      std::lock_guard lock(connections_mutex_);
      for (auto& [raw, weak] : open_)
        if (raw->idle.load()) idle.emplace_back(weak, raw->idle_since.load());
    }
    const std::size_t keep = std::min(idle.size(), eviction_batch);
    auto older = [](const auto& a, const auto& b) { return a.second < b.second; };
    std::partial_sort(idle.begin(), idle.begin() + static_cast<std::ptrdiff_t>(keep), idle.end(), older);
    idle.resize(keep);
    std::reverse(idle.begin(), idle.end());  // popped from the back: oldest first
    eviction_queue_ = std::move(idle);
  }

  asio::awaitable<void> reject(std::shared_ptr<impl> self, beast::tcp_stream stream, int status,
                               std::string_view detail) {
    response res = problem(status, detail);
    res.keep_alive(false);
    stamp(res, detail::make_request_id(), detail::continue_traceparent({}));
    stream.expires_after(linger_time);
    auto [ec, n] = co_await bhttp::async_write(stream, res, use_tuple);
    if (!ec) co_await linger_close(stream);
  }

  // Half-closes, then reads and drops what the client still sends for a short while,
  // so that a client still writing its request reads our answer instead of a reset.
  static asio::awaitable<void> linger_close(beast::tcp_stream& stream) {
    boost::system::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    std::array<char, 4096> sink;
    std::size_t drained = 0;
    stream.expires_after(linger_time);
    while (!ec && drained < linger_budget) {
      auto [rec, n] = co_await stream.async_read_some(asio::buffer(sink), use_tuple);
      ec = rec;
      drained += n;
    }
    stream.close();
  }

  static void stamp(response& res, std::string_view request_id, std::string_view traceparent) {
    res.set("X-Request-Id", request_id);
    res.set("traceparent", traceparent);
    res.set(bhttp::field::date, detail::http_date());
  }

  enum class read_outcome { request, closed, rejected };

  void mark_idle(connection& c, bool idle) {
    if (idle) c.idle_since.store(static_cast<std::uint64_t>(clock::now().time_since_epoch().count()));
    c.idle.store(idle);
  }

  asio::awaitable<void> serve(std::shared_ptr<connection> c) {
    co_await asio::this_coro::throw_if_cancelled(false);
    bool first = true;
    for (;;) {
      if (c->buffer.size() == 0) {
        if (stopping_.load()) break;
        if (!c->probe_only) mark_idle(*c, true);
        c->stream.expires_after(first ? (c->probe_only ? probe_read_time : opts_.read_timeout) : opts_.idle_timeout);
        auto [ec, n] = co_await c->stream.async_read_some(c->buffer.prepare(read_chunk), use_tuple);
        mark_idle(*c, false);
        if (ec) {
          if (ec == beast::error::timeout && first) rejected_timeout_->inc();
          break;
        }
        c->buffer.commit(n);
      }
      first = false;

      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(opts_.header_limit, UINT32_MAX)));
      parser.body_limit(opts_.body_limit);
      parser.eager(true);
      c->stream.expires_after(c->probe_only ? probe_read_time : opts_.read_timeout);
      bool keep_alive = false;
      bool answered = false;
      std::optional<std::string> failure;
      try {
        auto outcome = co_await read_request(*c, parser);
        if (outcome == read_outcome::request) {
          c->stream.expires_never();
          answered = true;
          keep_alive = co_await respond(*c, parser.get());
        }
      } catch (...) {
        failure = detail::current_exception_message();
      }
      if (failure) {
        log::error("http", "connection failed while serving a request", {{"error", *failure}});
        if (!answered) co_await refuse(*c, parser, 500, "internal error");
        break;
      }
      if (!keep_alive) {
        boost::system::error_code ignored;
        c->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        break;
      }
    }
    c->stream.close();
  }

  // A refusal decided once the header is in, before the body is read: a request the
  // server would refuse anyway gets no 100 Continue, and a probe-only connection serves
  // nothing but a probe.
  std::optional<std::pair<int, std::string>> refuse_early(const connection& c, const request& req,
                                                          bool expects_continue) {
    if (!host_is_valid(req)) return std::pair{400, std::string("an HTTP/1.1 request needs exactly one Host header")};
    if (!c.probe_only && !expects_continue) return std::nullopt;
    std::string_view target = req.target();
    std::string_view path = target.substr(0, target.find('?'));
    auto m = router_.find(req.method(), path);
    if (c.probe_only) {
      if (m.r && is_probe_path(path)) return std::nullopt;
      rejected_connections_->inc();
      return std::pair{503, std::string("the server has too many open connections")};
    }
    if (!m.r) {
      if (!m.allow.empty()) return std::pair{405, "this path accepts only " + allow_header(m.allow)};
      return std::pair{404, std::string("no route matches this path")};
    }
    if (m.r->parse_body && !m.r->request_schema.is_null()) {
      auto type = req.find(bhttp::field::content_type);
      if (type == req.end() || !detail::is_json_media_type(type->value()))
        return std::pair{415, std::string("this route takes an application/json body")};
    }
    return std::nullopt;
  }

  asio::awaitable<read_outcome> read_request(connection& c, bhttp::request_parser<bhttp::string_body>& parser) {
    bool header_checked = false;
    std::size_t header_size = 0;
    boost::system::error_code ec;
    int status = 400;
    std::string detail = "the request is not valid HTTP/1.1";
    for (;;) {
      if (c.buffer.size() > 0) {
        std::size_t used = 0;
        try {
          used = parser.put(c.buffer.data(), ec);
        } catch (const std::length_error&) {
          ec = bhttp::error::header_limit;  // one field beyond what a header can hold
        }
        c.buffer.consume(used);
        if (ec == bhttp::error::need_more) ec = {};
        if (ec) break;
      }
      if (parser.is_header_done() && !header_checked) {
        header_checked = true;
        header_size = header_bytes(parser.get());
        const bool expects = !parser.is_done() && expects_continue(parser.get());
        if (auto refusal = refuse_early(c, parser.get(), expects)) {
          if (refusal->first == 400)
            rejected_bad_request_->inc();
          else if (refusal->first != 503)
            rejected_early_->inc();
          co_await refuse(c, parser, refusal->first, refusal->second);
          co_return read_outcome::rejected;
        }
        if (expects) {
          static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
          auto [wec, wn] = co_await asio::async_write(c.stream, asio::buffer(continue_line), use_tuple);
          if (wec) co_return read_outcome::closed;
        }
      }
      if (parser.is_done()) co_return read_outcome::request;
      if (parser.is_header_done()) {
        // Chunk lines and trailer fields wait whole in the buffer until parsed: they count
        // against the header limit, together with the header.
        const std::size_t budget = opts_.header_limit > header_size ? opts_.header_limit - header_size : 0;
        if (c.buffer.size() > budget) {
          ec = bhttp::error::header_limit;
          break;
        }
      }
      auto [rec, n] = co_await c.stream.async_read_some(c.buffer.prepare(read_chunk), use_tuple);
      if (rec) {
        if (rec == beast::error::timeout) rejected_timeout_->inc();
        co_return read_outcome::closed;
      }
      c.buffer.commit(n);
    }

    if (ec == bhttp::error::header_limit) {
      status = 431;
      detail = "the request header (with its trailer fields) is larger than the server accepts";
      rejected_header_->inc();
    } else if (ec == bhttp::error::body_limit) {
      status = 413;
      detail = "the request body is larger than the server accepts";
      rejected_body_->inc();
    } else {
      rejected_bad_request_->inc();
    }
    co_await refuse(c, parser, status, detail);
    co_return read_outcome::rejected;
  }

  // Answers a request that will not reach a handler, then closes the connection: what is
  // left of the request on the wire is not read.
  asio::awaitable<void> refuse(connection& c, bhttp::request_parser<bhttp::string_body>& parser, int status,
                               std::string_view detail) {
    const request& req = parser.get();
    auto start = clock::now();
    std::string_view target = req.target();
    std::string_view path = target.substr(0, target.find('?'));
    route_stats* stats = parser.is_header_done() ? &stats_of(req.method(), path) : &unmatched_stats(req.method());
    auto id = req.find("X-Request-Id");
    std::string request_id = id != req.end() && detail::is_valid_request_id(id->value()) ? std::string(id->value())
                                                                                         : detail::make_request_id();
    auto tp = req.find("traceparent");
    std::string traceparent =
        detail::continue_traceparent(tp != req.end() ? std::string_view(tp->value()) : std::string_view{});
    response res = problem(status, detail);
    if (status == 405) {
      auto m = router_.find(req.method(), path);
      if (!m.allow.empty()) res.set(bhttp::field::allow, allow_header(m.allow));
    }
    res.keep_alive(false);
    stamp(res, request_id, traceparent);
    c.stream.expires_after(opts_.read_timeout);
    co_await bhttp::async_write(c.stream, res, use_tuple);
    finish(*stats, req.method(), path, res, start, log::trace{std::move(request_id), std::move(traceparent)});
    co_await linger_close(c.stream);
  }

  struct in_flight {
    explicit in_flight(metrics::gauge& g) : gauge(g) { gauge.add(1); }
    ~in_flight() { gauge.add(-1); }
    in_flight(const in_flight&) = delete;
    in_flight& operator=(const in_flight&) = delete;
    metrics::gauge& gauge;
  };

  // Routing, body checks, filters and handler: the response to send. What throws here
  // (a decoder, a filter outside its try) is an internal error, not a dropped connection.
  asio::awaitable<response> answer(connection& c, request_context& ctx, route_state*& rs) {
    auto m = router_.find(ctx.req.method(), ctx.path);
    rs = m.r ? by_route_.at(m.r) : nullptr;
    if (!rs) {
      if (!m.allow.empty()) {
        std::string allow = allow_header(m.allow);
        response res = problem(405, "this path accepts only " + allow);
        res.set(bhttp::field::allow, allow);
        co_return res;
      }
      co_return problem(404, "no route matches this path");
    }
    ctx.matched = m.r;
    ctx.params = std::move(m.params);
    std::string_view target = ctx.req.target();
    std::size_t qmark = target.find('?');
    if (qmark != std::string_view::npos) detail::parse_query(target.substr(qmark + 1), ctx.query);
    co_return co_await invoke(c, *rs, ctx);
  }

  // Runs one request through routing, body checks, filters and handler; writes the
  // response. Returns whether the connection stays open.
  asio::awaitable<bool> respond(connection& c, request& req) {
    auto start = clock::now();
    in_flight busy(*in_flight_gauge_);

    std::string_view target = req.target();
    std::string_view path = target.substr(0, target.find('?'));

    request_context ctx{req, path, {}, {}, {}, {}, nullptr, {}};
    ctx.client_address = c.client;
    c.request_id.clear();
    c.traceparent.clear();
    ctx.tr.request_id = std::move(c.request_id);
    ctx.tr.traceparent = std::move(c.traceparent);
    auto id = req.find("X-Request-Id");
    if (id != req.end() && detail::is_valid_request_id(id->value()))
      ctx.tr.request_id.assign(id->value());
    else
      ctx.tr.request_id = detail::make_request_id();
    auto tp = req.find("traceparent");
    ctx.tr.traceparent =
        detail::continue_traceparent(tp != req.end() ? std::string_view(tp->value()) : std::string_view{});

    route_state* rs = nullptr;
    response res;
    std::optional<std::string> failure;
    try {
      res = co_await answer(c, ctx, rs);
    } catch (...) {
      failure = detail::current_exception_message();
    }
    if (failure) {
      log::error("http", "request failed outside its handler", {{"error", *failure}}, &ctx.tr);
      ctx.stream = nullptr;
      res = problem(500, "internal error");
    }
    route_stats& stats = rs ? rs->stats : unmatched_stats(req.method());

    const bool streaming = ctx.stream && res.result_int() >= 200 && res.result_int() < 300;
    const bool keep_alive = req.keep_alive() && !stopping_.load() && !streaming && !c.client_gone && !c.probe_only;
    res.version(req.version());
    res.keep_alive(keep_alive);
    stamp(res, ctx.tr.request_id, ctx.tr.traceparent);
    if (streaming) {
      co_await detail::stream_response(c.stream, c.shared_from_this(), res, ctx.stream, opts_.read_timeout, c.writer);
      finish(stats, req.method(), path, res, start, ctx.tr);
      co_return false;
    }
    if (status_without_body(res.result_int())) {
      res.body().clear();
      res.erase(bhttp::field::content_length);
    } else {
      res.content_length(res.body().size());
    }

    c.stream.expires_after(opts_.read_timeout);
    auto [ec, n] = co_await bhttp::async_write(c.stream, res, use_tuple);
    finish(stats, req.method(), path, res, start, ctx.tr);
    c.request_id = std::move(ctx.tr.request_id);
    c.traceparent = std::move(ctx.tr.traceparent);
    co_return keep_alive && !ec;
  }

  asio::awaitable<response> invoke(connection& c, route_state& rs, request_context& ctx) {
    const std::uint64_t generation = ++c.handler_generation;
    c.in_handler = true;
    c.handler_timed_out = false;
    c.handler_timer.expires_after(opts_.handler_timeout);
    ctx.deadline = clock::now() + opts_.handler_timeout;
    c.handler_timer.async_wait([conn = c.shared_from_this(), generation](boost::system::error_code ec) {
      if (ec || !conn->in_handler || conn->handler_generation != generation) return;
      conn->handler_timed_out = true;
      conn->cancel.emit(asio::cancellation_type::terminal);
    });

    c.client_gone = false;
    if (rs.r.cancel_on_disconnect) {
      c.watched = &ctx;
      watch_while_handling(c, generation);
    }

    std::optional<response> res;
    std::string failure;
    try {
      res = co_await rs.chain.front()(ctx);
    } catch (...) {
      failure = detail::current_exception_message();
    }
    c.in_handler = false;
    c.handler_timer.cancel();
    if (rs.r.cancel_on_disconnect) {
      c.watched = nullptr;
      boost::system::error_code ignored;
      c.stream.socket().cancel(ignored);  // the watch, if it is still waiting
    }

    if (c.client_gone) {
      co_await asio::this_coro::reset_cancellation_state();
      client_gone_->inc();
      log::info("http", "client closed the connection; its request was cancelled", {{"route", rs.r.pattern}}, &ctx.tr);
      co_return problem(499, "the client closed the connection before the answer");
    }
    if (c.handler_timed_out) {
      co_await asio::this_coro::reset_cancellation_state();
      log::warn("http", "handler timed out", {{"route", rs.r.pattern}}, &ctx.tr);
      co_return problem(504, "the request took longer than the server allows");
    }
    if (!res) {
      log::error("http", "handler failed", {{"route", rs.r.pattern}, {"error", failure}}, &ctx.tr);
      co_return problem(500, "internal error");
    }
    co_return std::move(*res);
  }

  // Waits for the socket to become readable while a handler runs: end of stream (or an
  // error) means the client went away, and the handler is cancelled. Bytes of a pipelined
  // request end the watch; they stay in the socket for the parser.
  void watch_while_handling(connection& c, std::uint64_t generation) {
    c.stream.socket().async_wait(
        tcp::socket::wait_read, [conn = c.shared_from_this(), generation](boost::system::error_code ec) {
          if (ec || !conn->in_handler || conn->handler_generation != generation) return;
          auto& socket = conn->stream.socket();
          char byte = 0;
          boost::system::error_code peek;
          socket.non_blocking(true, peek);
          const std::size_t n = socket.receive(asio::buffer(&byte, 1), tcp::socket::message_peek, peek);
          boost::system::error_code restore;
          socket.non_blocking(false, restore);
          if (!peek && n > 0) return;                        // a pipelined request, not a goodbye
          if (peek == asio::error::would_block) return;      // spurious wakeup: stop watching, harmlessly
          conn->client_gone = true;
          if (conn->watched) {
            conn->watched->client_left = true;
            auto callbacks = std::move(conn->watched->client_gone_callbacks);
            for (auto& f : callbacks) f();
          }
          conn->cancel.emit(asio::cancellation_type::terminal);
        });
  }

  void finish(route_stats& stats, verb method, std::string_view path, const response& res, clock::time_point start,
              const log::trace& tr) {
    const double seconds = std::chrono::duration<double>(clock::now() - start).count();
    stats.record(res.result_int(), seconds);
    auto& logger = log::global();
    if (!logger.enabled(log::level::info)) return;
    logger.write(
        log::level::info, "http", "request",
        {{"method", method == verb::unknown ? std::string_view{"OTHER"} : std::string_view(bhttp::to_string(method))},
         {"route", stats.route},
         {"path", path},
         {"status", res.result_int()},
         {"duration_ms", seconds * 1000.0},
         {"bytes", res.body().size()}},
        &tr);
  }

  template <class Fn>
  void for_each_connection(Fn fn) {
    std::vector<std::shared_ptr<connection>> open;
    {
      std::lock_guard lock(connections_mutex_);
      open.reserve(open_.size());
      for (auto& [raw, weak] : open_)
        if (auto c = weak.lock()) open.push_back(std::move(c));
    }
    for (auto& c : open) asio::post(c->stream.get_executor(), [c, fn] { fn(*c); });
  }

  void stop_accepting() {
    stopping_.store(true);
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
      boost::system::error_code ignored;
      self->acceptor_.close(ignored);
    });
  }

  // At the shutdown deadline: a stream is told to end and closed after stream_farewell
  // at the latest; anything else is closed now.
  void close_all() {
    for_each_connection([](connection& c) {
      if (c.writer) {
        auto force = [conn = c.shared_from_this()] {
          conn->cancel.emit(asio::cancellation_type::terminal);
          conn->stream.close();
        };
        c.writer->stop(stream_farewell, std::move(force));
        return;
      }
      c.cancel.emit(asio::cancellation_type::terminal);
      c.stream.close();
    });
  }

  void close_now() {
    for_each_connection([](connection& c) {
      c.cancel.emit(asio::cancellation_type::terminal);
      c.stream.close();
    });
  }

  asio::awaitable<void> shutdown(clock::time_point deadline) {
    auto self = shared_from_this();
    stop_accepting();
    for_each_connection([](connection& c) {
      if (c.idle) c.stream.close();
    });
    // Waits on the idle strand until no task runs or `until` passes: the check and the
    // wait's start happen in one strand turn, and task_done's wake-up runs on the same
    // strand, so the last task's end is never missed (no polling).
    auto wait_until = [self](clock::time_point until) -> asio::awaitable<void> {
      auto wait = [](std::shared_ptr<impl> s, clock::time_point u) -> asio::awaitable<void> {
        asio::steady_timer timer(s->idle_strand_);
        s->idle_timer_ = &timer;
        while (s->tasks_.load() > 0 && clock::now() < u) {
          timer.expires_at(u);
          co_await timer.async_wait(use_tuple);
        }
        s->idle_timer_ = nullptr;
      };
      auto op = wait(self, until);
      co_await asio::co_spawn(self->idle_strand_, std::move(op), asio::use_awaitable);
    };
    co_await wait_until(deadline);
    if (tasks_.load() > 0) {
      log::warn("http", "closing connections still busy at the shutdown deadline",
                {{"connections", connections_.load()}});
      close_all();
      co_await wait_until(clock::now() + shutdown_grace);
    }
  }

  asio::io_context& io_;
  server_options opts_;
  const router& router_;
  metrics::registry& metrics_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;

  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> connections_{0};
  std::atomic<std::size_t> tasks_{0};
  // shutdown()'s wait for the last task: the timer it waits on, touched only on the strand.
  asio::strand<asio::io_context::executor_type> idle_strand_{asio::make_strand(io_)};
  asio::steady_timer* idle_timer_ = nullptr;

  void task_done() {
    if (tasks_.fetch_sub(1) != 1) return;
    asio::post(idle_strand_, [self = shared_from_this()] {
      if (self->idle_timer_) self->idle_timer_->cancel();
    });
  }
  std::atomic<std::size_t> probing_{0};  // connections over the cap, serving one probe

  std::vector<filter> filters_;
  std::vector<std::unique_ptr<route_state>> routes_;
  std::unordered_map<const route*, route_state*> by_route_;

  std::array<std::atomic<route_stats*>, 64> unmatched_{};
  std::mutex unmatched_mutex_;
  std::vector<std::unique_ptr<route_stats>> unmatched_storage_;

  metrics::counter* rejected_header_ = nullptr;
  metrics::counter* rejected_body_ = nullptr;
  metrics::counter* client_gone_ = nullptr;
  metrics::counter* rejected_timeout_ = nullptr;
  metrics::counter* rejected_connections_ = nullptr;
  metrics::counter* rejected_per_client_ = nullptr;
  metrics::counter* rejected_bad_request_ = nullptr;
  metrics::counter* rejected_early_ = nullptr;
  metrics::counter* idle_closed_ = nullptr;
  metrics::gauge* connections_gauge_ = nullptr;
  metrics::gauge* in_flight_gauge_ = nullptr;

  std::mutex connections_mutex_;
  std::unordered_map<connection*, std::weak_ptr<connection>> open_;
  std::unordered_map<std::string, std::size_t> per_client_;  // under connections_mutex_
  // Idle connections to close near the cap, oldest at the back; the acceptor's alone.
  std::vector<std::pair<std::weak_ptr<connection>, std::uint64_t>> eviction_queue_;
  clock::time_point last_gather_{};
};

server::server(asio::io_context& io, server_options opts, const router& r, metrics::registry& m)
    : impl_(std::make_shared<impl>(io, std::move(opts), r, m)) {}

server::~server() {
  impl_->stop_accepting();
  impl_->close_now();
}

void server::start() { impl_->start(); }

std::uint16_t server::port() const noexcept { return impl_->port_; }

asio::awaitable<void> server::shutdown(std::chrono::steady_clock::time_point deadline) {
  co_await impl_->shutdown(deadline);
}

std::size_t server::connections() const noexcept { return impl_->connections_.load(); }

}  // namespace agora::http
