#include <agora/app.hpp>
#include <agora/config.hpp>
#include <agora/ids.hpp>
#include <agora/testing.hpp>

#include <notes/api.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace agora;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

const std::string start_time = "2025-12-01T00:00:00.000Z";

std::string field_of(const error& e) { return e.fields.empty() ? std::string() : e.fields.front().field; }

std::vector<std::string> problem_fields(const testing::reply& r) {
  std::vector<std::string> out;
  auto body = r.json();
  for (const auto& f : body.at("errors")) out.push_back(f.at("field").get<std::string>());
  return out;
}

}  // namespace

TEST_CASE("a note is created, read, changed under If-Match and deleted over the bus", "[probe][notes]") {
  testing::module_fixture f(notes::module());

  auto created = f.call<notes::create_note>({"  buy milk \n"});
  REQUIRE(created);
  CHECK(is_well_formed_id(created->id, "note"));
  CHECK(created->text == "buy milk");
  CHECK(created->version == 1);
  CHECK(created->created_at == start_time);
  CHECK(created->updated_at == start_time);

  auto read = f.call<notes::get_note>({created->id});
  REQUIRE(read);
  CHECK(json(*read) == json(*created));

  f.clock().advance(1h);
  auto changed = f.call<notes::update_note>({created->id, "buy oat milk", version_match(1)});
  REQUIRE(changed);
  CHECK(changed->text == "buy oat milk");
  CHECK(changed->version == 2);
  CHECK(changed->created_at == start_time);
  CHECK(changed->updated_at == "2025-12-01T01:00:00.000Z");

  auto stale = f.call<notes::update_note>({created->id, "buy soy milk", version_match(1)});
  REQUIRE_FALSE(stale);
  CHECK(stale.err().code == errc::failed_precondition);

  version_match either;
  either.any_of = {7, 2};
  f.clock().advance(30min);
  auto listed = f.call<notes::update_note>({created->id, "buy soy milk", either});
  REQUIRE(listed);
  CHECK(listed->version == 3);
  CHECK(listed->updated_at == "2025-12-01T01:30:00.000Z");

  auto unchanged = f.call<notes::update_note>({created->id, std::nullopt, std::nullopt});
  REQUIRE(unchanged);
  CHECK(unchanged->version == 3);

  auto refused = f.call<notes::delete_note>({created->id, version_match(2)});
  REQUIRE_FALSE(refused);
  CHECK(refused.err().code == errc::failed_precondition);
  REQUIRE(f.call<notes::delete_note>({created->id, version_match(3)}));
  auto gone = f.call<notes::get_note>({created->id});
  REQUIRE_FALSE(gone);
  CHECK(gone.err().code == errc::not_found);
  auto again = f.call<notes::delete_note>({created->id, std::nullopt});
  REQUIRE_FALSE(again);
  CHECK(again.err().code == errc::not_found);
}

TEST_CASE("a note's text is trimmed, 1 to 500 characters of valid UTF-8", "[probe][notes]") {
  testing::module_fixture f(notes::module());

  for (const std::string& bad : {std::string(), std::string(" \t\n "), std::string(501, 'a'), std::string("ab\xff")}) {
    auto r = f.call<notes::create_note>({bad});
    REQUIRE_FALSE(r);
    CHECK(r.err().code == errc::invalid_argument);
    CHECK(field_of(r.err()) == "text");
  }
  std::string longest;
  for (int i = 0; i < 500; ++i) longest += "\xc3\xa9";  // é: 500 characters, 1000 bytes
  auto ok = f.call<notes::create_note>({" " + longest + " "});
  REQUIRE(ok);
  CHECK(ok->text == longest);

  auto blank = f.call<notes::update_note>({ok->id, "   ", std::nullopt});
  REQUIRE_FALSE(blank);
  CHECK(field_of(blank.err()) == "text");
}

TEST_CASE("the list pages through every note once, capped by page_limit_max", "[probe][notes]") {
  testing::fixture_options opts;
  opts.settings = {{"modules.notes.page_limit_max", 4}};
  testing::module_fixture f(notes::module(), opts);

  std::set<std::string> made;
  for (int i = 0; i < 7; ++i) {
    auto n = f.call<notes::create_note>({"note " + std::to_string(i)});
    REQUIRE(n);
    made.insert(n->id);
    f.clock().advance(1s);
  }

  std::vector<std::string> seen;
  std::vector<std::size_t> sizes;
  notes::list_notes_request req;
  req.limit = 3;
  for (;;) {
    auto p = f.call<notes::list_notes>(req);
    REQUIRE(p);
    sizes.push_back(p->data.size());
    for (const auto& n : p->data) seen.push_back(n.id);
    if (!p->next_cursor) break;
    req.cursor = *p->next_cursor;
  }
  CHECK(sizes == std::vector<std::size_t>{3, 3, 1});
  CHECK(std::set<std::string>(seen.begin(), seen.end()) == made);
  CHECK(seen.size() == made.size());
  CHECK(std::is_sorted(seen.begin(), seen.end()));

  auto whole = f.call<notes::list_notes>({});
  REQUIRE(whole);
  CHECK(whole->data.size() == 4);  // the default page (20) is capped by the setting

  notes::list_notes_request too_big;
  too_big.limit = 5;
  auto refused = f.call<notes::list_notes>(too_big);
  REQUIRE_FALSE(refused);
  CHECK(refused.err().code == errc::invalid_argument);
  CHECK(field_of(refused.err()) == "limit");

  notes::list_notes_request bad_cursor;
  bad_cursor.cursor = "not-a-cursor";
  auto bad = f.call<notes::list_notes>(bad_cursor);
  REQUIRE_FALSE(bad);
  CHECK(field_of(bad.err()) == "cursor");

  auto c = f.connect();
  auto first = c.get("/v1/notes?limit=3");
  REQUIRE(first.status == 200);
  auto body = first.json();
  CHECK(body.at("data").size() == 3);
  auto cursor = body.at("next_cursor").get<std::string>();
  auto rest = c.get("/v1/notes?limit=4&cursor=" + cursor);
  REQUIRE(rest.status == 200);
  CHECK(rest.json().at("data").size() == 4);
  CHECK(rest.json().at("next_cursor").is_null());
  auto over = c.get("/v1/notes?limit=9");
  CHECK(over.status == 422);
  CHECK(problem_fields(over) == std::vector<std::string>{"limit"});
}

TEST_CASE("over HTTP a note is created with Location and ETag, read with If-None-Match, changed with If-Match",
          "[probe][notes]") {
  testing::module_fixture f(notes::module());
  auto c = f.connect();

  auto created = c.post("/v1/notes", json{{"text", " call the bank "}});
  REQUIRE(created.status == 201);
  auto id = created.json().at("id").get<std::string>();
  CHECK(created.json().at("text") == "call the bank");
  CHECK(created.header("location") == "/v1/notes/" + id);
  CHECK(created.header("etag") == "\"1\"");

  auto read = c.get("/v1/notes/" + id);
  REQUIRE(read.status == 200);
  CHECK(read.header("etag") == "\"1\"");
  CHECK(read.json() == created.json());
  auto cached = c.get("/v1/notes/" + id, {{"If-None-Match", "\"1\""}});
  CHECK(cached.status == 304);
  CHECK(cached.body.empty());
  CHECK(c.get("/v1/notes/note_01JZZZZZZZZZZZZZZZZZZZZZZZ").status == 404);

  f.clock().advance(2h);
  auto matched = c.patch("/v1/notes/" + id, json{{"text", "call the bank at 9"}}, {{"If-Match", "\"1\""}});
  REQUIRE(matched.status == 200);
  CHECK(matched.header("etag") == "\"2\"");
  CHECK(matched.json().at("updated_at") == "2025-12-01T02:00:00.000Z");
  CHECK(matched.json().at("created_at") == start_time);

  auto mismatched = c.patch("/v1/notes/" + id, json{{"text", "never"}}, {{"If-Match", "\"1\""}});
  CHECK(mismatched.status == 412);
  CHECK(mismatched.header("content-type") == "application/problem+json");
  CHECK(c.get("/v1/notes/" + id).json().at("text") == "call the bank at 9");

  auto any_of = c.patch("/v1/notes/" + id, json{{"text", "call the bank at 10"}}, {{"If-Match", "\"5\", \"2\""}});
  REQUIRE(any_of.status == 200);
  CHECK(any_of.header("etag") == "\"3\"");

  auto weak = c.patch("/v1/notes/" + id, json{{"text", "weak"}}, {{"If-Match", "W/\"3\""}});
  CHECK(weak.status == 412);

  CHECK(c.del("/v1/notes/" + id, {{"If-Match", "\"2\""}}).status == 412);
  CHECK(c.del("/v1/notes/" + id, {{"If-Match", "\"3\""}}).status == 204);
  CHECK(c.get("/v1/notes/" + id).status == 404);
}

TEST_CASE("over HTTP bad fields answer 422 naming each field", "[probe][notes]") {
  testing::module_fixture f(notes::module());
  auto c = f.connect();

  auto wrong_type = c.post("/v1/notes", json{{"text", 5}});
  CHECK(wrong_type.status == 422);
  CHECK(wrong_type.header("content-type") == "application/problem+json");
  CHECK(problem_fields(wrong_type) == std::vector<std::string>{"text"});

  auto missing = c.post("/v1/notes", json::object());
  CHECK(missing.status == 422);
  CHECK(problem_fields(missing) == std::vector<std::string>{"text"});

  auto blank = c.post("/v1/notes", json{{"text", "   "}});
  CHECK(blank.status == 422);
  CHECK(problem_fields(blank) == std::vector<std::string>{"text"});

  auto too_long = c.post("/v1/notes", json{{"text", std::string(501, 'x')}});
  CHECK(too_long.status == 422);
  CHECK(problem_fields(too_long) == std::vector<std::string>{"text"});

  auto unknown = c.post("/v1/notes", json{{"text", "fine"}, {"colour", "red"}});
  CHECK(unknown.status == 422);
  CHECK(problem_fields(unknown) == std::vector<std::string>{"colour"});

  auto both = c.post("/v1/notes", json{{"text", 5}, {"colour", "red"}});
  CHECK(both.status == 422);
  CHECK(problem_fields(both).size() == 2);

  auto created = c.post("/v1/notes", json{{"text", "fine"}});
  REQUIRE(created.status == 201);
  auto id = created.json().at("id").get<std::string>();
  auto bad_patch = c.patch("/v1/notes/" + id, json{{"text", json::array()}});
  CHECK(bad_patch.status == 422);
  CHECK(problem_fields(bad_patch) == std::vector<std::string>{"text"});

  auto not_object = c.request("POST", "/v1/notes", "[1]", {{"Content-Type", "application/json"}});
  CHECK(not_object.status == 422);
  CHECK(problem_fields(not_object) == std::vector<std::string>{"body"});
  CHECK(c.request("POST", "/v1/notes", "{", {{"Content-Type", "application/json"}}).status == 400);

  auto list = c.get("/v1/notes");
  REQUIRE(list.status == 200);
  CHECK(list.json().at("data").size() == 1);
}

TEST_CASE("the routes are in /openapi.json", "[probe][notes]") {
  testing::module_fixture f(notes::module());
  auto doc = f.connect().get("/openapi.json");
  REQUIRE(doc.status == 200);
  auto paths = doc.json().at("paths");
  CHECK(paths.at("/v1/notes").at("post").at("operationId") == "createNote");
  CHECK(paths.at("/v1/notes").at("get").at("operationId") == "listNotes");
  CHECK(paths.at("/v1/notes/{id}").at("get").at("operationId") == "getNote");
  CHECK(paths.at("/v1/notes/{id}").at("patch").at("operationId") == "updateNote");
  CHECK(paths.at("/v1/notes/{id}").at("delete").at("operationId") == "deleteNote");
}

TEST_CASE("each committed change publishes one event, and a refused one none", "[probe][notes]") {
  testing::module_fixture f(notes::module());
  auto& events = f.subscribe(std::string(notes::notes_topic));

  auto n = f.call<notes::create_note>({"water the plants"});
  REQUIRE(n);
  f.clock().advance(1min);
  REQUIRE(f.call<notes::update_note>({n->id, "water the ferns", version_match(1)}));
  REQUIRE_FALSE(f.call<notes::update_note>({n->id, "never", version_match(1)}));
  REQUIRE_FALSE(f.call<notes::create_note>({""}));
  REQUIRE(f.call<notes::delete_note>({n->id, version_match(2)}));
  REQUIRE(f.settle());

  auto got = events.events();
  REQUIRE(got.size() == 3);
  CHECK(got[0].type == notes::note_created);
  CHECK(got[1].type == notes::note_updated);
  CHECK(got[2].type == notes::note_deleted);
  for (const auto& ev : got) {
    CHECK(ev.subject == n->id);
    CHECK(ev.topic == notes::notes_topic);
    CHECK(ev.source == "agora/notes");
  }
  CHECK(got[0].data.at("version") == 1);
  CHECK(got[0].time == start_time);
  CHECK(got[1].data.at("version") == 2);
  CHECK(got[1].data.at("text") == "water the ferns");
  CHECK(got[1].time == "2025-12-01T00:01:00.000Z");
  CHECK(got[2].data.at("id") == n->id);

  REQUIRE(f.settle());
  CHECK(events.size() == 3);
}

TEST_CASE("the stats command counts the notes", "[probe][notes]") {
  auto dir = std::filesystem::temp_directory_path() / ("agora-notes-probe-" + new_id("tmp"));
  {
    testing::fixture_options opts;
    opts.data_dir = dir;
    testing::module_fixture f(notes::module(), opts);
    REQUIRE(f.call<notes::create_note>({"one"}));
    REQUIRE(f.call<notes::create_note>({"two"}));
  }
  auto command = [&](std::vector<std::string> args, std::string& out, std::string& err) {
    std::vector<module_definition> modules;
    modules.push_back(notes::module());
    config::config cfg(all_settings(modules));
    cfg.set("data_dir", dir.string());
    app a(std::move(cfg), std::move(modules));
    std::ostringstream o, e;
    int rc = a.run_command("notes", "stats", std::move(args), o, e);
    out = o.str();
    err = e.str();
    return rc;
  };
  std::string out, err;
  CHECK(command({"--json"}, out, err) == 0);
  CHECK(json::parse(out) == json{{"notes", 2}});
  CHECK(command({}, out, err) == 0);
  CHECK(out == "notes: 2\n");
  CHECK(command({"--csv"}, out, err) == 2);
  CHECK(err.find("usage: agora notes stats [--json]") != std::string::npos);
  std::filesystem::remove_all(dir);
}
