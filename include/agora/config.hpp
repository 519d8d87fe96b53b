#pragma once

#include <nlohmann/json.hpp>

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
namespace agora::config {

enum class type { integer, number, boolean, string, string_list };

struct setting {
  std::string key;                   // "server.port", "modules.cart.replicas"
  type kind = type::string;
  nlohmann::json default_value;
  std::string description;
  std::optional<double> min;         // integer, number
  std::optional<double> max;
  std::vector<std::string> choices;  // string: allowed values, when not empty
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

  void declare(std::vector<setting> more);  // throws config_error on a duplicate key
  void load(const sources& src);            // throws config_error

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
  const setting* find(std::string_view key) const;
  void assign(const setting& s, const nlohmann::json& raw, std::string_view origin);
  void assign_text(const setting& s, std::string_view text, std::string_view origin);

  std::vector<setting> declared_;
  std::map<std::string, nlohmann::json, std::less<>> values_;
};

// The core's own settings: server.*, data_dir, log.level, bus.*, shutdown.*, modules.enabled.
std::vector<setting> core_settings();

}  // namespace agora::config
