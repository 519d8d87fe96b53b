#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>

// Where a module takes the time of day from: ids, timestamps, expiry. Production uses
// system_clock; tests and the demo seeder use manual_clock and move time themselves.
// (Timers that wait — backoff, deadlines — stay on steady_clock: they measure intervals,
// not the time of day.)
namespace agora {

class clock {
 public:
  using time_point = std::chrono::system_clock::time_point;
  virtual ~clock() = default;
  virtual time_point now() const noexcept = 0;

  // RFC 3339 UTC with milliseconds: "2026-11-23T12:00:00.123Z".
  std::string now_rfc3339() const;
  // A new id (see new_id) whose time part is this clock's now.
  std::string new_id(std::string_view prefix) const;
};

class system_clock final : public clock {
 public:
  time_point now() const noexcept override { return std::chrono::system_clock::now(); }
};

// The process's system clock, for code that is not in a module.
const clock& system_time() noexcept;

// A clock that moves only when told. Thread-safe.
class manual_clock final : public clock {
 public:
  explicit manual_clock(time_point start = time_point(std::chrono::milliseconds(1'764'547'200'000)))  // 2025-12-01
      : now_(start.time_since_epoch().count()) {}
  time_point now() const noexcept override { return time_point(time_point::duration(now_.load())); }
  void set(time_point t) noexcept { now_.store(t.time_since_epoch().count()); }
  void advance(std::chrono::system_clock::duration d) noexcept { now_.fetch_add(d.count()); }

 private:
  std::atomic<time_point::duration::rep> now_;
};

}  // namespace agora
