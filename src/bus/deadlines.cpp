#include "bus/deadlines.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <vector>

namespace agora::bus::detail {
namespace {

std::int64_t ticks(clock::time_point t) { return t.time_since_epoch().count(); }

unsigned this_thread_shard(std::size_t count) {
  static std::atomic<unsigned> next{0};
  thread_local unsigned mine = next.fetch_add(1, std::memory_order_relaxed);
  return mine % count;
}

}  // namespace

deadline_list::deadline_list(executor timers, std::chrono::microseconds slack)
    : strand_(asio::make_strand(std::move(timers))), timer_(strand_), slack_(slack) {}

void deadline_list::add(std::shared_ptr<pending_call> call) {
  auto* p = call.get();
  const auto at = ticks(p->deadline_);
  p->shard_ = this_thread_shard(shard_count);
  auto& s = shards_[p->shard_];
  {
    std::lock_guard lock(s.mu);
    p->self_ = std::move(call);
    p->prev_ = nullptr;
    p->next_ = s.head;
    if (s.head) s.head->prev_ = p;
    s.head = p;
  }
  size_.fetch_add(1, std::memory_order_relaxed);
  lower_hint(at);
}

std::shared_ptr<pending_call> deadline_list::remove(pending_call& call) {
  auto& s = shards_[call.shard_];
  std::shared_ptr<pending_call> ref;
  {
    std::lock_guard lock(s.mu);
    if (call.prev_) call.prev_->next_ = call.next_;
    else s.head = call.next_;
    if (call.next_) call.next_->prev_ = call.prev_;
    call.prev_ = call.next_ = nullptr;
    ref = std::move(call.self_);
  }
  size_.fetch_sub(1, std::memory_order_relaxed);
  return ref;
}

void deadline_list::stop() {
  asio::post(strand_, [self = shared_from_this()] {
    self->stopped_ = true;
    self->timer_.cancel();
  });
}

// The hint is never earlier than a wake-up already promised to the timer, so an add
// whose deadline is not before the hint can rely on that wake-up to see it.
void deadline_list::lower_hint(std::int64_t at) {
  auto h = hint_.load();
  while (at < h) {
    if (hint_.compare_exchange_weak(h, at)) {
      asio::post(strand_, [self = shared_from_this(), at] { self->arm(at); });
      return;
    }
  }
}

void deadline_list::arm(std::int64_t at) {
  if (stopped_ || at >= armed_at_) return;
  armed_at_ = at;
  timer_.expires_at(clock::time_point(clock::duration(at)));
  timer_.async_wait([self = shared_from_this(), gen = ++gen_](boost::system::error_code ec) {
    if (!ec) self->fire(gen);
  });
}

void deadline_list::fire(std::uint64_t gen) {
  if (stopped_ || gen != gen_) return;
  armed_at_ = never;
  hint_.store(never);
  const auto now = clock::now();
  std::vector<std::shared_ptr<pending_call>> expired;
  std::int64_t next = never;
  for (auto& s : shards_) {
    std::lock_guard lock(s.mu);
    for (auto* p = s.head; p;) {
      auto* following = p->next_;
      if (p->deadline_ > now) {
        next = std::min(next, ticks(p->deadline_));
      } else if (p->claim()) {
        if (p->prev_) p->prev_->next_ = p->next_;
        else s.head = p->next_;
        if (p->next_) p->next_->prev_ = p->prev_;
        p->prev_ = p->next_ = nullptr;
        expired.push_back(std::move(p->self_));
      }
      p = following;
    }
  }
  size_.fetch_sub(expired.size(), std::memory_order_relaxed);
  for (auto& call : expired) call->on_deadline();
  if (next == never) return;
  next = std::max(next, ticks(now + slack_));
  auto h = hint_.load();
  while (next < h) {
    if (hint_.compare_exchange_weak(h, next)) {
      arm(next);
      return;
    }
  }
}

}  // namespace agora::bus::detail
