#include "text/jinja_value.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace agora::inference::jinja {

const value* object::find(std::string_view key) const {
  for (const auto& [k, v] : entries) {
    if (k == key) return &v;
  }
  return nullptr;
}

void object::set(std::string key, value v) {
  for (auto& [k, existing] : entries) {
    if (k == key) {
      existing = std::move(v);
      return;
    }
  }
  entries.emplace_back(std::move(key), std::move(v));
}

const value* call_args::keyword_arg(std::string_view name) const {
  for (const auto& [k, v] : keyword) {
    if (k == name) return &v;
  }
  return nullptr;
}

const value* call_args::arg(std::size_t index, std::string_view name) const {
  if (index < positional.size()) return &positional[index];
  return keyword_arg(name);
}

value value::make_array(std::vector<value> items) {
  auto a = std::make_shared<jinja::array>();
  a->items = std::move(items);
  return value(std::move(a));
}

value value::make_object() { return value(std::make_shared<jinja::object>()); }

bool value::truthy() const {
  switch (type()) {
    case kind::undefined:
    case kind::none:
      return false;
    case kind::boolean:
      return as_bool();
    case kind::integer:
      return as_int() != 0;
    case kind::floating:
      return as_float() != 0.0 && !std::isnan(as_float());
    case kind::string:
      return !as_string().empty();
    case kind::array:
      return !as_array()->items.empty();
    case kind::object:
      return as_object()->is_namespace || !as_object()->entries.empty();
    case kind::function:
      return true;
  }
  return false;
}

const char* kind_name(kind k) {
  switch (k) {
    case kind::undefined: return "undefined";
    case kind::none: return "none";
    case kind::boolean: return "boolean";
    case kind::integer: return "integer";
    case kind::floating: return "float";
    case kind::string: return "string";
    case kind::array: return "list";
    case kind::object: return "mapping";
    case kind::function: return "function";
  }
  return "value";
}

namespace {

bool numeric_like(const value& v) { return v.is_int() || v.is_float() || v.is_bool(); }

bool equals_at(const value& a, const value& b, int depth) {
  if (depth > 64) return false;
  if ((a.is_undefined() || a.is_none()) && (b.is_undefined() || b.is_none())) return true;
  if (numeric_like(a) && numeric_like(b)) {
    if (a.is_int() && b.is_int()) return a.as_int() == b.as_int();
    return a.as_number() == b.as_number();
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case kind::string:
      return a.as_string() == b.as_string();
    case kind::array: {
      const auto& x = a.as_array()->items;
      const auto& y = b.as_array()->items;
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (!equals_at(x[i], y[i], depth + 1)) return false;
      }
      return true;
    }
    case kind::object: {
      const auto& x = *a.as_object();
      const auto& y = *b.as_object();
      if (x.entries.size() != y.entries.size()) return false;
      for (const auto& [k, v] : x.entries) {
        const value* other = y.find(k);
        if (other == nullptr || !equals_at(v, *other, depth + 1)) return false;
      }
      return true;
    }
    case kind::function:
      return a.as_function() == b.as_function();
    default:
      return false;
  }
}

}  // namespace

bool equals(const value& a, const value& b) { return equals_at(a, b, 0); }

std::string format_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, end);
  auto e_pos = sci.find('e');
  std::string mantissa = sci.substr(0, e_pos);
  int exponent = std::stoi(sci.substr(e_pos + 1));
  bool negative = mantissa[0] == '-';
  if (negative) mantissa.erase(0, 1);
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits += c;
  }
  std::string out = negative ? "-" : "";
  if (exponent < -4 || exponent >= 16) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char exp_buf[16];
    std::snprintf(exp_buf, sizeof exp_buf, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    out += exp_buf;
  } else if (exponent < 0) {
    out += "0." + std::string(static_cast<std::size_t>(-exponent - 1), '0') + digits;
  } else {
    auto int_len = static_cast<std::size_t>(exponent) + 1;
    if (digits.size() <= int_len) {
      out += digits + std::string(int_len - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, int_len) + "." + digits.substr(int_len);
    }
  }
  return out;
}

void append_json_string(std::string& out, std::string_view s, bool ensure_ascii) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 0xf];
        } else if (ensure_ascii && c >= 0x7f) {
          std::uint32_t cp = c;
          std::size_t extra = 0;
          if (c >= 0xf0) {
            cp = c & 0x07;
            extra = 3;
          } else if (c >= 0xe0) {
            cp = c & 0x0f;
            extra = 2;
          } else if (c >= 0xc0) {
            cp = c & 0x1f;
            extra = 1;
          }
          for (std::size_t k = 0; k < extra && i + 1 < s.size(); ++k) {
            cp = (cp << 6) | (static_cast<unsigned char>(s[++i]) & 0x3f);
          }
          auto put = [&](std::uint32_t unit) {
            out += "\\u";
            for (int shift = 12; shift >= 0; shift -= 4) out += hex[(unit >> shift) & 0xf];
          };
          if (cp >= 0x10000) {
            cp -= 0x10000;
            put(0xd800 + (cp >> 10));
            put(0xdc00 + (cp & 0x3ff));
          } else {
            put(cp);
          }
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void append_json(std::string& out, const value& v, const json_format& format, int depth) {
  if (depth > 256) throw std::runtime_error("tojson: value nested too deeply");
  switch (v.type()) {
    case kind::undefined:
    case kind::none:
      out += "null";
      return;
    case kind::boolean:
      out += v.as_bool() ? "true" : "false";
      return;
    case kind::integer:
      out += std::to_string(v.as_int());
      return;
    case kind::floating:
      out += format_float(v.as_float());
      return;
    case kind::string:
      append_json_string(out, v.as_string(), format.ensure_ascii);
      return;
    case kind::function:
      throw std::runtime_error("tojson: cannot serialise a function");
    case kind::array:
    case kind::object:
      break;
  }
  const bool indented = format.indent >= 0;
  std::string item_sep = format.item_separator;
  if (item_sep.empty()) item_sep = indented ? "," : ", ";
  std::string key_sep = format.key_separator.empty() ? ": " : format.key_separator;
  auto newline = [&](int level) {
    out += '\n';
    out.append(static_cast<std::size_t>(format.indent) * static_cast<std::size_t>(level), ' ');
  };
  if (v.is_array()) {
    const auto& items = v.as_array()->items;
    out += '[';
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out += item_sep;
      if (indented) newline(depth + 1);
      append_json(out, items[i], format, depth + 1);
    }
    if (indented && !items.empty()) newline(depth);
    out += ']';
    return;
  }
  std::vector<const std::pair<std::string, value>*> entries;
  for (const auto& entry : v.as_object()->entries) entries.push_back(&entry);
  if (format.sort_keys) {
    std::stable_sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });
  }
  out += '{';
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) out += item_sep;
    if (indented) newline(depth + 1);
    append_json_string(out, entries[i]->first, format.ensure_ascii);
    out += key_sep;
    append_json(out, entries[i]->second, format, depth + 1);
  }
  if (indented && !entries.empty()) newline(depth);
  out += '}';
}

std::string to_display(const value& v) {
  switch (v.type()) {
    case kind::undefined:
    case kind::none:
      return {};
    case kind::boolean:
      return v.as_bool() ? "true" : "false";
    case kind::integer:
      return std::to_string(v.as_int());
    case kind::floating:
      return format_float(v.as_float());
    case kind::string:
      return v.as_string();
    case kind::function:
      return "<function>";
    case kind::array:
    case kind::object: {
      std::string out;
      append_json(out, v, json_format{});
      return out;
    }
  }
  return {};
}

namespace {

template <typename Json>
value convert(const Json& j, int depth) {
  if (depth > 512) throw std::runtime_error("context nested too deeply");
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return value::none();
    case nlohmann::json::value_t::boolean:
      return value(j.template get<bool>());
    case nlohmann::json::value_t::number_integer:
      return value(j.template get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      auto u = j.template get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(INT64_MAX)) return value(static_cast<double>(u));
      return value(static_cast<std::int64_t>(u));
    }
    case nlohmann::json::value_t::number_float:
      return value(j.template get<double>());
    case nlohmann::json::value_t::string:
      return value(j.template get<std::string>());
    case nlohmann::json::value_t::array: {
      auto a = std::make_shared<array>();
      a->items.reserve(j.size());
      for (const auto& item : j) a->items.push_back(convert(item, depth + 1));
      return value(std::move(a));
    }
    case nlohmann::json::value_t::object: {
      auto o = std::make_shared<object>();
      o->entries.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) o->entries.emplace_back(it.key(), convert(it.value(), depth + 1));
      return value(std::move(o));
    }
    default:
      return value();
  }
}

}  // namespace

value from_json(const nlohmann::ordered_json& j) { return convert(j, 0); }
value from_json(const nlohmann::json& j) { return convert(j, 0); }

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xc0) != 0x80) ++n;
  }
  return n;
}

std::vector<std::string> utf8_chars(std::string_view s) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t len = 1;
    while (i + len < s.size() && (static_cast<unsigned char>(s[i + len]) & 0xc0) == 0x80 && len < 4) ++len;
    out.emplace_back(s.substr(i, len));
    i += len;
  }
  return out;
}

}  // namespace agora::inference::jinja
