// agora-render-template: renders Hugging Face chat templates.
//
//   agora-render-template TEMPLATE_FILE < context.json
//     prints the template rendered with the context's keys as variables.
//
//   agora-render-template --batch < batch.json
//     batch: {"templates": [source, ...],
//             "cases": [{"template": index, "context": {...}}, ...],
//             "now": {"year": 2024, "month": 7, "day": 26, "hour": 9, "minute": 30}}   (optional)
//     prints {"results": [{"output": "..."} or {"error": "..."}, ...]} in case order.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "text/chat_template.hpp"

namespace {

using agora::inference::chat_template;
using agora::inference::render_options;
using agora::inference::template_error;
using json = nlohmann::ordered_json;

std::string read_all(std::istream& in) {
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); }

int run_batch() {
  json batch = json::parse(read_all(std::cin));
  render_options options;
  if (batch.contains("now") && batch["now"].is_object()) {
    const auto& now = batch["now"];
    std::tm tm{};
    tm.tm_year = now.value("year", 2024) - 1900;
    tm.tm_mon = now.value("month", 1) - 1;
    tm.tm_mday = now.value("day", 1);
    tm.tm_hour = now.value("hour", 0);
    tm.tm_min = now.value("minute", 0);
    options.now = tm;
  }
  std::vector<std::optional<chat_template>> templates;
  std::vector<std::string> parse_errors;
  for (const auto& source : batch.at("templates")) {
    try {
      templates.emplace_back(chat_template(source.get<std::string>()));
      parse_errors.emplace_back();
    } catch (const template_error& e) {
      templates.emplace_back(std::nullopt);
      parse_errors.emplace_back(e.what());
    }
  }
  json results = json::array();
  for (const auto& c : batch.at("cases")) {
    auto index = c.at("template").get<std::size_t>();
    json result = json::object();
    if (index >= templates.size()) {
      result["error"] = "no such template";
    } else if (!templates[index]) {
      result["error"] = parse_errors[index];
    } else {
      try {
        result["output"] = templates[index]->render(c.at("context"), options);
      } catch (const template_error& e) {
        result["error"] = e.what();
      }
    }
    results.push_back(std::move(result));
  }
  json out = json::object();
  out["results"] = std::move(results);
  write(out.dump(-1, ' ', false, json::error_handler_t::replace));
  write("\n");
  return 0;
}

int run_single(const char* path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    std::fprintf(stderr, "agora-render-template: cannot read %s\n", path);
    return 2;
  }
  chat_template tmpl(read_all(file));
  json context = json::parse(read_all(std::cin));
  write(tmpl.render(context));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: agora-render-template TEMPLATE_FILE < context.json\n"
                         "       agora-render-template --batch < batch.json\n");
    return 2;
  }
  try {
    return std::string(argv[1]) == "--batch" ? run_batch() : run_single(argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "agora-render-template: %s\n", e.what());
    return 1;
  }
}
