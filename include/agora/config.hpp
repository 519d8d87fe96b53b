#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Configuration declared once: every setting has a key, a type, a default and a
// description. Values come from the defaults, then the JSON file, then AGORA_*
// environment variables, then command-line overrides; unknown keys and bad values
// stop the start with a message naming the key, what was expected and where it came from.
//
// Code declares a setting with a typed handle (integer_setting, choice_setting, ...) and
// reads it through the same handle (config::get, module_context::get): no string keys,
// no positional tables, and the value comes back in its C++ type.
namespace agora::config {

enum class type { integer, number, boolean, string, string_list };

class setting_handle;

struct setting {
  std::string key;                   // "server.port", "modules.cart.replicas"
  type kind = type::string;
  nlohmann::json default_value;
  std::string description;
  std::optional<double> min;         // integer, number
  std::optional<double> max;
  std::vector<std::string> choices;  // string: allowed values, when not empty
  bool secret = false;               // a password: never printed (agora config, errors)
  const setting_handle* handle = nullptr;  // the handle that declared it: the only one that reads it
};

// Bounds of an integer or number setting; either may be absent: {.min = 0, .max = 100}.
template <class T>
struct range {
  std::optional<T> min;
  std::optional<T> max;
};

// The base of the typed handles below: a declaration that is also the only way to read
// its value. Define each handle once, as a namespace-scope `inline const` object (a
// module's in its own src/, the core's in config::core below), register it
// (module_decl::setting, core_settings()) and read it with config::get or
// module_context::get. Reading through a handle that did not declare the key throws
// config_error; hence handles are neither copied nor moved.
class setting_handle {
 public:
  setting_handle(const setting_handle&) = delete;
  setting_handle& operator=(const setting_handle&) = delete;

  // The key as declared: absolute for the core ("server.port"), relative to
  // modules.<name>. for a module ("cache_size").
  const std::string& key() const noexcept { return decl_.key; }
  // The declaration, tagged with this handle.
  setting declaration() const {
    setting s = decl_;
    s.handle = this;
    return s;
  }

 protected:
  setting_handle(std::string key, type kind, nlohmann::json default_value, std::string description) {
    decl_.key = std::move(key);
    decl_.kind = kind;
    decl_.default_value = std::move(default_value);
    decl_.description = std::move(description);
  }
  ~setting_handle() = default;

  setting decl_;
};

class integer_setting : public setting_handle {
 public:
  using value_type = std::int64_t;
  integer_setting(std::string key, std::int64_t default_value, std::string description,
                  range<std::int64_t> limits = {})
      : setting_handle(std::move(key), type::integer, default_value, std::move(description)) {
    if (limits.min) decl_.min = static_cast<double>(*limits.min);
    if (limits.max) decl_.max = static_cast<double>(*limits.max);
  }
  value_type read(const nlohmann::json& v) const { return v.get<std::int64_t>(); }
};

class number_setting : public setting_handle {
 public:
  using value_type = double;
  number_setting(std::string key, double default_value, std::string description, range<double> limits = {})
      : setting_handle(std::move(key), type::number, default_value, std::move(description)) {
    decl_.min = limits.min;
    decl_.max = limits.max;
  }
  value_type read(const nlohmann::json& v) const { return v.get<double>(); }
};

class boolean_setting : public setting_handle {
 public:
  using value_type = bool;
  boolean_setting(std::string key, bool default_value, std::string description)
      : setting_handle(std::move(key), type::boolean, default_value, std::move(description)) {}
  value_type read(const nlohmann::json& v) const { return v.get<bool>(); }
};

class string_setting : public setting_handle {
 public:
  using value_type = std::string;
  string_setting(std::string key, std::string default_value, std::string description)
      : setting_handle(std::move(key), type::string, std::move(default_value), std::move(description)) {}
  value_type read(const nlohmann::json& v) const { return v.get<std::string>(); }
};

// A string that must not be shown: `agora config` prints "(secret)" for it, and a bad
// value's error does not echo it.
class secret_setting : public setting_handle {
 public:
  using value_type = std::string;
  secret_setting(std::string key, std::string description)
      : setting_handle(std::move(key), type::string, std::string(), std::move(description)) {
    decl_.secret = true;
  }
  value_type read(const nlohmann::json& v) const { return v.get<std::string>(); }
};

class string_list_setting : public setting_handle {
 public:
  using value_type = std::vector<std::string>;
  string_list_setting(std::string key, std::vector<std::string> default_value, std::string description)
      : setting_handle(std::move(key), type::string_list, std::move(default_value), std::move(description)) {}
  value_type read(const nlohmann::json& v) const { return v.get<std::vector<std::string>>(); }
};

// A string that must be one of a fixed list. With E = std::string the value reads as the
// text; with an enum, each allowed text names the value it reads as:
//   choice_setting<device> d{"device", device::automatic, "…", {{"auto", device::automatic}, {"cpu", device::cpu}}};
template <class E = std::string>
class choice_setting : public setting_handle {
 public:
  using value_type = E;
  choice_setting(std::string key, std::string default_value, std::string description,
                 std::vector<std::string> choices)
    requires std::same_as<E, std::string>
      : setting_handle(std::move(key), type::string, std::move(default_value), std::move(description)) {
    decl_.choices = std::move(choices);
  }
  // A default missing from `choices` is declared as null, which declaring refuses.
  choice_setting(std::string key, E default_value, std::string description,
                 std::vector<std::pair<std::string, E>> choices)
    requires(!std::same_as<E, std::string>)
      : setting_handle(std::move(key), type::string, nullptr, std::move(description)), values_(std::move(choices)) {
    for (const auto& [text, value] : values_) {
      decl_.choices.push_back(text);
      if (value == default_value && decl_.default_value.is_null()) decl_.default_value = text;
    }
  }
  value_type read(const nlohmann::json& v) const {
    if constexpr (std::same_as<E, std::string>) {
      return v.get<std::string>();
    } else {
      const auto& text = v.get_ref<const std::string&>();
      auto it = std::find_if(values_.begin(), values_.end(), [&](const auto& c) { return c.first == text; });
      return it->second;  // config validated the text against decl_.choices
    }
  }

 private:
  std::vector<std::pair<std::string, E>> values_;
};

class config_error : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct sources {
  std::optional<std::filesystem::path> file;  // JSON; nested objects or dotted keys
  bool file_required = false;                 // a missing file is an error when named explicitly
  std::map<std::string, std::string> env;     // AGORA_SERVER_PORT=8080 ...
  std::vector<std::pair<std::string, std::string>> overrides;  // from flags: key, value text
};

// Reads AGORA_* variables from the process environment.
std::map<std::string, std::string> environment();

// "server.port" -> "AGORA_SERVER_PORT"
std::string env_name(std::string_view key);

class config {
 public:
  config() = default;
  explicit config(std::vector<setting> declared);

  // Throws config_error on a duplicate key or a default its own declaration refuses.
  void declare(std::vector<setting> more);
  void load(const sources& src);  // throws config_error

  // The value of the setting `h` declared, in its C++ type. Throws config_error when
  // `h` did not declare a setting here.
  template <std::derived_from<setting_handle> H>
  typename H::value_type get(const H& h) const {
    return h.read(checked(h, h.key()));
  }
  // The same, for a handle declared under another key (a module's, under modules.<name>.).
  template <std::derived_from<setting_handle> H>
  typename H::value_type get(const H& h, std::string_view key) const {
    return h.read(checked(h, key));
  }

  std::int64_t integer(std::string_view key) const;
  double number(std::string_view key) const;
  bool boolean(std::string_view key) const;
  const std::string& string(std::string_view key) const;
  std::vector<std::string> string_list(std::string_view key) const;
  // Sets one value as if it came from a flag; validated. For tests and embedding.
  void set(std::string_view key, const nlohmann::json& value);

  // Every setting with its value, as a nested object (for an admin view).
  nlohmann::json effective() const;
  const std::vector<setting>& declared() const noexcept { return declared_; }

 private:
  const nlohmann::json& value(std::string_view key, type expected) const;
  const nlohmann::json& checked(const setting_handle& h, std::string_view key) const;
  const setting* find(std::string_view key) const;
  void assign(const setting& s, const nlohmann::json& raw, std::string_view origin);
  void assign_text(const setting& s, std::string_view text, std::string_view origin);

  std::vector<setting> declared_;
  std::map<std::string, nlohmann::json, std::less<>> values_;
};

// The core's own settings: server.*, data_dir, log.level, bus.*, shutdown.*, modules.enabled.
namespace core {
inline const string_setting server_address{"server.address", "127.0.0.1", "Address the HTTP listener binds"};
inline const integer_setting server_port{"server.port", 8080, "HTTP port; 0 picks a free one and logs it",
                                         {.min = 0, .max = 65535}};
inline const integer_setting io_threads{"server.io_threads", 0, "io threads; 0 means one per core",
                                        {.min = 0, .max = 256}};
inline const integer_setting header_limit_bytes{"server.header_limit_bytes", 16384,
                                                "Largest request header block (beyond: 431)",
                                                {.min = 1024, .max = 1048576}};
inline const integer_setting body_limit_bytes{"server.body_limit_bytes", 1048576, "Largest request body (beyond: 413)",
                                              {.min = 0, .max = 1073741824}};
inline const integer_setting read_timeout_ms{"server.read_timeout_ms", 10000, "Time to receive one whole request",
                                             {.min = 10, .max = 3600000}};
inline const integer_setting idle_timeout_ms{"server.idle_timeout_ms", 30000, "Keep-alive idle time between requests",
                                             {.min = 10, .max = 3600000}};
inline const integer_setting handler_timeout_ms{"server.handler_timeout_ms", 30000,
                                                "Time a request may take inside agora (beyond: 504)",
                                                {.min = 10, .max = 3600000}};
inline const integer_setting max_connections{"server.max_connections", 10000,
                                             "Open connections beyond which new ones get 503",
                                             {.min = 1, .max = 1000000}};
inline const integer_setting max_connections_per_client{
    "server.max_connections_per_client", 1024,
    "Open connections one client address may hold (beyond: 429); 0 means no cap", {.min = 0, .max = 1000000}};
inline const string_setting data_dir{"data_dir", "./data", "Folder of the modules' SQLite files"};
inline const choice_setting<> log_level{"log.level", "info", "Lowest level written", {"debug", "info", "warn", "error"}};
inline const integer_setting bus_queue_capacity{"bus.queue_capacity", 65536, "Events waiting per consumer group",
                                                {.min = 1, .max = 100000000}};
inline const choice_setting<> bus_on_full{"bus.on_full", "block",
                                          "What a publisher does when a group's queue is full", {"block", "fail"}};
inline const integer_setting bus_partitions{"bus.partitions", 16, "Ordering partitions per consumer group",
                                            {.min = 1, .max = 4096}};
inline const integer_setting bus_max_attempts{"bus.max_attempts", 5, "Deliveries of an event before it is dead-lettered",
                                              {.min = 1, .max = 1000}};
inline const integer_setting bus_backoff_initial_ms{"bus.backoff_initial_ms", 20, "First redelivery delay",
                                                    {.min = 0, .max = 600000}};
inline const integer_setting bus_backoff_max_ms{"bus.backoff_max_ms", 2000, "Largest redelivery delay",
                                                {.min = 0, .max = 3600000}};
inline const integer_setting bus_dead_letter_capacity{"bus.dead_letter_capacity", 10000,
                                                      "Dead letters kept; beyond it the oldest are dropped (counted)",
                                                      {.min = 0, .max = 100000000}};
inline const integer_setting bus_max_in_flight_requests{
    "bus.max_in_flight_requests", 65536, "Requests in flight per bus method; beyond it a request fails as unavailable",
    {.min = 1, .max = 100000000}};
inline const integer_setting bus_request_timeout_ms{"bus.request_timeout_ms", 5000,
                                                    "Deadline of a request made from an HTTP route",
                                                    {.min = 1, .max = 3600000}};
inline const integer_setting shutdown_deadline_ms{"shutdown.deadline_ms", 10000,
                                                  "Time given to in-flight work at SIGTERM", {.min = 0, .max = 3600000}};
inline const integer_setting store_group_commit_max{
    "store.group_commit_max", 64, "Store jobs committed together in one transaction (one sync); 1 turns group commit off",
    {.min = 1, .max = 4096}};
inline const integer_setting store_idempotency_retention_s{
    "store.idempotency_retention_s", 86400, "How long an Idempotency-Key is remembered before the sweep forgets it",
    {.min = 1, .max = 31536000}};
inline const integer_setting store_idempotency_sweep_s{
    "store.idempotency_sweep_s", 600, "Time between two sweeps of expired idempotency keys in each module",
    {.min = 1, .max = 86400}};
inline const string_list_setting modules_enabled{"modules.enabled", {"*"},
                                                 "Modules this process hosts; [\"*\"] is all"};
inline const string_setting auth_issuer{"auth.issuer", "agora", "The `iss` of access tokens this platform issues and accepts"};
inline const string_setting auth_audience{"auth.audience", "agora", "The `aud` access tokens must carry"};
inline const integer_setting auth_leeway_s{"auth.leeway_s", 30, "Clock skew allowed on a token's exp and nbf",
                                           {.min = 0, .max = 300}};
inline const integer_setting auth_api_key_cache_s{
    "auth.api_key_cache_s", 30, "How long a verified API key is trusted without asking again (a revocation drops it at once)",
    {.min = 0, .max = 3600}};
inline const boolean_setting auth_metrics_public{"auth.metrics_public", true,
                                                 "Whether /metrics is open; false: admins (or a key with scope metrics) only"};
}  // namespace core

// Every handle of config::core, declared.
std::vector<setting> core_settings();

}  // namespace agora::config
