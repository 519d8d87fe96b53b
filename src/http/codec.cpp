#include "http/codec.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <random>

namespace agora::http::detail {

namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_lower_hex(std::string_view s) noexcept {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool all_zeros(std::string_view s) noexcept { return s.find_first_not_of('0') == std::string_view::npos; }

// xoshiro256**: ids need uniqueness, not secrecy, and must be cheap per request.
class id_generator {
 public:
  id_generator() {
    std::random_device rd;
    std::uint64_t seed = (std::uint64_t{rd()} << 32) ^ rd();
    for (auto& s : s_) {
      seed += 0x9e3779b97f4a7c15ULL;
      std::uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      s = z ^ (z >> 31);
    }
  }

  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  std::uint64_t next_nonzero() noexcept {
    std::uint64_t v = next();
    while (v == 0) v = next();
    return v;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  std::array<std::uint64_t, 4> s_{};
};

id_generator& generator() {
  thread_local id_generator gen;
  return gen;
}

void append_hex(std::string& out, std::uint64_t v) {
  static constexpr char digits[] = "0123456789abcdef";
  char buf[16];
  for (int i = 15; i >= 0; --i) {
    buf[i] = digits[v & 0xf];
    v >>= 4;
  }
  out.append(buf, 16);
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void parse_query(std::string_view query, std::vector<std::pair<std::string, std::string>>& out) {
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (item.empty()) continue;
    std::size_t eq = item.find('=');
    std::string_view key = item.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
    auto k = percent_decode(key, true);
    auto v = percent_decode(value, true);
    out.emplace_back(k ? std::move(*k) : std::string(key), v ? std::move(*v) : std::string(value));
  }
}

bool is_json_media_type(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  auto lower_equals = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      char c = a[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != b[i]) return false;
    }
    return true;
  };
  constexpr std::string_view prefix = "application/";
  if (type.size() < prefix.size() || !lower_equals(type.substr(0, prefix.size()), prefix)) return false;
  std::string_view sub = type.substr(prefix.size());
  if (lower_equals(sub, "json")) return true;
  return sub.size() > 5 && lower_equals(sub.substr(sub.size() - 5), "+json");
}

bool is_valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string make_request_id() {
  std::string id;
  id.reserve(32);
  append_hex(id, generator().next());
  append_hex(id, generator().next());
  return id;
}

bool is_valid_traceparent(std::string_view tp) {
  if (tp.size() != 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') return false;
  std::string_view version = tp.substr(0, 2);
  std::string_view trace_id = tp.substr(3, 32);
  std::string_view parent_id = tp.substr(36, 16);
  std::string_view flags = tp.substr(53, 2);
  return version == "00" && is_lower_hex(trace_id) && is_lower_hex(parent_id) && is_lower_hex(flags) &&
         !all_zeros(trace_id) && !all_zeros(parent_id);
}

std::string continue_traceparent(std::string_view incoming) {
  std::string tp;
  tp.reserve(55);
  tp.append("00-");
  if (is_valid_traceparent(incoming)) {
    tp.append(incoming.substr(3, 32));
    tp.push_back('-');
    append_hex(tp, generator().next_nonzero());
    tp.push_back('-');
    tp.append(incoming.substr(53, 2));
  } else {
    append_hex(tp, generator().next_nonzero());
    append_hex(tp, generator().next());
    tp.push_back('-');
    append_hex(tp, generator().next_nonzero());
    tp.append("-00");
  }
  return tp;
}

std::string_view http_date() {
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  thread_local std::time_t cached_second = 0;
  thread_local char buf[40];
  thread_local int len = 0;
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  if (now != cached_second) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    len = std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
                        months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_second = now;
  }
  return {buf, static_cast<std::size_t>(len)};
}

std::string current_exception_message() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

}  // namespace agora::http::detail
