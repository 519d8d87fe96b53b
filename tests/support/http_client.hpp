#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// A blocking HTTP/1.1 client for tests: one keep-alive connection, every call bounded
// by a timeout, and raw bytes for malformed or slow-client scenarios. Not thread-safe;
// use one client per thread.
namespace agora::test {

using http_headers = std::vector<std::pair<std::string, std::string>>;

struct http_reply {
  boost::beast::http::response<boost::beast::http::string_body> raw;

  int status() const { return raw.result_int(); }
  const std::string& body() const { return raw.body(); }
  // Empty when absent.
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  nlohmann::json json() const { return nlohmann::json::parse(raw.body()); }
};

class http_client {
 public:
  // Connects at once; throws std::runtime_error when that fails within the timeout.
  http_client(std::string host, std::uint16_t port,
              std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  // Sends one request on the open connection and reads its reply. A body with no
  // Content-Type header given is sent as application/json. Throws on I/O errors.
  http_reply request(boost::beast::http::verb method, std::string_view target, std::string_view body = {},
                     const http_headers& headers = {});
  http_reply get(std::string_view target, const http_headers& headers = {});
  http_reply post_json(std::string_view target, const nlohmann::json& body, const http_headers& headers = {});

  // Writes a request without reading; pair with read_reply() for pipelining.
  void send(boost::beast::http::verb method, std::string_view target, std::string_view body = {},
            const http_headers& headers = {});
  void send_raw(std::string_view bytes);
  http_reply read_reply();
  // Nothing when no whole reply arrives before the timeout or the server closes first.
  std::optional<http_reply> try_read_reply(std::chrono::milliseconds timeout);

  // Waits until the server closes the connection (end of stream or reset): true, or
  // the timeout passes: false. Bytes the server sends meanwhile are dropped.
  bool wait_closed(std::chrono::milliseconds timeout);
  bool is_open() const;
  void close();

  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }

 private:
  template <class Start>
  boost::system::error_code run(Start start, std::chrono::milliseconds timeout);

  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  std::string host_;
  std::uint16_t port_;
  std::chrono::milliseconds timeout_;
};

// One request on a fresh connection.
http_reply http_get(std::uint16_t port, std::string_view target, const http_headers& headers = {});

}  // namespace agora::test
