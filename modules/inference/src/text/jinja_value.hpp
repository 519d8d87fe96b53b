#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace agora::inference::jinja {

class value;
struct scope;

// Lists and mappings are shared by reference, as in Python: `append` on a
// list seen through two names changes both.
struct array {
  std::vector<value> items;
};

// Insertion-ordered mapping; a namespace() object is a mapping with
// is_namespace set, the only kind `{% set ns.attr = ... %}` may write to.
struct object {
  std::vector<std::pair<std::string, value>> entries;
  bool is_namespace = false;

  const value* find(std::string_view key) const;
  void set(std::string key, value v);
};

struct call_args {
  std::vector<value> positional;
  std::vector<std::pair<std::string, value>> keyword;

  const value* keyword_arg(std::string_view name) const;
  // Positional argument `index`, else the keyword `name`, else nullptr.
  const value* arg(std::size_t index, std::string_view name) const;
};

struct function {
  std::function<value(call_args&, const std::shared_ptr<scope>&)> call;
};

enum class kind : std::uint8_t { undefined, none, boolean, integer, floating, string, array, object, function };

class value {
 public:
  value() = default;
  explicit value(std::nullptr_t) : data_(nullptr) {}
  explicit value(bool b) : data_(b) {}
  explicit value(std::int64_t i) : data_(i) {}
  explicit value(int i) : data_(static_cast<std::int64_t>(i)) {}
  explicit value(double d) : data_(d) {}
  explicit value(std::string s) : data_(std::move(s)) {}
  explicit value(const char* s) : data_(std::string(s)) {}
  explicit value(std::shared_ptr<jinja::array> a) : data_(std::move(a)) {}
  explicit value(std::shared_ptr<jinja::object> o) : data_(std::move(o)) {}
  explicit value(std::shared_ptr<jinja::function> f) : data_(std::move(f)) {}

  static value none() { return value(nullptr); }
  static value make_array(std::vector<value> items = {});
  static value make_object();

  kind type() const noexcept { return static_cast<kind>(data_.index()); }
  bool is_undefined() const noexcept { return type() == kind::undefined; }
  bool is_none() const noexcept { return type() == kind::none; }
  bool is_bool() const noexcept { return type() == kind::boolean; }
  bool is_int() const noexcept { return type() == kind::integer; }
  bool is_float() const noexcept { return type() == kind::floating; }
  bool is_number() const noexcept { return is_int() || is_float(); }
  bool is_string() const noexcept { return type() == kind::string; }
  bool is_array() const noexcept { return type() == kind::array; }
  bool is_object() const noexcept { return type() == kind::object; }
  bool is_function() const noexcept { return type() == kind::function; }

  bool as_bool() const { return std::get<bool>(data_); }
  std::int64_t as_int() const { return std::get<std::int64_t>(data_); }
  double as_float() const { return std::get<double>(data_); }
  double as_number() const { return is_int() ? static_cast<double>(as_int()) : is_bool() ? as_bool() : as_float(); }
  const std::string& as_string() const { return std::get<std::string>(data_); }
  const std::shared_ptr<jinja::array>& as_array() const { return std::get<std::shared_ptr<jinja::array>>(data_); }
  const std::shared_ptr<jinja::object>& as_object() const { return std::get<std::shared_ptr<jinja::object>>(data_); }
  const std::shared_ptr<jinja::function>& as_function() const { return std::get<std::shared_ptr<jinja::function>>(data_); }

  bool truthy() const;

 private:
  std::variant<std::monostate, std::nullptr_t, bool, std::int64_t, double, std::string, std::shared_ptr<jinja::array>,
               std::shared_ptr<jinja::object>, std::shared_ptr<jinja::function>>
      data_;
};

const char* kind_name(kind k);

// Python-like equality, deep for lists and mappings; undefined equals none
// (as in @huggingface/jinja), and booleans compare as 0/1 with numbers.
bool equals(const value& a, const value& b);

// How a value prints in template output: strings as-is, none and undefined
// empty, booleans as true/false, floats with at least one decimal, lists and
// mappings as JSON with ", " and ": " separators (@huggingface/jinja's form).
std::string to_display(const value& v);

// Python's repr() of a float: shortest round-trip digits, "1.0", "1e-05".
std::string format_float(double d);

struct json_format {
  int indent = -1;  // < 0: single line
  std::string item_separator;
  std::string key_separator;
  bool ensure_ascii = false;
  bool sort_keys = false;
};

// json.dumps as transformers' tojson calls it: ", "/": " on one line,
// ","/": " with indent, unless separators are given; non-ASCII kept.
void append_json(std::string& out, const value& v, const json_format& format, int depth = 0);
void append_json_string(std::string& out, std::string_view s, bool ensure_ascii);

value from_json(const nlohmann::ordered_json& j);
value from_json(const nlohmann::json& j);

std::size_t utf8_length(std::string_view s);
std::vector<std::string> utf8_chars(std::string_view s);

}  // namespace agora::inference::jinja
