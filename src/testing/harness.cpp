#include <agora/testing.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>

#include <atomic>
#include <cctype>
#include <random>

namespace agora::testing {

namespace beast = boost::beast;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

nlohmann::json reply::json() const { return nlohmann::json::parse(body); }

std::string reply::header(std::string_view name) const {
  std::string key(name);
  for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto it = headers.find(key);
  return it == headers.end() ? std::string() : it->second;
}

struct client::impl {
  std::string host;
  std::uint16_t port;
  asio::io_context io;
  tcp::socket socket{io};
  beast::flat_buffer buffer;
  bool connected = false;

  void connect() {
    tcp::resolver resolver(io);
    socket = tcp::socket(io);
    asio::connect(socket, resolver.resolve(host, std::to_string(port)));
    socket.set_option(tcp::no_delay(true));
    buffer.clear();
    connected = true;
  }

  reply exchange(beast::http::request<beast::http::string_body>& req) {
    for (int attempt = 0;; ++attempt) {
      if (!connected) connect();
      beast::error_code ec;
      beast::http::write(socket, req, ec);
      beast::http::response_parser<beast::http::string_body> parser;
      parser.body_limit(64 * 1024 * 1024);
      if (req.method() == beast::http::verb::head) parser.skip(true);
      if (!ec) beast::http::read(socket, buffer, parser, ec);
      if (ec) {
        connected = false;
        // A keep-alive connection the server closed meanwhile: retry once on a new one.
        if (attempt == 0 && (ec == beast::http::error::end_of_stream || ec == asio::error::eof ||
                             ec == asio::error::connection_reset || ec == asio::error::broken_pipe))
          continue;
        throw beast::system_error(ec);
      }
      auto res = parser.release();
      reply out;
      out.status = static_cast<int>(res.result_int());
      for (const auto& f : res) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        auto [it, inserted] = out.headers.emplace(name, std::string(f.value()));
        if (!inserted) it->second += ", " + std::string(f.value());
      }
      out.body = std::move(res.body());
      if (!res.keep_alive()) {
        beast::error_code ignored;
        socket.shutdown(tcp::socket::shutdown_both, ignored);
        connected = false;
      }
      return out;
    }
  }
};

client::client(std::string host, std::uint16_t port) : impl_(std::make_unique<impl>()) {
  impl_->host = std::move(host);
  impl_->port = port;
}
client::~client() = default;
client::client(client&&) noexcept = default;

reply client::request(std::string_view method, std::string_view target, std::string_view body,
                      const std::map<std::string, std::string>& headers) {
  beast::http::request<beast::http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(beast::http::field::host, fmt::format("{}:{}", impl_->host, impl_->port));
  bool has_type = false;
  for (const auto& [k, v] : headers) {
    req.set(k, v);
    std::string lower = k;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "content-type") has_type = true;
  }
  if (!body.empty()) {
    if (!has_type) req.set(beast::http::field::content_type, "application/json");
    req.body() = std::string(body);
  }
  req.prepare_payload();
  return impl_->exchange(req);
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
  boot();
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
  cfg.set("server.port", 0);
  cfg.set("data_dir", dir_.string());
  cfg.set("server.io_threads", opts_.io_threads);
  cfg.set("log.level", "warn");
  cfg.set("shutdown.deadline_ms", 5000);
  for (const auto& [k, v] : opts_.settings) cfg.set(k, v);
  app_ = std::make_unique<agora::app>(std::move(cfg), std::move(modules));
  app_->start();
}

std::uint16_t harness::port() const noexcept { return app_ ? app_->port() : 0; }
const std::filesystem::path& harness::data_dir() const noexcept { return dir_; }
agora::app& harness::app() { return *app_; }
client harness::connect() const { return client("127.0.0.1", port()); }

void harness::restart() {
  if (app_) app_->stop();
  app_.reset();
  boot();
}

}  // namespace agora::testing
