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

namespace {
enum class colour { red, green };
const agora::config::integer_setting workers{"kit.workers", 4, "Workers", {.min = 1, .max = 64}};
const agora::config::number_setting ratio{"kit.ratio", 0.5, "A share", {.min = 0.0, .max = 1.0}};
const agora::config::boolean_setting verbose{"kit.verbose", false, "Say more"};
const agora::config::string_setting greeting{"kit.greeting", "hello", "Said first"};
const agora::config::string_list_setting tags{"kit.tags", {"a"}, "Labels"};
const agora::config::choice_setting<colour> paint{
    "kit.paint", colour::green, "Colour", {{"red", colour::red}, {"green", colour::green}}};
const agora::config::choice_setting<> mode{"kit.mode", "fast", "Mode", {"fast", "safe"}};

config kit_config() {
  return config({workers.declaration(), ratio.declaration(), verbose.declaration(), greeting.declaration(),
                 tags.declaration(), paint.declaration(), mode.declaration()});
}
}  // namespace

TEST_CASE("a typed handle reads its setting in its own type, overrides included", "[config]") {
  config c = kit_config();
  CHECK(c.get(workers) == 4);
  CHECK(c.get(ratio) == 0.5);
  CHECK_FALSE(c.get(verbose));
  CHECK(c.get(greeting) == "hello");
  CHECK(c.get(tags) == std::vector<std::string>{"a"});
  CHECK(c.get(paint) == colour::green);
  CHECK(c.get(mode) == "fast");
  sources s;
  s.env = {{"AGORA_KIT_WORKERS", "8"}, {"AGORA_KIT_PAINT", "red"}, {"AGORA_KIT_TAGS", "x,y"}};
  s.overrides = {{"kit.verbose", "true"}, {"kit.ratio", "0.25"}, {"kit.mode", "safe"}};
  c.load(s);
  CHECK(c.get(workers) == 8);
  CHECK(c.get(ratio) == 0.25);
  CHECK(c.get(verbose));
  CHECK(c.get(tags) == std::vector<std::string>{"x", "y"});
  CHECK(c.get(paint) == colour::red);
  CHECK(c.get(mode) == "safe");
  static_assert(std::is_same_v<decltype(c.get(workers)), std::int64_t>);
  static_assert(std::is_same_v<decltype(c.get(paint)), colour>);
}

TEST_CASE("a bad value for a typed setting names the key and what it accepts", "[config]") {
  config c = kit_config();
  sources range;
  range.env = {{"AGORA_KIT_WORKERS", "0"}};
  REQUIRE_THROWS_WITH(c.load(range), Catch::Contains("kit.workers") && Catch::Contains("between 1 and 64") &&
                                         Catch::Contains("AGORA_KIT_WORKERS"));
  sources choice;
  choice.overrides = {{"kit.paint", "blue"}};
  REQUIRE_THROWS_WITH(c.load(choice), Catch::Contains("kit.paint") && Catch::Contains("one of: red, green"));
  sources share;
  share.overrides = {{"kit.ratio", "1.5"}};
  REQUIRE_THROWS_WITH(c.load(share), Catch::Contains("kit.ratio"));
  sources flag;
  flag.overrides = {{"kit.verbose", "maybe"}};
  REQUIRE_THROWS_WITH(c.load(flag), Catch::Contains("kit.verbose") && Catch::Contains("a boolean"));
}

TEST_CASE("a handle reads only the setting it declared", "[config]") {
  config c = kit_config();
  const agora::config::integer_setting undeclared{"kit.other", 1, "Never declared"};
  REQUIRE_THROWS_WITH(c.get(undeclared), Catch::Contains("'kit.other'") && Catch::Contains("not declared"));
  const agora::config::integer_setting impostor{"kit.workers", 4, "Same key, another handle"};
  REQUIRE_THROWS_WITH(c.get(impostor), Catch::Contains("'kit.workers'") && Catch::Contains("did not declare"));
  static_assert(!std::is_copy_constructible_v<agora::config::integer_setting>);
}

TEST_CASE("a declared default outside its own limits is refused", "[config]") {
  const agora::config::integer_setting wrong{"kit.wrong", 0, "Default below its minimum", {.min = 1}};
  REQUIRE_THROWS_WITH(config({wrong.declaration()}), Catch::Contains("kit.wrong") && Catch::Contains("default"));
  const agora::config::choice_setting<colour> unnamed{"kit.unnamed", colour::red, "Default not among the choices",
                                                      {{"green", colour::green}}};
  REQUIRE_THROWS_WITH(config({unnamed.declaration()}), Catch::Contains("kit.unnamed"));
}

TEST_CASE("the core reads its settings through handles, the bus limits included", "[config]") {
  namespace core = agora::config::core;
  config c(agora::config::core_settings());
  CHECK(c.get(core::server_port) == 8080);
  CHECK(c.get(core::bus_dead_letter_capacity) == 10000);
  CHECK(c.get(core::bus_max_in_flight_requests) == 65536);
  sources s;
  s.env = {{"AGORA_BUS_DEAD_LETTER_CAPACITY", "3"}};
  s.overrides = {{"bus.max_in_flight_requests", "7"}};
  c.load(s);
  CHECK(c.get(core::bus_dead_letter_capacity) == 3);
  CHECK(c.get(core::bus_max_in_flight_requests) == 7);
  sources bad;
  bad.overrides = {{"bus.max_in_flight_requests", "0"}};
  REQUIRE_THROWS_WITH(c.load(bad), Catch::Contains("bus.max_in_flight_requests"));
}

TEST_CASE("a secret setting is read like a string but never shown", "[config]") {
  static const agora::config::secret_setting password{"x.password", "A password"};
  auto declared = agora::config::core_settings();
  declared.push_back(password.declaration());
  config c(declared);
  CHECK(c.effective()["x"]["password"] == "");  // unset: nothing to hide
  sources s;
  s.env = {{"AGORA_X_PASSWORD", "hunter2 hunter2"}};
  c.load(s);
  CHECK(c.get(password) == "hunter2 hunter2");
  CHECK(c.effective()["x"]["password"] == "(secret)");
  CHECK(c.effective().dump().find("hunter2") == std::string::npos);
  config bad(declared);
  std::string text = R"({"x": {"password": ["hunter2", 42]}})";
  auto file = write_temp(text);
  sources from_file;
  from_file.file = file;
  REQUIRE_THROWS_WITH(bad.load(from_file), Catch::Contains("x.password") && !Catch::Contains("hunter2"));
  std::filesystem::remove(file);
}
