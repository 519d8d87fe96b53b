#include <agora/clock.hpp>
#include <agora/json_fields.hpp>
#include <agora/rest.hpp>
#include <agora/values.hpp>

#include <catch2/catch.hpp>

#include <algorithm>

using namespace agora;
using json = nlohmann::json;

namespace kit_test {

struct item {
  std::string id;
  money price;
  std::optional<std::string> note;
  nullable_patch<std::string> parent;
  std::string description = "none";
  std::optional<version_match> expected;
};
constexpr auto json_fields(const item*) {
  return std::tuple{json_field("id", &item::id), json_field("price", &item::price), json_field("note", &item::note),
                    json_field("parent", &item::parent),
                    json_field("description", &item::description, json_default),
                    json_field("expected", &item::expected)};
}

}  // namespace kit_test

namespace {

bool names(const std::vector<field_error>& errors, std::string_view field) {
  return std::any_of(errors.begin(), errors.end(), [&](const field_error& e) { return e.field == field; });
}

http::request plain_request() {
  http::request req{http::verb::get, "/x", 11};
  return req;
}

}  // namespace

TEST_CASE("a field list gives a type both JSON directions with the optional and patch rules", "[kit]") {
  kit_test::item v{"it_1", {250, "EUR"}, std::nullopt, std::optional<std::string>{}, "d", version_match{4}};
  json j = v;
  CHECK(j == json::parse(R"({"id":"it_1","price":{"amount":250,"currency":"EUR"},"note":null,"parent":null,
                              "description":"d","expected":{"any_of":[4]}})"));
  auto back = j.get<kit_test::item>();
  CHECK(back.id == "it_1");
  CHECK(back.price == money{250, "EUR"});
  CHECK_FALSE(back.note);
  REQUIRE(back.parent);  // given as null: cleared
  CHECK_FALSE(*back.parent);
  REQUIRE(back.expected);
  CHECK(back.expected->matches(4));

  v.parent.reset();  // not given: omitted, and read back as not given
  j = v;
  CHECK_FALSE(j.contains("parent"));
  CHECK_FALSE(j.get<kit_test::item>().parent);

  auto partial = json::parse(R"({"id":"x","price":{"amount":1,"currency":"USD"}})").get<kit_test::item>();
  CHECK(partial.description == "none");  // json_default keeps the initial value

  CHECK_THROWS_AS(json::parse(R"({"price":{"amount":1,"currency":"USD"}})").get<kit_test::item>(), json::exception);
  CHECK_THROWS_AS(json::parse("[1]").get<kit_test::item>(), json::exception);
}

TEST_CASE("pages carry data and next_cursor, and limits and cursors are checked", "[kit]") {
  page<kit_test::item> p;
  p.data.push_back({"it_1", {1, "EUR"}, {}, {}, "", {}});
  json j = p;
  CHECK(j["next_cursor"].is_null());
  CHECK(j["data"].size() == 1);

  CHECK(page_limit(std::nullopt, 20, 100).value() == 20);
  CHECK(page_limit(std::nullopt, 20, 10).value() == 10);
  CHECK(page_limit(100, 20, 100).value() == 100);
  CHECK_FALSE(page_limit(0, 20, 100));
  CHECK(page_limit(101, 20, 100).err().fields.at(0).field == "limit");

  struct row {
    std::string id;
  };
  std::vector<row> rows{{"prod_01JD0000000000000000000001"}, {"prod_01JD0000000000000000000002"},
                        {"prod_01JD0000000000000000000003"}};
  auto next = trim_page(rows, 2);
  REQUIRE(next);
  CHECK(rows.size() == 2);
  CHECK(page_after(*next, "prod").value() == "prod_01JD0000000000000000000002");
  CHECK(page_after("", "prod").value().empty());
  CHECK(page_after("bm90LWFuLWlk", "prod").err().fields.at(0).field == "cursor");
  CHECK_FALSE(trim_page(rows, 2));  // a page that fits has no next cursor
}

TEST_CASE("the currency list holds the active codes and refuses withdrawn and non-currency ones", "[kit]") {
  for (const char* code :
       {"EUR", "USD", "GBP", "JPY", "CHF", "CNY", "INR", "BRL", "SEK", "XOF", "XCG", "ZWG", "SLE", "VES", "MRU", "STN"})
    CHECK(is_active_currency(code));
  // Withdrawn (DEM, FRF, HRK, SLL, ZWL, ANG, VEF, MRO), test/none (XTS, XXX), metals (XAU), lowercase.
  for (const char* code : {"DEM", "FRF", "HRK", "SLL", "ZWL", "ANG", "VEF", "MRO", "XTS", "XXX", "XAU", "eur", ""})
    CHECK_FALSE(is_active_currency(code));
  CHECK(active_currency_count() > 150);
  std::vector<field_error> errors;
  check_money({-1, "XXX"}, "total", errors);
  CHECK(names(errors, "total.amount"));
  CHECK(names(errors, "total.currency"));
}

TEST_CASE("ids are checked for their type prefix and alphabet", "[kit]") {
  CHECK(is_well_formed_id("cat_01JD0000000000000000000000", "cat"));
  CHECK_FALSE(is_well_formed_id("prod_01JD0000000000000000000000", "cat"));
  CHECK_FALSE(is_well_formed_id("cat_01JD000000000000000000000", "cat"));
  CHECK_FALSE(is_well_formed_id("cat_01jd0000000000000000000000", "cat"));
  CHECK(utf8_length("crème") == 5);
  CHECK(utf8_length("\xff") == std::string_view::npos);
  CHECK(trim("  a b \t") == "a b");
}

TEST_CASE("ETags are quoted versions, and If-Match lists match any of their strong tags", "[kit]") {
  CHECK(http::etag(7) == "\"7\"");
  CHECK(http::parse_if_match("\"7\"")->any_of == std::vector<std::int64_t>{7});
  CHECK(http::parse_if_match(" \"12\" ")->matches(12));
  CHECK_FALSE(http::parse_if_match("*").has_value());
  CHECK_FALSE(http::parse_if_match("\"1\", *").has_value());
  auto list = http::parse_if_match("\"3\", \"5\",\"9\"");
  REQUIRE(list);
  CHECK(list->matches(3));
  CHECK(list->matches(5));
  CHECK(list->matches(9));
  CHECK_FALSE(list->matches(4));
  // Weak and foreign tags match nothing: the precondition fails.
  for (const char* h : {"W/\"7\"", "7", "\"abc\"", "\"-1\""}) {
    auto m = http::parse_if_match(h);
    REQUIRE(m);
    CHECK(m->any_of.empty());
    CHECK_FALSE(m->matches(7));
  }
  CHECK(http::if_none_match("\"3\"", 3));
  CHECK(http::if_none_match("W/\"3\"", 3));
  CHECK(http::if_none_match("\"1\", \"3\"", 3));
  CHECK(http::if_none_match("*", 3));
  CHECK_FALSE(http::if_none_match("\"4\"", 3));
  CHECK_FALSE(http::if_none_match("", 3));
}

TEST_CASE("versioned answers 304 to a matching If-None-Match and renders only when it sends a body", "[kit]") {
  auto req = plain_request();
  http::request_context ctx{req, "/x"};
  int renders = 0;
  auto render = [&] {
    ++renders;
    return std::string(R"({"a":1})");
  };
  auto full = http::versioned(200, 3, ctx, render);
  CHECK(full.result_int() == 200);
  CHECK(full[boost::beast::http::field::etag] == "\"3\"");
  CHECK(renders == 1);
  req.set("If-None-Match", "\"2\", \"3\"");
  auto cached = http::versioned(200, 3, ctx, render);
  CHECK(cached.result_int() == 304);
  CHECK(cached.body().empty());
  CHECK(renders == 1);
  CHECK(http::versioned(201, 3, ctx, render).result_int() == 201);  // a creation is never 304
}

TEST_CASE("the object reader reports every bad member at once, with its path", "[kit]") {
  std::vector<field_error> errors;
  auto body = json::parse(R"({"name": 3, "price": {"amount": 1.5}, "extra": true, "tags": ["a", 1],
                              "big": 18446744073709551615, "parent": null})");
  http::object_reader r(body, "", {"name", "price", "tags", "big", "parent", "count"}, errors);
  CHECK_FALSE(r.string("name", true));
  CHECK_FALSE(r.money_value("price", true));
  CHECK_FALSE(r.string_list("tags", false));
  CHECK_FALSE(r.integer("big", false));
  CHECK_FALSE(r.integer("count", true));
  auto parent = r.nullable_string("parent");
  REQUIRE(parent);
  CHECK_FALSE(*parent);
  for (const char* f : {"name", "price.amount", "price.currency", "extra", "tags", "big", "count"})
    CHECK(names(errors, f));

  std::vector<field_error> more;
  http::object_reader not_object(json::array(), "", {}, more);
  CHECK_FALSE(not_object.ok());
  CHECK(names(more, "body"));

  auto merged = http::merge_field_errors({{"name", "expected a string"}}, {{"name", "too long"}, {"sku", "bad"}});
  REQUIRE(merged.size() == 2);
  CHECK(merged[0].message == "expected a string");
}

TEST_CASE("X-Degraded collects every reason once", "[kit]") {
  http::response res;
  http::add_degraded(res, "grounding-unavailable");
  http::add_degraded(res, "fallback-model");
  http::add_degraded(res, "grounding-unavailable");
  CHECK(res["X-Degraded"] == "grounding-unavailable, fallback-model");
}

TEST_CASE("a manual clock moves only when told, and ids and times follow it", "[kit]") {
  manual_clock c;
  auto t0 = c.now();
  CHECK(c.now() == t0);
  c.advance(std::chrono::hours(24));
  CHECK(c.now() - t0 == std::chrono::hours(24));
  c.set(std::chrono::system_clock::time_point(std::chrono::milliseconds(1'767'225'600'000)));  // 2026-01-01
  CHECK(c.now_rfc3339() == "2026-01-01T00:00:00.000Z");
  auto a = c.new_id("ord");
  auto b = c.new_id("ord");
  CHECK(a < b);  // still monotonic in one millisecond
  CHECK(is_well_formed_id(a, "ord"));
}
