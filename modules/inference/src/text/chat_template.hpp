#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace agora::inference {

namespace jinja {
struct program;
}

// A template that failed to parse or to render. what() reads
// "line L, column C: reason"; line and column are 1-based positions in the
// template source (0 when no position applies, e.g. a size limit hit).
class template_error : public std::runtime_error {
 public:
  template_error(std::string reason, std::size_t line, std::size_t column);

  const std::string& reason() const noexcept { return reason_; }
  std::size_t line() const noexcept { return line_; }
  std::size_t column() const noexcept { return column_; }

 private:
  std::string reason_;
  std::size_t line_;
  std::size_t column_;
};

// Bounds on one render, so that a hostile template cannot hang the process or
// exhaust its memory. Exceeding any of them throws template_error.
struct render_limits {
  std::size_t max_output_bytes = std::size_t{4} << 20;
  // Cumulative bytes of strings and list slots a render may create.
  std::size_t max_allocated_bytes = std::size_t{256} << 20;
  // Nesting of macro calls, filters and expression evaluation.
  std::size_t max_depth = 200;
  // Evaluated nodes and loop iterations.
  std::uint64_t max_steps = 20'000'000;
};

struct render_options {
  render_limits limits;
  // Time seen by strftime_now(); the local wall clock when unset.
  std::optional<std::tm> now;
};

// A Hugging Face chat template: the Jinja2 subset that model repositories
// use, rendered with trim_blocks and lstrip_blocks on (as transformers and
// @huggingface/jinja do), undefined variables empty and falsy. Parsing
// happens once in the constructor; render() is const and may run
// concurrently from several threads.
class chat_template {
 public:
  // Throws template_error naming line and column on a syntax error, or when
  // the source exceeds the parser's nesting limit.
  explicit chat_template(std::string source);
  ~chat_template();
  chat_template(chat_template&&) noexcept;
  chat_template& operator=(chat_template&&) noexcept;

  const std::string& source() const noexcept { return source_; }

  // Renders with the context's top-level keys as variables. Object key order
  // is kept with ordered_json (tojson output follows it); nlohmann::json
  // sorts keys. Throws template_error for raise_exception(), type errors and
  // exceeded limits; never crashes on bad input.
  std::string render(const nlohmann::ordered_json& context, const render_options& options = {}) const;
  std::string render(const nlohmann::json& context, const render_options& options = {}) const;

 private:
  std::string source_;
  std::shared_ptr<const jinja::program> program_;
};

// Renders a conversation the way transformers' apply_chat_template does:
// `messages`, `add_generation_prompt`, then every key of `extra` (bos_token,
// eos_token, tools, documents, enable_thinking, date_string, ...). `tools`
// is omitted when absent or null so that `tools is defined` stays false.
std::string render_chat(const chat_template& tmpl, const nlohmann::ordered_json& messages,
                        bool add_generation_prompt, const nlohmann::ordered_json& extra = nlohmann::ordered_json::object(),
                        const render_options& options = {});

// The chat template of a model folder: chat_template.jinja if present, else
// the `chat_template` of tokenizer_config.json, which is either a string or a
// list of {name, template} (the entry named `name`, "default" by default).
// Returns nullopt when the folder has no template; throws std::runtime_error,
// naming the file relative to the folder, when a file exists but cannot be used (not a
// regular file, a link out of the folder, over its size limit: see model_file) or
// parsed.
std::optional<std::string> load_chat_template_source(const std::filesystem::path& model_dir,
                                                     const std::string& name = "default");

}  // namespace agora::inference
