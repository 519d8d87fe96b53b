#include <agora/config.hpp>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <random>

using agora::config::config;
using agora::config::config_error;
using agora::config::sources;

namespace {
std::filesystem::path write_temp(const std::string& text) {
  std::random_device rd;
  auto p = std::filesystem::temp_directory_path() / fmt::format("agora-config-{:x}.json", rd());
  std::ofstream(p) << text;
  return p;
}
}  // namespace

TEST_CASE("defaults, file, environment and flags apply in that order", "[config]") {
  config c(agora::config::core_settings());
  CHECK(c.integer("server.port") == 8080);
  auto file = write_temp(R"({"server": {"port": 9000, "address": "0.0.0.0"}, "log.level": "warn"})");
  sources s;
  s.file = file;
  s.env = {{"AGORA_SERVER_PORT", "9100"}};
  s.overrides = {{"server.port", "9200"}};
  c.load(s);
  CHECK(c.integer("server.port") == 9200);
  CHECK(c.string("server.address") == "0.0.0.0");
  CHECK(c.string("log.level") == "warn");
  std::filesystem::remove(file);
}

TEST_CASE("a bad value names the key, the expectation and the origin", "[config]") {
  config c(agora::config::core_settings());
  sources s;
  s.env = {{"AGORA_SERVER_PORT", "eighty"}};
  REQUIRE_THROWS_WITH(c.load(s), Catch::Contains("server.port") && Catch::Contains("an integer between 0 and 65535") &&
                                     Catch::Contains("AGORA_SERVER_PORT"));
  sources range;
  range.overrides = {{"server.port", "70000"}};
  REQUIRE_THROWS_WITH(c.load(range), Catch::Contains("between 0 and 65535"));
  sources choice;
  choice.overrides = {{"bus.on_full", "drop"}};
  REQUIRE_THROWS_WITH(c.load(choice), Catch::Contains("one of: block, fail"));
}

TEST_CASE("unknown keys stop the start", "[config]") {
  config c(agora::config::core_settings());
  auto file = write_temp(R"({"server": {"prot": 1}})");
  sources s;
  s.file = file;
  REQUIRE_THROWS_WITH(c.load(s), Catch::Contains("unknown key 'server.prot'"));
  std::filesystem::remove(file);
  sources env;
  env.env = {{"AGORA_SERVR_PORT", "1"}};
  REQUIRE_THROWS_WITH(c.load(env), Catch::Contains("AGORA_SERVR_PORT"));
  sources flag;
  flag.overrides = {{"nope", "1"}};
  REQUIRE_THROWS_AS(c.load(flag), config_error);
}

TEST_CASE("malformed JSON and a missing named file are clear errors", "[config]") {
  config c(agora::config::core_settings());
  auto file = write_temp("{ not json");
  sources s;
  s.file = file;
  REQUIRE_THROWS_WITH(c.load(s), Catch::Contains("is not valid JSON"));
  std::filesystem::remove(file);
  sources missing;
  missing.file = "/nonexistent/agora.json";
  missing.file_required = true;
  REQUIRE_THROWS_WITH(c.load(missing), Catch::Contains("cannot read file"));
}

TEST_CASE("types are enforced for every source", "[config]") {
  config c(agora::config::core_settings());
  REQUIRE_THROWS_AS(c.set("server.port", "8080"), config_error);
  REQUIRE_THROWS_AS(c.set("modules.enabled", nlohmann::json::array({1})), config_error);
  c.set("modules.enabled", nlohmann::json::array({"catalog"}));
  CHECK(c.string_list("modules.enabled") == std::vector<std::string>{"catalog"});
  sources s;
  s.overrides = {{"modules.enabled", "catalog,orders"}};
  c.load(s);
  CHECK(c.string_list("modules.enabled").size() == 2);
}

TEST_CASE("the shipped default file is valid and matches the declared defaults", "[config]") {
  config c(agora::config::core_settings());
  sources s;
  s.file = std::filesystem::path(AGORA_SOURCE_DIR) / "config" / "agora.json";
  s.file_required = true;
  config d(agora::config::core_settings());
  REQUIRE_NOTHROW(c.load(s));
  CHECK(c.effective().dump() == d.effective().dump());
}

TEST_CASE("environment names are derived from keys", "[config]") {
  CHECK(agora::config::env_name("server.port") == "AGORA_SERVER_PORT");
  CHECK(agora::config::env_name("modules.catalog.cache_size") == "AGORA_MODULES_CATALOG_CACHE_SIZE");
}
