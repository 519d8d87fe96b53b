#pragma once

#include <agora/bus.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

namespace agora::bus::detail {

// A request waiting for its reply or its deadline. Whichever comes first claims it;
// the other side then does nothing. While listed, the deadline list owns a reference.
class pending_call {
 public:
  explicit pending_call(clock::time_point deadline) : deadline_(deadline) {}
  virtual ~pending_call() = default;
  pending_call(const pending_call&) = delete;
  pending_call& operator=(const pending_call&) = delete;

  bool claim() noexcept { return !claimed_.exchange(true, std::memory_order_acq_rel); }
  clock::time_point deadline() const noexcept { return deadline_; }

  // Runs after the deadline list claimed the call (on the timers strand).
  virtual void on_deadline() = 0;

 private:
  friend class deadline_list;
  std::atomic<bool> claimed_{false};
  clock::time_point deadline_;
  pending_call* prev_ = nullptr;
  pending_call* next_ = nullptr;
  std::shared_ptr<pending_call> self_;
  unsigned shard_ = 0;
};

// Every pending request of a bus, in sharded intrusive lists, with one timer for all of
// them. The timer sleeps until the earliest deadline it knows of; adding a call costs a
// shard lock and an atomic load unless the call's deadline is the new earliest one.
// Expiry is coarse: a call may be expired up to `slack` after its deadline.
class deadline_list : public std::enable_shared_from_this<deadline_list> {
 public:
  explicit deadline_list(executor timers,
                         std::chrono::microseconds slack = std::chrono::microseconds(500));

  void add(std::shared_ptr<pending_call> call);
  // Unlists a call that its replier has claimed. Returns the list's reference.
  std::shared_ptr<pending_call> remove(pending_call& call);
  std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }
  void stop();

 private:
  struct alignas(64) shard {
    std::mutex mu;
    pending_call* head = nullptr;
  };
  static constexpr std::size_t shard_count = 8;
  static constexpr std::int64_t never = INT64_MAX;

  void arm(std::int64_t at);
  void fire(std::uint64_t gen);
  void lower_hint(std::int64_t at);

  asio::strand<executor> strand_;
  asio::steady_timer timer_;
  std::chrono::microseconds slack_;
  std::array<shard, shard_count> shards_;
  std::atomic<std::int64_t> hint_{never};
  std::atomic<std::size_t> size_{0};
  std::int64_t armed_at_ = never;  // strand only
  std::uint64_t gen_ = 0;          // strand only
  bool stopped_ = false;           // strand only
};

}  // namespace agora::bus::detail
