#pragma once

#include <agora/http.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/use_future.hpp>

#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace agora::http::testing {

// A server on 127.0.0.1, port 0, run by an io_context on `threads` threads.
// Add routes to `routes` before start().
struct test_server {
  // Access-log lines at info would drown the test output.
  explicit test_server(int threads = 3) : thread_count(threads) { log::global().set_level(log::level::warn); }

  ~test_server() {
    if (srv && !stopped) stop(std::chrono::milliseconds(2000));
    guard.reset();
    io.stop();
    for (auto& t : pool) t.join();
    srv.reset();
  }

  void start(server_options opts = {}) {
    opts.address = "127.0.0.1";
    opts.port = 0;
    srv = std::make_unique<server>(io, opts, routes, metrics);
    srv->start();
    guard.emplace(io.get_executor());
    for (int i = 0; i < thread_count; ++i) pool.emplace_back([this] { io.run(); });
  }

  // Runs server::shutdown to completion on the io threads.
  void stop(std::chrono::milliseconds within) {
    stopped = true;
    asio::co_spawn(io, srv->shutdown(std::chrono::steady_clock::now() + within), asio::use_future).get();
  }

  std::uint16_t port() const { return srv->port(); }

  asio::io_context io;
  metrics::registry metrics;
  router routes;
  std::unique_ptr<server> srv;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::vector<std::thread> pool;
  int thread_count;
  bool stopped = false;
};

}  // namespace agora::http::testing
