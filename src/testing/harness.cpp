#include <agora/testing.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>

#include <cctype>
#include <random>

namespace agora::testing {

namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool closed_by_peer(const beast::error_code& ec) {
  return ec == beast::http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe;
}

}  // namespace

nlohmann::json reply::json() const { return nlohmann::json::parse(body); }

std::set<std::string> reply::error_fields() const {
  std::set<std::string> out;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("errors") || !j["errors"].is_array()) return out;
  for (const auto& e : j["errors"])
    if (e.is_object() && e.contains("field") && e["field"].is_string()) out.insert(e["field"].get<std::string>());
  return out;
}

std::string reply::header(std::string_view name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? std::string() : it->second;
}

struct client::impl {
  std::string bearer;
  std::string host;
  std::uint16_t port;
  std::chrono::milliseconds timeout;
  asio::io_context io;
  tcp::socket socket{io};
  beast::flat_buffer buffer;

  // Runs one asynchronous operation on the private io_context until it completes or the
  // timeout passes; then the socket is closed and the result is timed_out.
  template <class Start>
  beast::error_code run(Start start) {
    std::optional<beast::error_code> done;
    start([&done](beast::error_code ec, auto&&...) { done = ec; });
    io.restart();
    io.run_for(timeout);
    if (done) return *done;
    close();
    io.restart();
    io.run();
    return asio::error::timed_out;
  }

  void close() {
    beast::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    buffer.clear();
  }

  beast::error_code connect() {
    beast::error_code ec;
    tcp::resolver resolver(io);
    auto endpoints = resolver.resolve(host, std::to_string(port), ec);
    if (ec) return ec;
    ec = run([&](auto done) { asio::async_connect(socket, endpoints, done); });
    if (ec) {
      close();
      return ec;
    }
    socket.set_option(tcp::no_delay(true), ec);
    return {};
  }

  reply failure(const beast::http::request<beast::http::string_body>& req, std::string_view step,
                const beast::error_code& ec) {
    reply out;
    out.error = fmt::format("{} {} on {}:{}: {} failed: {}", std::string(req.method_string()), std::string(req.target()),
                            host, port, step, ec.message());
    return out;
  }

  reply exchange(beast::http::request<beast::http::string_body>& req) {
    for (int attempt = 0;; ++attempt) {
      bool reused = socket.is_open();
      if (!reused) {
        if (auto ec = connect()) return failure(req, "connect", ec);
      }
      auto ec = run([&](auto done) { beast::http::async_write(socket, req, done); });
      beast::http::response_parser<beast::http::string_body> parser;
      parser.body_limit(64 * 1024 * 1024);
      if (req.method() == beast::http::verb::head) parser.skip(true);
      if (!ec) ec = run([&](auto done) { beast::http::async_read(socket, buffer, parser, done); });
      if (ec) {
        close();
        // A kept-alive connection the server closed meanwhile (idle close, restart):
        // nothing was answered on it, so the request goes once more on a new one.
        if (reused && attempt == 0 && !parser.got_some() && closed_by_peer(ec)) continue;
        return failure(req, parser.got_some() ? "reading the reply" : "exchange", ec);
      }
      auto res = parser.release();
      reply out;
      out.status = static_cast<int>(res.result_int());
      for (const auto& f : res) {
        auto [it, inserted] = out.headers.emplace(lower(f.name_string()), std::string(f.value()));
        if (!inserted) it->second += ", " + std::string(f.value());
      }
      out.body = std::move(res.body());
      if (!res.keep_alive()) close();
      return out;
    }
  }
};

client::client(std::string host, std::uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<impl>()) {
  impl_->host = std::move(host);
  impl_->port = port;
  impl_->timeout = timeout;
}
client::~client() = default;
client::client(client&&) noexcept = default;
client& client::operator=(client&&) noexcept = default;

void client::set_timeout(std::chrono::milliseconds timeout) { impl_->timeout = timeout; }

reply client::request(std::string_view method, std::string_view target, std::string_view body,
                      const std::map<std::string, std::string>& headers) {
  beast::http::request<beast::http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(beast::http::field::host, fmt::format("{}:{}", impl_->host, impl_->port));
  bool has_type = false, has_credential = false;
  for (const auto& [k, v] : headers) {
    const bool credential = lower(k) == "authorization" || lower(k) == "x-api-key";
    if (credential) has_credential = true;
    if (credential && v.empty()) continue;  // "send none", not an empty header
    req.set(k, v);
    if (lower(k) == "content-type") has_type = true;
  }
  if (!has_credential && !impl_->bearer.empty()) req.set(beast::http::field::authorization, "Bearer " + impl_->bearer);
  if (!body.empty()) {
    if (!has_type) req.set(beast::http::field::content_type, "application/json");
    req.body() = std::string(body);
  }
  req.prepare_payload();
  return impl_->exchange(req);
}

void client::authorize(std::string credential) { impl_->bearer = std::move(credential); }

std::string login(client& c, std::string_view email, std::string_view password) {
  auto r = c.post("/v1/auth/login", {{"email", email}, {"password", password}}, {{"Authorization", ""}});
  if (r.status != 200) throw std::runtime_error(fmt::format("login as {} answered {}: {}", email, r.status, r.body));
  return r.json().at("access_token").get<std::string>();
}

reply client::get(std::string_view target, const std::map<std::string, std::string>& headers) {
  return request("GET", target, {}, headers);
}
reply client::post(std::string_view target, const nlohmann::json& body, const std::map<std::string, std::string>& headers) {
  return request("POST", target, body.dump(), headers);
}
reply client::put(std::string_view target, const nlohmann::json& body, const std::map<std::string, std::string>& headers) {
  return request("PUT", target, body.dump(), headers);
}
reply client::patch(std::string_view target, const nlohmann::json& body, const std::map<std::string, std::string>& headers) {
  return request("PATCH", target, body.dump(), headers);
}
reply client::del(std::string_view target, const std::map<std::string, std::string>& headers) {
  return request("DELETE", target, {}, headers);
}

harness::harness(options opts) : opts_(std::move(opts)) {
  if (opts_.data_dir.empty()) {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() / fmt::format("agora-test-{:016x}", (std::uint64_t{rd()} << 32) | rd());
    temporary_ = true;
  } else {
    dir_ = opts_.data_dir;
  }
  std::filesystem::create_directories(dir_);
  try {
    boot();
  } catch (...) {
    if (temporary_) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
    throw;
  }
}

harness::~harness() {
  try {
    if (app_) app_->stop();
  } catch (...) {
  }
  app_.reset();
  if (temporary_) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

void harness::boot() {
  auto modules = opts_.modules.empty() ? all_modules() : opts_.modules;
  config::config cfg(all_settings(modules));
  cfg.set("server.address", "127.0.0.1");
  cfg.set("server.port", 0);
  cfg.set("data_dir", dir_.string());
  cfg.set("server.io_threads", opts_.io_threads);
  cfg.set("log.level", "warn");
  cfg.set("shutdown.deadline_ms", 5000);
  if (std::any_of(modules.begin(), modules.end(), [](const module_definition& m) { return m.name == "customers"; })) {
    cfg.set("modules.customers.admin_email", std::string(admin_email));
    cfg.set("modules.customers.admin_password", std::string(admin_password));
    cfg.set("modules.customers.password_memory_kib", 64);
    cfg.set("modules.customers.password_iterations", 1);
  }
  for (const auto& [k, v] : opts_.settings) cfg.set(k, v);
  // A restart keeps the port, so clients made before it reach the new app.
  if (port_ != 0) cfg.set("server.port", port_);
  auto a = std::make_unique<agora::app>(std::move(cfg), std::move(modules));
  if (opts_.clock) a->use_clock(*opts_.clock);
  a->start();
  app_ = std::move(a);
  port_ = app_->port();
}

std::uint16_t harness::port() const noexcept { return port_; }
const std::filesystem::path& harness::data_dir() const noexcept { return dir_; }
agora::app& harness::app() { return *app_; }
client harness::connect() const { return client("127.0.0.1", port_); }

client harness::connect_as_admin() const {
  auto c = connect();
  c.authorize(login(c, admin_email, admin_password));
  return c;
}

void harness::restart() {
  if (app_) app_->stop();
  app_.reset();
  boot();
}

}  // namespace agora::testing
