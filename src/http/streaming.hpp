#pragma once

#include <agora/http.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

// Streamed response bodies: chunked transfer encoding on a connection's stream, a watch
// read that notices the client leaving, and the server's word that it is stopping.
namespace agora::http::detail {

// The body_writer of one streamed response. Lives in stream_response's frame; every
// member is used on the connection's executor only.
class chunk_writer final : public body_writer {
 public:
  chunk_writer(beast::tcp_stream& stream, std::chrono::milliseconds timeout);
  ~chunk_writer() override;

  asio::awaitable<bool> write(std::string_view data) override;
  bool client_gone() const noexcept override { return gone_; }
  void on_client_gone(std::function<void()> f) override;
  bool stopping() const noexcept override { return stopping_; }
  void on_stopping(std::function<void()> f) override;

  void mark_gone();
  // The server is stopping: runs the on_stopping callbacks now, and `force` after
  // `farewell` unless the stream has ended by then.
  void stop(std::chrono::milliseconds farewell, std::function<void()> force);

  bool failed() const noexcept { return failed_; }
  std::size_t bytes() const noexcept { return bytes_; }

 private:
  beast::tcp_stream& stream_;
  std::chrono::milliseconds timeout_;
  asio::steady_timer farewell_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool gone_ = false;
  bool failed_ = false;
  bool stopping_ = false;
  std::size_t bytes_ = 0;
  std::vector<std::function<void()>> on_gone_;
  std::vector<std::function<void()>> on_stopping_;
};

// Writes `res` as the head of a chunked body, runs `produce` with a chunk_writer, and ends
// the body. `owner` keeps the stream alive for the watch read, which may outlive this
// call. `active` points at the writer while the producer runs (for the server's stop),
// and is null again when this returns. Exceptions of the producer are logged, not thrown.
asio::awaitable<void> stream_response(beast::tcp_stream& stream, std::shared_ptr<void> owner, response& res,
                                      const stream_body& produce, std::chrono::milliseconds timeout,
                                      chunk_writer*& active);

}  // namespace agora::http::detail
