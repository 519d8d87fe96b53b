#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstddef>
#include <memory>
#include <string>

namespace agora {

namespace asio = boost::asio;

// The owner of background coroutines (sweeps, timers, relays, writes that land after a
// reply): every task spawned here is tracked until it finishes, so that a stop can cancel
// them and wait for the last one without polling.
//
// Cancellation is asio's: stop() and cancel() emit terminal cancellation to each task, on
// the task's executor; its pending cancellable operation (a timer wait, a socket read)
// ends with operation_aborted, and, unless the task turned off
// `this_coro::throw_if_cancelled`, its next co_await throws. A task that must finish its
// work on cancellation sets `co_await this_coro::throw_if_cancelled(false)` and reads
// `(co_await this_coro::cancellation_state).cancelled()`. The signal is not thread-safe, so
// a task that can be cancelled must run on a strand (or a one-thread executor).
//
// Thread-safe. An exception escaping a task is logged with its name and touches nothing
// else. Destroying the group cancels what still runs (without waiting for it): stop()
// first.
class task_group {
 public:
  task_group();
  ~task_group();
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;

  // Starts `task` on `ex` and tracks it. After stop() has begun, runs nothing and
  // returns false.
  bool spawn(asio::any_io_executor ex, asio::awaitable<void> task, std::string name = "task");

  // Emits terminal cancellation to every task running now.
  void cancel();

  // Refuses new tasks, cancels the running ones and completes once every one has
  // finished (at once when none runs). The completion is posted to the caller's executor.
  asio::awaitable<void> stop();

  // Completes once no task runs (at once when none does), without cancelling any. Tasks
  // spawned while waiting are waited for too.
  asio::awaitable<void> wait();

  std::size_t size() const;

  struct state;

 private:
  static void add_waiter(const std::shared_ptr<state>& s, asio::any_io_executor ex,
                         asio::any_completion_handler<void()> h);

  std::shared_ptr<state> state_;
};

inline asio::awaitable<void> task_group::wait() {
  auto init = [](auto handler, std::shared_ptr<state> s) {
    asio::any_io_executor ex = asio::get_associated_executor(handler);
    add_waiter(s, std::move(ex), std::move(handler));
  };
  co_await asio::async_initiate<const asio::use_awaitable_t<>, void()>(init, asio::use_awaitable, state_);
}

}  // namespace agora
