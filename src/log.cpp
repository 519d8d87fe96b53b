#include <agora/log.hpp>

#include <chrono>
#include <ctime>
#include <stdexcept>

namespace agora::log {

level level_from_string(std::string_view name) {
  if (name == "debug") return level::debug;
  if (name == "info") return level::info;
  if (name == "warn" || name == "warning") return level::warn;
  if (name == "error") return level::error;
  throw std::invalid_argument("expected one of debug, info, warn, error");
}

namespace {
std::string_view level_name(level l) {
  switch (l) {
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warn: return "warn";
    case level::error: return "error";
  }
  return "info";
}

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(now);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now - secs).count();
  std::time_t t = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:06}Z", std::string_view(buf, n), micros);
}
}  // namespace

logger::logger(std::FILE* out, level min) : out_(out), min_(min) {}

void logger::write(level l, std::string_view component, std::string_view msg,
                   const nlohmann::json& fields, const trace* t) {
  nlohmann::json line = {{"ts", timestamp()}, {"level", level_name(l)}, {"component", component}, {"msg", msg}};
  if (fields.is_object())
    for (const auto& [k, v] : fields.items()) line[k] = v;
  if (t) {
    if (!t->request_id.empty()) line["request_id"] = t->request_id;
    if (!t->traceparent.empty()) line["traceparent"] = t->traceparent;
  }
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::lock_guard lock(mutex_);
  if (sink_) {
    sink_(text);
    return;
  }
  text.push_back('\n');
  std::fwrite(text.data(), 1, text.size(), out_);
  std::fflush(out_);
}

void logger::capture(std::function<void(const std::string&)> sink) {
  std::lock_guard lock(mutex_);
  sink_ = std::move(sink);
}

logger& global() {
  static logger instance;
  return instance;
}

}  // namespace agora::log
