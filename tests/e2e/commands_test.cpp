#include <agora/ids.hpp>
#include <agora/log.hpp>
#include <agora/testing.hpp>

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace asio = boost::asio;
using agora::config::config_error;

namespace {

enum class colour { red, green };

// base answers one bus method; probe depends on it and declares the commands under test;
// bystander is a module nobody depends on.
struct doubled {
  static constexpr std::string_view name = "base.doubled";
  using request = std::int64_t;
  using reply = std::int64_t;
};

class base {
 public:
  explicit base(agora::module_context&) {}
  asio::awaitable<agora::result<std::int64_t>> twice(std::int64_t n, const agora::bus::call_context&) {
    co_return n * 2;
  }
};

const agora::config::integer_setting probe_limit{"limit", 3, "A bounded number", {.min = 1, .max = 10}};
const agora::config::choice_setting<colour> probe_colour{
    "colour", colour::green, "A colour", {{"red", colour::red}, {"green", colour::green}}};

const std::vector<agora::store::migration> probe_migrations = {{1, "init", "CREATE TABLE t (x INTEGER);"}};

class probe {
 public:
  explicit probe(agora::module_context& ctx)
      : ctx_(ctx), limit_(ctx.get(probe_limit)), colour_(ctx.get(probe_colour)) {}

  asio::awaitable<int> show(agora::command_context& cmd) {
    auto r = co_await ctx_.bus().call<doubled>(21);
    if (!r) {
      cmd.err << "base did not answer: " << r.err().message << '\n';
      co_return 1;
    }
    cmd.out << "limit=" << limit_ << " colour=" << (colour_ == colour::red ? "red" : "green") << " doubled=" << *r;
    for (const auto& a : cmd.args) cmd.out << " arg=" << a;
    cmd.out << '\n';
    co_return 0;
  }

  asio::awaitable<int> one(agora::command_context& cmd) {
    if (cmd.args.size() != 1) co_return cmd.usage_error("expects one NAME");
    cmd.out << "name=" << cmd.args.front() << '\n';
    co_return 0;
  }

  asio::awaitable<int> fail(agora::command_context&) {
    throw std::runtime_error("the probe broke");
    co_return 0;
  }

  asio::awaitable<int> emit(agora::command_context& cmd) {
    auto job = [](agora::store::database& db) {
      db.transaction([&] {
        agora::bus::event ev;
        ev.id = agora::new_id("evt");
        ev.source = "agora/probe";
        ev.type = "probe.emitted";
        ev.subject = "p1";
        ev.topic = "probe.events";
        db.enqueue_event(ev);
      });
    };
    auto r = co_await ctx_.store().run(std::move(job));
    co_return r ? 0 : 1;
  }

 private:
  agora::module_context& ctx_;
  std::int64_t limit_;
  colour colour_;
};

std::atomic<int> bystanders{0};

class bystander {
 public:
  explicit bystander(agora::module_context&) { ++bystanders; }
};

// Reads probe's handle without declaring it.
class intruder {
 public:
  explicit intruder(agora::module_context& ctx) { ctx.get(probe_limit); }
};

// Declares a "limit" of its own and reads probe's handle.
const agora::config::integer_setting impostor_limit{"limit", 3, "Same key as probe's"};
class impostor {
 public:
  explicit impostor(agora::module_context& ctx) { ctx.get(probe_limit); }
};

std::vector<agora::module_definition> test_modules() {
  std::vector<agora::module_definition> out;
  out.push_back(agora::module_decl<base>("base").handle<doubled>(&base::twice).build());
  out.push_back(agora::module_decl<probe>("probe")
                    .depends_on("base")
                    .migrations(probe_migrations)
                    .setting(probe_limit)
                    .setting(probe_colour)
                    .command({.name = "show", .summary = "Print the settings and ask base"}, &probe::show)
                    .command({.name = "one", .summary = "Take one NAME", .usage = "NAME"}, &probe::one)
                    .command({.name = "fail", .summary = "Throw"}, &probe::fail)
                    .command({.name = "emit", .summary = "Commit one event"}, &probe::emit)
                    .build());
  out.push_back(agora::module_decl<bystander>("bystander").build());
  return out;
}

struct scratch_dir {
  std::filesystem::path path = std::filesystem::temp_directory_path() / agora::new_id("agora-commands-test");
  scratch_dir() { std::filesystem::create_directories(path); }
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

struct outcome {
  int code = -1;
  std::string out;
  std::string err;
};

outcome run(const std::filesystem::path& dir, std::string_view module, std::string_view command,
            std::vector<std::string> args = {}, std::vector<std::pair<std::string, nlohmann::json>> settings = {},
            std::vector<agora::module_definition> modules = test_modules()) {
  agora::config::config cfg(agora::all_settings(modules));
  cfg.set("data_dir", dir.string());
  cfg.set("server.io_threads", 2);
  for (const auto& [k, v] : settings) cfg.set(k, v);
  agora::app app(std::move(cfg), std::move(modules));
  std::ostringstream out, err;
  outcome o;
  o.code = app.run_command(module, command, std::move(args), out, err);
  o.out = out.str();
  o.err = err.str();
  return o;
}

std::int64_t scalar(const std::filesystem::path& file, std::string_view sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return -1;
  }
  sqlite3_stmt* q = nullptr;
  std::int64_t v = -1;
  if (sqlite3_prepare_v2(db, std::string(sql).c_str(), -1, &q, nullptr) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
    v = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  sqlite3_close(db);
  return v;
}

void exec(const std::filesystem::path& file, std::string_view sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  char* msg = nullptr;
  int rc = sqlite3_exec(db, std::string(sql).c_str(), nullptr, nullptr, &msg);
  std::string text = msg ? msg : "";
  sqlite3_free(msg);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

}  // namespace

TEST_CASE("a module command runs with its settings and the modules it depends on", "[e2e][commands]") {
  scratch_dir dir;
  bystanders = 0;
  std::vector<std::string> lines;
  std::mutex m;
  agora::log::global().capture([&](const std::string& line) {
    std::lock_guard lock(m);
    lines.push_back(line);
  });
  auto o = run(dir.path, "probe", "show", {"x", "--y"}, {{"modules.probe.limit", 7}, {"modules.enabled", {"bystander"}}});
  agora::log::global().capture(nullptr);
  CHECK(o.code == 0);
  CHECK(o.out == "limit=7 colour=green doubled=42 arg=x arg=--y\n");
  CHECK(o.err.empty());
  CHECK(bystanders == 0);  // neither a dependency nor the command's module, whatever modules.enabled says
  CHECK(std::filesystem::exists(dir.path / "probe.db"));
  for (const auto& l : lines) CHECK(l.find("listening on") == std::string::npos);
}

TEST_CASE("a command's refusals and failures are exit codes with a message on stderr", "[e2e][commands]") {
  scratch_dir dir;
  auto unknown_module = run(dir.path, "nobody", "show");
  CHECK(unknown_module.code == 2);
  CHECK_THAT(unknown_module.err, Catch::Contains("unknown module 'nobody'"));
  auto unknown_command = run(dir.path, "probe", "nothing");
  CHECK(unknown_command.code == 2);
  CHECK_THAT(unknown_command.err, Catch::Contains("no command 'nothing'"));
  auto bad_args = run(dir.path, "probe", "one", {"a", "b"});
  CHECK(bad_args.code == 2);
  CHECK(bad_args.out.empty());
  CHECK(bad_args.err == "agora probe one: expects one NAME\nusage: agora probe one NAME\n");
  auto good_args = run(dir.path, "probe", "one", {"a"});
  CHECK(good_args.code == 0);
  CHECK(good_args.out == "name=a\n");
  auto thrown = run(dir.path, "probe", "fail");
  CHECK(thrown.code == 1);
  CHECK_THAT(thrown.err, Catch::Contains("agora probe fail: the probe broke"));
}

TEST_CASE("events a command commits stay in the outbox for the next start", "[e2e][commands]") {
  scratch_dir dir;
  auto o = run(dir.path, "probe", "emit");
  REQUIRE(o.code == 0);
  CHECK(scalar(dir.path / "probe.db", "SELECT count(*) FROM _agora_outbox") == 1);
}

TEST_CASE("a module that reads a setting it did not declare does not start", "[e2e][commands][config]") {
  scratch_dir dir;
  auto with = [](agora::module_definition extra) {
    auto mods = test_modules();
    mods.push_back(std::move(extra));
    return mods;
  };
  auto undeclared = with(agora::module_decl<intruder>("intruder").build());
  agora::config::config cfg(agora::all_settings(undeclared));
  cfg.set("data_dir", dir.path.string());
  cfg.set("server.port", 0);
  cfg.set("modules.enabled", {"intruder"});
  cfg.set("log.level", "warn");
  agora::app a(std::move(cfg), std::move(undeclared));
  REQUIRE_THROWS_WITH(a.start(), Catch::Contains("'modules.intruder.limit'") && Catch::Contains("not declared"));

  auto other = with(agora::module_decl<impostor>("impostor").setting(impostor_limit).build());
  agora::config::config cfg2(agora::all_settings(other));
  cfg2.set("data_dir", dir.path.string());
  cfg2.set("server.port", 0);
  cfg2.set("modules.enabled", {"impostor"});
  cfg2.set("log.level", "warn");
  agora::app b(std::move(cfg2), std::move(other));
  REQUIRE_THROWS_WITH(b.start(), Catch::Contains("'modules.impostor.limit'") && Catch::Contains("did not declare"));
}

TEST_CASE("a bad value of a module's typed setting stops the start naming the key", "[e2e][commands][config]") {
  auto modules = test_modules();
  agora::config::config cfg(agora::all_settings(modules));
  agora::config::sources s;
  s.env = {{"AGORA_MODULES_PROBE_COLOUR", "blue"}};
  REQUIRE_THROWS_WITH(cfg.load(s), Catch::Contains("modules.probe.colour") && Catch::Contains("one of: red, green"));
  agora::config::sources range;
  range.overrides = {{"modules.probe.limit", "11"}};
  REQUIRE_THROWS_WITH(cfg.load(range), Catch::Contains("modules.probe.limit") && Catch::Contains("between 1 and 10"));
}

TEST_CASE("catalog stats counts products by status and categories", "[e2e][commands][catalog]") {
  scratch_dir dir;
  {
    agora::testing::options opts;
    opts.data_dir = dir.path;
    agora::testing::harness h(opts);
    auto c = h.connect_as_admin();
    auto cat = c.post("/v1/categories", {{"name", "Lamps"}});
    REQUIRE(cat.status == 201);
    for (std::string sku : {"S-1", "S-2", "S-3"}) {
      auto r = c.post("/v1/products", {{"sku", sku}, {"name", "Lamp " + sku}, {"price", {{"amount", 100}, {"currency", "EUR"}}}});
      REQUIRE(r.status == 201);
      if (sku == "S-3") {
        auto id = r.json()["id"].get<std::string>();
        REQUIRE(c.patch("/v1/products/" + id, {{"status", "archived"}}).status == 200);
      }
    }
  }
  auto text = run(dir.path, "catalog", "stats", {}, {}, agora::all_modules());
  CHECK(text.code == 0);
  CHECK(text.out == "products: 3\n  active: 2\n  archived: 1\ncategories: 1\n");
  auto json = run(dir.path, "catalog", "stats", {"--json"}, {}, agora::all_modules());
  CHECK(json.code == 0);
  CHECK(nlohmann::json::parse(json.out) ==
        nlohmann::json{{"products", {{"total", 3}, {"active", 2}, {"archived", 1}}}, {"categories", 1}});
  auto bad = run(dir.path, "catalog", "stats", {"--yaml"}, {}, agora::all_modules());
  CHECK(bad.code == 2);
  CHECK_THAT(bad.err, Catch::Contains("unexpected argument '--yaml'") && Catch::Contains("usage: agora catalog stats [--json]"));
}

TEST_CASE("catalog reindex rebuilds a search index that lost its entries", "[e2e][commands][catalog]") {
  scratch_dir dir;
  agora::testing::options opts;
  opts.data_dir = dir.path;
  {
    agora::testing::harness h(opts);
    auto r = h.connect_as_admin().post("/v1/products",
                              {{"sku", "R-1"}, {"name", "Brass lantern"}, {"price", {{"amount", 100}, {"currency", "EUR"}}}});
    REQUIRE(r.status == 201);
  }
  exec(dir.path / "catalog.db",
       "INSERT INTO product_search(product_search) VALUES ('delete-all'); DELETE FROM product_search_docs;");
  {
    agora::testing::harness h(opts);
    CHECK(h.connect_as_admin().get("/v1/products/search?q=lantern").json()["data"].empty());
  }
  auto o = run(dir.path, "catalog", "reindex", {}, {}, agora::all_modules());
  CHECK(o.code == 0);
  CHECK(o.out == "reindexed 1 products\n");
  agora::testing::harness h(opts);
  auto hits = h.connect_as_admin().get("/v1/products/search?q=lantern").json()["data"];
  REQUIRE(hits.size() == 1);
  CHECK(hits[0]["product"]["sku"] == "R-1");
}
