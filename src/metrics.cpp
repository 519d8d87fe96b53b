#include <agora/metrics.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <variant>

namespace agora::metrics {

void gauge::add(double d) noexcept {
  double cur = value_.load(std::memory_order_relaxed);
  while (!value_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
  }
}

histogram::histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
  std::sort(bounds_.begin(), bounds_.end());
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void histogram::observe(double v) noexcept {
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  buckets_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

std::vector<std::uint64_t> histogram::cumulative() const {
  std::vector<std::uint64_t> out(bounds_.size() + 1);
  std::uint64_t acc = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    acc += buckets_[i].load(std::memory_order_relaxed);
    out[i] = acc;
  }
  return out;
}

std::vector<double> latency_buckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
          0.025,   0.05,   0.1,     0.25,   0.5,   1.0,   2.5,    5.0,  10.0};
}

namespace {
enum class kind { counter, gauge, histogram };

std::string_view type_name(kind k) {
  switch (k) {
    case kind::counter: return "counter";
    case kind::gauge: return "gauge";
    case kind::histogram: return "histogram";
  }
  return "untyped";
}

std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string render_labels(const labels& l, std::string_view extra_key = {}, std::string_view extra_value = {}) {
  if (l.empty() && extra_key.empty()) return {};
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : l) {
    if (!first) out += ',';
    first = false;
    out += fmt::format("{}=\"{}\"", k, escape_label(v));
  }
  if (!extra_key.empty()) {
    if (!first) out += ',';
    out += fmt::format("{}=\"{}\"", extra_key, extra_value);
  }
  out += '}';
  return out;
}

std::string format_value(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  return fmt::format("{}", v);
}

struct callback_gauge {
  std::uint64_t id;
  std::function<double()> read;
};

using instrument = std::variant<std::shared_ptr<counter>, std::shared_ptr<gauge>,
                                std::shared_ptr<histogram>, callback_gauge>;
}  // namespace

struct registry::family {
  std::string name;
  std::string help;
  kind type;
  std::vector<std::pair<labels, instrument>> series;

  instrument* find(const labels& l) {
    for (auto& [sl, inst] : series)
      if (sl == l) return &inst;
    return nullptr;
  }
};

registry::registry() = default;
registry::~registry() = default;

namespace {
void check_name(std::string_view name) {
  if (name.empty() || !(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_'))
    throw std::invalid_argument(fmt::format("bad metric name '{}'", name));
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':'))
      throw std::invalid_argument(fmt::format("bad metric name '{}'", name));
}
}  // namespace

#define AGORA_FAMILY(kind_value)                                                                  \
  auto it = families_.find(name);                                                                 \
  if (it == families_.end()) {                                                                    \
    check_name(name);                                                                             \
    auto f = std::make_unique<family>(family{std::string(name), std::string(help), kind_value, {}}); \
    it = families_.emplace(std::string(name), std::move(f)).first;                                \
  } else if (it->second->type != kind_value) {                                                    \
    throw std::logic_error(fmt::format("metric '{}' registered with another type", name));       \
  }                                                                                               \
  family& fam = *it->second;

std::shared_ptr<counter> registry::counter_handle(std::string_view name, std::string_view help, const labels& l) {
  std::lock_guard lock(mutex_);
  AGORA_FAMILY(kind::counter)
  if (auto* inst = fam.find(l)) return std::get<std::shared_ptr<counter>>(*inst);
  auto& added = fam.series.emplace_back(l, std::make_shared<counter>());
  return std::get<std::shared_ptr<counter>>(added.second);
}

std::shared_ptr<gauge> registry::gauge_handle(std::string_view name, std::string_view help, const labels& l) {
  std::lock_guard lock(mutex_);
  AGORA_FAMILY(kind::gauge)
  if (auto* inst = fam.find(l)) {
    if (auto* g = std::get_if<std::shared_ptr<gauge>>(inst)) return *g;
    throw std::logic_error(fmt::format("metric '{}' series is a callback gauge", name));
  }
  auto& added = fam.series.emplace_back(l, std::make_shared<gauge>());
  return std::get<std::shared_ptr<gauge>>(added.second);
}

std::shared_ptr<histogram> registry::histogram_handle(std::string_view name, std::string_view help, const labels& l,
                                                      std::vector<double> buckets) {
  std::lock_guard lock(mutex_);
  AGORA_FAMILY(kind::histogram)
  if (auto* inst = fam.find(l)) return std::get<std::shared_ptr<histogram>>(*inst);
  auto& added = fam.series.emplace_back(l, std::make_shared<histogram>(std::move(buckets)));
  return std::get<std::shared_ptr<histogram>>(added.second);
}

counter& registry::counter_of(std::string_view name, std::string_view help, const labels& l) {
  return *counter_handle(name, help, l);
}

gauge& registry::gauge_of(std::string_view name, std::string_view help, const labels& l) {
  return *gauge_handle(name, help, l);
}

histogram& registry::histogram_of(std::string_view name, std::string_view help, const labels& l,
                                  std::vector<double> buckets) {
  return *histogram_handle(name, help, l, std::move(buckets));
}

std::uint64_t registry::gauge_callback(std::string_view name, std::string_view help, const labels& l,
                                       std::function<double()> read) {
  std::lock_guard lock(mutex_);
  AGORA_FAMILY(kind::gauge)
  std::uint64_t id = next_callback_++;
  if (auto* inst = fam.find(l)) {
    *inst = callback_gauge{id, std::move(read)};
  } else {
    fam.series.emplace_back(l, callback_gauge{id, std::move(read)});
  }
  return id;
}

#undef AGORA_FAMILY

void registry::remove_callback(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  for (auto& [name, fam] : families_) {
    std::erase_if(fam->series, [id](const auto& s) {
      const auto* cb = std::get_if<callback_gauge>(&s.second);
      return cb && cb->id == id;
    });
  }
}

std::size_t registry::remove_series(std::string_view key, std::string_view value) {
  std::lock_guard lock(mutex_);
  std::size_t removed = 0;
  for (auto it = families_.begin(); it != families_.end();) {
    removed += std::erase_if(it->second->series, [&](const auto& s) {
      return std::any_of(s.first.begin(), s.first.end(),
                         [&](const auto& label) { return label.first == key && label.second == value; });
    });
    if (it->second->series.empty())
      it = families_.erase(it);
    else
      ++it;
  }
  return removed;
}

std::size_t registry::series_count() const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& [name, fam] : families_) n += fam->series.size();
  return n;
}

std::string registry::expose() const {
  std::lock_guard lock(mutex_);
  std::string out;
  out.reserve(16 * 1024);
  for (const auto& [name, fam] : families_) {
    if (fam->series.empty()) continue;
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escape_help(fam->help), name, type_name(fam->type));
    for (const auto& [l, inst] : fam->series) {
      if (const auto* c = std::get_if<std::shared_ptr<counter>>(&inst)) {
        out += fmt::format("{}{} {}\n", name, render_labels(l), (*c)->value());
      } else if (const auto* g = std::get_if<std::shared_ptr<gauge>>(&inst)) {
        out += fmt::format("{}{} {}\n", name, render_labels(l), format_value((*g)->value()));
      } else if (const auto* cb = std::get_if<callback_gauge>(&inst)) {
        out += fmt::format("{}{} {}\n", name, render_labels(l), format_value(cb->read()));
      } else if (const auto* h = std::get_if<std::shared_ptr<histogram>>(&inst)) {
        auto cum = (*h)->cumulative();
        const auto& bounds = (*h)->bounds();
        for (std::size_t i = 0; i < bounds.size(); ++i)
          out += fmt::format("{}_bucket{} {}\n", name, render_labels(l, "le", format_value(bounds[i])), cum[i]);
        out += fmt::format("{}_bucket{} {}\n", name, render_labels(l, "le", "+Inf"), cum.back());
        out += fmt::format("{}_sum{} {}\n", name, render_labels(l), format_value((*h)->sum()));
        out += fmt::format("{}_count{} {}\n", name, render_labels(l), cum.back());
      }
    }
  }
  return out;
}

}  // namespace agora::metrics
