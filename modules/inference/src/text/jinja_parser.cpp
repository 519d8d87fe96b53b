#include "text/jinja_parser.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>

#include "text/chat_template.hpp"

namespace agora::inference::jinja {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_word(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

// Text after preprocessing, with the source offset of every byte kept so that
// errors point into the template as written.
struct mapped_text {
  std::string text;
  std::vector<std::size_t> origin;

  void push(char c, std::size_t at) {
    text += c;
    origin.push_back(at);
  }
};

class position_map {
 public:
  explicit position_map(std::string_view source) {
    line_starts_.push_back(0);
    for (std::size_t i = 0; i < source.size(); ++i) {
      if (source[i] == '\n') line_starts_.push_back(i + 1);
    }
  }
  source_pos at(std::size_t offset) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    auto line = static_cast<std::size_t>(it - line_starts_.begin());
    return {line, offset - line_starts_[line - 1] + 1};
  }

 private:
  std::vector<std::size_t> line_starts_;
};

mapped_text preprocess(std::string_view source) {
  mapped_text in;
  std::size_t n = source.size();
  if (n > 0 && source[n - 1] == '\n') --n;
  for (std::size_t i = 0; i < n; ++i) in.push(source[i], i);

  // lstrip_blocks: blanks between a line start and `{%`/`{#` go.
  mapped_text lstripped;
  for (std::size_t i = 0; i < in.text.size();) {
    bool line_start = i == 0 || in.text[i - 1] == '\n' || in.text[i - 1] == '\r';
    if (line_start) {
      std::size_t j = i;
      while (j < in.text.size() && (in.text[j] == ' ' || in.text[j] == '\t')) ++j;
      if (j > i && j + 1 < in.text.size() && in.text[j] == '{' &&
          (in.text[j + 1] == '#' || in.text[j + 1] == '%' || in.text[j + 1] == '-')) {
        i = j;
      }
    }
    lstripped.push(in.text[i], in.origin[i]);
    ++i;
  }

  // trim_blocks: the newline right after `%}` / `#}` goes.
  mapped_text trimmed;
  const auto& t = lstripped.text;
  for (std::size_t i = 0; i < t.size();) {
    if (i + 2 < t.size() && (t[i] == '#' || t[i] == '%' || t[i] == '-') && t[i + 1] == '}' && t[i + 2] == '\n') {
      trimmed.push(t[i], lstripped.origin[i]);
      trimmed.push(t[i + 1], lstripped.origin[i + 1]);
      i += 3;
      continue;
    }
    trimmed.push(t[i], lstripped.origin[i]);
    ++i;
  }

  // {% generation %} / {% endgeneration %} only mark assistant spans for
  // training masks; rendering drops them, honouring their `-` markers.
  mapped_text out;
  const auto& s = trimmed.text;
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] == '{' && i + 1 < s.size() && s[i + 1] == '%') {
      std::size_t j = i + 2;
      bool strip_before = j < s.size() && s[j] == '-';
      if (strip_before) ++j;
      while (j < s.size() && is_space(s[j])) ++j;
      if (s.compare(j, 3, "end") == 0) j += 3;
      if (s.compare(j, 10, "generation") == 0) {
        j += 10;
        while (j < s.size() && is_space(s[j])) ++j;
        bool strip_after = j < s.size() && s[j] == '-';
        if (strip_after) ++j;
        if (s.compare(j, 2, "%}") == 0) {
          j += 2;
          if (strip_before) {
            while (!out.text.empty() && is_space(out.text.back())) {
              out.text.pop_back();
              out.origin.pop_back();
            }
          }
          if (strip_after) {
            while (j < s.size() && is_space(s[j])) ++j;
          }
          i = j;
          continue;
        }
      }
    }
    out.push(s[i], trimmed.origin[i]);
    ++i;
  }
  return out;
}

enum class tok { text, comment, open_stmt, close_stmt, open_expr, close_expr, number, string, ident, op, end };

struct token {
  tok type;
  std::string value;
  std::size_t offset;
};

class lexer {
 public:
  lexer(const mapped_text& src, const position_map& positions) : src_(src), positions_(positions) {}

  std::vector<token> run() {
    const std::string& s = src_.text;
    while (pos_ < s.size()) {
      tok last = tokens_.empty() ? tok::end : tokens_.back().type;
      if (last == tok::end || last == tok::close_stmt || last == tok::close_expr || last == tok::comment) {
        std::size_t start = pos_;
        while (pos_ < s.size() &&
               !(s[pos_] == '{' && pos_ + 1 < s.size() && (s[pos_ + 1] == '%' || s[pos_ + 1] == '{' || s[pos_ + 1] == '#'))) {
          ++pos_;
        }
        if (pos_ > start) {
          push(tok::text, s.substr(start, pos_ - start), start);
          continue;
        }
      }
      if (starts("{#")) {
        lex_comment();
        continue;
      }
      if (starts("{%-") || starts("{{-")) {
        strip_trailing_whitespace();
        bool stmt = s[pos_ + 1] == '%';
        push(stmt ? tok::open_stmt : tok::open_expr, stmt ? "{%" : "{{", pos_);
        curly_depth_ = 0;
        pos_ += 3;
        continue;
      }
      while (pos_ < s.size() && is_space(s[pos_])) ++pos_;
      if (pos_ >= s.size()) break;
      if (starts("-%}") || starts("-}}")) {
        bool stmt = s[pos_ + 1] == '%';
        push(stmt ? tok::close_stmt : tok::close_expr, stmt ? "%}" : "}}", pos_);
        pos_ += 3;
        while (pos_ < s.size() && is_space(s[pos_])) ++pos_;
        continue;
      }
      char c = s[pos_];
      if (lex_symbol()) continue;
      if (c == '\'' || c == '"') {
        lex_string(c);
        continue;
      }
      if (is_digit(c)) {
        std::size_t start = pos_;
        while (pos_ < s.size() && is_digit(s[pos_])) ++pos_;
        bool after_dot = !tokens_.empty() && tokens_.back().type == tok::op && tokens_.back().value == ".";
        if (!after_dot && pos_ + 1 < s.size() && s[pos_] == '.' && is_digit(s[pos_ + 1])) {
          ++pos_;
          while (pos_ < s.size() && is_digit(s[pos_])) ++pos_;
        }
        push(tok::number, s.substr(start, pos_ - start), start);
        continue;
      }
      if (is_word(c)) {
        std::size_t start = pos_;
        while (pos_ < s.size() && is_word(s[pos_])) ++pos_;
        push(tok::ident, s.substr(start, pos_ - start), start);
        continue;
      }
      fail(std::string("unexpected character '") + c + "'", pos_);
    }
    tokens_.push_back({tok::end, "", s.size()});
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void fail(const std::string& what, std::size_t at) const {
    std::size_t offset = at < src_.origin.size() ? src_.origin[at] : (src_.origin.empty() ? 0 : src_.origin.back() + 1);
    auto p = positions_.at(offset);
    throw template_error(what, p.line, p.column);
  }

  bool starts(std::string_view prefix) const { return src_.text.compare(pos_, prefix.size(), prefix) == 0; }

  void push(tok type, std::string v, std::size_t at) { tokens_.push_back({type, std::move(v), at}); }

  void strip_trailing_whitespace() {
    if (tokens_.empty() || tokens_.back().type != tok::text) return;
    auto& v = tokens_.back().value;
    while (!v.empty() && is_space(v.back())) v.pop_back();
    if (v.empty()) tokens_.pop_back();
  }

  void lex_comment() {
    const std::string& s = src_.text;
    std::size_t start = pos_;
    pos_ += 2;
    bool strip_before = pos_ < s.size() && s[pos_] == '-';
    auto close = s.find("#}", pos_);
    if (close == std::string::npos) fail("unterminated comment", start);
    bool strip_after = close > pos_ && s[close - 1] == '-';
    if (strip_before) strip_trailing_whitespace();
    push(tok::comment, "", start);
    pos_ = close + 2;
    if (strip_after) {
      while (pos_ < s.size() && is_space(s[pos_])) ++pos_;
    }
  }

  bool lex_symbol() {
    static constexpr std::array<std::string_view, 27> symbols = {
        "{%", "%}", "{{", "}}", "**", "//", "<=", ">=", "==", "!=", "(", ")", "{", "}", "[",
        "]",  ",",  ".",  ":",  "|",  "<",  ">",  "+",  "-",  "~",  "*", "/"};
    for (auto sym : symbols) {
      if (sym == "}}" && curly_depth_ > 0) continue;
      if (!starts(sym)) continue;
      tok type = tok::op;
      if (sym == "{%") type = tok::open_stmt;
      if (sym == "%}") type = tok::close_stmt;
      if (sym == "{{") type = tok::open_expr;
      if (sym == "}}") type = tok::close_expr;
      if (type == tok::open_expr) curly_depth_ = 0;
      if (sym == "{") ++curly_depth_;
      if (sym == "}") --curly_depth_;
      push(type, std::string(sym), pos_);
      pos_ += sym.size();
      return true;
    }
    if (starts("%") || starts("=")) {
      push(tok::op, std::string(1, src_.text[pos_]), pos_);
      ++pos_;
      return true;
    }
    return false;
  }

  void lex_string(char quote) {
    const std::string& s = src_.text;
    std::size_t start = pos_++;
    std::string out;
    while (true) {
      if (pos_ >= s.size()) fail("unterminated string literal", start);
      char c = s[pos_++];
      if (c == quote) break;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s.size()) fail("unterminated string literal", start);
      char e = s[pos_++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'v': out += '\v'; break;
        case '0': out += '\0'; break;
        case '\'': case '"': case '\\': out += e; break;
        case '\n': break;
        case 'x':
        case 'u':
        case 'U': {
          std::size_t len = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (pos_ + len > s.size()) fail("invalid escape sequence", pos_ - 2);
          std::string hex = s.substr(pos_, len);
          if (!std::all_of(hex.begin(), hex.end(), [](char h) { return std::isxdigit(static_cast<unsigned char>(h)); })) {
            fail("invalid escape sequence", pos_ - 2);
          }
          pos_ += len;
          auto cp = static_cast<std::uint32_t>(std::strtoul(hex.c_str(), nullptr, 16));
          if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) cp = 0xfffd;
          if (cp < 0x80) {
            out += static_cast<char>(cp);
          } else if (cp < 0x800) {
            out += static_cast<char>(0xc0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3f));
          } else if (cp < 0x10000) {
            out += static_cast<char>(0xe0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
          } else {
            out += static_cast<char>(0xf0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
          }
          break;
        }
        default:
          out += '\\';
          out += e;
      }
    }
    push(tok::string, std::move(out), start);
  }

  const mapped_text& src_;
  const position_map& positions_;
  std::vector<token> tokens_;
  std::size_t pos_ = 0;
  int curly_depth_ = 0;
};

bool takes_test_argument(std::string_view name) {
  static constexpr std::array<std::string_view, 13> names = {"equalto", "eq", "ne",   "sameas", "divisibleby", "lt", "le",
                                                             "gt",      "ge", "in", "lessthan", "greaterthan", "=="};
  return std::find(names.begin(), names.end(), name) != names.end();
}

class parser {
 public:
  parser(std::vector<token> tokens, const mapped_text& src, const position_map& positions, std::size_t max_depth)
      : tokens_(std::move(tokens)), src_(src), positions_(positions), max_depth_(max_depth) {}

  program run() {
    program p;
    while (peek().type != tok::end) p.body.push_back(parse_any());
    return p;
  }

 private:
  struct depth_guard {
    parser& p;
    explicit depth_guard(parser& owner) : p(owner) {
      if (++p.depth_ > p.max_depth_) p.fail("template nested too deeply", p.peek());
    }
    ~depth_guard() { --p.depth_; }
  };

  source_pos pos_of(const token& t) const {
    std::size_t offset = t.offset < src_.origin.size() ? src_.origin[t.offset]
                                                         : (src_.origin.empty() ? 0 : src_.origin.back() + 1);
    return positions_.at(offset);
  }

  [[noreturn]] void fail(const std::string& what, const token& at) const {
    auto p = pos_of(at);
    throw template_error(what, p.line, p.column);
  }

  const token& peek(std::size_t ahead = 0) const {
    std::size_t i = std::min(current_ + ahead, tokens_.size() - 1);
    return tokens_[i];
  }
  const token& next() {
    const token& t = peek();
    if (current_ < tokens_.size() - 1) ++current_;
    return t;
  }
  bool is_op(std::string_view op, std::size_t ahead = 0) const {
    return peek(ahead).type == tok::op && peek(ahead).value == op;
  }
  bool is_ident(std::string_view name, std::size_t ahead = 0) const {
    return peek(ahead).type == tok::ident && peek(ahead).value == name;
  }
  std::string describe(const token& t) const {
    switch (t.type) {
      case tok::end: return "end of template";
      case tok::text: return "text";
      case tok::comment: return "comment";
      case tok::string: return "string literal";
      default: return "'" + t.value + "'";
    }
  }
  void expect_op(std::string_view op) {
    if (!is_op(op)) fail("expected '" + std::string(op) + "', got " + describe(peek()), peek());
    next();
  }
  void expect(tok type, std::string_view what) {
    if (peek().type != type) fail("expected " + std::string(what) + ", got " + describe(peek()), peek());
    next();
  }
  void expect_ident(std::string_view name) {
    if (!is_ident(name)) fail("expected '" + std::string(name) + "', got " + describe(peek()), peek());
    next();
  }
  std::string expect_name() {
    if (peek().type != tok::ident) fail("expected a name, got " + describe(peek()), peek());
    return next().value;
  }
  bool at_statement(std::initializer_list<std::string_view> names) const {
    if (peek().type != tok::open_stmt || peek(1).type != tok::ident) return false;
    for (auto n : names) {
      if (peek(1).value == n) return true;
    }
    return false;
  }

  block parse_until(std::initializer_list<std::string_view> names, std::string_view opener, const token& at) {
    block body;
    while (!at_statement(names)) {
      if (peek().type == tok::end) {
        fail("unexpected end of template: '" + std::string(opener) + "' opened here is not closed", at);
      }
      body.push_back(parse_any());
    }
    return body;
  }

  void expect_end_tag(std::string_view name) {
    expect(tok::open_stmt, "'{%'");
    expect_ident(name);
    expect(tok::close_stmt, "'%}'");
  }

  stmt_ptr make_stmt(stmt_kind kind, const token& at) {
    auto s = std::make_unique<stmt>();
    s->kind = kind;
    s->pos = pos_of(at);
    return s;
  }

  stmt_ptr parse_any() {
    depth_guard guard(*this);
    const token& t = peek();
    switch (t.type) {
      case tok::comment: {
        next();
        auto s = make_stmt(stmt_kind::text, t);
        return s;
      }
      case tok::text: {
        auto s = make_stmt(stmt_kind::text, t);
        s->text = next().value;
        return s;
      }
      case tok::open_expr: {
        next();
        auto s = make_stmt(stmt_kind::output, t);
        s->value = parse_expression();
        expect(tok::close_expr, "'}}'");
        return s;
      }
      case tok::open_stmt:
        next();
        return parse_statement(t);
      default:
        fail("unexpected " + describe(t), t);
    }
  }

  stmt_ptr parse_statement(const token& open) {
    if (peek().type != tok::ident) fail("expected a statement name, got " + describe(peek()), peek());
    const token& name_tok = next();
    const std::string& name = name_tok.value;
    if (name == "set") return parse_set(open);
    if (name == "if") {
      auto s = parse_if(open);
      expect_end_tag("endif");
      return s;
    }
    if (name == "for") return parse_for(open);
    if (name == "macro") return parse_macro(open);
    if (name == "call") return parse_call_block(open);
    if (name == "filter") return parse_filter_block(open);
    if (name == "do") {
      auto s = make_stmt(stmt_kind::do_, open);
      s->value = parse_expression();
      expect(tok::close_stmt, "'%}'");
      return s;
    }
    if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) fail("'" + name + "' outside a loop", name_tok);
      expect(tok::close_stmt, "'%}'");
      return make_stmt(name == "break" ? stmt_kind::break_ : stmt_kind::continue_, open);
    }
    fail("unknown statement '" + name + "'", name_tok);
  }

  stmt_ptr parse_set(const token& open) {
    auto target = parse_target_sequence();
    std::unique_ptr<stmt> s;
    if (target->kind == expr_kind::attribute) {
      s = make_stmt(stmt_kind::set_attr, open);
      s->targets.push_back(target->name);
      s->target = std::move(target->a);
    } else {
      s = make_stmt(stmt_kind::set, open);
      collect_names(*target, *s);
    }
    if (is_op("=")) {
      next();
      s->value = parse_expression_sequence();
      expect(tok::close_stmt, "'%}'");
      return s;
    }
    if (s->unpack) fail("a block set takes a single name", peek());
    expect(tok::close_stmt, "'=' or '%}'");
    s->body = parse_until({"endset"}, "set", open);
    expect_end_tag("endset");
    return s;
  }

  expr_ptr parse_target_sequence() {
    auto first = parse_target();
    if (!is_op(",")) return first;
    auto tuple = std::make_unique<expr>();
    tuple->kind = expr_kind::tuple;
    tuple->pos = first->pos;
    tuple->items.push_back(std::move(first));
    while (is_op(",")) {
      next();
      if (peek().type != tok::ident) break;
      tuple->items.push_back(parse_target());
    }
    return tuple;
  }

  expr_ptr parse_target() {
    const token& t = peek();
    if (is_op("(")) {
      next();
      auto inner = parse_target_sequence();
      expect_op(")");
      return inner;
    }
    auto e = make_expr(expr_kind::name, t);
    e->name = expect_name();
    if (is_op(".")) {
      next();
      auto attr = make_expr(expr_kind::attribute, t);
      attr->name = expect_name();
      attr->a = std::move(e);
      return attr;
    }
    return e;
  }

  void collect_names(const expr& target, stmt& s) {
    if (target.kind == expr_kind::name) {
      s.targets.push_back(target.name);
      return;
    }
    if (target.kind == expr_kind::tuple) {
      s.unpack = true;
      for (const auto& item : target.items) {
        if (item->kind != expr_kind::name) fail("can only unpack into plain names", peek());
        s.targets.push_back(item->name);
      }
      return;
    }
    fail("invalid assignment target", peek());
  }

  stmt_ptr parse_if(const token& open) {
    auto s = make_stmt(stmt_kind::if_, open);
    s->condition = parse_expression();
    expect(tok::close_stmt, "'%}'");
    s->body = parse_until({"elif", "else", "endif"}, "if", open);
    if (at_statement({"elif"})) {
      const token& elif = next();
      next();
      s->else_body.push_back(parse_if(elif));
    } else if (at_statement({"else"})) {
      next();
      next();
      expect(tok::close_stmt, "'%}'");
      s->else_body = parse_until({"endif"}, "if", open);
    }
    return s;
  }

  stmt_ptr parse_for(const token& open) {
    auto s = make_stmt(stmt_kind::for_, open);
    auto target = parse_target_sequence();
    collect_names(*target, *s);
    expect_ident("in");
    auto iterable = parse_expression();
    if (iterable->kind == expr_kind::select) {
      s->value = std::move(iterable->a);
      s->condition = std::move(iterable->b);
    } else {
      s->value = std::move(iterable);
    }
    if (is_ident("recursive")) fail("recursive loops are not supported", peek());
    expect(tok::close_stmt, "'%}'");
    ++loop_depth_;
    s->body = parse_until({"endfor", "else"}, "for", open);
    --loop_depth_;
    if (at_statement({"else"})) {
      next();
      next();
      expect(tok::close_stmt, "'%}'");
      s->else_body = parse_until({"endfor"}, "for", open);
    }
    expect_end_tag("endfor");
    return s;
  }

  std::vector<param> parse_params() {
    std::vector<param> params;
    expect_op("(");
    while (!is_op(")")) {
      param p;
      p.name = expect_name();
      if (is_op("=")) {
        next();
        p.default_value = parse_expression();
      }
      for (const auto& existing : params) {
        if (existing.name == p.name) fail("duplicate parameter '" + p.name + "'", peek());
      }
      params.push_back(std::move(p));
      if (!is_op(",")) break;
      next();
    }
    expect_op(")");
    return params;
  }

  stmt_ptr parse_macro(const token& open) {
    auto s = make_stmt(stmt_kind::macro, open);
    s->targets.push_back(expect_name());
    s->params = parse_params();
    expect(tok::close_stmt, "'%}'");
    int saved = loop_depth_;
    loop_depth_ = 0;
    s->body = parse_until({"endmacro"}, "macro", open);
    loop_depth_ = saved;
    expect_end_tag("endmacro");
    return s;
  }

  stmt_ptr parse_call_block(const token& open) {
    auto s = make_stmt(stmt_kind::call_block, open);
    if (is_op("(")) s->params = parse_params();
    s->value = parse_expression();
    if (s->value->kind != expr_kind::call) fail("expected a macro call after 'call'", peek());
    expect(tok::close_stmt, "'%}'");
    int saved = loop_depth_;
    loop_depth_ = 0;
    s->body = parse_until({"endcall"}, "call", open);
    loop_depth_ = saved;
    expect_end_tag("endcall");
    return s;
  }

  stmt_ptr parse_filter_block(const token& open) {
    auto s = make_stmt(stmt_kind::filter_block, open);
    auto chain = make_expr(expr_kind::literal, peek());
    chain->constant = value::none();
    while (true) {
      chain = parse_filter_call(std::move(chain));
      if (!is_op("|")) break;
      next();
    }
    s->value = std::move(chain);
    expect(tok::close_stmt, "'%}'");
    s->body = parse_until({"endfilter"}, "filter", open);
    expect_end_tag("endfilter");
    return s;
  }

  expr_ptr make_expr(expr_kind kind, const token& at) {
    auto e = std::make_unique<expr>();
    e->kind = kind;
    e->pos = pos_of(at);
    return e;
  }

  expr_ptr parse_expression_sequence() {
    const token& start = peek();
    auto first = parse_expression();
    if (!is_op(",")) return first;
    auto tuple = make_expr(expr_kind::tuple, start);
    tuple->items.push_back(std::move(first));
    while (is_op(",")) {
      next();
      if (is_op(")") || peek().type == tok::close_stmt || peek().type == tok::close_expr) break;
      tuple->items.push_back(parse_expression());
    }
    return tuple;
  }

  expr_ptr parse_expression() {
    depth_guard guard(*this);
    const token& start = peek();
    auto a = parse_or();
    if (!is_ident("if")) return a;
    next();
    auto cond = parse_or();
    if (is_ident("else")) {
      next();
      auto t = make_expr(expr_kind::ternary, start);
      t->a = std::move(a);
      t->b = std::move(cond);
      t->c = parse_expression();
      return t;
    }
    auto sel = make_expr(expr_kind::select, start);
    sel->a = std::move(a);
    sel->b = std::move(cond);
    return sel;
  }

  expr_ptr binary(const token& op_tok, std::string op, expr_ptr left, expr_ptr right) {
    auto e = make_expr(expr_kind::binary, op_tok);
    e->name = std::move(op);
    e->a = std::move(left);
    e->b = std::move(right);
    return e;
  }

  expr_ptr parse_or() {
    auto left = parse_and();
    while (is_ident("or")) {
      const token& t = next();
      left = binary(t, "or", std::move(left), parse_and());
    }
    return left;
  }

  expr_ptr parse_and() {
    auto left = parse_not();
    while (is_ident("and")) {
      const token& t = next();
      left = binary(t, "and", std::move(left), parse_not());
    }
    return left;
  }

  expr_ptr parse_not() {
    if (is_ident("not")) {
      depth_guard guard(*this);
      const token& t = next();
      auto e = make_expr(expr_kind::unary, t);
      e->name = "not";
      e->a = parse_not();
      return e;
    }
    return parse_comparison();
  }

  expr_ptr parse_comparison() {
    auto left = parse_additive();
    while (true) {
      const token& t = peek();
      std::string op;
      if (is_ident("not") && is_ident("in", 1)) {
        next();
        next();
        op = "not in";
      } else if (is_ident("in")) {
        next();
        op = "in";
      } else if (t.type == tok::op && (t.value == "==" || t.value == "!=" || t.value == "<" || t.value == ">" ||
                                       t.value == "<=" || t.value == ">=")) {
        op = next().value;
      } else {
        break;
      }
      left = binary(t, op, std::move(left), parse_additive());
    }
    return left;
  }

  expr_ptr parse_additive() {
    auto left = parse_multiplicative();
    while (is_op("+") || is_op("-") || is_op("~")) {
      const token& t = next();
      left = binary(t, t.value, std::move(left), parse_multiplicative());
    }
    return left;
  }

  expr_ptr parse_multiplicative() {
    auto left = parse_power();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const token& t = next();
      left = binary(t, t.value, std::move(left), parse_power());
    }
    return left;
  }

  expr_ptr parse_power() {
    auto left = parse_test();
    while (is_op("**")) {
      const token& t = next();
      left = binary(t, "**", std::move(left), parse_test());
    }
    return left;
  }

  expr_ptr parse_test() {
    auto operand = parse_filter();
    while (is_ident("is")) {
      const token& t = next();
      auto e = make_expr(expr_kind::test, t);
      if (is_ident("not")) {
        next();
        e->negate = true;
      }
      if (peek().type == tok::ident) {
        e->name = next().value;
      } else if (is_op("==") || is_op("!=") || is_op("<") || is_op(">") || is_op("<=") || is_op(">=")) {
        e->name = next().value;
      } else {
        fail("expected a test name after 'is'", peek());
      }
      if (is_op("(")) {
        parse_call_args(*e);
      } else if (takes_test_argument(e->name) || e->name == "!=" || e->name == "<" || e->name == ">" ||
                 e->name == "<=" || e->name == ">=") {
        e->items.push_back(parse_unary());
      }
      e->a = std::move(operand);
      operand = std::move(e);
    }
    return operand;
  }

  expr_ptr parse_filter_call(expr_ptr operand) {
    const token& t = peek();
    auto e = make_expr(expr_kind::filter, t);
    e->name = expect_name();
    if (is_op("(")) parse_call_args(*e);
    e->a = std::move(operand);
    return e;
  }

  expr_ptr parse_filter() {
    auto operand = parse_unary();
    while (is_op("|")) {
      next();
      operand = parse_filter_call(std::move(operand));
    }
    return operand;
  }

  expr_ptr parse_unary() {
    if (is_op("-") || is_op("+")) {
      depth_guard guard(*this);
      const token& t = next();
      auto e = make_expr(expr_kind::unary, t);
      e->name = t.value;
      e->a = parse_unary();
      return e;
    }
    return parse_postfix(parse_primary());
  }

  void parse_call_args(expr& call) {
    expect_op("(");
    bool seen_keyword = false;
    while (!is_op(")")) {
      if (peek().type == tok::ident && is_op("=", 1)) {
        std::string key = next().value;
        next();
        for (const auto& existing : call.keywords) {
          if (existing.first == key) fail("duplicate keyword argument '" + key + "'", peek());
        }
        call.keywords.emplace_back(std::move(key), parse_expression());
        seen_keyword = true;
      } else {
        if (seen_keyword) fail("positional argument follows keyword argument", peek());
        call.items.push_back(parse_expression());
      }
      if (!is_op(",")) break;
      next();
    }
    expect_op(")");
  }

  expr_ptr parse_postfix(expr_ptr object) {
    while (true) {
      const token& t = peek();
      if (is_op(".")) {
        next();
        auto e = make_expr(expr_kind::attribute, t);
        if (peek().type == tok::number) {
          auto index = make_expr(expr_kind::literal, peek());
          index->constant = value(static_cast<std::int64_t>(std::strtoll(next().value.c_str(), nullptr, 10)));
          e->kind = expr_kind::subscript;
          e->b = std::move(index);
        } else {
          e->name = expect_name();
        }
        e->a = std::move(object);
        object = std::move(e);
      } else if (is_op("[")) {
        next();
        object = parse_subscript(std::move(object), t);
        expect_op("]");
      } else if (is_op("(")) {
        auto e = make_expr(expr_kind::call, t);
        e->pos = object->pos;
        parse_call_args(*e);
        e->a = std::move(object);
        object = std::move(e);
      } else {
        return object;
      }
    }
  }

  expr_ptr parse_subscript(expr_ptr object, const token& t) {
    std::vector<expr_ptr> parts;
    bool is_slice = false;
    if (is_op("]")) fail("expected an index or slice", peek());
    while (!is_op("]")) {
      if (is_op(":")) {
        next();
        parts.push_back(nullptr);
        is_slice = true;
        if (parts.size() > 2) fail("a slice takes at most three parts", peek());
        continue;
      }
      parts.push_back(parse_expression());
      if (is_op(":")) {
        next();
        is_slice = true;
        if (parts.size() > 2) fail("a slice takes at most three parts", peek());
      } else if (!is_op("]")) {
        fail("expected ']' or ':', got " + describe(peek()), peek());
      }
    }
    if (!is_slice) {
      auto e = make_expr(expr_kind::subscript, t);
      e->a = std::move(object);
      e->b = std::move(parts[0]);
      return e;
    }
    auto e = make_expr(expr_kind::slice, t);
    e->a = std::move(object);
    parts.resize(3);
    e->items = std::move(parts);
    return e;
  }

  expr_ptr parse_primary() {
    depth_guard guard(*this);
    const token& t = next();
    switch (t.type) {
      case tok::number: {
        auto e = make_expr(expr_kind::literal, t);
        if (t.value.find('.') != std::string::npos) {
          e->constant = value(std::strtod(t.value.c_str(), nullptr));
        } else {
          errno = 0;
          long long v = std::strtoll(t.value.c_str(), nullptr, 10);
          e->constant = errno == ERANGE ? value(std::strtod(t.value.c_str(), nullptr)) : value(static_cast<std::int64_t>(v));
        }
        return e;
      }
      case tok::string: {
        auto e = make_expr(expr_kind::literal, t);
        std::string s = t.value;
        while (peek().type == tok::string) s += next().value;
        e->constant = value(std::move(s));
        return e;
      }
      case tok::ident: {
        auto e = make_expr(expr_kind::literal, t);
        const std::string& n = t.value;
        if (n == "true" || n == "True") {
          e->constant = value(true);
        } else if (n == "false" || n == "False") {
          e->constant = value(false);
        } else if (n == "none" || n == "None") {
          e->constant = value::none();
        } else {
          e->kind = expr_kind::name;
          e->name = n;
        }
        return e;
      }
      case tok::op:
        if (t.value == "(") {
          if (is_op(")")) {
            next();
            return make_expr(expr_kind::tuple, t);
          }
          auto inner = parse_expression_sequence();
          expect_op(")");
          return inner;
        }
        if (t.value == "[") {
          auto e = make_expr(expr_kind::list, t);
          while (!is_op("]")) {
            e->items.push_back(parse_expression());
            if (!is_op(",")) break;
            next();
          }
          expect_op("]");
          return e;
        }
        if (t.value == "{") {
          auto e = make_expr(expr_kind::dict, t);
          while (!is_op("}")) {
            e->items.push_back(parse_expression());
            expect_op(":");
            e->items.push_back(parse_expression());
            if (!is_op(",")) break;
            next();
          }
          expect_op("}");
          return e;
        }
        break;
      default:
        break;
    }
    fail("unexpected " + describe(t), t);
  }

  std::vector<token> tokens_;
  const mapped_text& src_;
  const position_map& positions_;
  std::size_t max_depth_;
  std::size_t current_ = 0;
  std::size_t depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

program parse_template(std::string_view source, std::size_t max_depth) {
  position_map positions(source);
  mapped_text text = preprocess(source);
  auto tokens = lexer(text, positions).run();
  return parser(std::move(tokens), text, positions, max_depth).run();
}

}  // namespace agora::inference::jinja
