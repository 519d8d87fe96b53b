#include <agora/testing.hpp>

#include <catalog/api.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

using namespace agora;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

// A module small enough to read at a glance, declared by the test: it stamps notes with
// its clock's time, keeps them in its store, publishes an event per stamp and counts
// the stamps younger than a setting.
namespace stamper {

struct stamp_request {
  std::string note;
};
struct stamp_reply {
  std::string id;
  std::string at;
};
constexpr auto json_fields(const stamp_request*) { return std::tuple{json_field("note", &stamp_request::note)}; }
constexpr auto json_fields(const stamp_reply*) {
  return std::tuple{json_field("id", &stamp_reply::id), json_field("at", &stamp_reply::at)};
}
struct stamp {
  static constexpr std::string_view name = "stamper.stamp";
  using request = stamp_request;
  using reply = stamp_reply;
};

struct fresh_request {};
struct fresh_reply {
  std::int64_t count = 0;
};
constexpr auto json_fields(const fresh_request*) { return std::tuple{}; }
constexpr auto json_fields(const fresh_reply*) { return std::tuple{json_field("count", &fresh_reply::count)}; }
struct fresh {
  static constexpr std::string_view name = "stamper.fresh";
  using request = fresh_request;
  using reply = fresh_reply;
};

constexpr std::string_view topic = "stamper.stamps";

inline const config::string_setting prefix{"prefix", "stamp", "Id prefix of a stamp"};
inline const config::integer_setting max_age_s{"max_age_s", 3600, "A stamp is fresh this long",
                                               {.min = 1, .max = 86400}};

class service {
 public:
  explicit service(module_context& ctx)
      : ctx_(ctx), stamps_(ctx.metrics().counter_of("agora_stamper_stamps_total", "Stamps made")) {}

  asio::awaitable<result<stamp_reply>> on_stamp(stamp_request req, const bus::call_context&) {
    stamp_reply out{ctx_.clock().new_id(ctx_.get(prefix)), ctx_.clock().now_rfc3339()};
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(ctx_.clock().now().time_since_epoch()).count();
    auto job = [out, ms, note = std::move(req.note)](store::database& db) {
      db.transaction([&] {
        auto& q = db.prepare("INSERT INTO stamps (id, note, at_ms) VALUES (?1, ?2, ?3)");
        q.bind(1, out.id);
        q.bind(2, note);
        q.bind(3, ms);
        q.step();
        q.reset();
        bus::event ev;
        ev.id = out.id;
        ev.source = "agora/stamper";
        ev.type = "stamped";
        ev.subject = out.id;
        ev.time = out.at;
        ev.topic = std::string(topic);
        ev.data = {{"note", note}};
        db.enqueue_event(ev);
      });
    };
    auto written = co_await ctx_.store().run(std::move(job));
    if (!written) co_return written.err();
    stamps_.inc();
    co_return out;
  }

  asio::awaitable<result<fresh_reply>> on_fresh(fresh_request, const bus::call_context&) {
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(ctx_.clock().now().time_since_epoch()).count();
    auto since = now - ctx_.get(max_age_s) * 1000;
    auto job = [since](store::database& db) {
      auto& q = db.prepare("SELECT COUNT(*) FROM stamps WHERE at_ms > ?1");
      q.bind(1, since);
      q.step();
      auto n = q.int64(0);
      q.reset();
      return n;
    };
    auto n = co_await ctx_.store().run(std::move(job));
    if (!n) co_return n.err();
    co_return fresh_reply{*n};
  }

 private:
  module_context& ctx_;
  metrics::counter& stamps_;
};

const store::migration init{1, "init", "CREATE TABLE stamps (id TEXT PRIMARY KEY, note TEXT NOT NULL, at_ms INTEGER NOT NULL);"};

module_definition module() {
  http::route doc;
  doc.method = http::verb::post;
  doc.pattern = "/v1/stamps";
  doc.operation_id = "createStamp";
  doc.summary = "Stamp a note";
  doc.request_schema = {{"type", "object"}};
  doc.responses = {{201, {{"type", "object"}}}};
  doc.who = access::anyone();
  auto decode = [](http::request_context& ctx) -> result<stamp_request> {
    return stamp_request{ctx.body.value("note", std::string())};
  };
  auto encode = [](const stamp_reply& r, http::request_context&) {
    return http::json_response(201, {{"id", r.id}, {"at", r.at}});
  };
  return module_decl<service>("stamper")
      .migrations({init})
      .setting(prefix)
      .setting(max_age_s)
      .handle<stamp>(&service::on_stamp)
      .handle<fresh>(&service::on_fresh)
      .route<stamp>(doc, decode, encode)
      .publishes(std::string(topic), {"stamped"})
      .build();
}

}  // namespace stamper

// A module with nothing of its own but a dependency on the stamper.
namespace audit {
struct service {
  explicit service(module_context&) {}
};
module_definition module() { return module_decl<service>("audit").depends_on("stamper").build(); }
}  // namespace audit

std::vector<module_definition> known_modules() {
  auto out = all_modules();
  out.push_back(stamper::module());
  return out;
}

json lamp() { return {{"sku", "LAMP-1"}, {"name", "Lamp"}, {"price", {{"amount", 4500}, {"currency", "EUR"}}}}; }

}  // namespace

TEST_CASE("a client made before a restart keeps working after it, on the same port", "[testing]") {
  testing::harness h;
  auto c = h.connect_as_admin();  // its token outlives the restart: the signing keys are in the store
  auto created = c.post("/v1/products", lamp());
  REQUIRE(created.status == 201);
  const auto id = created.json().at("id").get<std::string>();
  const auto port = h.port();

  h.restart();
  CHECK(h.port() == port);
  auto again = c.get("/v1/products/" + id);
  REQUIRE(again.error.empty());
  CHECK(again.status == 200);
  CHECK(again.json().at("sku") == "LAMP-1");
}

TEST_CASE("a refused connection is a reply with status 0 and an error, and the client reconnects later",
          "[testing]") {
  testing::harness h;
  auto c = h.connect();
  REQUIRE(c.get("/healthz").status == 200);

  h.app().stop();
  auto refused = c.get("/healthz");
  CHECK(refused.status == 0);
  CHECK(refused.error.find("/healthz") != std::string::npos);
  CHECK_FALSE(refused.error.empty());
  auto again = c.get("/healthz");
  CHECK(again.status == 0);

  h.restart();
  auto back = c.get("/healthz");
  CHECK(back.error.empty());
  CHECK(back.status == 200);
}

TEST_CASE("a server that never answers ends the request at the client's timeout with status 0", "[testing]") {
  asio::io_context io;
  asio::ip::tcp::acceptor silent(io, {asio::ip::make_address("127.0.0.1"), 0});
  testing::client c("127.0.0.1", silent.local_endpoint().port(), 100ms);
  auto r = c.get("/healthz");
  CHECK(r.status == 0);
  CHECK_FALSE(r.error.empty());
}

TEST_CASE("module_fixture hosts the module on the real runtime with its settings, store, metrics and events",
          "[testing]") {
  testing::module_fixture f(stamper::module(),
                            {.settings = {{"modules.stamper.prefix", "stp"}}, .known = known_modules()});
  auto& log = f.subscribe(std::string(stamper::topic));

  auto made = f.call<stamper::stamp>({"first"});
  REQUIRE(made);
  CHECK(made->id.starts_with("stp_"));
  CHECK(made->at == f.clock().now_rfc3339());

  auto rows = f.store().run_sync([](store::database& db) {
    auto& q = db.prepare("SELECT note FROM stamps");
    q.step();
    auto note = q.text(0);
    q.reset();
    return std::string(note);
  });
  REQUIRE(rows);
  CHECK(*rows == "first");

  REQUIRE(f.settle());
  auto events = log.events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == "stamped");
  CHECK(events[0].subject == made->id);
  CHECK(events[0].data["note"] == "first");
  CHECK(f.metrics().counter_of("agora_stamper_stamps_total", "").value() == 1);

  CHECK(f.app().module_store("stamper") != nullptr);
  CHECK(f.app().module_store("catalog") == nullptr);
  auto not_hosted = f.call<catalog::get_product>({"prod_01JD0000000000000000000000"});
  REQUIRE_FALSE(not_hosted);
  CHECK(not_hosted.err().code == errc::unavailable);
}

TEST_CASE("time moves only when the test moves the fixture's clock", "[testing]") {
  testing::module_fixture f(stamper::module(), {.settings = {{"modules.stamper.max_age_s", 60}},
                                                .known = known_modules()});
  auto first = f.call<stamper::stamp>({"a"});
  REQUIRE(first);
  auto second = f.call<stamper::stamp>({"b"});
  REQUIRE(second);
  CHECK(second->at == first->at);
  CHECK(f.call<stamper::fresh>({})->count == 2);

  f.clock().advance(61s);
  CHECK(f.call<stamper::fresh>({})->count == 0);
  auto third = f.call<stamper::stamp>({"c"});
  REQUIRE(third);
  CHECK(third->at == f.clock().now_rfc3339());
  CHECK(third->at > first->at);
  CHECK(f.call<stamper::fresh>({})->count == 1);
}

TEST_CASE("module_fixture starts the modules the module depends on, and only those", "[testing]") {
  auto known = known_modules();
  testing::module_fixture f(audit::module(), {.known = known});
  CHECK(f.app().module_store("audit") != nullptr);
  CHECK(f.app().module_store("stamper") != nullptr);
  CHECK(f.app().module_store("catalog") == nullptr);
  CHECK(f.call<stamper::stamp>({"through the dependency"}));
}

TEST_CASE("module_fixture serves the module's routes and keeps its data and event logs across a restart",
          "[testing]") {
  testing::module_fixture f(stamper::module(), {.known = known_modules()});
  auto& log = f.subscribe(std::string(stamper::topic));
  auto c = f.connect();
  auto made = c.post("/v1/stamps", {{"note", "over http"}});
  REQUIRE(made.status == 201);
  CHECK(made.json().at("at") == f.clock().now_rfc3339());

  f.restart();
  CHECK(f.call<stamper::fresh>({})->count == 1);
  REQUIRE(c.post("/v1/stamps", {{"note", "after restart"}}).status == 201);
  REQUIRE(f.settle());
  auto events = log.events();
  REQUIRE(events.size() == 2);
  CHECK(events[1].data["note"] == "after restart");
}
