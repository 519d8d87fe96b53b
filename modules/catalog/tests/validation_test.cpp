#include "http_codec.hpp"
#include "product_cache.hpp"
#include "validation.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace agora;
using namespace agora::catalog;

namespace {

bool names(const std::vector<field_error>& errors, std::string_view field) {
  return std::any_of(errors.begin(), errors.end(), [&](const field_error& e) { return e.field == field; });
}

create_product_request valid_product() {
  create_product_request r;
  r.sku = "TSHIRT-RED.L_1";
  r.name = "Red T-shirt";
  r.description = "Cotton";
  r.price = {1999, "EUR"};
  return r;
}

}  // namespace

TEST_CASE("a well-formed product request passes validation", "[catalog]") {
  auto r = valid_product();
  CHECK(normalize_and_validate(r).empty());
}

TEST_CASE("sku must be 1 to 64 characters of letters, digits, dot, underscore, dash", "[catalog]") {
  for (std::string bad : std::vector<std::string>{"", "has space", "semi;colon", "é", std::string(65, 'A')}) {
    std::vector<field_error> errors;
    check_sku(bad, errors);
    INFO(bad);
    CHECK(names(errors, "sku"));
  }
  for (std::string good : std::vector<std::string>{"A", "a.b_c-D9", std::string(64, 'Z')}) {
    std::vector<field_error> errors;
    check_sku(good, errors);
    CHECK(errors.empty());
  }
}

TEST_CASE("names are trimmed and must then hold 1 to 200 characters", "[catalog]") {
  auto r = valid_product();
  r.name = "  Mug \t";
  CHECK(normalize_and_validate(r).empty());
  CHECK(r.name == "Mug");

  r.name = "   ";
  CHECK(names(normalize_and_validate(r), "name"));

  r.name = std::string(200, 'x');
  CHECK(normalize_and_validate(r).empty());
  r.name = std::string(201, 'x');
  CHECK(names(normalize_and_validate(r), "name"));

  // 200 characters of two bytes each: counted as characters, not bytes.
  std::string umlauts;
  for (int i = 0; i < 200; ++i) umlauts += "\xC3\xA4";
  r.name = umlauts;
  CHECK(normalize_and_validate(r).empty());
}

TEST_CASE("descriptions may be empty and hold at most 5000 characters", "[catalog]") {
  auto r = valid_product();
  r.description = "";
  CHECK(normalize_and_validate(r).empty());
  r.description = std::string(5000, 'd');
  CHECK(normalize_and_validate(r).empty());
  r.description = std::string(5001, 'd');
  CHECK(names(normalize_and_validate(r), "description"));
  r.description = "\xFF\xFE";
  CHECK(names(normalize_and_validate(r), "description"));
}

TEST_CASE("a price is 0 to 10^12 minor units of an active ISO 4217 currency", "[catalog]") {
  auto check = [](money m) {
    std::vector<field_error> errors;
    check_price(m, "price", errors);
    return errors;
  };
  CHECK(check({0, "EUR"}).empty());
  CHECK(check({1'000'000'000'000, "JPY"}).empty());
  CHECK(names(check({-1, "EUR"}), "price.amount"));
  CHECK(names(check({1'000'000'000'001, "EUR"}), "price.amount"));
  CHECK(names(check({100, "eur"}), "price.currency"));
  CHECK(names(check({100, "EURO"}), "price.currency"));
  CHECK(names(check({100, "ABC"}), "price.currency"));
  auto both = check({-5, "XYZ"});
  CHECK(names(both, "price.amount"));
  CHECK(names(both, "price.currency"));
}

TEST_CASE("references must look like ids of the right type", "[catalog]") {
  auto r = valid_product();
  r.category_id = "shoes";
  CHECK(names(normalize_and_validate(r), "category_id"));
}

TEST_CASE("every invalid field of a request is reported at once", "[catalog]") {
  create_product_request r;
  r.sku = "bad sku";
  r.name = "";
  r.price = {-1, "???"};
  auto errors = normalize_and_validate(r);
  CHECK(names(errors, "sku"));
  CHECK(names(errors, "name"));
  CHECK(names(errors, "price.amount"));
  CHECK(names(errors, "price.currency"));
}

TEST_CASE("an update checks only the fields it carries", "[catalog]") {
  update_product_request r;
  r.id = "prod_x";
  CHECK(normalize_and_validate(r).empty());
  r.name = "  ";
  r.category_id = std::optional<std::string>{};
  auto errors = normalize_and_validate(r);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].field == "name");
}

TEST_CASE("the product cache keeps the most recently used entries and never goes back a version", "[catalog]") {
  product_cache cache(2);
  auto entry = [](std::string id, std::int64_t version) {
    product p;
    p.id = std::move(id);
    p.version = version;
    return product_cache::entry{p, std::make_shared<const std::string>("{}")};
  };
  cache.put(entry("a", 1));
  cache.put(entry("b", 1));
  REQUIRE(cache.find("a"));
  cache.put(entry("c", 1));
  CHECK(cache.find("a"));
  CHECK_FALSE(cache.find("b"));
  CHECK(cache.find("c"));
  CHECK(cache.size() == 2);

  cache.put(entry("a", 3));
  cache.put(entry("a", 2));
  CHECK(cache.find("a")->item.version == 3);
  cache.erase("a");
  CHECK_FALSE(cache.find("a"));

  product_cache off(0);
  off.put(entry("a", 1));
  CHECK_FALSE(off.find("a"));
}

TEST_CASE("products and requests round-trip through JSON", "[catalog]") {
  product p;
  p.id = "prod_01JD0000000000000000000000";
  p.sku = "S";
  p.name = "N";
  p.price = {5, "EUR"};
  p.status = product_status::archived;
  p.version = 4;
  p.created_at = p.updated_at = "2026-01-01T00:00:00.000Z";
  nlohmann::json j = p;
  CHECK(j["status"] == "archived");
  CHECK(j["category_id"].is_null());
  CHECK(j["price"]["amount"] == 5);
  CHECK(j.get<product>() == p);

  update_product_request u;
  u.id = p.id;
  u.category_id = std::optional<std::string>{};
  nlohmann::json uj = u;
  CHECK(uj.contains("category_id"));
  CHECK(uj["category_id"].is_null());
  auto back = uj.get<update_product_request>();
  REQUIRE(back.category_id.has_value());
  CHECK_FALSE(back.category_id->has_value());
  CHECK_FALSE(back.name.has_value());
}
