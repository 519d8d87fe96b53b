#include <agora/app.hpp>
#include <agora/config.hpp>
#include <agora/log.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view usage = R"(agora: a whole store platform in one binary

usage:
  agora serve [options]      start the server (default command)
  agora config [options]     print the effective configuration and exit
  agora settings             list every setting with its type, default and description
  agora version

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

Environment: every setting KEY can be given as AGORA_KEY in upper case with dots as
underscores (server.port -> AGORA_SERVER_PORT). Flags win over the environment, which
wins over the file, which wins over the defaults.
)";

struct cli {
  std::string command = "serve";
  agora::config::sources sources;
};

cli parse(int argc, char** argv) {
  cli out;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  std::size_t i = 0;
  std::vector<std::string> models;
  if (!args.empty() && !args[0].starts_with("-")) out.command = std::string(args[i++]);
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
    std::string inline_value;
    bool has_inline = false;
    if (auto eq = a.find('='); a.starts_with("--") && eq != std::string_view::npos) {
      inline_value = std::string(a.substr(eq + 1));
      a = a.substr(0, eq);
      has_inline = true;
    }
    auto take = [&] { return has_inline ? inline_value : value(a); };
    if (a == "-h" || a == "--help") {
      out.command = "help";
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
    } else {
      throw agora::config::config_error(fmt::format("unknown option '{}' (see agora --help)", a));
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
  if (args.command == "help") {
    std::fputs(usage.data(), stdout);
    return 0;
  }
  if (args.command == "version") {
    std::puts("agora 0.1.0");
    return 0;
  }
  auto modules = agora::all_modules();
  agora::config::config cfg;
  try {
    cfg = agora::config::config(agora::all_settings(modules));
    if (args.command == "settings") {
      for (const auto& s : cfg.declared())
        std::printf("%-40s %-12s default %-12s %s\n", s.key.c_str(), std::string(type_name(s.kind)).c_str(),
                    s.default_value.dump().c_str(), s.description.c_str());
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
  if (args.command != "serve") {
    std::fprintf(stderr, "agora: unknown command '%s' (see agora --help)\n", args.command.c_str());
    return 2;
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
