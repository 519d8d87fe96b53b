#include "catalog_fixture.hpp"
#include "search_query.hpp"
#include "store.hpp"

#include "agora_catalog_migrations.hpp"

#include <catalog/api.hpp>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace agora;
using namespace agora::catalog;
using namespace agora::catalog::test;

namespace {

product add(catalog_fixture& f, std::string sku, std::string name, std::string description = {},
            std::optional<std::string> category_id = std::nullopt, product_status status = product_status::active) {
  create_product_request r;
  r.sku = std::move(sku);
  r.name = std::move(name);
  r.description = std::move(description);
  r.price = {1500, "EUR"};
  r.category_id = std::move(category_id);
  r.status = status;
  auto out = f.call<create_product>(std::move(r));
  REQUIRE(out);
  return out->item;
}

result<search_results> search(catalog_fixture& f, std::string query, std::optional<std::int64_t> limit = std::nullopt) {
  search_products_request r;
  r.query = std::move(query);
  r.limit = limit;
  return f.call<search_products>(std::move(r));
}

std::vector<std::string> skus(const search_results& r) {
  std::vector<std::string> out;
  for (const auto& h : r.data) out.push_back(h.item.sku);
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<std::string> found(catalog_fixture& f, std::string query) {
  auto r = search(f, std::move(query));
  REQUIRE(r);
  return skus(*r);
}

std::optional<match_expressions> parse(std::string_view text) {
  std::vector<field_error> errors;
  auto m = parse_search_query(text, "query", errors);
  CHECK(m.has_value() == errors.empty());
  return m;
}

// A store file for one test, removed at the end.
struct temp_dir {
  temp_dir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / fmt::format("agora-catalog-search-{:x}{:x}", rd(), rd());
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::filesystem::path path;
};

}  // namespace

TEST_CASE("search words become quoted FTS5 prefix strings", "[catalog]") {
  auto m = parse("  blu   shi ");
  REQUIRE(m);
  CHECK(m->all_words == R"("blu"* "shi"*)");
  CHECK(m->any_word == R"("blu"* OR "shi"*)");
  CHECK(m->words == 2);

  auto quoted = parse(R"(say "hi" NEAR(a b) name:x -y *)");
  REQUIRE(quoted);
  CHECK(quoted->all_words == R"x("say"* """hi"""* "NEAR(a"* "b)"* "name:x"* "-y"*)x");

  auto nul = parse(std::string("lamp\0shade", 10));
  REQUIRE(nul);
  CHECK(nul->all_words == R"("lamp"* "shade"*)");

  auto dashes = parse("tea \xE2\x80\x94 cup \xF0\x9F\x99\x82");  // an em dash and an emoji
                                                                 // between words
  REQUIRE(dashes);
  CHECK(dashes->all_words == R"("tea"* "cup"*)");

  auto accented = parse("cr\xC3\xA8me");
  REQUIRE(accented);
  CHECK(accented->all_words == "\"cr\xC3\xA8me\"*");
}

TEST_CASE(
    "search text that is blank, too long, not UTF-8 or without a word is "
    "refused naming the field",
    "[catalog]") {
  for (std::string bad :
       std::vector<std::string>{"", "   \t", std::string(search_query_max + 1, 'a'), "caf\xC3", "\xFF\xFE", "\"",
                                "* - ( ) :", std::string(3, '\0'), "\xE2\x80\x94"}) {
    INFO(bad);
    std::vector<field_error> errors;
    CHECK_FALSE(parse_search_query(bad, "q", errors));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].field == "q");
  }
  std::string many;
  for (std::size_t i = 0; i <= search_words_max; ++i) many += "w" + std::to_string(i) + " ";
  std::vector<field_error> errors;
  CHECK_FALSE(parse_search_query(many, "query", errors));
  CHECK(errors.size() == 1);
  CHECK(parse(std::string(search_query_max, 'a')));
}

TEST_CASE("a product whose name matches ranks above one whose description matches", "[catalog]") {
  catalog_fixture f;
  add(f, "LIGHT-1", "Reading light", "Clamps to a desk by the window");
  add(f, "LAMP-1", "Desk lamp", "Bright and adjustable");
  add(f, "MUG-1", "Mug", "Stoneware");
  add(f, "CHAIR-1", "Chair", "Oak");

  auto r = search(f, "desk");
  REQUIRE(r);
  CHECK(r->all_words);
  CHECK(skus(*r) == std::vector<std::string>{"LAMP-1", "LIGHT-1"});
  CHECK(r->data[0].score > r->data[1].score);
  CHECK(r->data[0].item.name == "Desk lamp");
  CHECK(r->data[0].item.price == money{1500, "EUR"});
  CHECK(r->data[1].snippet.find("desk") != std::string::npos);
}

TEST_CASE("search ignores accents and case", "[catalog]") {
  catalog_fixture f;
  add(f, "CREME-1", "Crème brûlée torch");
  add(f, "CREAM-1", "Cream jug");
  CHECK(found(f, "creme") == std::vector<std::string>{"CREME-1"});
  CHECK(found(f, "CRÈME BRULEE") == std::vector<std::string>{"CREME-1"});
  CHECK(found(f, "brûlée") == std::vector<std::string>{"CREME-1"});
}

TEST_CASE("each word of a search matches as a prefix of a product's words", "[catalog]") {
  catalog_fixture f;
  add(f, "TOP-1", "Blue shirt");
  add(f, "TOP-2", "Blue shoes");
  add(f, "TOP-3", "Red shirt");
  add(f, "TOP-4", "Bluebell vase");
  CHECK(found(f, "blu shi") == std::vector<std::string>{"TOP-1"});
  CHECK(sorted(found(f, "blu sh")) == std::vector<std::string>{"TOP-1", "TOP-2"});
  CHECK(found(f, "shirts").empty());
  CHECK(sorted(found(f, "shirt")) == std::vector<std::string>{"TOP-1", "TOP-3"});
  CHECK(found(f, "lue").empty());  // a prefix, not any substring
}

TEST_CASE("every word must match, and when none matches them all any word may", "[catalog]") {
  catalog_fixture f;
  add(f, "TEA-1", "Tea cup", "Porcelain");
  add(f, "TEA-2", "Tea pot", "Porcelain, with a strainer");
  add(f, "CUP-1", "Coffee cup", "Stoneware");

  auto both = search(f, "porcelain cup");
  REQUIRE(both);
  CHECK(both->all_words);
  CHECK(skus(*both) == std::vector<std::string>{"TEA-1"});

  auto some = search(f, "strainer saucer");
  REQUIRE(some);
  CHECK_FALSE(some->all_words);
  CHECK(skus(*some) == std::vector<std::string>{"TEA-2"});

  auto none = search(f, "kettle saucer");
  REQUIRE(none);
  CHECK(none->data.empty());
}

TEST_CASE("a sku is found by its words, inner punctuation included", "[catalog]") {
  catalog_fixture f;
  add(f, "MUG-12", "Mug");
  add(f, "MUG-13", "Mug");
  CHECK(found(f, "mug-12") == std::vector<std::string>{"MUG-12"});
  CHECK(found(f, "MUG-1").size() == 2);
}

TEST_CASE("archived products are found only when asked for", "[catalog]") {
  catalog_fixture f;
  add(f, "VASE-1", "Glass vase");
  add(f, "VASE-2", "Clay vase", "", std::nullopt, product_status::archived);
  CHECK(found(f, "vase") == std::vector<std::string>{"VASE-1"});
  search_products_request r;
  r.query = "vase";
  r.status = product_status::archived;
  auto archived = f.call<search_products>(r);
  REQUIRE(archived);
  CHECK(skus(*archived) == std::vector<std::string>{"VASE-2"});
}

TEST_CASE("a search in a category finds only that category's products", "[catalog]") {
  catalog_fixture f;
  create_category_request cr;
  cr.name = "Kitchen";
  auto kitchen = f.call<create_category>(cr);
  REQUIRE(kitchen);
  add(f, "BOWL-1", "Salad bowl", "", kitchen->id);
  add(f, "BOWL-2", "Fruit bowl");

  search_products_request r;
  r.query = "bowl";
  r.category_id = kitchen->id;
  auto in_kitchen = f.call<search_products>(r);
  REQUIRE(in_kitchen);
  CHECK(skus(*in_kitchen) == std::vector<std::string>{"BOWL-1"});
  CHECK(found(f, "bowl").size() == 2);

  r.category_id = "not-a-category";
  auto bad = f.call<search_products>(r);
  REQUIRE_FALSE(bad);
  CHECK(bad.err().code == errc::invalid_argument);
  CHECK(names(bad.err(), "category_id"));
}

TEST_CASE("an updated product is found by its new text and no longer by its old", "[catalog]") {
  catalog_fixture f;
  auto p = add(f, "OLD-1", "Walnut tray", "Oiled walnut");
  add(f, "OTHER-1", "Walnut board");

  update_product_request price_only;
  price_only.id = p.id;
  price_only.price = money{2000, "EUR"};
  REQUIRE(f.call<update_product>(price_only));
  CHECK(found(f, "tray") == std::vector<std::string>{"OLD-1"});

  update_product_request u;
  u.id = p.id;
  u.name = "Maple tray";
  u.description = "Waxed maple";
  u.sku = "NEW-1";
  REQUIRE(f.call<update_product>(u));
  CHECK(found(f, "walnut") == std::vector<std::string>{"OTHER-1"});
  CHECK(found(f, "maple") == std::vector<std::string>{"NEW-1"});
  CHECK(found(f, "old").empty());
  CHECK(found(f, "new-1") == std::vector<std::string>{"NEW-1"});
  auto hit = search(f, "waxed");
  REQUIRE(hit);
  REQUIRE(hit->data.size() == 1);
  CHECK(hit->data[0].item.version == 3);
  CHECK(hit->data[0].item.price == money{2000, "EUR"});
  CHECK(hit->data[0].snippet == "Waxed maple");
}

TEST_CASE("a deleted product is no longer found", "[catalog]") {
  catalog_fixture f;
  auto p = add(f, "GONE-1", "Copper kettle");
  add(f, "KEEP-1", "Steel kettle");
  REQUIRE(f.call<delete_product>({p.id, std::nullopt}));
  CHECK(found(f, "kettle") == std::vector<std::string>{"KEEP-1"});
  CHECK(found(f, "copper").empty());
  CHECK(f.count("SELECT COUNT(*) FROM product_search_docs") == 1);
}

TEST_CASE("hostile search text finds products or is refused, never fails otherwise", "[catalog]") {
  catalog_fixture f;
  add(f, "ODD-1", R"(The "special" (NEAR) AND name: lamp)", "- * ^ { } OR NOT");
  add(f, "LAMP-1", "Lamp");
  std::string big;
  while (big.size() < 10 * 1024) big += "lamp ";
  const std::vector<std::string> hostile = {"\"",
                                            "\"\"",
                                            "\"lamp",
                                            "lamp\"",
                                            "la\"mp\"",
                                            "\"lamp\"\"",
                                            "*",
                                            "lamp*",
                                            "NEAR(",
                                            "NEAR(lamp special, 2)",
                                            "a AND",
                                            "AND",
                                            "OR lamp",
                                            "NOT lamp",
                                            "-x",
                                            "-lamp",
                                            "name:foo",
                                            "name:lamp",
                                            "{name sku}: lamp",
                                            "^lamp",
                                            "(",
                                            ")",
                                            "lamp) OR (x",
                                            "special\" OR \"lamp",
                                            "'; DROP TABLE products; --",
                                            "\\",
                                            "+lamp",
                                            "lamp;",
                                            "%",
                                            "_",
                                            std::string("lamp\0", 5),
                                            std::string("\0\0lamp", 6),
                                            "\xFF\xFE",
                                            "caf\xC3",
                                            "\xC0\xAF",
                                            "\xED\xA0\x80",
                                            "\xF0\x9F\x99\x82",
                                            "\xE2\x82\xAC 5",
                                            "\xEF\xBB\xBF",
                                            big,
                                            std::string(10 * 1024, '"'),
                                            std::string(10 * 1024, '('),
                                            "lamp lamp lamp lamp lamp lamp lamp lamp lamp lamp lamp lamp lamp lamp"};
  for (const auto& q : hostile) {
    INFO(q.substr(0, 40));
    auto r = search(f, q);
    if (!r) {
      CHECK(r.err().code == errc::invalid_argument);
      CHECK(names(r.err(), "query"));
    }
  }
  CHECK(found(f, "\"special\"") == std::vector<std::string>{"ODD-1"});
  CHECK(found(f, "NEAR") == std::vector<std::string>{"ODD-1"});
  CHECK(found(f, "name:") == std::vector<std::string>{"ODD-1"});
  CHECK(found(f, "-lamp").size() == 2);
  CHECK_FALSE(search(f, big));
  CHECK_FALSE(search(f, "\xFF\xFE"));
  CHECK(found(f, std::string("lamp\0", 5)).size() == 2);
  CHECK(f.count("SELECT COUNT(*) FROM products") == 2);
}

TEST_CASE(
    "a search returns at most its limit, 10 by default, capped by "
    "search_limit_max",
    "[catalog]") {
  catalog_fixture f({{"modules.catalog.search_limit_max", 12}});
  std::vector<std::string> ids;
  for (int i = 0; i < 14; ++i) ids.push_back(add(f, fmt::format("PLATE-{:02}", i), "Dinner plate").id);
  std::sort(ids.begin(), ids.end());
  auto by_default = search(f, "plate");
  REQUIRE(by_default);
  CHECK(by_default->data.size() == 10);
  auto three = search(f, "plate", 3);
  REQUIRE(three);
  REQUIRE(three->data.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK(three->data[i].item.id == ids[i]);  // equal scores: id order
  auto most = search(f, "plate", 12);
  REQUIRE(most);
  CHECK(most->data.size() == 12);
  for (std::int64_t bad : {0, -1, 13}) {
    auto r = search(f, "plate", bad);
    REQUIRE_FALSE(r);
    CHECK(names(r.err(), "limit"));
  }
  auto both = search(f, " ", 0);
  REQUIRE_FALSE(both);
  CHECK(names(both.err(), "query"));
  CHECK(names(both.err(), "limit"));
}

TEST_CASE("search requests and results keep every field through their JSON form", "[catalog]") {
  search_products_request r;
  r.query = "blue shirt";
  r.limit = 5;
  r.status = product_status::archived;
  r.category_id = "cat_01JD0000000000000000000000";
  auto back = nlohmann::json(r).get<search_products_request>();
  CHECK(back.query == r.query);
  CHECK(back.limit == r.limit);
  CHECK(back.status == r.status);
  CHECK(back.category_id == r.category_id);
  auto bare = nlohmann::json{{"query", "x"}}.get<search_products_request>();
  CHECK_FALSE(bare.limit);
  CHECK_FALSE(bare.status);
  CHECK_FALSE(bare.category_id);

  search_results res;
  product p;
  p.id = "prod_01JD0000000000000000000000";
  p.sku = "S-1";
  p.name = "Shirt";
  p.price = {100, "EUR"};
  p.version = 1;
  p.created_at = p.updated_at = "2025-01-01T00:00:00.000Z";
  res.data.push_back({p, 1.5, "Cotton…"});
  res.all_words = false;
  auto j = nlohmann::json(res);
  CHECK(j["data"][0]["product"]["sku"] == "S-1");
  auto round = j.get<search_results>();
  CHECK(round.data == res.data);
  CHECK_FALSE(round.all_words);
}

TEST_CASE("the search migration indexes products written before it", "[catalog]") {
  temp_dir dir;
  auto file = dir.path / "catalog.db";
  auto all = db::migrations();
  REQUIRE(all.size() >= 2);
  product p;
  p.id = "prod_01JD0000000000000000000000";
  p.sku = "OLD-1";
  p.name = "Crème pot";
  p.description = "Made before search existed";
  p.price = {100, "EUR"};
  p.version = 1;
  p.created_at = p.updated_at = "2025-01-01T00:00:00.000Z";
  {
    std::vector<store::migration> first(all.begin(), all.begin() + 1);
    store::database before(file, "catalog", first);
    before
        .prepare(
            "INSERT INTO products(id, sku, name, description, price_amount, price_currency, category_id, status, "
            "version, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, 'active', 1, ?7, ?7)")
        .bind_all(p.id, p.sku, p.name, p.description, p.price.amount, p.price.currency, p.created_at)
        .run();
  }
  store::database after(file, "catalog", all);
  auto hits = sql::search_products(after, R"("creme")", {}, product_status::active, 0, 10);
  REQUIRE(hits.size() == 1);
  p.variants = sql::variants_of(after, p.id);
  CHECK(hits[0].item == p);
  CHECK(hits[0].snippet == "Made before search existed");
  p.name = "Tin pot";
  REQUIRE(sql::update_product(after, p, 1));
  CHECK(sql::search_products(after, R"("creme")", {}, product_status::active, 0, 10).empty());
  CHECK(sql::search_products(after, R"("tin")", {}, product_status::active, 0, 10).size() == 1);
}
