#include <agora/clock.hpp>
#include <agora/ids.hpp>

#include <fmt/format.h>

#include <array>
#include <ctime>
#include <mutex>
#include <random>

namespace agora {

namespace {
constexpr std::string_view crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

std::mt19937_64& rng() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return gen;
}
}  // namespace

// ULIDs, monotonic within the process: in the same millisecond (or if the clock steps
// back) the previous id's random part is incremented, so ids sort in creation order.
std::string new_id(std::string_view prefix, std::chrono::system_clock::time_point at) {
  static std::mutex mutex;
  static std::uint64_t last_ms = 0;
  static unsigned __int128 last_random = 0;
  constexpr unsigned __int128 random_mask = (static_cast<unsigned __int128>(1) << 80) - 1;

  auto now_ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count());
  auto fresh = (static_cast<unsigned __int128>(rng()() & 0xFFFF) << 64 | rng()()) & random_mask;
  std::uint64_t ms;
  unsigned __int128 random;
  {
    std::lock_guard lock(mutex);
    if (now_ms > last_ms) {
      last_ms = now_ms;
      last_random = fresh;
    } else {
      last_random = (last_random + 1) & random_mask;
      if (last_random == 0) ++last_ms;  // 2^80 ids in one millisecond: borrow the next
    }
    ms = last_ms;
    random = last_random;
  }
  std::string out;
  out.reserve(prefix.size() + 27);
  out.append(prefix);
  out.push_back('_');
  for (int i = 9; i >= 0; --i) out.push_back(crockford[(ms >> (i * 5)) & 31]);
  for (int i = 15; i >= 0; --i) out.push_back(crockford[static_cast<unsigned>(random >> (i * 5)) & 31]);
  return out;
}

std::string to_rfc3339(std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - secs).count();
  std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

std::optional<std::chrono::system_clock::time_point> from_rfc3339(std::string_view t) {
  auto digits = [&](std::size_t at, std::size_t n, int& out) {
    if (at + n > t.size()) return false;
    out = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (t[i] < '0' || t[i] > '9') return false;
      out = out * 10 + (t[i] - '0');
    }
    return true;
  };
  int year, month, day, hour, minute, second;
  if (!digits(0, 4, year) || t.size() < 20 || t[4] != '-' || !digits(5, 2, month) || t[7] != '-' ||
      !digits(8, 2, day) || (t[10] != 'T' && t[10] != 't') || !digits(11, 2, hour) || t[13] != ':' ||
      !digits(14, 2, minute) || t[16] != ':' || !digits(17, 2, second))
    return std::nullopt;
  std::size_t pos = 19;
  std::chrono::nanoseconds fraction{0};
  if (t[pos] == '.') {
    ++pos;
    std::size_t start = pos;
    std::int64_t ns = 0, scale = 100000000;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
      if (scale > 0) ns += (t[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start || pos - start > 9) return std::nullopt;
    fraction = std::chrono::nanoseconds(ns);
  }
  if (pos >= t.size()) return std::nullopt;
  int offset_minutes = 0;
  if (t[pos] == 'Z' || t[pos] == 'z') {
    ++pos;
  } else if (t[pos] == '+' || t[pos] == '-') {
    int oh, om;
    if (!digits(pos + 1, 2, oh) || pos + 3 >= t.size() || t[pos + 3] != ':' || !digits(pos + 4, 2, om) || oh > 23 ||
        om > 59)
      return std::nullopt;
    offset_minutes = (oh * 60 + om) * (t[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != t.size() || month < 1 || month > 12 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  using namespace std::chrono;
  year_month_day ymd{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                     std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) return std::nullopt;
  auto tp = sys_days(ymd) + hours(hour) + minutes(minute) + seconds(std::min(second, 59)) - minutes(offset_minutes);
  return time_point_cast<std::chrono::system_clock::duration>(tp + fraction);
}

std::string new_id(std::string_view prefix) { return new_id(prefix, std::chrono::system_clock::now()); }

std::string now_rfc3339() { return to_rfc3339(std::chrono::system_clock::now()); }

std::string clock::now_rfc3339() const { return to_rfc3339(now()); }

std::string clock::new_id(std::string_view prefix) const { return agora::new_id(prefix, now()); }

const clock& system_time() noexcept {
  static const system_clock instance;
  return instance;
}

}  // namespace agora
