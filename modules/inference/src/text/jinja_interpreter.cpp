#include "text/jinja_interpreter.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <unordered_map>

#include <fmt/format.h>

namespace agora::inference::jinja {

struct scope {
  std::shared_ptr<scope> parent;
  std::unordered_map<std::string, value> vars;

  const value* find(const std::string& name) const {
    for (const scope* s = this; s != nullptr; s = s->parent.get()) {
      auto it = s->vars.find(name);
      if (it != s->vars.end()) return &it->second;
    }
    return nullptr;
  }
};

namespace {

using scope_ptr = std::shared_ptr<scope>;

// Thrown by helpers that do not know a source position; the enclosing
// expression adds its own.
struct eval_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void type_error(const std::string& what) { throw eval_failure(what); }

scope_ptr child_of(const scope_ptr& parent) {
  auto s = std::make_shared<scope>();
  s->parent = parent;
  return s;
}

value make_function(std::function<value(call_args&, const scope_ptr&)> fn) {
  auto f = std::make_shared<function>();
  f->call = std::move(fn);
  return value(std::move(f));
}

value items_of(const object& o) {
  std::vector<value> out;
  out.reserve(o.entries.size());
  for (const auto& [k, v] : o.entries) out.push_back(value::make_array({value(k), v}));
  return value::make_array(std::move(out));
}

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// Unicode whitespace that both Python's str.strip() and JavaScript's trim()
// remove, as UTF-8.
std::size_t unicode_space_at(std::string_view s, std::size_t i) {
  auto u = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  if (is_ascii_space(s[i])) return 1;
  if (u(0) == 0xc2 && u(1) == 0xa0) return 2;
  if (u(0) == 0xe1 && u(1) == 0x9a && u(2) == 0x80) return 3;
  if (u(0) == 0xe2 && u(1) == 0x80 && ((u(2) >= 0x80 && u(2) <= 0x8a) || u(2) == 0xa8 || u(2) == 0xa9 || u(2) == 0xaf)) {
    return 3;
  }
  if (u(0) == 0xe2 && u(1) == 0x81 && u(2) == 0x9f) return 3;
  if (u(0) == 0xe3 && u(1) == 0x80 && u(2) == 0x80) return 3;
  return 0;
}

std::string strip_chars(std::string_view s, const value* chars, bool left, bool right) {
  std::size_t begin = 0;
  std::size_t end = s.size();
  if (chars != nullptr && chars->is_string()) {
    auto set = utf8_chars(chars->as_string());
    auto cps = utf8_chars(s);
    std::size_t b = 0;
    std::size_t e = cps.size();
    auto in_set = [&](const std::string& c) { return std::find(set.begin(), set.end(), c) != set.end(); };
    if (left) {
      while (b < e && in_set(cps[b])) ++b;
    }
    if (right) {
      while (e > b && in_set(cps[e - 1])) --e;
    }
    std::string out;
    for (std::size_t i = b; i < e; ++i) out += cps[i];
    return out;
  }
  if (left) {
    while (begin < end) {
      std::size_t n = unicode_space_at(s, begin);
      if (n == 0) break;
      begin += n;
    }
  }
  if (right) {
    while (end > begin) {
      std::size_t n = 0;
      for (std::size_t len = 1; len <= 3 && len <= end - begin; ++len) {
        if (unicode_space_at(s, end - len) == len) {
          n = len;
          break;
        }
      }
      if (n == 0) break;
      end -= n;
    }
  }
  return std::string(s.substr(begin, end - begin));
}

std::string ascii_lower(std::string s) {
  for (auto& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::string ascii_upper(std::string s) {
  for (auto& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

bool is_word_byte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         (static_cast<unsigned char>(c) & 0x80) != 0;
}

std::string title_case(const std::string& s) {
  std::string out = s;
  bool at_start = true;
  for (auto& c : out) {
    if (is_word_byte(c)) {
      if (at_start && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      if (!at_start && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      at_start = false;
    } else {
      at_start = true;
    }
  }
  return out;
}

std::string replace_all(const std::string& s, const std::string& from, const std::string& to, std::int64_t count) {
  if (count == 0) return s;
  std::string out;
  std::int64_t done = 0;
  if (from.empty()) {
    auto chars = utf8_chars(s);
    for (const auto& c : chars) {
      if (count < 0 || done < count) {
        out += to;
        ++done;
      }
      out += c;
    }
    if (count < 0 || done < count) out += to;
    return out;
  }
  std::size_t pos = 0;
  while (true) {
    if (count >= 0 && done >= count) break;
    auto hit = s.find(from, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += to;
    pos = hit + from.size();
    ++done;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

std::vector<value> split_string(const std::string& s, const value* sep, std::int64_t maxsplit) {
  std::vector<value> out;
  if (sep == nullptr || sep->is_none() || sep->is_undefined()) {
    std::size_t i = 0;
    auto skip = [&] {
      while (i < s.size()) {
        auto n = unicode_space_at(s, i);
        if (n == 0) break;
        i += n;
      }
    };
    skip();
    while (i < s.size()) {
      if (maxsplit >= 0 && static_cast<std::int64_t>(out.size()) >= maxsplit) {
        std::string rest = s.substr(i);
        out.emplace_back(strip_chars(rest, nullptr, false, true));
        return out;
      }
      std::size_t start = i;
      while (i < s.size() && unicode_space_at(s, i) == 0) ++i;
      out.emplace_back(s.substr(start, i - start));
      skip();
    }
    return out;
  }
  if (!sep->is_string()) type_error("split() separator must be a string");
  const std::string& d = sep->as_string();
  if (d.empty()) type_error("split(): empty separator");
  std::size_t pos = 0;
  while (true) {
    if (maxsplit >= 0 && static_cast<std::int64_t>(out.size()) >= maxsplit) break;
    auto hit = s.find(d, pos);
    if (hit == std::string::npos) break;
    out.emplace_back(s.substr(pos, hit - pos));
    pos = hit + d.size();
  }
  out.emplace_back(s.substr(pos));
  return out;
}

std::vector<value> slice_items(const std::vector<value>& items, const value& start_v, const value& stop_v,
                               const value& step_v) {
  auto as_index = [](const value& v, const char* what) -> std::optional<std::int64_t> {
    if (v.is_undefined() || v.is_none()) return std::nullopt;
    if (!v.is_int()) type_error(std::string("slice ") + what + " must be an integer");
    return v.as_int();
  };
  auto len = static_cast<std::int64_t>(items.size());
  std::int64_t step = as_index(step_v, "step").value_or(1);
  if (step == 0) type_error("slice step cannot be zero");
  auto start_o = as_index(start_v, "start");
  auto stop_o = as_index(stop_v, "stop");
  std::int64_t start;
  std::int64_t stop;
  if (step > 0) {
    start = start_o ? (*start_o < 0 ? std::max<std::int64_t>(len + *start_o, 0) : std::min(*start_o, len)) : 0;
    stop = stop_o ? (*stop_o < 0 ? std::max<std::int64_t>(len + *stop_o, 0) : std::min(*stop_o, len)) : len;
  } else {
    start = start_o ? (*start_o < 0 ? std::max<std::int64_t>(len + *start_o, -1) : std::min(*start_o, len - 1)) : len - 1;
    stop = stop_o ? (*stop_o < 0 ? std::max<std::int64_t>(len + *stop_o, -1) : std::min(*stop_o, len - 1)) : -1;
  }
  std::vector<value> out;
  for (std::int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(items[static_cast<std::size_t>(i)]);
  return out;
}

int compare_values(const value& a, const value& b, bool case_sensitive) {
  if ((a.is_number() || a.is_bool()) && (b.is_number() || b.is_bool())) {
    double x = a.as_number();
    double y = b.as_number();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    if (case_sensitive) return a.as_string().compare(b.as_string()) < 0 ? -1 : a.as_string() == b.as_string() ? 0 : 1;
    auto x = ascii_lower(a.as_string());
    auto y = ascii_lower(b.as_string());
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if ((a.is_none() || a.is_undefined()) && (b.is_none() || b.is_undefined())) return 0;
  if (a.is_array() && b.is_array()) {
    const auto& x = a.as_array()->items;
    const auto& y = b.as_array()->items;
    for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
      int c = compare_values(x[i], y[i], case_sensitive);
      if (c != 0) return c;
    }
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  type_error(fmt::format("cannot compare {} with {}", kind_name(a.type()), kind_name(b.type())));
}

value attribute_path(const value& item, const std::string& path) {
  value current = item;
  std::size_t pos = 0;
  while (true) {
    auto dot = path.find('.', pos);
    std::string part = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    if (current.is_object()) {
      const value* v = current.as_object()->find(part);
      current = v != nullptr ? *v : value();
    } else if (current.is_array() && !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit)) {
      auto index = std::strtoull(part.c_str(), nullptr, 10);
      const auto& items = current.as_array()->items;
      current = index < items.size() ? items[index] : value();
    } else {
      return value();
    }
    if (dot == std::string::npos) return current;
    pos = dot + 1;
  }
}

const char* const month_names[] = {"January", "February", "March",     "April",   "May",      "June",
                                   "July",    "August",   "September", "October", "November", "December"};

class interpreter {
 public:
  explicit interpreter(const render_options& options) : options_(options), limits_(options.limits) {}

  std::string run(const program& prog, const value& globals) {
    auto root = std::make_shared<scope>();
    install_builtins(*root);
    auto top = child_of(root);
    if (globals.is_object()) {
      for (const auto& [k, v] : globals.as_object()->entries) top->vars[k] = v;
    }
    std::string out;
    exec_block(prog.body, top, out);
    return out;
  }

 private:
  enum class flow { normal, break_, continue_ };

  [[noreturn]] static void fail(const source_pos& pos, const std::string& what) {
    throw template_error(what, pos.line, pos.column);
  }

  void step(const source_pos& pos) {
    if (++steps_ > limits_.max_steps) fail(pos, "render step limit exceeded");
  }

  void account(std::size_t bytes) {
    allocated_ += bytes;
    if (allocated_ > limits_.max_allocated_bytes) throw eval_failure("render memory limit exceeded");
  }

  value str(std::string s) {
    if (s.size() > limits_.max_output_bytes) throw eval_failure("string exceeds the output size limit");
    account(s.size());
    return value(std::move(s));
  }

  value list(std::vector<value> items) {
    if (items.size() > limits_.max_output_bytes) throw eval_failure("list exceeds the size limit");
    account(items.size() * sizeof(value));
    return value::make_array(std::move(items));
  }

  void emit(std::string& out, std::string_view s, const source_pos& pos) {
    if (out.size() + s.size() > limits_.max_output_bytes) fail(pos, "output size limit exceeded");
    allocated_ += s.size();
    if (allocated_ > limits_.max_allocated_bytes) fail(pos, "render memory limit exceeded");
    out.append(s);
  }

  struct depth_guard {
    interpreter& in;
    depth_guard(interpreter& owner, const source_pos& pos) : in(owner) {
      if (++in.depth_ > in.limits_.max_depth) {
        --in.depth_;
        fail(pos, "render nesting limit exceeded");
      }
    }
    ~depth_guard() { --in.depth_; }
  };

  void install_builtins(scope& root) {
    root.vars["range"] = make_function([this](call_args& args, const scope_ptr&) {
      std::vector<std::int64_t> n;
      for (const auto& a : args.positional) {
        if (!a.is_int()) type_error("range() arguments must be integers");
        n.push_back(a.as_int());
      }
      if (n.empty() || n.size() > 3) type_error("range() takes 1 to 3 arguments");
      std::int64_t start = n.size() == 1 ? 0 : n[0];
      std::int64_t stop = n.size() == 1 ? n[0] : n[1];
      std::int64_t step = n.size() == 3 ? n[2] : 1;
      if (step == 0) type_error("range() step must not be zero");
      std::vector<value> out;
      for (std::int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (out.size() >= limits_.max_output_bytes / sizeof(value)) type_error("range() too large");
        out.emplace_back(i);
      }
      return list(std::move(out));
    });
    root.vars["namespace"] = make_function([](call_args& args, const scope_ptr&) {
      auto ns = std::make_shared<object>();
      ns->is_namespace = true;
      if (args.positional.size() > 1) type_error("namespace() takes at most one positional argument");
      if (!args.positional.empty()) {
        const value& src = args.positional[0];
        if (!src.is_object()) type_error("namespace() argument must be a mapping");
        for (const auto& [k, v] : src.as_object()->entries) ns->set(k, v);
      }
      for (auto& [k, v] : args.keyword) ns->set(k, v);
      return value(std::move(ns));
    });
    root.vars["dict"] = make_function([](call_args& args, const scope_ptr&) {
      auto o = std::make_shared<object>();
      if (!args.positional.empty() && args.positional[0].is_object()) *o = *args.positional[0].as_object();
      o->is_namespace = false;
      for (auto& [k, v] : args.keyword) o->set(k, v);
      return value(std::move(o));
    });
    root.vars["raise_exception"] = make_function([](call_args& args, const scope_ptr&) -> value {
      std::string msg = args.positional.empty() ? "raise_exception() called" : to_display(args.positional[0]);
      throw eval_failure(msg);
    });
    root.vars["strftime_now"] = make_function([this](call_args& args, const scope_ptr&) {
      const value* f = args.arg(0, "format");
      if (f == nullptr || !f->is_string()) type_error("strftime_now() takes a format string");
      return str(strftime_now(f->as_string()));
    });
  }

  std::string strftime_now(const std::string& format) const {
    std::tm tm{};
    if (options_.now) {
      tm = *options_.now;
    } else {
      std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
      localtime_r(&t, &tm);
    }
    std::string out;
    for (std::size_t i = 0; i < format.size(); ++i) {
      if (format[i] != '%' || i + 1 >= format.size()) {
        out += format[i];
        continue;
      }
      char c = format[++i];
      int month = std::clamp(tm.tm_mon, 0, 11);
      switch (c) {
        case 'Y': out += std::to_string(tm.tm_year + 1900); break;
        case 'm': out += fmt::format("{:02}", tm.tm_mon + 1); break;
        case 'd': out += fmt::format("{:02}", tm.tm_mday); break;
        case '-':
          if (i + 1 < format.size() && format[i + 1] == 'd') {
            ++i;
            out += std::to_string(tm.tm_mday);
          } else {
            out += "%-";
          }
          break;
        case 'H': out += fmt::format("{:02}", tm.tm_hour); break;
        case 'M': out += fmt::format("{:02}", tm.tm_min); break;
        case 'S': out += fmt::format("{:02}", tm.tm_sec); break;
        case 'B': out += month_names[month]; break;
        case 'b': out += std::string(month_names[month]).substr(0, 3); break;
        case '%': out += '%'; break;
        default:
          out += '%';
          out += c;
      }
    }
    return out;
  }

  flow exec_block(const block& body, const scope_ptr& sc, std::string& out) {
    for (const auto& s : body) {
      flow f = exec(*s, sc, out);
      if (f != flow::normal) return f;
    }
    return flow::normal;
  }

  flow exec(const stmt& s, const scope_ptr& sc, std::string& out) {
    step(s.pos);
    switch (s.kind) {
      case stmt_kind::text:
        emit(out, s.text, s.pos);
        return flow::normal;
      case stmt_kind::output: {
        value v = eval(*s.value, sc);
        if (v.is_string()) {
          emit(out, v.as_string(), s.pos);
        } else {
          emit(out, display(v, s.value->pos), s.pos);
        }
        return flow::normal;
      }
      case stmt_kind::if_:
        return exec_block(eval(*s.condition, sc).truthy() ? s.body : s.else_body, sc, out);
      case stmt_kind::for_:
        exec_for(s, sc, out);
        return flow::normal;
      case stmt_kind::set:
        exec_set(s, sc);
        return flow::normal;
      case stmt_kind::set_attr: {
        value target = eval(*s.target, sc);
        if (!target.is_object() || !target.as_object()->is_namespace) {
          fail(s.pos, "cannot assign an attribute on a non-namespace value");
        }
        target.as_object()->set(s.targets[0], eval(*s.value, sc));
        return flow::normal;
      }
      case stmt_kind::macro: {
        const stmt* node = &s;
        sc->vars[s.targets[0]] = make_function(
            [this, node](call_args& args, const scope_ptr& caller) { return call_macro(*node, args, caller); });
        return flow::normal;
      }
      case stmt_kind::call_block:
        exec_call_block(s, sc, out);
        return flow::normal;
      case stmt_kind::filter_block: {
        std::string body;
        exec_block(s.body, sc, body);
        value result = guarded(s.pos, [&] { return eval_filter_chain(*s.value, value(std::move(body)), sc); });
        emit(out, display(result, s.pos), s.pos);
        return flow::normal;
      }
      case stmt_kind::do_:
        eval(*s.value, sc);
        return flow::normal;
      case stmt_kind::break_:
        return flow::break_;
      case stmt_kind::continue_:
        return flow::continue_;
    }
    return flow::normal;
  }

  std::string display(const value& v, const source_pos& pos) {
    return guarded(pos, [&] { return to_display(v); });
  }

  template <typename F>
  auto guarded(const source_pos& pos, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const template_error&) {
      throw;
    } catch (const std::exception& e) {
      fail(pos, e.what());
    }
  }

  void assign(const stmt& s, const scope_ptr& target_scope, const value& v) {
    if (!s.unpack) {
      target_scope->vars[s.targets[0]] = v;
      return;
    }
    if (!v.is_array()) fail(s.pos, fmt::format("cannot unpack a {} value", kind_name(v.type())));
    const auto& items = v.as_array()->items;
    if (items.size() != s.targets.size()) {
      fail(s.pos, fmt::format("expected {} values to unpack, got {}", s.targets.size(), items.size()));
    }
    for (std::size_t i = 0; i < items.size(); ++i) target_scope->vars[s.targets[i]] = items[i];
  }

  void exec_set(const stmt& s, const scope_ptr& sc) {
    if (s.value) {
      assign(s, sc, eval(*s.value, sc));
      return;
    }
    std::string body;
    exec_block(s.body, sc, body);
    assign(s, sc, value(std::move(body)));
  }

  void exec_for(const stmt& s, const scope_ptr& sc, std::string& out) {
    value iterable = eval(*s.value, sc);
    std::vector<value> items;
    switch (iterable.type()) {
      case kind::array:
        items = iterable.as_array()->items;
        break;
      case kind::object:
        for (const auto& [k, v] : iterable.as_object()->entries) items.emplace_back(k);
        break;
      case kind::string:
        for (auto& c : utf8_chars(iterable.as_string())) items.emplace_back(std::move(c));
        break;
      case kind::undefined:
        break;
      default:
        fail(s.value->pos, fmt::format("cannot iterate over a {} value", kind_name(iterable.type())));
    }
    auto loop_scope = child_of(sc);
    if (s.condition) {
      std::vector<value> kept;
      for (auto& item : items) {
        step(s.pos);
        auto test_scope = child_of(loop_scope);
        assign(s, test_scope, item);
        if (eval(*s.condition, test_scope).truthy()) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    const auto n = static_cast<std::int64_t>(items.size());
    for (std::int64_t i = 0; i < n; ++i) {
      step(s.pos);
      auto loop = std::make_shared<object>();
      loop->entries = {
          {"index", value(i + 1)},
          {"index0", value(i)},
          {"revindex", value(n - i)},
          {"revindex0", value(n - i - 1)},
          {"first", value(i == 0)},
          {"last", value(i == n - 1)},
          {"length", value(n)},
          {"previtem", i > 0 ? items[static_cast<std::size_t>(i - 1)] : value()},
          {"nextitem", i + 1 < n ? items[static_cast<std::size_t>(i + 1)] : value()},
          {"cycle", make_function([i](call_args& args, const scope_ptr&) {
             if (args.positional.empty()) type_error("loop.cycle() needs at least one argument");
             return args.positional[static_cast<std::size_t>(i) % args.positional.size()];
           })},
      };
      loop_scope->vars["loop"] = value(std::move(loop));
      assign(s, loop_scope, items[static_cast<std::size_t>(i)]);
      if (exec_block(s.body, loop_scope, out) == flow::break_) break;
    }
    if (n == 0) exec_block(s.else_body, loop_scope, out);
  }

  void bind_params(const std::vector<param>& params, call_args& args, const scope_ptr& target) {
    std::vector<bool> given(params.size(), false);
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (i < args.positional.size()) {
        target->vars[params[i].name] = args.positional[i];
        given[i] = true;
      }
    }
    auto kwargs = std::make_shared<object>();
    for (auto& [k, v] : args.keyword) {
      auto it = std::find_if(params.begin(), params.end(), [&](const param& p) { return p.name == k; });
      if (it == params.end()) {
        kwargs->set(k, v);
        continue;
      }
      auto idx = static_cast<std::size_t>(it - params.begin());
      if (given[idx]) type_error("macro got multiple values for argument '" + k + "'");
      target->vars[k] = v;
      given[idx] = true;
    }
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (given[i]) continue;
      target->vars[params[i].name] = params[i].default_value ? eval(*params[i].default_value, target) : value();
    }
    std::vector<value> varargs;
    for (std::size_t i = params.size(); i < args.positional.size(); ++i) varargs.push_back(args.positional[i]);
    target->vars["varargs"] = value::make_array(std::move(varargs));
    target->vars["kwargs"] = value(std::move(kwargs));
  }

  value call_macro(const stmt& m, call_args& args, const scope_ptr& caller_scope) {
    depth_guard guard(*this, m.pos);
    auto macro_scope = child_of(caller_scope);
    bind_params(m.params, args, macro_scope);
    std::string out;
    exec_block(m.body, macro_scope, out);
    return str(std::move(out));
  }

  void exec_call_block(const stmt& s, const scope_ptr& sc, std::string& out) {
    std::weak_ptr<scope> home = sc;
    const stmt* node = &s;
    auto caller = make_function([this, home, node](call_args& args, const scope_ptr&) {
      auto owner = home.lock();
      if (!owner) type_error("caller() used after its call block ended");
      depth_guard guard(*this, node->pos);
      auto block_scope = child_of(owner);
      bind_params(node->params, args, block_scope);
      std::string body;
      exec_block(node->body, block_scope, body);
      return str(std::move(body));
    });
    const expr& call = *s.value;
    value callee = eval(*call.a, sc);
    call_args args = eval_args(call, sc);
    if (!callee.is_function()) fail(call.pos, "'call' needs a macro");
    auto call_scope = child_of(sc);
    call_scope->vars["caller"] = caller;
    value result = guarded(call.pos, [&] { return callee.as_function()->call(args, call_scope); });
    emit(out, display(result, s.pos), s.pos);
  }

  call_args eval_args(const expr& e, const scope_ptr& sc) {
    call_args args;
    args.positional.reserve(e.items.size());
    for (const auto& item : e.items) args.positional.push_back(eval(*item, sc));
    for (const auto& [k, v] : e.keywords) args.keyword.emplace_back(k, eval(*v, sc));
    return args;
  }

  value eval(const expr& e, const scope_ptr& sc) {
    step(e.pos);
    depth_guard guard(*this, e.pos);
    try {
      return eval_node(e, sc);
    } catch (const template_error&) {
      throw;
    } catch (const std::exception& ex) {
      fail(e.pos, ex.what());
    }
  }

  value eval_node(const expr& e, const scope_ptr& sc) {
    switch (e.kind) {
      case expr_kind::literal:
        return e.constant;
      case expr_kind::name: {
        const value* v = sc->find(e.name);
        return v != nullptr ? *v : value();
      }
      case expr_kind::list:
      case expr_kind::tuple: {
        std::vector<value> items;
        items.reserve(e.items.size());
        for (const auto& item : e.items) items.push_back(eval(*item, sc));
        return list(std::move(items));
      }
      case expr_kind::dict: {
        auto o = std::make_shared<object>();
        for (std::size_t i = 0; i + 1 < e.items.size(); i += 2) {
          value k = eval(*e.items[i], sc);
          if (!k.is_string()) type_error("mapping keys must be strings");
          o->set(k.as_string(), eval(*e.items[i + 1], sc));
        }
        account(o->entries.size() * sizeof(value));
        return value(std::move(o));
      }
      case expr_kind::attribute:
        return member(eval(*e.a, sc), value(e.name));
      case expr_kind::subscript:
        return member(eval(*e.a, sc), eval(*e.b, sc));
      case expr_kind::slice: {
        value object = eval(*e.a, sc);
        value start = e.items[0] ? eval(*e.items[0], sc) : value();
        value stop = e.items[1] ? eval(*e.items[1], sc) : value();
        value step_v = e.items[2] ? eval(*e.items[2], sc) : value();
        if (object.is_array()) return list(slice_items(object.as_array()->items, start, stop, step_v));
        if (object.is_string()) {
          std::vector<value> chars;
          for (auto& c : utf8_chars(object.as_string())) chars.emplace_back(std::move(c));
          std::string out;
          for (const auto& c : slice_items(chars, start, stop, step_v)) out += c.as_string();
          return str(std::move(out));
        }
        if (object.is_undefined()) return value();
        type_error(fmt::format("cannot slice a {} value", kind_name(object.type())));
      }
      case expr_kind::call: {
        value callee = eval(*e.a, sc);
        call_args args = eval_args(e, sc);
        if (!callee.is_function()) {
          type_error(fmt::format("{} is not callable ({})", describe_callee(*e.a), kind_name(callee.type())));
        }
        return callee.as_function()->call(args, sc);
      }
      case expr_kind::filter: {
        value operand = eval(*e.a, sc);
        call_args args = eval_args(e, sc);
        return apply_filter(e.name, operand, args, sc);
      }
      case expr_kind::test: {
        value operand = eval(*e.a, sc);
        call_args args = eval_args(e, sc);
        bool result = apply_test(e.name, operand, args.positional);
        return value(e.negate ? !result : result);
      }
      case expr_kind::unary: {
        value v = eval(*e.a, sc);
        if (e.name == "not") return value(!v.truthy());
        if (v.is_int()) {
          if (e.name == "-" && v.as_int() == std::numeric_limits<std::int64_t>::min()) return value(-v.as_number());
          return value(e.name == "-" ? -v.as_int() : v.as_int());
        }
        if (v.is_bool()) return value(static_cast<std::int64_t>(e.name == "-" ? -int{v.as_bool()} : int{v.as_bool()}));
        if (v.is_float()) return value(e.name == "-" ? -v.as_float() : v.as_float());
        type_error(fmt::format("bad operand for unary {}: {}", e.name, kind_name(v.type())));
      }
      case expr_kind::binary:
        return eval_binary(e, sc);
      case expr_kind::ternary:
        return eval(*e.b, sc).truthy() ? eval(*e.a, sc) : eval(*e.c, sc);
      case expr_kind::select:
        return eval(*e.b, sc).truthy() ? eval(*e.a, sc) : value();
    }
    return value();
  }

  static std::string describe_callee(const expr& e) {
    if (e.kind == expr_kind::name) return "'" + e.name + "'";
    if (e.kind == expr_kind::attribute) return "'" + e.name + "'";
    return "value";
  }

  value eval_binary(const expr& e, const scope_ptr& sc) {
    const std::string& op = e.name;
    value left = eval(*e.a, sc);
    if (op == "and") return left.truthy() ? eval(*e.b, sc) : left;
    if (op == "or") return left.truthy() ? left : eval(*e.b, sc);
    value right = eval(*e.b, sc);
    if (op == "==") return value(equals(left, right));
    if (op == "!=") return value(!equals(left, right));
    if (op == "in" || op == "not in") {
      bool found = contains(right, left);
      return value(op == "in" ? found : !found);
    }
    if (op == "~") return str(to_display(left) + to_display(right));
    if (left.is_undefined() || right.is_undefined()) {
      type_error("cannot apply '" + op + "' to an undefined value");
    }
    if (left.is_none() || right.is_none()) type_error("cannot apply '" + op + "' to none");
    const bool numeric = (left.is_number() || left.is_bool()) && (right.is_number() || right.is_bool());
    if (op == "+") {
      if (numeric) return arithmetic(op, left, right);
      if (left.is_array() && right.is_array()) {
        auto items = left.as_array()->items;
        items.insert(items.end(), right.as_array()->items.begin(), right.as_array()->items.end());
        return list(std::move(items));
      }
      if (left.is_string() || right.is_string()) return str(to_display(left) + to_display(right));
    } else if (op == "<" || op == ">" || op == "<=" || op == ">=") {
      int c = compare_values(left, right, true);
      if (op == "<") return value(c < 0);
      if (op == ">") return value(c > 0);
      if (op == "<=") return value(c <= 0);
      return value(c >= 0);
    } else if (op == "*" && (left.is_string() || left.is_array()) && right.is_int()) {
      return repeat(left, right.as_int());
    } else if (op == "*" && left.is_int() && (right.is_string() || right.is_array())) {
      return repeat(right, left.as_int());
    } else if (numeric) {
      return arithmetic(op, left, right);
    }
    type_error(fmt::format("unsupported operand types for {}: {} and {}", op, kind_name(left.type()),
                           kind_name(right.type())));
  }

  value repeat(const value& v, std::int64_t times) {
    if (times <= 0) return v.is_string() ? value(std::string()) : value::make_array();
    if (v.is_string()) {
      const auto& s = v.as_string();
      if (!s.empty() && static_cast<std::uint64_t>(times) > limits_.max_output_bytes / s.size()) {
        type_error("string repetition exceeds the output size limit");
      }
      std::string out;
      for (std::int64_t i = 0; i < times; ++i) out += s;
      return str(std::move(out));
    }
    const auto& items = v.as_array()->items;
    if (!items.empty() && static_cast<std::uint64_t>(times) > limits_.max_output_bytes / items.size()) {
      type_error("list repetition exceeds the size limit");
    }
    std::vector<value> out;
    for (std::int64_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
    return list(std::move(out));
  }

  static value arithmetic(const std::string& op, const value& left, const value& right) {
    const bool both_int = !left.is_float() && !right.is_float();
    if (both_int && op != "/") {
      std::int64_t a = left.is_bool() ? left.as_bool() : left.as_int();
      std::int64_t b = right.is_bool() ? right.as_bool() : right.as_int();
      std::int64_t r = 0;
      if (op == "+" && !__builtin_add_overflow(a, b, &r)) return value(r);
      if (op == "-" && !__builtin_sub_overflow(a, b, &r)) return value(r);
      if (op == "*" && !__builtin_mul_overflow(a, b, &r)) return value(r);
      if (op == "//" || op == "%") {
        if (b == 0) type_error("integer division or modulo by zero");
        if (a == std::numeric_limits<std::int64_t>::min() && b == -1) return value(-static_cast<double>(a));
        std::int64_t q = a / b;
        std::int64_t m = a % b;
        if (m != 0 && ((m < 0) != (b < 0))) {
          --q;
          m += b;
        }
        return value(op == "//" ? q : m);
      }
      if (op == "**" && b >= 0) {
        std::int64_t acc = 1;
        bool overflow = false;
        for (std::int64_t i = 0; i < b && !overflow; ++i) overflow = __builtin_mul_overflow(acc, a, &acc);
        if (!overflow) return value(acc);
      }
    }
    double a = left.as_number();
    double b = right.as_number();
    if (op == "+") return value(a + b);
    if (op == "-") return value(a - b);
    if (op == "*") return value(a * b);
    if (op == "/") {
      if (b == 0) type_error("division by zero");
      return value(a / b);
    }
    if (op == "//") {
      if (b == 0) type_error("float floor division by zero");
      return value(std::floor(a / b));
    }
    if (op == "%") {
      if (b == 0) type_error("float modulo by zero");
      double m = std::fmod(a, b);
      if (m != 0 && ((m < 0) != (b < 0))) m += b;
      return value(m);
    }
    if (op == "**") {
      if (a == 0 && b < 0) type_error("0.0 cannot be raised to a negative power");
      return value(std::pow(a, b));
    }
    type_error("unknown operator " + op);
  }

  static bool contains(const value& haystack, const value& needle) {
    switch (haystack.type()) {
      case kind::undefined:
      case kind::none:
        return false;
      case kind::array:
        for (const auto& item : haystack.as_array()->items) {
          if (equals(item, needle)) return true;
        }
        return false;
      case kind::string:
        if (!needle.is_string()) type_error("'in <string>' requires a string on the left");
        return haystack.as_string().find(needle.as_string()) != std::string::npos;
      case kind::object:
        return needle.is_string() && haystack.as_object()->find(needle.as_string()) != nullptr;
      default:
        type_error(fmt::format("argument of type {} is not iterable", kind_name(haystack.type())));
    }
  }

  value bound(std::function<value(call_args&)> fn) {
    return make_function([fn = std::move(fn)](call_args& args, const scope_ptr&) { return fn(args); });
  }

  value member(const value& object, const value& key) {
    switch (object.type()) {
      case kind::object: {
        if (!key.is_string()) return value();
        const auto& o = object.as_object();
        if (const value* v = o->find(key.as_string())) return *v;
        if (o->is_namespace) return value();
        return mapping_method(object, key.as_string());
      }
      case kind::array: {
        const auto& items = object.as_array()->items;
        if (key.is_int()) {
          auto len = static_cast<std::int64_t>(items.size());
          std::int64_t i = key.as_int() < 0 ? key.as_int() + len : key.as_int();
          return i >= 0 && i < len ? items[static_cast<std::size_t>(i)] : value();
        }
        if (key.is_string()) return list_method(object, key.as_string());
        return value();
      }
      case kind::string: {
        if (key.is_int()) {
          auto chars = utf8_chars(object.as_string());
          auto len = static_cast<std::int64_t>(chars.size());
          std::int64_t i = key.as_int() < 0 ? key.as_int() + len : key.as_int();
          return i >= 0 && i < len ? value(chars[static_cast<std::size_t>(i)]) : value();
        }
        if (key.is_string()) return string_method(object.as_string(), key.as_string());
        return value();
      }
      default:
        return value();
    }
  }

  value mapping_method(const value& self, const std::string& name) {
    auto o = self.as_object();
    if (name == "items") return bound([o](call_args&) { return items_of(*o); });
    if (name == "keys") {
      return bound([o](call_args&) {
        std::vector<value> keys;
        for (const auto& [k, v] : o->entries) keys.emplace_back(k);
        return value::make_array(std::move(keys));
      });
    }
    if (name == "values") {
      return bound([o](call_args&) {
        std::vector<value> values;
        for (const auto& [k, v] : o->entries) values.push_back(v);
        return value::make_array(std::move(values));
      });
    }
    if (name == "get") {
      return bound([o](call_args& args) {
        const value* key = args.arg(0, "key");
        if (key == nullptr) type_error("get() needs a key");
        if (key->is_string()) {
          if (const value* v = o->find(key->as_string())) return *v;
        }
        const value* fallback = args.arg(1, "default");
        return fallback != nullptr ? *fallback : value::none();
      });
    }
    if (name == "update") {
      return bound([o](call_args& args) {
        if (!args.positional.empty() && args.positional[0].is_object()) {
          for (const auto& [k, v] : args.positional[0].as_object()->entries) o->set(k, v);
        }
        for (auto& [k, v] : args.keyword) o->set(k, v);
        return value::none();
      });
    }
    if (name == "pop") {
      return bound([o](call_args& args) {
        const value* key = args.arg(0, "key");
        if (key == nullptr || !key->is_string()) type_error("pop() needs a string key");
        for (auto it = o->entries.begin(); it != o->entries.end(); ++it) {
          if (it->first == key->as_string()) {
            value v = it->second;
            o->entries.erase(it);
            return v;
          }
        }
        const value* fallback = args.arg(1, "default");
        if (fallback == nullptr) type_error("pop(): key not found");
        return *fallback;
      });
    }
    return value();
  }

  value list_method(const value& self, const std::string& name) {
    auto a = self.as_array();
    if (name == "length") return value(static_cast<std::int64_t>(a->items.size()));
    if (name == "append") {
      return bound([this, a](call_args& args) {
        if (args.positional.size() != 1) type_error("append() takes exactly one argument");
        if (a->items.size() >= limits_.max_output_bytes) type_error("list exceeds the size limit");
        const value& v = args.positional[0];
        account(sizeof(value) + (v.is_string() ? v.as_string().size() : 0));
        a->items.push_back(v);
        return value::none();
      });
    }
    if (name == "extend") {
      return bound([this, a](call_args& args) {
        if (args.positional.size() != 1 || !args.positional[0].is_array()) type_error("extend() takes a list");
        auto more = args.positional[0].as_array()->items;
        if (a->items.size() + more.size() > limits_.max_output_bytes) type_error("list exceeds the size limit");
        account(more.size() * sizeof(value));
        a->items.insert(a->items.end(), more.begin(), more.end());
        return value::none();
      });
    }
    if (name == "pop") {
      return bound([a](call_args& args) {
        if (a->items.empty()) type_error("pop from empty list");
        auto len = static_cast<std::int64_t>(a->items.size());
        std::int64_t i = len - 1;
        if (!args.positional.empty() && args.positional[0].is_int()) {
          i = args.positional[0].as_int() < 0 ? args.positional[0].as_int() + len : args.positional[0].as_int();
        }
        if (i < 0 || i >= len) type_error("pop index out of range");
        value v = a->items[static_cast<std::size_t>(i)];
        a->items.erase(a->items.begin() + i);
        return v;
      });
    }
    if (name == "index") {
      return bound([a](call_args& args) {
        if (args.positional.empty()) type_error("index() takes one argument");
        for (std::size_t i = 0; i < a->items.size(); ++i) {
          if (equals(a->items[i], args.positional[0])) return value(static_cast<std::int64_t>(i));
        }
        type_error("index(): value is not in list");
      });
    }
    if (name == "count") {
      return bound([a](call_args& args) {
        if (args.positional.empty()) type_error("count() takes one argument");
        std::int64_t n = 0;
        for (const auto& item : a->items) n += equals(item, args.positional[0]) ? 1 : 0;
        return value(n);
      });
    }
    return value();
  }

  value string_method(const std::string& s, const std::string& name) {
    if (name == "length") return value(static_cast<std::int64_t>(utf8_length(s)));
    if (name == "upper") return bound([this, s](call_args&) { return str(ascii_upper(s)); });
    if (name == "lower") return bound([this, s](call_args&) { return str(ascii_lower(s)); });
    if (name == "title") return bound([this, s](call_args&) { return str(title_case(s)); });
    if (name == "capitalize") return bound([this, s](call_args&) { return str(capitalize(s)); });
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      bool left = name != "rstrip";
      bool right = name != "lstrip";
      return bound([this, s, left, right](call_args& args) {
        const value* chars = args.arg(0, "chars");
        return str(strip_chars(s, chars != nullptr && chars->is_string() ? chars : nullptr, left, right));
      });
    }
    if (name == "startswith" || name == "endswith") {
      bool starts = name == "startswith";
      return bound([s, starts](call_args& args) {
        if (args.positional.empty()) type_error("startswith()/endswith() need an argument");
        auto test = [&](const value& p) {
          if (!p.is_string()) type_error("startswith()/endswith() take strings");
          const auto& x = p.as_string();
          if (x.size() > s.size()) return false;
          return starts ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
        };
        const value& p = args.positional[0];
        if (p.is_array()) {
          for (const auto& item : p.as_array()->items) {
            if (test(item)) return value(true);
          }
          return value(false);
        }
        return value(test(p));
      });
    }
    if (name == "split") {
      return bound([this, s](call_args& args) {
        const value* maxsplit = args.arg(1, "maxsplit");
        std::int64_t limit = maxsplit != nullptr && maxsplit->is_int() ? maxsplit->as_int() : -1;
        return list(split_string(s, args.arg(0, "sep"), limit));
      });
    }
    if (name == "replace") {
      return bound([this, s](call_args& args) {
        const value* from = args.arg(0, "old");
        const value* to = args.arg(1, "new");
        const value* count = args.arg(2, "count");
        if (from == nullptr || to == nullptr || !from->is_string() || !to->is_string()) {
          type_error("replace() takes two strings");
        }
        return str(checked_replace(s, from->as_string(), to->as_string(),
                                   count != nullptr && count->is_int() ? count->as_int() : -1));
      });
    }
    if (name == "find") {
      return bound([s](call_args& args) {
        if (args.positional.empty() || !args.positional[0].is_string()) type_error("find() takes a string");
        auto pos = s.find(args.positional[0].as_string());
        return value(pos == std::string::npos ? std::int64_t{-1}
                                              : static_cast<std::int64_t>(utf8_length(std::string_view(s).substr(0, pos))));
      });
    }
    if (name == "count") {
      return bound([s](call_args& args) {
        if (args.positional.empty() || !args.positional[0].is_string()) type_error("count() takes a string");
        const auto& x = args.positional[0].as_string();
        if (x.empty()) return value(static_cast<std::int64_t>(utf8_length(s) + 1));
        std::int64_t n = 0;
        for (auto pos = s.find(x); pos != std::string::npos; pos = s.find(x, pos + x.size())) ++n;
        return value(n);
      });
    }
    if (name == "join") {
      return bound([this, s](call_args& args) {
        if (args.positional.empty()) type_error("join() takes an iterable");
        return str(join_values(iterable_items(args.positional[0]), s, nullptr));
      });
    }
    if (name == "isdigit" || name == "isalpha" || name == "isspace" || name == "isupper" || name == "islower") {
      return bound([s, name](call_args&) {
        if (s.empty()) return value(false);
        bool ok = true;
        bool cased = false;
        for (char c : s) {
          auto u = static_cast<unsigned char>(c);
          if (name == "isdigit") ok = ok && std::isdigit(u);
          if (name == "isalpha") ok = ok && std::isalpha(u);
          if (name == "isspace") ok = ok && std::isspace(u);
          if (name == "isupper") ok = ok && !std::islower(u), cased = cased || std::isupper(u);
          if (name == "islower") ok = ok && !std::isupper(u), cased = cased || std::islower(u);
        }
        return value((name == "isupper" || name == "islower") ? ok && cased : ok);
      });
    }
    return value();
  }

  std::string checked_replace(const std::string& s, const std::string& from, const std::string& to, std::int64_t count) {
    if (to.size() > from.size()) {
      std::size_t hits = from.empty() ? utf8_length(s) + 1 : 0;
      if (!from.empty()) {
        for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + from.size())) ++hits;
      }
      if (count >= 0) hits = std::min<std::size_t>(hits, static_cast<std::size_t>(count));
      if (s.size() + hits * (to.size() - from.size()) > limits_.max_output_bytes) {
        type_error("replace() result exceeds the output size limit");
      }
    }
    return replace_all(s, from, to, count);
  }

  static std::string capitalize(const std::string& s) {
    std::string out = ascii_lower(s);
    if (!out.empty() && out[0] >= 'a' && out[0] <= 'z') out[0] = static_cast<char>(out[0] - 'a' + 'A');
    return out;
  }

  std::vector<value> iterable_items(const value& v) {
    switch (v.type()) {
      case kind::array:
        return v.as_array()->items;
      case kind::string: {
        std::vector<value> out;
        for (auto& c : utf8_chars(v.as_string())) out.emplace_back(std::move(c));
        return out;
      }
      case kind::object: {
        std::vector<value> out;
        for (const auto& [k, x] : v.as_object()->entries) out.emplace_back(k);
        return out;
      }
      case kind::undefined:
        return {};
      default:
        type_error(fmt::format("{} value is not iterable", kind_name(v.type())));
    }
  }

  std::string join_values(const std::vector<value>& items, const std::string& sep, const value* attribute) {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out += sep;
      out += to_display(attribute != nullptr && attribute->is_string() ? attribute_path(items[i], attribute->as_string())
                                                                        : items[i]);
      if (out.size() > limits_.max_output_bytes) type_error("join() result exceeds the output size limit");
    }
    return out;
  }

  value eval_filter_chain(const expr& e, value base, const scope_ptr& sc) {
    if (e.kind != expr_kind::filter) return base;
    value operand = eval_filter_chain(*e.a, std::move(base), sc);
    call_args args = eval_args(e, sc);
    return apply_filter(e.name, operand, args, sc);
  }

  bool apply_test(const std::string& name, const value& v, const std::vector<value>& args) {
    auto arg = [&]() -> const value& {
      if (args.empty()) type_error("test '" + name + "' needs an argument");
      return args[0];
    };
    if (name == "defined") return !v.is_undefined();
    if (name == "undefined") return v.is_undefined();
    if (name == "none") return v.is_none();
    if (name == "string") return v.is_string();
    if (name == "number") return v.is_number();
    if (name == "integer") return v.is_int();
    if (name == "float") return v.is_float();
    if (name == "boolean") return v.is_bool();
    if (name == "true") return v.is_bool() && v.as_bool();
    if (name == "false") return v.is_bool() && !v.as_bool();
    if (name == "mapping") return v.is_object();
    if (name == "iterable") return v.is_array() || v.is_string() || v.is_object();
    if (name == "sequence") return v.is_array() || v.is_string() || v.is_object();
    if (name == "callable") return v.is_function();
    if (name == "lower") return v.is_string() && ascii_lower(v.as_string()) == v.as_string();
    if (name == "upper") return v.is_string() && ascii_upper(v.as_string()) == v.as_string();
    if (name == "odd" || name == "even") {
      if (!v.is_int()) type_error("test '" + name + "' needs an integer");
      bool odd = v.as_int() % 2 != 0;
      return name == "odd" ? odd : !odd;
    }
    if (name == "divisibleby") {
      const value& d = arg();
      if (!v.is_int() || !d.is_int() || d.as_int() == 0) type_error("divisibleby needs non-zero integers");
      return v.as_int() % d.as_int() == 0;
    }
    if (name == "equalto" || name == "eq" || name == "==") return equals(v, arg());
    if (name == "ne" || name == "!=") return !equals(v, arg());
    if (name == "sameas") {
      const value& o = arg();
      if (v.type() != o.type()) return false;
      if (v.is_array()) return v.as_array() == o.as_array();
      if (v.is_object()) return v.as_object() == o.as_object();
      return equals(v, o);
    }
    if (name == "lt" || name == "<" || name == "lessthan") return compare_values(v, arg(), true) < 0;
    if (name == "le" || name == "<=") return compare_values(v, arg(), true) <= 0;
    if (name == "gt" || name == ">" || name == "greaterthan") return compare_values(v, arg(), true) > 0;
    if (name == "ge" || name == ">=") return compare_values(v, arg(), true) >= 0;
    if (name == "in") return contains(arg(), v);
    type_error("unknown test '" + name + "'");
  }

  std::vector<value> select_items(const value& operand, call_args& args, bool select, bool by_attribute) {
    std::vector<value> out;
    std::size_t first = 0;
    std::string attribute;
    if (by_attribute) {
      if (args.positional.empty() || !args.positional[0].is_string()) type_error("selectattr/rejectattr need an attribute");
      attribute = args.positional[0].as_string();
      first = 1;
    }
    std::string test;
    if (args.positional.size() > first) {
      if (!args.positional[first].is_string()) type_error("test name must be a string");
      test = args.positional[first].as_string();
    }
    std::vector<value> test_args(args.positional.begin() + static_cast<std::ptrdiff_t>(std::min(args.positional.size(), first + 1)),
                                 args.positional.end());
    for (const auto& item : iterable_items(operand)) {
      step({});
      value subject = by_attribute ? attribute_path(item, attribute) : item;
      bool ok = test.empty() ? subject.truthy() : apply_test(test, subject, test_args);
      if (ok == select) out.push_back(item);
    }
    return out;
  }

  value apply_filter(const std::string& name, const value& v, call_args& args, const scope_ptr& sc) {
    depth_guard guard(*this, {});
    if (name == "safe" || name == "e" || name == "escape" || name == "forceescape") {
      if (name == "safe") return v;
      std::string out;
      for (char c : to_display(v)) {
        switch (c) {
          case '&': out += "&amp;"; break;
          case '<': out += "&lt;"; break;
          case '>': out += "&gt;"; break;
          case '"': out += "&#34;"; break;
          case '\'': out += "&#39;"; break;
          default: out += c;
        }
      }
      return str(std::move(out));
    }
    if (name == "tojson") {
      json_format format;
      const value* ensure_ascii = args.arg(0, "ensure_ascii");
      const value* indent = args.arg(1, "indent");
      const value* separators = args.arg(2, "separators");
      const value* sort_keys = args.arg(3, "sort_keys");
      if (ensure_ascii != nullptr && ensure_ascii->is_int() && args.positional.size() == 1) {
        indent = ensure_ascii;
        ensure_ascii = nullptr;
      }
      format.ensure_ascii = ensure_ascii != nullptr && ensure_ascii->truthy();
      format.sort_keys = sort_keys != nullptr && sort_keys->truthy();
      if (indent != nullptr && !indent->is_none()) {
        if (!indent->is_int() || indent->as_int() < 0 || indent->as_int() > 64) type_error("tojson indent must be a small integer");
        format.indent = static_cast<int>(indent->as_int());
      }
      if (separators != nullptr && !separators->is_none()) {
        if (!separators->is_array() || separators->as_array()->items.size() != 2 ||
            !separators->as_array()->items[0].is_string() || !separators->as_array()->items[1].is_string()) {
          type_error("tojson separators must be two strings");
        }
        format.item_separator = separators->as_array()->items[0].as_string();
        format.key_separator = separators->as_array()->items[1].as_string();
        if (format.item_separator.empty()) format.item_separator = "\x01";
      }
      std::string out;
      append_json(out, v, format);
      if (format.item_separator == "\x01") out = replace_all(out, "\x01", "", -1);
      return str(std::move(out));
    }
    if (name == "default" || name == "d") {
      const value* fallback = args.arg(0, "default_value");
      const value* boolean = args.arg(1, "boolean");
      bool use = v.is_undefined() || (boolean != nullptr && boolean->truthy() && !v.truthy());
      if (!use) return v;
      return fallback != nullptr ? *fallback : value(std::string());
    }
    if (name == "length" || name == "count") {
      switch (v.type()) {
        case kind::string: return value(static_cast<std::int64_t>(utf8_length(v.as_string())));
        case kind::array: return value(static_cast<std::int64_t>(v.as_array()->items.size()));
        case kind::object: return value(static_cast<std::int64_t>(v.as_object()->entries.size()));
        case kind::undefined: return value(std::int64_t{0});
        default: type_error(fmt::format("object of type {} has no length", kind_name(v.type())));
      }
    }
    if (name == "string") return v.is_string() ? v : str(to_display(v));
    if (name == "upper") return str(ascii_upper(to_display(v)));
    if (name == "lower") return str(ascii_lower(to_display(v)));
    if (name == "title") return str(title_case(to_display(v)));
    if (name == "capitalize") return str(capitalize(to_display(v)));
    if (name == "trim") {
      const value* chars = args.arg(0, "chars");
      return str(strip_chars(to_display(v), chars != nullptr && chars->is_string() ? chars : nullptr, true, true));
    }
    if (name == "replace") {
      const value* from = args.arg(0, "old");
      const value* to = args.arg(1, "new");
      const value* count = args.arg(2, "count");
      if (from == nullptr || to == nullptr) type_error("replace needs two arguments");
      return str(checked_replace(to_display(v), to_display(*from), to_display(*to),
                                 count != nullptr && count->is_int() ? count->as_int() : -1));
    }
    if (name == "indent") {
      const value* width_v = args.arg(0, "width");
      const value* first = args.arg(1, "first");
      const value* blank = args.arg(2, "blank");
      std::string pad;
      if (width_v == nullptr) {
        pad = "    ";
      } else if (width_v->is_string()) {
        pad = width_v->as_string();
      } else if (width_v->is_int() && width_v->as_int() >= 0 && width_v->as_int() <= 256) {
        pad.assign(static_cast<std::size_t>(width_v->as_int()), ' ');
      } else {
        type_error("indent width must be a small integer or a string");
      }
      std::string s = to_display(v);
      std::string out;
      std::size_t line = 0;
      std::size_t pos = 0;
      while (true) {
        auto nl = s.find('\n', pos);
        std::string_view part(s.data() + pos, (nl == std::string::npos ? s.size() : nl) - pos);
        bool indent_it = (line > 0 || (first != nullptr && first->truthy())) &&
                         (!part.empty() || (blank != nullptr && blank->truthy()));
        if (indent_it) out += pad;
        out += part;
        if (out.size() > limits_.max_output_bytes) type_error("indent result exceeds the output size limit");
        if (nl == std::string::npos) break;
        out += '\n';
        pos = nl + 1;
        ++line;
      }
      return str(std::move(out));
    }
    if (name == "join") {
      const value* sep = args.arg(0, "d");
      return str(join_values(iterable_items(v), sep != nullptr ? to_display(*sep) : std::string(),
                             args.arg(1, "attribute")));
    }
    if (name == "list") return list(iterable_items(v));
    if (name == "first" || name == "last") {
      auto items = iterable_items(v);
      if (items.empty()) return value();
      return name == "first" ? items.front() : items.back();
    }
    if (name == "reverse") {
      if (v.is_string()) {
        auto chars = utf8_chars(v.as_string());
        std::string out;
        for (auto it = chars.rbegin(); it != chars.rend(); ++it) out += *it;
        return str(std::move(out));
      }
      auto items = iterable_items(v);
      std::reverse(items.begin(), items.end());
      return list(std::move(items));
    }
    if (name == "sort") {
      const value* reverse = args.arg(0, "reverse");
      const value* case_sensitive = args.arg(1, "case_sensitive");
      const value* attribute = args.arg(2, "attribute");
      auto items = iterable_items(v);
      bool cs = case_sensitive != nullptr && case_sensitive->truthy();
      bool rev = reverse != nullptr && reverse->truthy();
      auto key = [&](const value& item) {
        if (attribute == nullptr || attribute->is_none()) return item;
        return attribute_path(item, to_display(*attribute));
      };
      std::stable_sort(items.begin(), items.end(), [&](const value& a, const value& b) {
        int c = compare_values(key(a), key(b), cs);
        return rev ? c > 0 : c < 0;
      });
      return list(std::move(items));
    }
    if (name == "unique") {
      const value* case_sensitive = args.arg(0, "case_sensitive");
      const value* attribute = args.arg(1, "attribute");
      bool cs = case_sensitive != nullptr && case_sensitive->truthy();
      std::vector<value> out;
      std::vector<value> seen;
      for (const auto& item : iterable_items(v)) {
        value k = attribute != nullptr && attribute->is_string() ? attribute_path(item, attribute->as_string()) : item;
        if (!cs && k.is_string()) k = value(ascii_lower(k.as_string()));
        bool dup = std::any_of(seen.begin(), seen.end(), [&](const value& s) { return equals(s, k); });
        if (!dup) {
          seen.push_back(k);
          out.push_back(item);
        }
      }
      return list(std::move(out));
    }
    if (name == "items") {
      if (v.is_undefined()) return value::make_array();
      if (!v.is_object()) type_error("items filter needs a mapping");
      return items_of(*v.as_object());
    }
    if (name == "dictsort") {
      if (!v.is_object()) type_error("dictsort needs a mapping");
      const value* case_sensitive = args.arg(0, "case_sensitive");
      const value* by = args.arg(1, "by");
      const value* reverse = args.arg(2, "reverse");
      bool cs = case_sensitive != nullptr && case_sensitive->truthy();
      std::size_t index = by != nullptr && by->is_string() && by->as_string() == "value" ? 1 : 0;
      bool rev = reverse != nullptr && reverse->truthy();
      auto items = items_of(*v.as_object()).as_array()->items;
      std::stable_sort(items.begin(), items.end(), [&](const value& a, const value& b) {
        int c = compare_values(a.as_array()->items[index], b.as_array()->items[index], cs);
        return rev ? c > 0 : c < 0;
      });
      return list(std::move(items));
    }
    if (name == "map") {
      std::vector<value> out;
      const value* attribute = args.keyword_arg("attribute");
      if (attribute != nullptr) {
        const value* fallback = args.keyword_arg("default");
        for (const auto& item : iterable_items(v)) {
          value x = attribute_path(item, to_display(*attribute));
          out.push_back(x.is_undefined() && fallback != nullptr ? *fallback : x);
        }
        return list(std::move(out));
      }
      if (args.positional.empty() || !args.positional[0].is_string()) type_error("map needs a filter name or attribute=");
      std::string filter = args.positional[0].as_string();
      call_args rest;
      rest.positional.assign(args.positional.begin() + 1, args.positional.end());
      rest.keyword = args.keyword;
      for (const auto& item : iterable_items(v)) out.push_back(apply_filter(filter, item, rest, sc));
      return list(std::move(out));
    }
    if (name == "select" || name == "reject") return list(select_items(v, args, name == "select", false));
    if (name == "selectattr" || name == "rejectattr") {
      return list(select_items(v, args, name == "selectattr", true));
    }
    if (name == "int") {
      const value* fallback = args.arg(0, "default");
      value def = fallback != nullptr ? *fallback : value(std::int64_t{0});
      if (v.is_int()) return v;
      if (v.is_bool()) return value(static_cast<std::int64_t>(v.as_bool()));
      if (v.is_float()) {
        double d = v.as_float();
        if (std::isnan(d) || std::abs(d) >= 9.2e18) return def;
        return value(static_cast<std::int64_t>(d));
      }
      if (v.is_string()) {
        auto s = strip_chars(v.as_string(), nullptr, true, true);
        char* end = nullptr;
        errno = 0;
        long long n = std::strtoll(s.c_str(), &end, 10);
        if (!s.empty() && end != nullptr && *end == '\0' && errno == 0) return value(static_cast<std::int64_t>(n));
        double d = std::strtod(s.c_str(), &end);
        if (!s.empty() && end != nullptr && *end == '\0' && std::abs(d) < 9.2e18) {
          return value(static_cast<std::int64_t>(d));
        }
      }
      return def;
    }
    if (name == "float") {
      const value* fallback = args.arg(0, "default");
      value def = fallback != nullptr ? *fallback : value(0.0);
      if (v.is_number() || v.is_bool()) return value(v.as_number());
      if (v.is_string()) {
        auto s = strip_chars(v.as_string(), nullptr, true, true);
        char* end = nullptr;
        double d = std::strtod(s.c_str(), &end);
        if (!s.empty() && end != nullptr && *end == '\0') return value(d);
      }
      return def;
    }
    if (name == "abs") {
      if (v.is_int()) return v.as_int() == std::numeric_limits<std::int64_t>::min() ? value(-v.as_number()) : value(std::abs(v.as_int()));
      if (v.is_float()) return value(std::abs(v.as_float()));
      if (v.is_bool()) return value(static_cast<std::int64_t>(v.as_bool()));
      type_error("abs needs a number");
    }
    if (name == "round") {
      const value* precision = args.arg(0, "precision");
      const value* method = args.arg(1, "method");
      if (!v.is_number()) type_error("round needs a number");
      std::int64_t p = precision != nullptr && precision->is_int() ? std::clamp<std::int64_t>(precision->as_int(), -20, 20) : 0;
      double scale = std::pow(10.0, static_cast<double>(p));
      double x = v.as_number() * scale;
      std::string m = method != nullptr && method->is_string() ? method->as_string() : "common";
      x = m == "floor" ? std::floor(x) : m == "ceil" ? std::ceil(x) : std::round(x);
      return value(x / scale);
    }
    if (name == "min" || name == "max" || name == "sum") {
      auto items = iterable_items(v);
      if (name == "sum") {
        value total(std::int64_t{0});
        for (const auto& item : items) total = arithmetic("+", total, item);
        return total;
      }
      if (items.empty()) return value();
      value best = items[0];
      for (const auto& item : items) {
        int c = compare_values(item, best, false);
        if (name == "min" ? c < 0 : c > 0) best = item;
      }
      return best;
    }
    if (name == "batch") {
      const value* size = args.arg(0, "linecount");
      const value* fill = args.arg(1, "fill_with");
      if (size == nullptr || !size->is_int() || size->as_int() <= 0) type_error("batch needs a positive size");
      auto n = static_cast<std::size_t>(size->as_int());
      std::vector<value> out;
      std::vector<value> current;
      for (const auto& item : iterable_items(v)) {
        current.push_back(item);
        if (current.size() == n) {
          out.push_back(list(std::move(current)));
          current.clear();
        }
      }
      if (!current.empty()) {
        while (fill != nullptr && current.size() < n) current.push_back(*fill);
        out.push_back(list(std::move(current)));
      }
      return list(std::move(out));
    }
    if (name == "attr") {
      const value* a = args.arg(0, "name");
      if (a == nullptr) type_error("attr needs a name");
      return member(v, *a);
    }
    if (name == "wordcount") return value(static_cast<std::int64_t>(split_string(to_display(v), nullptr, -1).size()));
    type_error("unknown filter '" + name + "'");
  }

  const render_options& options_;
  const render_limits& limits_;
  std::uint64_t steps_ = 0;
  std::size_t depth_ = 0;
  std::size_t allocated_ = 0;
};

}  // namespace

std::string render_program(const program& prog, const value& globals, const render_options& options) {
  interpreter in(options);
  try {
    return in.run(prog, globals);
  } catch (const template_error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw template_error("out of memory while rendering", 0, 0);
  } catch (const std::exception& e) {
    throw template_error(e.what(), 0, 0);
  }
}

}  // namespace agora::inference::jinja
