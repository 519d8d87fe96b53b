#include <agora/log.hpp>
#include <agora/task_group.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>

#include <list>
#include <mutex>
#include <vector>

namespace agora {

namespace {

// One running task. `signal` and `done` are touched only on `ex`: the completion handler
// runs there, and so does every emit.
struct task {
  task(asio::any_io_executor ex, std::string name) : ex(std::move(ex)), name(std::move(name)) {}
  asio::any_io_executor ex;
  std::string name;
  asio::cancellation_signal signal;
  bool done = false;
};

void emit_on_its_executor(const std::shared_ptr<task>& t) {
  asio::post(t->ex, [t] {
    if (!t->done) t->signal.emit(asio::cancellation_type::terminal);
  });
}

struct waiter {
  asio::any_io_executor ex;
  asio::any_completion_handler<void()> h;
};

void resume(waiter w) {
  asio::post(w.ex, [h = std::move(w.h)]() mutable { std::move(h)(); });
}

}  // namespace

struct task_group::state {
  mutable std::mutex mu;
  std::list<std::shared_ptr<task>> running;
  std::vector<waiter> waiters;
  bool stopping = false;

  void finished(std::list<std::shared_ptr<task>>::iterator it) {
    std::vector<waiter> woken;
    {
      std::lock_guard lock(mu);
      running.erase(it);
      if (running.empty()) woken.swap(waiters);
    }
    for (auto& h : woken) resume(std::move(h));
  }
};

task_group::task_group() : state_(std::make_shared<state>()) {}

task_group::~task_group() { cancel(); }

bool task_group::spawn(asio::any_io_executor ex, asio::awaitable<void> body, std::string name) {
  auto t = std::make_shared<task>(ex, std::move(name));
  std::list<std::shared_ptr<task>>::iterator it;
  {
    std::lock_guard lock(state_->mu);
    if (state_->stopping) return false;
    it = state_->running.insert(state_->running.end(), t);
  }
  auto done = [s = state_, t, it](std::exception_ptr e) {
    t->done = true;
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        log::error("task_group", "background task failed", {{"task", t->name}, {"error", x.what()}});
      } catch (...) {
        log::error("task_group", "background task failed", {{"task", t->name}});
      }
    }
    s->finished(it);
  };
  asio::co_spawn(ex, std::move(body), asio::bind_cancellation_slot(t->signal.slot(), std::move(done)));
  return true;
}

void task_group::cancel() {
  std::vector<std::shared_ptr<task>> now;
  {
    std::lock_guard lock(state_->mu);
    now.assign(state_->running.begin(), state_->running.end());
  }
  for (const auto& t : now) emit_on_its_executor(t);
}

asio::awaitable<void> task_group::stop() {
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
  }
  cancel();
  co_await wait();
}

std::size_t task_group::size() const {
  std::lock_guard lock(state_->mu);
  return state_->running.size();
}

void task_group::add_waiter(const std::shared_ptr<state>& s, asio::any_io_executor ex,
                            asio::any_completion_handler<void()> h) {
  waiter w{std::move(ex), std::move(h)};
  {
    std::lock_guard lock(s->mu);
    if (!s->running.empty()) {
      s->waiters.push_back(std::move(w));
      return;
    }
  }
  resume(std::move(w));
}

}  // namespace agora
