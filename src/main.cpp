#include <agora/app.hpp>
#include <agora/config.hpp>
#include <agora/log.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view usage_head = R"(agora: a whole store platform in one binary

usage:
  agora serve [options]      start the server (default command)
  agora config [options]     print the effective configuration and exit
  agora settings             list every setting with its type, default and description
  agora help                 this text
  agora version
)";

constexpr std::string_view usage_options = R"(
options:
  --config FILE        JSON configuration (default: $AGORA_CONFIG, else config/agora.json when present)
  --port N             HTTP port (0 picks a free port; the log says which)
  --address ADDR       address to bind (default 127.0.0.1)
  --data-dir DIR       folder of the SQLite files (default ./data)
  --io-threads N       io threads (default: one per core)
  --log-level LEVEL    debug, info, warn or error
  --model DIR          load a Hugging Face model folder (repeatable; the first is the default)
  --set KEY=VALUE      any setting, e.g. --set modules.catalog.cache_size=5000
  -h, --help           this text
  --                   what follows goes to a module command as it is

Environment: every setting KEY can be given as AGORA_KEY in upper case with dots as
underscores (server.port -> AGORA_SERVER_PORT). Flags win over the environment, which
wins over the file, which wins over the defaults.
)";

bool builtin(std::string_view command) {
  return command == "serve" || command == "config" || command == "settings" || command == "help" ||
         command == "version";
}

struct cli {
  std::string command = "serve";  // a built-in command, or a module's name
  std::string module_command;     // agora <module> <module_command> [args]
  std::vector<std::string> command_args;
  bool command_help = false;
  agora::config::sources sources;
};

// The options above are read wherever they stand; for a module command, any other word
// or option is one of its arguments.
cli parse(int argc, char** argv) {
  cli out;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  std::size_t i = 0;
  std::vector<std::string> models;
  if (!args.empty() && !args[0].starts_with("-")) out.command = std::string(args[i++]);
  bool for_module = !builtin(out.command);
  auto value = [&](std::string_view flag) -> std::string {
    if (i + 1 >= args.size()) throw agora::config::config_error(fmt::format("{} needs a value", flag));
    return std::string(args[++i]);
  };
  auto flag_to_key = [](std::string_view flag) -> std::string_view {
    if (flag == "--port") return "server.port";
    if (flag == "--address") return "server.address";
    if (flag == "--data-dir") return "data_dir";
    if (flag == "--io-threads") return "server.io_threads";
    if (flag == "--log-level") return "log.level";
    return {};
  };
  for (; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (for_module && a == "--") {
      out.command_args.insert(out.command_args.end(), args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
      break;
    }
    std::string_view word = a;
    std::string inline_value;
    bool has_inline = false;
    if (auto eq = a.find('='); a.starts_with("--") && eq != std::string_view::npos) {
      inline_value = std::string(a.substr(eq + 1));
      a = a.substr(0, eq);
      has_inline = true;
    }
    auto take = [&] { return has_inline ? inline_value : value(a); };
    if (a == "-h" || a == "--help") {
      if (for_module) out.command_help = true;
      else out.command = "help";
    } else if (a == "--config") {
      out.sources.file = take();
      out.sources.file_required = true;
    } else if (a == "--model") {
      // Repeatable: each adds a folder to modules.inference.models.
      models.push_back(take());
    } else if (a == "--set") {
      std::string kv = take();
      auto eq = kv.find('=');
      if (eq == std::string::npos) throw agora::config::config_error(fmt::format("--set expects KEY=VALUE, got '{}'", kv));
      out.sources.overrides.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    } else if (auto key = flag_to_key(a); !key.empty()) {
      out.sources.overrides.emplace_back(std::string(key), take());
    } else if (for_module && out.module_command.empty() && !word.starts_with("-")) {
      out.module_command = std::string(word);
    } else if (for_module) {
      out.command_args.emplace_back(word);
    } else {
      throw agora::config::config_error(fmt::format("unknown option '{}' (see agora help)", a));
    }
  }
  if (!models.empty()) {
    std::string joined;
    for (const auto& m : models) joined += (joined.empty() ? "" : ",") + m;
    out.sources.overrides.emplace_back("modules.inference.models", joined);
  }
  out.sources.env = agora::config::environment();
  if (!out.sources.file) {
    if (auto it = out.sources.env.find("AGORA_CONFIG"); it != out.sources.env.end()) {
      out.sources.file = it->second;
      out.sources.file_required = true;
    } else if (std::filesystem::exists("config/agora.json")) {
      out.sources.file = "config/agora.json";
    }
  }
  return out;
}

void print_help(const std::vector<agora::module_definition>& modules) {
  std::fputs(usage_head.data(), stdout);
  std::vector<std::pair<std::string, std::string>> rows;
  for (const auto& m : modules)
    for (const auto& c : m.commands)
      rows.emplace_back(fmt::format("agora {} {}{}{}", m.name, c.doc.name, c.doc.usage.empty() ? "" : " ", c.doc.usage),
                        c.doc.summary);
  if (!rows.empty()) {
    std::size_t width = 0;
    for (const auto& r : rows) width = std::max(width, r.first.size());
    std::puts("\nmodule commands (run with the module's store, settings and dependencies; no HTTP listener):");
    for (const auto& [synopsis, summary] : rows) std::printf("  %-*s  %s\n", static_cast<int>(width), synopsis.c_str(), summary.c_str());
  }
  std::fputs(usage_options.data(), stdout);
}

std::string limits_text(const agora::config::setting& s) {
  if (!s.choices.empty()) {
    std::string out = " (one of:";
    for (const auto& c : s.choices) out += " " + c;
    return out + ")";
  }
  auto text = [&](double v) {
    return s.kind == agora::config::type::integer ? std::to_string(static_cast<std::int64_t>(v)) : fmt::format("{}", v);
  };
  if (s.min && s.max) return fmt::format(" ({} to {})", text(*s.min), text(*s.max));
  if (s.min) return fmt::format(" (at least {})", text(*s.min));
  if (s.max) return fmt::format(" (at most {})", text(*s.max));
  return "";
}

std::string_view type_name(agora::config::type t) {
  switch (t) {
    case agora::config::type::integer: return "integer";
    case agora::config::type::number: return "number";
    case agora::config::type::boolean: return "boolean";
    case agora::config::type::string: return "string";
    case agora::config::type::string_list: return "string list";
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  cli args;
  try {
    args = parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "agora: %s\n", e.what());
    return 2;
  }
  if (args.command == "version") {
    std::puts("agora 0.1.0");
    return 0;
  }
  auto modules = agora::all_modules();
  if (args.command == "help") {
    print_help(modules);
    return 0;
  }
  const agora::command_decl* command = nullptr;
  if (!builtin(args.command)) {
    auto m = std::find_if(modules.begin(), modules.end(), [&](const auto& d) { return d.name == args.command; });
    if (m == modules.end()) {
      std::fprintf(stderr, "agora: unknown command '%s' (agora help lists the commands)\n", args.command.c_str());
      return 2;
    }
    std::string known;
    for (const auto& c : m->commands) known += (known.empty() ? "" : ", ") + c.doc.name;
    if (args.module_command.empty()) {
      std::fprintf(stderr, "agora %s: which command? (%s)\n", m->name.c_str(), known.empty() ? "it has none" : known.c_str());
      return 2;
    }
    auto c = std::find_if(m->commands.begin(), m->commands.end(),
                          [&](const auto& d) { return d.doc.name == args.module_command; });
    if (c == m->commands.end()) {
      std::fprintf(stderr, "agora %s: unknown command '%s' (it has: %s)\n", m->name.c_str(), args.module_command.c_str(),
                   known.empty() ? "none" : known.c_str());
      return 2;
    }
    command = &*c;
    if (args.command_help) {
      std::printf("usage: agora %s %s%s%s [options]\n  %s\n", m->name.c_str(), c->doc.name.c_str(),
                  c->doc.usage.empty() ? "" : " ", c->doc.usage.c_str(), c->doc.summary.c_str());
      return 0;
    }
  }
  agora::config::config cfg;
  try {
    cfg = agora::config::config(agora::all_settings(modules));
    if (args.command == "settings") {
      for (const auto& s : cfg.declared())
        std::printf("%-40s %-12s default %-12s %s%s\n", s.key.c_str(), std::string(type_name(s.kind)).c_str(),
                    s.default_value.dump().c_str(), s.description.c_str(), limits_text(s).c_str());
      return 0;
    }
    cfg.load(args.sources);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "agora: %s\n", e.what());
    return 2;
  }
  if (args.command == "config") {
    std::puts(cfg.effective().dump(2).c_str());
    return 0;
  }
  if (command) {
    std::string name = command->doc.name;
    try {
      agora::app app(std::move(cfg), std::move(modules));
      int code = app.run_command(args.command, name, std::move(args.command_args), std::cout, std::cerr, std::cin);
      std::cout.flush();
      return code;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "agora %s %s: %s\n", args.command.c_str(), name.c_str(), e.what());
      return 1;
    }
  }
  try {
    agora::app app(std::move(cfg), std::move(modules));
    app.start();
    app.run(true);
  } catch (const std::exception& e) {
    agora::log::error("runtime", "start failed", {{"error", e.what()}});
    std::fprintf(stderr, "agora: %s\n", e.what());
    return 1;
  }
  return 0;
}
