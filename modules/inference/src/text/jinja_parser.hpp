#pragma once

#include <string_view>

#include "text/jinja_ast.hpp"

namespace agora::inference::jinja {

// Parses a template with trim_blocks and lstrip_blocks on and a single
// trailing newline dropped, as @huggingface/jinja and transformers configure
// Jinja. `{% generation %}` tags are removed before lexing. Throws
// template_error with the position of the offending token; nesting deeper
// than max_depth is refused rather than risking the stack.
program parse_template(std::string_view source, std::size_t max_depth = 256);

}  // namespace agora::inference::jinja
