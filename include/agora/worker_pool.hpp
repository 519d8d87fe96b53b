#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>

// A few threads of a module's own for CPU-heavy work that must not run on an io thread,
// a module's strand or its store thread (password hashing, say). A coroutine hands a
// function over and resumes on its own executor with the result; at most `threads` run
// at once, the rest queue.
namespace agora {

class worker_pool {
 public:
  explicit worker_pool(std::size_t threads) : pool_(threads), threads_(threads) {}
  ~worker_pool() { stop(); }
  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;

  // Runs f() on the pool; the caller resumes on its own executor. What f throws is
  // rethrown to the caller.
  template <class F>
  boost::asio::awaitable<std::invoke_result_t<F>> run(F f) {
    using R = std::invoke_result_t<F>;
    auto task = [f = std::move(f)]() mutable -> boost::asio::awaitable<R> { co_return f(); };
    co_return co_await boost::asio::co_spawn(pool_.get_executor(), std::move(task), boost::asio::use_awaitable);
  }

  std::size_t threads() const noexcept { return threads_; }
  // Finishes what is queued and joins the threads.
  void stop() { pool_.join(); }

 private:
  boost::asio::thread_pool pool_;
  std::size_t threads_;
};

}  // namespace agora
