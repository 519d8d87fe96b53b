#pragma once

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

namespace agora::log {

enum class level { debug = 0, info = 1, warn = 2, error = 3 };

level level_from_string(std::string_view name);  // throws std::invalid_argument

// The trace of the request being handled; carried on bus messages and written on
// every log line made while handling it.
struct trace {
  std::string request_id;
  std::string traceparent;
};

// Writes one JSON object per line: {"ts","level","msg","component",...fields,
// "request_id","traceparent"}. Thread-safe; lines are never interleaved.
class logger {
 public:
  explicit logger(std::FILE* out = stderr, level min = level::info);
  void set_level(level min) noexcept { min_ = min; }
  bool enabled(level l) const noexcept { return l >= min_; }
  void write(level l, std::string_view component, std::string_view msg,
             const nlohmann::json& fields = nlohmann::json::object(), const trace* t = nullptr);
  // Tests capture lines here instead of the stream.
  void capture(std::function<void(const std::string&)> sink);

 private:
  std::FILE* out_;
  std::atomic<level> min_;
  std::mutex mutex_;
  std::function<void(const std::string&)> sink_;
};

// The process-wide logger. Set once at start (the app does it); defaults to stderr/info.
logger& global();

inline void info(std::string_view component, std::string_view msg,
                 const nlohmann::json& fields = nlohmann::json::object(), const trace* t = nullptr) {
  if (global().enabled(level::info)) global().write(level::info, component, msg, fields, t);
}
inline void warn(std::string_view component, std::string_view msg,
                 const nlohmann::json& fields = nlohmann::json::object(), const trace* t = nullptr) {
  if (global().enabled(level::warn)) global().write(level::warn, component, msg, fields, t);
}
inline void error(std::string_view component, std::string_view msg,
                  const nlohmann::json& fields = nlohmann::json::object(), const trace* t = nullptr) {
  if (global().enabled(level::error)) global().write(level::error, component, msg, fields, t);
}
inline void debug(std::string_view component, std::string_view msg,
                  const nlohmann::json& fields = nlohmann::json::object(), const trace* t = nullptr) {
  if (global().enabled(level::debug)) global().write(level::debug, component, msg, fields, t);
}

}  // namespace agora::log
