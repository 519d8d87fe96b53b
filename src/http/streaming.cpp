#include "http/streaming.hpp"

#include "http/codec.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <exception>

namespace agora::http::detail {

namespace {

namespace bhttp = beast::http;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Shared by a streamed response and its watch read, which may finish later.
struct watch_state {
  chunk_writer* writer = nullptr;
};

asio::awaitable<void> watch_client(std::shared_ptr<void> owner, beast::tcp_stream& stream,
                                   std::shared_ptr<watch_state> w) {
  std::array<char, 512> discard{};
  for (;;) {
    auto [ec, n] = co_await stream.socket().async_read_some(asio::buffer(discard), use_tuple);
    if (ec) break;  // anything the client sends while it streams is ignored
  }
  if (w->writer) w->writer->mark_gone();
}

}  // namespace

chunk_writer::chunk_writer(beast::tcp_stream& stream, std::chrono::milliseconds timeout)
    : stream_(stream), timeout_(timeout), farewell_(stream.get_executor()) {}

chunk_writer::~chunk_writer() { farewell_.cancel(); }

asio::awaitable<bool> chunk_writer::write(std::string_view data) {
  if (gone_ || failed_) co_return false;
  if (data.empty()) co_return true;
  stream_.expires_after(timeout_);
  auto [ec, n] = co_await asio::async_write(stream_, bhttp::make_chunk(asio::buffer(data.data(), data.size())),
                                            use_tuple);
  stream_.expires_never();
  if (ec) {
    failed_ = true;
    mark_gone();
    co_return false;
  }
  bytes_ += data.size();
  co_return true;
}

void chunk_writer::on_client_gone(std::function<void()> f) {
  if (gone_)
    f();
  else
    on_gone_.push_back(std::move(f));
}

void chunk_writer::on_stopping(std::function<void()> f) {
  if (stopping_)
    f();
  else
    on_stopping_.push_back(std::move(f));
}

void chunk_writer::mark_gone() {
  if (gone_) return;
  gone_ = true;
  auto callbacks = std::move(on_gone_);
  for (auto& f : callbacks) f();
}

void chunk_writer::stop(std::chrono::milliseconds farewell, std::function<void()> force) {
  if (stopping_) return;
  stopping_ = true;
  farewell_.expires_after(farewell);
  farewell_.async_wait([force = std::move(force), alive = std::weak_ptr<bool>(alive_)](boost::system::error_code ec) {
    if (!ec && !alive.expired()) force();
  });
  auto callbacks = std::move(on_stopping_);
  for (auto& f : callbacks) f();
}

asio::awaitable<void> stream_response(beast::tcp_stream& stream, std::shared_ptr<void> owner, response& res,
                                      const stream_body& produce, std::chrono::milliseconds timeout,
                                      chunk_writer*& active) {
  res.body().clear();
  res.erase(bhttp::field::content_length);
  res.chunked(true);
  res.set(bhttp::field::cache_control, "no-cache");
  bhttp::response_serializer<bhttp::string_body> head(res);
  stream.expires_after(timeout);
  auto [hec, hn] = co_await bhttp::async_write_header(stream, head, use_tuple);
  stream.expires_never();
  if (hec) co_return;

  chunk_writer writer(stream, timeout);
  auto watch = std::make_shared<watch_state>();
  watch->writer = &writer;
  auto watcher = watch_client(std::move(owner), stream, watch);
  asio::co_spawn(stream.get_executor(), std::move(watcher), asio::detached);
  active = &writer;
  try {
    co_await produce(writer);
  } catch (...) {
    log::error("http", "stream producer failed", {{"error", detail::current_exception_message()}});
  }
  active = nullptr;
  if (!writer.failed()) {
    stream.expires_after(timeout);
    co_await asio::async_write(stream, bhttp::make_chunk_last(), use_tuple);
    stream.expires_never();
  }
  watch->writer = nullptr;
  boost::system::error_code ignored;
  stream.socket().cancel(ignored);
}

}  // namespace agora::http::detail
