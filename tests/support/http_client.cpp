#include "support/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <stdexcept>

namespace agora::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

std::string http_reply::header(std::string_view name) const {
  auto it = raw.find(name);
  return it == raw.end() ? std::string{} : std::string(it->value());
}

bool http_reply::has_header(std::string_view name) const { return raw.find(name) != raw.end(); }

http_client::http_client(std::string host, std::uint16_t port, std::chrono::milliseconds timeout)
    : socket_(io_), host_(std::move(host)), port_(port), timeout_(timeout) {
  tcp::endpoint endpoint{asio::ip::make_address(host_), port_};
  auto ec = run([&](auto done) { socket_.async_connect(endpoint, [done](auto ec) { done(ec); }); }, timeout_);
  if (ec)
    throw std::runtime_error("http_client: connect to " + host_ + ":" + std::to_string(port_) + ": " + ec.message());
  socket_.set_option(tcp::no_delay(true));
}

http_client::~http_client() { close(); }

// Runs one asynchronous operation on the private io_context, cancelling it when the
// timeout passes; the operation then completes with operation_aborted.
template <class Start>
boost::system::error_code http_client::run(Start start, std::chrono::milliseconds timeout) {
  std::optional<boost::system::error_code> result;
  start([&result](boost::system::error_code ec) { result = ec; });
  io_.restart();
  io_.run_for(timeout);
  if (!result) {
    boost::system::error_code ignored;
    socket_.cancel(ignored);
    io_.restart();
    io_.run();
    if (!result || !*result)
      result = asio::error::timed_out;
    else if (*result == asio::error::operation_aborted)
      result = asio::error::timed_out;
  }
  return *result;
}

void http_client::send(bhttp::verb method, std::string_view target, std::string_view body,
                       const http_headers& headers) {
  bhttp::request<bhttp::string_body> req{method, target, 11};
  req.set(bhttp::field::host, host_ + ":" + std::to_string(port_));
  bool has_type = false;
  for (const auto& [name, value] : headers) {
    req.insert(name, value);
    if (beast::iequals(name, "content-type")) has_type = true;
  }
  if (!body.empty()) {
    req.body() = std::string(body);
    if (!has_type) req.set(bhttp::field::content_type, "application/json");
  }
  if (!body.empty() || method == bhttp::verb::post || method == bhttp::verb::put || method == bhttp::verb::patch)
    req.prepare_payload();
  auto ec =
      run([&](auto done) { bhttp::async_write(socket_, req, [done](auto ec, std::size_t) { done(ec); }); }, timeout_);
  if (ec) throw std::runtime_error("http_client: write: " + ec.message());
}

void http_client::send_raw(std::string_view bytes) {
  auto ec = run(
      [&](auto done) { asio::async_write(socket_, asio::buffer(bytes), [done](auto ec, std::size_t) { done(ec); }); },
      timeout_);
  if (ec) throw std::runtime_error("http_client: write: " + ec.message());
}

std::optional<http_reply> http_client::try_read_reply(std::chrono::milliseconds timeout) {
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  parser.header_limit(1024 * 1024);
  auto ec =
      run([&](auto done) { bhttp::async_read(socket_, buffer_, parser, [done](auto ec, std::size_t) { done(ec); }); },
          timeout);
  if (ec) return std::nullopt;
  return http_reply{parser.release()};
}

http_reply http_client::read_reply() {
  auto reply = try_read_reply(timeout_);
  if (!reply) throw std::runtime_error("http_client: no reply within the timeout or the connection closed");
  return std::move(*reply);
}

http_reply http_client::request(bhttp::verb method, std::string_view target, std::string_view body,
                                const http_headers& headers) {
  send(method, target, body, headers);
  return read_reply();
}

http_reply http_client::get(std::string_view target, const http_headers& headers) {
  return request(bhttp::verb::get, target, {}, headers);
}

http_reply http_client::post_json(std::string_view target, const nlohmann::json& body, const http_headers& headers) {
  return request(bhttp::verb::post, target, body.dump(), headers);
}

bool http_client::wait_closed(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::array<char, 4096> sink;
  buffer_.clear();
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    auto ec =
        run([&](auto done) { socket_.async_read_some(asio::buffer(sink), [done](auto ec, std::size_t) { done(ec); }); },
            left);
    if (ec == asio::error::timed_out) return false;
    if (ec) return true;
  }
}

bool http_client::is_open() const { return socket_.is_open(); }

void http_client::close() {
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

http_reply http_get(std::uint16_t port, std::string_view target, const http_headers& headers) {
  http_client client("127.0.0.1", port);
  return client.get(target, headers);
}

}  // namespace agora::test
