#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agora::metrics {

using labels = std::vector<std::pair<std::string, std::string>>;

// Monotonic count. Lock-free.
class counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class gauge {
 public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(double d) noexcept;
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Fixed-bucket histogram of seconds (or any unit the name says). Lock-free observe.
class histogram {
 public:
  explicit histogram(std::vector<double> upper_bounds);
  void observe(double v) noexcept;

  const std::vector<double>& bounds() const noexcept { return bounds_; }
  std::vector<std::uint64_t> cumulative() const;
  std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // one per bound, plus +Inf
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Default latency buckets: 50 µs .. 10 s.
std::vector<double> latency_buckets();

// The process's metrics, exposed as Prometheus text format 0.0.4.
// Names follow agora_<area>_<what>_<unit>. Asking twice for the same name and labels
// returns the same instrument; the same name with a different type is a programming error.
//
// Lifetime: each series is owned by shared handles, one held by the registry. The
// *_of functions return a reference valid until the series is removed (remove_series)
// or the registry dies; code whose series may be removed while it still runs (a
// model's engine, say) takes a handle (*_handle) instead: after removal the handle's
// instrument still counts, but no scrape shows it. All members are thread-safe.
class registry {
 public:
  registry();
  ~registry();
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  counter& counter_of(std::string_view name, std::string_view help, const labels& l = {});
  gauge& gauge_of(std::string_view name, std::string_view help, const labels& l = {});
  histogram& histogram_of(std::string_view name, std::string_view help, const labels& l = {},
                          std::vector<double> buckets = latency_buckets());
  // A gauge computed at scrape time (queue depths, pool sizes). The callback must be
  // cheap and thread-safe; remove it before what it reads goes away.
  std::shared_ptr<counter> counter_handle(std::string_view name, std::string_view help, const labels& l = {});
  std::shared_ptr<gauge> gauge_handle(std::string_view name, std::string_view help, const labels& l = {});
  std::shared_ptr<histogram> histogram_handle(std::string_view name, std::string_view help, const labels& l = {},
                                              std::vector<double> buckets = latency_buckets());
  std::uint64_t gauge_callback(std::string_view name, std::string_view help, const labels& l,
                               std::function<double()> read);
  void remove_callback(std::uint64_t id);
  // Removes every series (instruments and callback gauges) that has the label
  // `key`="value", and the families left empty; returns how many series went. A
  // series asked for again afterwards starts from zero.
  std::size_t remove_series(std::string_view key, std::string_view value);
  // Series held, over all families (for tests and leak checks).
  std::size_t series_count() const;

  std::string expose() const;

 private:
  struct family;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<family>, std::less<>> families_;
  std::uint64_t next_callback_ = 1;
};

}  // namespace agora::metrics
