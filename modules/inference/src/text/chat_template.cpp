#include "text/chat_template.hpp"

#include <fmt/format.h>

#include "text/jinja_interpreter.hpp"
#include "text/jinja_parser.hpp"
#include "engine/model_files.hpp"

namespace agora::inference {

namespace {

std::string located(const std::string& reason, std::size_t line, std::size_t column) {
  if (line == 0) return reason;
  return fmt::format("line {}, column {}: {}", line, column, reason);
}

}  // namespace

template_error::template_error(std::string reason, std::size_t line, std::size_t column)
    : std::runtime_error(located(reason, line, column)), reason_(std::move(reason)), line_(line), column_(column) {}

chat_template::chat_template(std::string source) : source_(std::move(source)) {
  try {
    program_ = std::make_shared<const jinja::program>(jinja::parse_template(source_));
  } catch (const template_error&) {
    throw;
  } catch (const std::exception& e) {
    throw template_error(e.what(), 0, 0);
  }
}

chat_template::~chat_template() = default;
chat_template::chat_template(chat_template&&) noexcept = default;
chat_template& chat_template::operator=(chat_template&&) noexcept = default;

std::string chat_template::render(const nlohmann::ordered_json& context, const render_options& options) const {
  jinja::value globals;
  try {
    globals = jinja::from_json(context);
  } catch (const std::exception& e) {
    throw template_error(std::string("bad context: ") + e.what(), 0, 0);
  }
  return jinja::render_program(*program_, globals, options);
}

std::string chat_template::render(const nlohmann::json& context, const render_options& options) const {
  jinja::value globals;
  try {
    globals = jinja::from_json(context);
  } catch (const std::exception& e) {
    throw template_error(std::string("bad context: ") + e.what(), 0, 0);
  }
  return jinja::render_program(*program_, globals, options);
}

std::string render_chat(const chat_template& tmpl, const nlohmann::ordered_json& messages, bool add_generation_prompt,
                        const nlohmann::ordered_json& extra, const render_options& options) {
  nlohmann::ordered_json context = nlohmann::ordered_json::object();
  context["messages"] = messages;
  context["add_generation_prompt"] = add_generation_prompt;
  if (extra.is_object()) {
    for (auto it = extra.begin(); it != extra.end(); ++it) {
      if (it.key() == "tools" && it.value().is_null()) continue;
      context[it.key()] = it.value();
    }
  }
  return tmpl.render(context, options);
}

std::optional<std::string> load_chat_template_source(const std::filesystem::path& model_dir, const std::string& name) {
  const model_file_limits limits;
  try {
    if (auto source = read_model_file(model_dir, "chat_template.jinja", limits.chat_template)) return source;
    auto text = read_model_file(model_dir, "tokenizer_config.json", limits.tokenizer_config);
    if (!text) return std::nullopt;
    auto config = nlohmann::json::parse(*text, nullptr, false);
    if (config.is_discarded()) throw std::runtime_error("tokenizer_config.json: not valid JSON");
    if (!config.is_object() || !config.contains("chat_template")) return std::nullopt;
    const auto& entry = config["chat_template"];
    if (entry.is_string()) return entry.get<std::string>();
    if (entry.is_array()) {
      for (const auto& named : entry) {
        if (named.is_object() && named.value("name", "") == name && named.contains("template") &&
            named["template"].is_string()) {
          return named["template"].get<std::string>();
        }
      }
      return std::nullopt;
    }
    if (entry.is_null()) return std::nullopt;
    throw std::runtime_error("tokenizer_config.json: chat_template is neither a string nor a list");
  } catch (const model_file_error& e) {
    throw std::runtime_error(e.what());
  }
}

}  // namespace agora::inference
