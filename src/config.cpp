#include <agora/config.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <sstream>

extern char** environ;

namespace agora::config {

namespace {

std::string_view type_text(type t) {
  switch (t) {
    case type::integer: return "an integer";
    case type::number: return "a number";
    case type::boolean: return "a boolean (true or false)";
    case type::string: return "a string";
    case type::string_list: return "a list of strings";
  }
  return "a value";
}

std::string expectation(const setting& s) {
  std::string out(type_text(s.kind));
  auto text = [&](double v) {
    return s.kind == type::integer ? std::to_string(static_cast<std::int64_t>(v)) : fmt::format("{}", v);
  };
  if (s.min && s.max) out += fmt::format(" between {} and {}", text(*s.min), text(*s.max));
  else if (s.min) out += fmt::format(" of at least {}", text(*s.min));
  else if (s.max) out += fmt::format(" of at most {}", text(*s.max));
  if (!s.choices.empty()) {
    out += ", one of: ";
    for (std::size_t i = 0; i < s.choices.size(); ++i) out += (i ? ", " : "") + s.choices[i];
  }
  return out;
}

void flatten(const nlohmann::json& j, const std::string& prefix, std::vector<std::pair<std::string, nlohmann::json>>& out,
             const std::vector<setting>& declared) {
  for (const auto& [k, v] : j.items()) {
    std::string key = prefix.empty() ? k : prefix + "." + k;
    bool is_leaf = std::any_of(declared.begin(), declared.end(), [&](const setting& s) { return s.key == key; });
    if (v.is_object() && !is_leaf) flatten(v, key, out, declared);
    else out.emplace_back(key, v);
  }
}

}  // namespace

std::string env_name(std::string_view key) {
  std::string out = "AGORA_";
  for (char c : key) out.push_back(c == '.' || c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return out;
}

std::map<std::string, std::string> environment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    if (!kv.starts_with("AGORA_")) continue;
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return out;
}

config::config(std::vector<setting> declared) { declare(std::move(declared)); }

void config::declare(std::vector<setting> more) {
  for (auto& s : more) {
    if (find(s.key)) throw config_error(fmt::format("setting '{}' is declared twice", s.key));
    assign(s, s.default_value, "its declared default");
    declared_.push_back(std::move(s));
  }
}

const setting* config::find(std::string_view key) const {
  for (const auto& s : declared_)
    if (s.key == key) return &s;
  return nullptr;
}

void config::assign(const setting& s, const nlohmann::json& raw, std::string_view origin) {
  auto bad = [&] {
    return config_error(fmt::format("config: {} (from {}): expected {}, got {}", s.key, origin, expectation(s),
                                    s.secret ? std::string("a value not shown (secret)") : raw.dump()));
  };
  nlohmann::json v;
  switch (s.kind) {
    case type::integer:
      if (raw.is_number_integer()) v = raw;
      else if (raw.is_number_float() && std::trunc(raw.get<double>()) == raw.get<double>()) v = static_cast<std::int64_t>(raw.get<double>());
      else throw bad();
      break;
    case type::number:
      if (!raw.is_number()) throw bad();
      v = raw.get<double>();
      break;
    case type::boolean:
      if (!raw.is_boolean()) throw bad();
      v = raw;
      break;
    case type::string:
      if (!raw.is_string()) throw bad();
      v = raw;
      break;
    case type::string_list:
      if (!raw.is_array() || !std::all_of(raw.begin(), raw.end(), [](const auto& e) { return e.is_string(); })) throw bad();
      v = raw;
      break;
  }
  if (s.kind == type::integer || s.kind == type::number) {
    double d = v.get<double>();
    if ((s.min && d < *s.min) || (s.max && d > *s.max)) throw bad();
  }
  if (!s.choices.empty()) {
    auto in = [&](const std::string& x) { return std::find(s.choices.begin(), s.choices.end(), x) != s.choices.end(); };
    if (s.kind == type::string && !in(v.get<std::string>())) throw bad();
    if (s.kind == type::string_list)
      for (const auto& e : v)
        if (!in(e.get<std::string>())) throw bad();
  }
  values_[s.key] = std::move(v);
}

void config::assign_text(const setting& s, std::string_view text, std::string_view origin) {
  nlohmann::json raw;
  switch (s.kind) {
    case type::integer: {
      std::int64_t n = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (ec != std::errc{} || p != text.data() + text.size() || text.empty()) raw = std::string(text);
      else raw = n;
      break;
    }
    case type::number: {
      try {
        std::size_t used = 0;
        double d = std::stod(std::string(text), &used);
        raw = used == text.size() ? nlohmann::json(d) : nlohmann::json(std::string(text));
      } catch (...) {
        raw = std::string(text);
      }
      break;
    }
    case type::boolean:
      if (text == "true" || text == "1" || text == "yes" || text == "on") raw = true;
      else if (text == "false" || text == "0" || text == "no" || text == "off") raw = false;
      else raw = std::string(text);
      break;
    case type::string:
      raw = std::string(text);
      break;
    case type::string_list: {
      raw = nlohmann::json::array();
      std::stringstream ss{std::string(text)};
      std::string item;
      while (std::getline(ss, item, ','))
        if (!item.empty()) raw.push_back(item);
      break;
    }
  }
  assign(s, raw, origin);
}

void config::load(const sources& src) {
  if (src.file) {
    std::ifstream in(*src.file);
    if (!in) {
      if (src.file_required) throw config_error(fmt::format("config: cannot read file '{}'", src.file->string()));
    } else {
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (text.find_first_not_of(" \t\r\n") == std::string::npos) text = "{}";
      nlohmann::json doc;
      try {
        doc = nlohmann::json::parse(text);
      } catch (const nlohmann::json::parse_error& e) {
        throw config_error(fmt::format("config: '{}' is not valid JSON: {}", src.file->string(), e.what()));
      }
      if (!doc.is_object()) throw config_error(fmt::format("config: '{}' must hold a JSON object", src.file->string()));
      std::vector<std::pair<std::string, nlohmann::json>> flat;
      flatten(doc, "", flat, declared_);
      for (const auto& [key, v] : flat) {
        if (key.starts_with("$") || key.starts_with("_comment")) continue;
        const setting* s = find(key);
        if (!s) throw config_error(fmt::format("config: unknown key '{}' in '{}'", key, src.file->string()));
        assign(*s, v, src.file->string());
      }
    }
  }
  for (const auto& [name, text] : src.env) {
    const setting* match = nullptr;
    for (const auto& s : declared_)
      if (env_name(s.key) == name) match = &s;
    if (!match) {
      if (name == "AGORA_CONFIG") continue;
      throw config_error(fmt::format("config: unknown environment variable {} (no setting has that name)", name));
    }
    assign_text(*match, text, name);
  }
  for (const auto& [key, text] : src.overrides) {
    const setting* s = find(key);
    if (!s) throw config_error(fmt::format("config: unknown key '{}' (from the command line)", key));
    assign_text(*s, text, "the command line");
  }
}

void config::set(std::string_view key, const nlohmann::json& value) {
  const setting* s = find(key);
  if (!s) throw config_error(fmt::format("config: unknown key '{}'", key));
  assign(*s, value, "set()");
}

const nlohmann::json& config::value(std::string_view key, type expected) const {
  const setting* s = find(key);
  if (!s) throw config_error(fmt::format("config: '{}' is not declared", key));
  if (s->kind != expected) throw config_error(fmt::format("config: '{}' is not {}", key, type_text(expected)));
  return values_.find(key)->second;
}

const nlohmann::json& config::checked(const setting_handle& h, std::string_view key) const {
  const setting* s = find(key);
  if (!s)
    throw config_error(fmt::format("config: '{}' is read but not declared (a module reads it without declaring it "
                                   "with module_decl::setting?)",
                                   key));
  if (s->handle != &h) throw config_error(fmt::format("config: '{}' is read through a handle that did not declare it", key));
  return values_.find(key)->second;
}

std::int64_t config::integer(std::string_view key) const { return value(key, type::integer).get<std::int64_t>(); }
double config::number(std::string_view key) const { return value(key, type::number).get<double>(); }
bool config::boolean(std::string_view key) const { return value(key, type::boolean).get<bool>(); }
const std::string& config::string(std::string_view key) const {
  return value(key, type::string).get_ref<const std::string&>();
}
std::vector<std::string> config::string_list(std::string_view key) const {
  return value(key, type::string_list).get<std::vector<std::string>>();
}

nlohmann::json config::effective() const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& s : declared_) out[nlohmann::json::json_pointer("/" + [&] {
    std::string p = s.key;
    std::replace(p.begin(), p.end(), '.', '/');
    return p;
  }())] = s.secret && values_.find(s.key)->second != "" ? nlohmann::json("(secret)") : values_.find(s.key)->second;
  return out;
}

std::vector<setting> core_settings() {
  using namespace core;
  std::vector<setting> out;
  for (const setting_handle* h : std::initializer_list<const setting_handle*>{
           &server_address, &server_port, &io_threads, &header_limit_bytes, &body_limit_bytes, &read_timeout_ms,
           &idle_timeout_ms, &handler_timeout_ms, &max_connections, &max_connections_per_client, &data_dir, &log_level, &bus_queue_capacity,
           &bus_on_full, &bus_partitions, &bus_max_attempts, &bus_backoff_initial_ms, &bus_backoff_max_ms,
           &bus_dead_letter_capacity, &bus_max_in_flight_requests, &bus_request_timeout_ms, &shutdown_deadline_ms,
           &store_group_commit_max, &store_idempotency_retention_s, &store_idempotency_sweep_s,
           &modules_enabled, &auth_issuer, &auth_audience, &auth_leeway_s, &auth_api_key_cache_s,
           &auth_metrics_public})
    out.push_back(h->declaration());
  return out;
}

}  // namespace agora::config
