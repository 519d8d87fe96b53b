#include <agora/http.hpp>

#include "http/codec.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace agora::http {

namespace {

constexpr std::size_t max_segments = 64;
constexpr std::size_t max_params = 16;

bool is_param(std::string_view segment) noexcept {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

// Takes the next '/'-separated segment off `rest`; `rest` holds the text after the first '/'.
// Returns false when the previous segment was the last one.
struct segments {
  std::string_view rest;
  bool done = false;

  bool next(std::string_view& seg) noexcept {
    if (done) return false;
    std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos) {
      seg = rest;
      done = true;
    } else {
      seg = rest.substr(0, slash);
      rest = rest.substr(slash + 1);
    }
    return true;
  }
};

struct raw_params {
  std::array<std::string_view, max_params> values;
  std::size_t count = 0;
};

// Matches `path` against `pattern`. `specificity` ranks matches: a literal segment
// outranks a parameter at the first position where two patterns differ.
bool match_pattern(std::string_view pattern, std::string_view path, raw_params& params,
                   std::uint64_t& specificity) noexcept {
  if (path.empty() || path.front() != '/') return false;
  segments p{pattern.substr(1)};
  segments q{path.substr(1)};
  params.count = 0;
  specificity = 0;
  std::size_t index = 0;
  std::string_view ps, qs;
  for (;;) {
    bool more_p = p.next(ps);
    bool more_q = q.next(qs);
    if (!more_p || !more_q) return more_p == more_q;
    if (is_param(ps)) {
      if (qs.empty()) return false;
      params.values[params.count++] = qs;
    } else {
      if (ps != qs) return false;
      specificity |= std::uint64_t{1} << (max_segments - 1 - index);
    }
    ++index;
  }
}

std::string normalized(std::string_view pattern) {
  std::string out;
  segments s{pattern.substr(1)};
  std::string_view seg;
  while (s.next(seg)) {
    out.push_back('/');
    out.append(is_param(seg) ? std::string_view{"{}"} : seg);
  }
  return out;
}

void validate_pattern(std::string_view pattern) {
  if (pattern.empty() || pattern.front() != '/')
    throw std::invalid_argument("route pattern must start with '/': " + std::string(pattern));
  segments s{pattern.substr(1)};
  std::string_view seg;
  std::size_t count = 0, params = 0;
  while (s.next(seg)) {
    ++count;
    if (is_param(seg)) {
      ++params;
      std::string_view name = seg.substr(1, seg.size() - 2);
      bool ok = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
      });
      if (!ok) throw std::invalid_argument("bad parameter segment in route pattern: " + std::string(pattern));
    } else if (seg.find_first_of("{}") != std::string_view::npos) {
      throw std::invalid_argument("a parameter must be a whole segment: " + std::string(pattern));
    }
  }
  if (count > max_segments || params > max_params)
    throw std::invalid_argument("route pattern has too many segments: " + std::string(pattern));
}

std::optional<std::string_view> find_pair(const std::vector<std::pair<std::string, std::string>>& v,
                                          std::string_view name) {
  for (const auto& [k, val] : v)
    if (k == name) return std::string_view{val};
  return std::nullopt;
}

}  // namespace

std::optional<std::string_view> request_context::param(std::string_view name) const { return find_pair(params, name); }

std::optional<std::string_view> request_context::query_param(std::string_view name) const {
  return find_pair(query, name);
}

std::optional<std::string_view> request_context::header(std::string_view name) const {
  auto it = req.find(name);
  if (it == req.end()) return std::nullopt;
  return it->value();
}

void router::add(route r) {
  validate_pattern(r.pattern);
  if (!r.fn) throw std::invalid_argument("route without a handler: " + r.pattern);
  std::string key = normalized(r.pattern);
  for (const auto& existing : routes_) {
    if (existing->method == r.method && normalized(existing->pattern) == key)
      throw std::invalid_argument("route declared twice: " + std::string(beast::http::to_string(r.method)) + " " +
                                  r.pattern);
    if (!r.operation_id.empty() && existing->operation_id == r.operation_id)
      throw std::invalid_argument("operation_id declared twice: " + r.operation_id);
  }
  routes_.push_back(std::make_unique<route>(std::move(r)));
}

void router::use(filter f) { filters_.push_back(std::move(f)); }

router::match router::find(verb method, std::string_view path) const {
  match m;
  const route* best = nullptr;
  std::uint64_t best_specificity = 0;
  raw_params best_params;
  raw_params params;
  std::uint64_t specificity = 0;
  for (const auto& r : routes_) {
    if (!match_pattern(r->pattern, path, params, specificity)) continue;
    if (r->method == method) {
      if (!best || specificity > best_specificity) {
        best = r.get();
        best_specificity = specificity;
        best_params = params;
      }
    } else if (std::find(m.allow.begin(), m.allow.end(), r->method) == m.allow.end()) {
      m.allow.push_back(r->method);
    }
  }
  if (!best) {
    std::sort(m.allow.begin(), m.allow.end());
    return m;
  }
  m.allow.clear();
  m.r = best;
  if (best_params.count > 0) {
    m.params.reserve(best_params.count);
    segments s{std::string_view{best->pattern}.substr(1)};
    std::string_view seg;
    std::size_t i = 0;
    while (s.next(seg)) {
      if (!is_param(seg)) continue;
      std::string_view raw = best_params.values[i++];
      auto decoded = detail::percent_decode(raw, false);
      m.params.emplace_back(std::string(seg.substr(1, seg.size() - 2)),
                            decoded ? std::move(*decoded) : std::string(raw));
    }
  }
  return m;
}

route describe(verb method, std::string pattern, std::string operation_id, std::string summary) {
  route r;
  r.method = method;
  r.pattern = std::move(pattern);
  r.operation_id = std::move(operation_id);
  r.summary = std::move(summary);
  return r;
}

}  // namespace agora::http
