#pragma once

#include <string>

#include "text/chat_template.hpp"
#include "text/jinja_ast.hpp"

namespace agora::inference::jinja {

// Renders a parsed program with `globals` (a mapping) as the template's
// variables, next to the builtins range, namespace, raise_exception, dict and
// strftime_now. Throws template_error on any failure, limits included.
std::string render_program(const program& prog, const value& globals, const render_options& options);

}  // namespace agora::inference::jinja
