#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "text/jinja_value.hpp"

namespace agora::inference::jinja {

// 1-based line and column in the original template source.
struct source_pos {
  std::size_t line = 0;
  std::size_t column = 0;
};

struct expr;
using expr_ptr = std::unique_ptr<expr>;

enum class expr_kind {
  literal,     // constant
  name,        // name
  list,        // items
  tuple,       // items
  dict,        // items: key, value, key, value, ...
  attribute,   // a.name
  subscript,   // a[b]
  slice,       // a[items[0]:items[1]:items[2]], null entries absent
  call,        // a(items, keywords)
  filter,      // a | name(items, keywords)
  test,        // a is [not] name(items)
  unary,       // name a
  binary,      // a name b
  ternary,     // a if b else c
  select,      // a if b (undefined when b is false)
};

struct expr {
  expr_kind kind{};
  source_pos pos;
  std::string name;
  value constant;
  bool negate = false;
  expr_ptr a, b, c;
  std::vector<expr_ptr> items;
  std::vector<std::pair<std::string, expr_ptr>> keywords;
};

struct stmt;
using stmt_ptr = std::unique_ptr<stmt>;
using block = std::vector<stmt_ptr>;

enum class stmt_kind {
  text,          // text
  output,        // {{ value }}
  if_,           // if value: body else else_body (an elif is a nested if_)
  for_,          // for targets in value [if condition]: body else else_body
  set,           // set targets = value, or block set (value null, body)
  set_attr,      // set target.attribute = value (targets[0] is the attribute)
  macro,         // macro name(params): body
  call_block,    // call(params) value: body
  filter_block,  // filter value: body (value is a filter expr on a null operand)
  do_,           // do value
  break_,
  continue_,
};

struct param {
  std::string name;
  expr_ptr default_value;
};

struct stmt {
  stmt_kind kind{};
  source_pos pos;
  std::string text;
  std::vector<std::string> targets;
  bool unpack = false;
  expr_ptr target;
  expr_ptr value;
  expr_ptr condition;
  block body;
  block else_body;
  std::vector<param> params;
};

struct program {
  block body;
};

}  // namespace agora::inference::jinja
