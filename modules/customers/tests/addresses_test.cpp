#include <customers/api.hpp>

#include <agora/testing.hpp>

#include <catch2/catch.hpp>

#include <set>
#include <string>

using namespace agora;
using json = nlohmann::json;

namespace {

testing::options identity_only() {
  testing::options o;
  o.modules.push_back(customers::module());
  return o;
}

// A client signed in as a new customer.
testing::client customer(testing::client c, const std::string& email) {
  REQUIRE(c.post("/v1/auth/register",
                 {{"email", email}, {"password", "correct horse battery"}, {"name", "Grace Hopper"}})
              .status == 201);
  c.authorize(testing::login(c, email, "correct horse battery"));
  return c;
}

json home(std::string kind = "shipping") {
  return {{"kind", std::move(kind)}, {"recipient", "Grace Hopper"}, {"line1", "Hauptstraße 1"},
          {"city", "Berlin"},        {"postal_code", "10115"},        {"country", "DE"}};
}

const std::string collection = "/v1/customers/me/addresses";

std::string made(testing::client& c, json body) {
  auto r = c.post(collection, body);
  REQUIRE(r.status == 201);
  return r.json().at("id").get<std::string>();
}

json fetch(testing::client& c, const std::string& id) {
  auto r = c.get(collection + "/" + id);
  REQUIRE(r.status == 200);
  return r.json();
}

}  // namespace

TEST_CASE("a customer creates, reads, lists, changes and deletes their addresses", "[customers][addresses]") {
  testing::harness h(identity_only());
  auto c = customer(h.connect(), "crud@example.com");

  auto body = home();
  body["line2"] = "Hinterhaus";
  body["region"] = "  Berlin  ";
  body["phone"] = "+49 (30) 123-456";
  auto created = c.post(collection, body);
  REQUIRE(created.status == 201);
  auto a = created.json();
  auto id = a.at("id").get<std::string>();
  CHECK(id.rfind("adr_", 0) == 0);
  CHECK(created.header("location") == collection + "/" + id);
  CHECK(created.header("etag") == "\"1\"");
  CHECK(a.at("kind") == "shipping");
  CHECK(a.at("is_default") == true);
  CHECK(a.at("line1") == "Hauptstraße 1");
  CHECK(a.at("line2") == "Hinterhaus");
  CHECK(a.at("region") == "Berlin");
  CHECK(a.at("phone") == "+49 (30) 123-456");
  CHECK(a.at("version") == 1);

  auto got = c.get(created.header("location"));
  REQUIRE(got.status == 200);
  CHECK(got.json() == a);
  CHECK(got.header("etag") == "\"1\"");
  auto not_modified = c.get(collection + "/" + id, {{"If-None-Match", "\"1\""}});
  CHECK(not_modified.status == 304);
  CHECK(not_modified.body.empty());

  auto list = c.get(collection);
  REQUIRE(list.status == 200);
  REQUIRE(list.json().at("data").size() == 1);
  CHECK(list.json().at("data")[0] == a);
  CHECK(list.json().at("next_cursor").is_null());

  auto changed = c.patch(collection + "/" + id, {{"line2", nullptr}, {"city", "Potsdam"}, {"postal_code", "14467"}},
                         {{"If-Match", "\"1\""}});
  REQUIRE(changed.status == 200);
  CHECK(changed.header("etag") == "\"2\"");
  CHECK(changed.json().at("line2").is_null());
  CHECK(changed.json().at("city") == "Potsdam");
  CHECK(changed.json().at("region") == "Berlin");
  CHECK(changed.json().at("version") == 2);
  CHECK(c.get(collection + "/" + id, {{"If-None-Match", "\"1\""}}).status == 200);

  auto stale = c.patch(collection + "/" + id, {{"city", "Hamburg"}}, {{"If-Match", "\"1\""}});
  CHECK(stale.status == 412);
  CHECK(fetch(c, id).at("city") == "Potsdam");
  // Nothing to change changes nothing, the version included.
  auto same = c.patch(collection + "/" + id, {{"city", "Potsdam"}});
  REQUIRE(same.status == 200);
  CHECK(same.json().at("version") == 2);

  CHECK(c.del(collection + "/" + id, {{"If-Match", "\"1\""}}).status == 412);
  auto gone = c.del(collection + "/" + id, {{"If-Match", "\"2\""}});
  CHECK(gone.status == 204);
  CHECK(c.get(collection + "/" + id).status == 404);
  CHECK(c.del(collection + "/" + id).status == 404);
  CHECK(c.get(collection).json().at("data").empty());

  // Without If-Match the delete is unconditional.
  auto other = made(c, home("billing"));
  CHECK(c.del(collection + "/" + other).status == 204);
}

TEST_CASE("one default address of each kind: the first is it, a new default displaces the old, deleting it promotes "
          "nothing",
          "[customers][addresses]") {
  testing::harness h(identity_only());
  auto c = customer(h.connect(), "defaults@example.com");

  auto first_body = home();
  first_body["is_default"] = false;
  auto first = made(c, first_body);
  CHECK(fetch(c, first).at("is_default") == true);
  auto second = made(c, home());
  CHECK(fetch(c, second).at("is_default") == false);
  auto bill = made(c, home("billing"));
  CHECK(fetch(c, bill).at("is_default") == true);

  auto third_body = home();
  third_body["is_default"] = true;
  auto third = made(c, third_body);
  CHECK(fetch(c, third).at("is_default") == true);
  auto displaced = fetch(c, first);
  CHECK(displaced.at("is_default") == false);
  CHECK(displaced.at("version") == 2);
  CHECK(fetch(c, bill).at("is_default") == true);

  auto promoted = c.patch(collection + "/" + second, {{"is_default", true}});
  REQUIRE(promoted.status == 200);
  CHECK(promoted.json().at("is_default") == true);
  CHECK(fetch(c, third).at("is_default") == false);

  auto count_defaults = [&](const std::string& kind) {
    auto list = c.get(collection + "?kind=" + kind);
    REQUIRE(list.status == 200);
    int n = 0;
    auto body = list.json();
    for (const auto& a : body.at("data")) {
      CHECK(a.at("kind") == kind);
      if (a.at("is_default") == true) ++n;
    }
    return n;
  };
  CHECK(c.get(collection + "?kind=shipping").json().at("data").size() == 3);
  CHECK(c.get(collection + "?kind=billing").json().at("data").size() == 1);
  CHECK(count_defaults("shipping") == 1);
  CHECK(count_defaults("billing") == 1);
  auto bad_kind = c.get(collection + "?kind=home");
  CHECK(bad_kind.status == 422);
  CHECK(bad_kind.error_fields() == std::set<std::string>{"kind"});

  // A shipping address moved to billing as its default displaces the billing default.
  auto moved = c.patch(collection + "/" + first, {{"kind", "billing"}, {"is_default", true}});
  REQUIRE(moved.status == 200);
  CHECK(fetch(c, bill).at("is_default") == false);
  CHECK(count_defaults("billing") == 1);
  CHECK(count_defaults("shipping") == 1);

  // Deleting the default leaves the kind without one; is_default false does too.
  REQUIRE(c.del(collection + "/" + second).status == 204);
  CHECK(count_defaults("shipping") == 0);
  REQUIRE(c.patch(collection + "/" + first, {{"is_default", false}}).status == 200);
  CHECK(count_defaults("billing") == 0);
  // A kind that has addresses but no default takes a new one only when asked.
  CHECK(fetch(c, made(c, home("billing"))).at("is_default") == false);
}

TEST_CASE("another customer's addresses answer 404 and never show in their list, and no one signed in gets 401",
          "[customers][addresses]") {
  testing::harness h(identity_only());
  auto a = customer(h.connect(), "alice@example.com");
  auto b = customer(h.connect(), "bob@example.com");
  auto alices = made(a, home());
  auto bobs = made(b, home());

  CHECK(b.get(collection + "/" + alices).status == 404);
  CHECK(b.patch(collection + "/" + alices, {{"city", "Stolen"}}).status == 404);
  CHECK(b.patch(collection + "/" + alices, {{"city", "Stolen"}}, {{"If-Match", "\"1\""}}).status == 404);
  CHECK(b.del(collection + "/" + alices).status == 404);
  auto bobs_list = b.get(collection).json().at("data");
  REQUIRE(bobs_list.size() == 1);
  CHECK(bobs_list[0].at("id") == bobs);
  auto intact = fetch(a, alices);
  CHECK(intact.at("city") == "Berlin");
  CHECK(intact.at("version") == 1);

  // Malformed and unknown ids are 404 too.
  for (const auto& bad : {std::string("nope"), std::string("cus_") + alices.substr(4), std::string("adr_")})
    CHECK(a.get(collection + "/" + bad).status == 404);
  CHECK(a.patch(collection + "/adr_x", {{"city", "X"}}).status == 404);
  CHECK(a.del(collection + "/adr_x").status == 404);

  // An admin has no reach into a customer's addresses either.
  auto admin = h.connect_as_admin();
  CHECK(admin.get(collection + "/" + alices).status == 404);
  CHECK(admin.get(collection).json().at("data").empty());

  auto anon = h.connect();
  CHECK(anon.get(collection).status == 401);
  CHECK(anon.post(collection, home()).status == 401);
  CHECK(anon.get(collection + "/" + alices).status == 401);
  CHECK(anon.patch(collection + "/" + alices, {{"city", "X"}}).status == 401);
  CHECK(anon.del(collection + "/" + alices).status == 401);
}

TEST_CASE("an API key acts for its owner on addresses with the account scope only", "[customers][addresses]") {
  testing::harness h(identity_only());
  auto owner = customer(h.connect(), "keys@example.com");
  auto key = owner.post("/v1/api-keys", {{"name", "sync"}, {"scopes", json::array({"account"})}});
  REQUIRE(key.status == 201);
  auto narrow = owner.post("/v1/api-keys", {{"name", "chat"}, {"scopes", json::array({"inference"})}});
  REQUIRE(narrow.status == 201);

  auto app = h.connect();
  app.authorize(key.json().at("key").get<std::string>());
  auto id = made(app, home());
  CHECK(fetch(owner, id).at("recipient") == "Grace Hopper");
  app.authorize(narrow.json().at("key").get<std::string>());
  CHECK(app.get(collection).status == 403);
  CHECK(app.post(collection, home()).status == 403);
}

TEST_CASE("every address field rule is refused with 422 naming the field", "[customers][addresses]") {
  testing::harness h(identity_only());
  auto c = customer(h.connect(), "rules@example.com");

  auto refused = [&](json body, const std::string& field) {
    auto r = c.post(collection, body);
    CHECK(r.status == 422);
    CHECK(r.error_fields() == std::set<std::string>{field});
  };
  auto with = [](const std::string& k, json v) {
    auto b = home();
    b[k] = std::move(v);
    return b;
  };
  refused(with("kind", "home"), "kind");
  refused(with("kind", 3), "kind");
  refused(with("is_default", "yes"), "is_default");
  refused(with("recipient", "   "), "recipient");
  refused(with("recipient", std::string(201, 'r')), "recipient");
  refused(with("recipient", "tab\there"), "recipient");
  refused(with("line1", ""), "line1");
  refused(with("line1", std::string(201, 'l')), "line1");
  refused(with("line2", std::string(201, 'l')), "line2");
  refused(with("line2", 7), "line2");
  refused(with("city", ""), "city");
  refused(with("city", std::string(101, 'c')), "city");
  refused(with("region", std::string(101, 'r')), "region");
  refused(with("postal_code", ""), "postal_code");
  refused(with("postal_code", std::string(21, '1')), "postal_code");
  refused(with("postal_code", "10115!"), "postal_code");
  refused(with("country", "de"), "country");
  refused(with("country", "DEU"), "country");
  refused(with("country", "D1"), "country");
  refused(with("phone", std::string(33, '1')), "phone");
  refused(with("phone", "call me"), "phone");
  refused(with("phone", "+()-"), "phone");
  refused(with("surprise", 1), "surprise");

  // 200 characters is within the limit, and multi-byte characters count once.
  auto longest = c.post(collection, with("recipient", std::string(100, 'a') + std::string(100, 'x')));
  CHECK(longest.status == 201);
  std::string umlauts;
  for (int i = 0; i < 100; ++i) umlauts += "ü";
  CHECK(c.post(collection, with("city", umlauts)).status == 201);

  auto everything = c.post(collection, {{"kind", "home"},
                                        {"recipient", ""},
                                        {"line1", ""},
                                        {"line2", std::string(300, 'x')},
                                        {"city", ""},
                                        {"region", std::string(300, 'x')},
                                        {"postal_code", "?"},
                                        {"country", "xx"},
                                        {"phone", "abc"}});
  CHECK(everything.status == 422);
  CHECK(everything.error_fields() == std::set<std::string>{"kind", "recipient", "line1", "line2", "city", "region",
                                                          "postal_code", "country", "phone"});
  auto missing = c.post(collection, json::object());
  CHECK(missing.status == 422);
  CHECK(missing.error_fields() ==
        std::set<std::string>{"kind", "recipient", "line1", "city", "postal_code", "country"});
  CHECK(c.request("POST", collection, "{nope").status == 400);

  auto id = made(c, home());
  auto patch_refused = [&](json body, std::set<std::string> fields) {
    auto r = c.patch(collection + "/" + id, body);
    CHECK(r.status == 422);
    CHECK(r.error_fields() == fields);
  };
  patch_refused({{"city", nullptr}}, {"city"});
  patch_refused({{"country", "fr"}, {"postal_code", "#1"}}, {"country", "postal_code"});
  patch_refused({{"kind", "office"}, {"is_default", 1}, {"line2", std::string(201, 'x')}},
                {"kind", "is_default", "line2"});
  patch_refused({{"phone", "1234567890123456789012345678901234"}}, {"phone"});
  CHECK(fetch(c, id).at("version") == 1);
}

TEST_CASE("an account holds at most 50 addresses: the 51st is refused with 409", "[customers][addresses]") {
  testing::harness h(identity_only());
  auto c = customer(h.connect(), "many@example.com");
  std::set<std::string> ids;
  for (int i = 0; i < 50; ++i) ids.insert(made(c, home(i % 2 ? "billing" : "shipping")));
  auto over = c.post(collection, home());
  CHECK(over.status == 409);
  CHECK(over.header("content-type") == "application/problem+json");

  // All 50 come back a page at a time.
  std::set<std::string> listed;
  std::string cursor;
  int pages = 0;
  do {
    auto page = c.get(collection + "?limit=20" + (cursor.empty() ? "" : "&cursor=" + cursor));
    REQUIRE(page.status == 200);
    auto body = page.json();
    for (const auto& a : body.at("data")) listed.insert(a.at("id").get<std::string>());
    auto next = body.at("next_cursor");
    cursor = next.is_null() ? "" : next.get<std::string>();
    ++pages;
  } while (!cursor.empty() && pages < 10);
  CHECK(pages == 3);
  CHECK(listed == ids);
  CHECK(c.get(collection + "?limit=0").status == 422);
  CHECK(c.get(collection + "?cursor=garbage").status == 422);

  // Another account is not limited by this one's addresses.
  auto other = customer(h.connect(), "few@example.com");
  CHECK(other.post(collection, home()).status == 201);
  // A freed place can be taken again.
  REQUIRE(c.del(collection + "/" + *ids.begin()).status == 204);
  CHECK(c.post(collection, home()).status == 201);
}

TEST_CASE("address changes publish address.created, updated and deleted with ids, kind, default and country only",
          "[customers][addresses]") {
  testing::module_fixture f(customers::module());
  auto& log = f.subscribe(std::string(customers::addresses_topic));
  auto c = customer(f.connect(), "events@example.com");

  auto first = made(c, home());
  auto second_body = home();
  second_body["is_default"] = true;
  second_body["phone"] = "+49 30 1";
  auto second = made(c, second_body);
  REQUIRE(c.patch(collection + "/" + second, {{"city", "Potsdam"}}).status == 200);
  REQUIRE(c.del(collection + "/" + first).status == 204);
  // Refused changes publish nothing.
  CHECK(c.patch(collection + "/" + second, {{"city", "X"}}, {{"If-Match", "\"1\""}}).status == 412);
  CHECK(c.post(collection, home("nowhere")).status == 422);
  REQUIRE(f.settle());

  auto events = log.wait_for(5);
  REQUIRE(events.size() == 5);
  std::vector<std::pair<std::string, std::string>> seen;
  for (const auto& e : events) seen.emplace_back(e.type, e.subject);
  CHECK(seen == std::vector<std::pair<std::string, std::string>>{{"address.created", first},
                                                                 {"address.updated", first},
                                                                 {"address.created", second},
                                                                 {"address.updated", second},
                                                                 {"address.deleted", first}});
  auto account = c.get("/v1/customers/me").json().at("id");
  for (const auto& e : events) {
    CHECK(e.topic == "customers.addresses");
    CHECK(e.source == "agora/customers");
    std::set<std::string> keys;
    for (const auto& [k, v] : e.data.items()) keys.insert(k);
    CHECK(keys == std::set<std::string>{"id", "account_id", "kind", "is_default", "country"});
    CHECK(e.data.at("account_id") == account);
    CHECK(e.data.at("id") == e.subject);
  }
  CHECK(events[0].data.at("is_default") == true);
  CHECK(events[1].data.at("is_default") == false);
  CHECK(events[2].data.at("is_default") == true);
  CHECK(events[2].data.at("country") == "DE");
  CHECK(events[4].data.at("kind") == "shipping");
}
