#include <cart/api.hpp>
#include <catalog/api.hpp>
#include <customers/api.hpp>

#include <agora/testing.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace agora;
using json = nlohmann::json;

namespace {

testing::options shop(std::vector<std::pair<std::string, json>> settings = {}) {
  testing::options o;
  o.modules.push_back(customers::module());
  o.modules.push_back(catalog::module());
  o.modules.push_back(cart::module());
  o.settings = std::move(settings);
  return o;
}

std::string add_product(testing::client& admin, const std::string& sku, std::int64_t amount,
                        const std::string& currency = "EUR") {
  auto r = admin.post("/v1/products", {{"sku", sku}, {"name", "Product " + sku}, {"price", {{"amount", amount}, {"currency", currency}}}});
  REQUIRE(r.status == 201);
  return r.json().at("id").get<std::string>();
}

std::string sign_up(testing::client& c, const std::string& email) {
  auto r = c.post("/v1/auth/register", {{"email", email}, {"password", "correct horse battery"}, {"name", "Ada"}});
  REQUIRE(r.status == 201);
  return testing::login(c, email, "correct horse battery");
}

std::map<std::string, std::string> with_token(const std::string& token) { return {{"X-Cart-Token", token}}; }
std::map<std::string, std::string> bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

}  // namespace

TEST_CASE("a guest cart answers only its token, and lines snapshot the catalog price and tax is extracted", "[cart]") {
  testing::harness h(shop());
  auto admin = h.connect_as_admin();
  auto product = add_product(admin, "MUG-1", 1190);
  auto c = h.connect();

  auto made = c.post("/v1/carts", json::object());
  REQUIRE(made.status == 201);
  auto cart = made.json();
  auto id = cart.at("id").get<std::string>();
  auto token = cart.at("cart_token").get<std::string>();
  CHECK(token.size() == 64);
  CHECK(made.header("location") == "/v1/carts/" + id);
  CHECK(made.header("etag") == "\"1\"");
  CHECK(cart.at("status") == "open");
  CHECK(cart.at("customer_id").is_null());
  CHECK(cart.at("region") == "DE");
  CHECK(cart.at("prices_include_tax") == true);

  CHECK(c.get("/v1/carts/" + id).status == 404);
  CHECK(c.get("/v1/carts/" + id, with_token("not-the-token")).status == 404);
  auto read = c.get("/v1/carts/" + id, with_token(token));
  REQUIRE(read.status == 200);
  CHECK_FALSE(read.json().contains("cart_token"));

  auto added = c.post("/v1/carts/" + id + "/lines", {{"sku", "MUG-1"}, {"quantity", 2}}, with_token(token));
  REQUIRE(added.status == 200);
  CHECK(added.header("etag") == "\"2\"");
  auto body = added.json();
  CHECK(body.at("currency") == "EUR");
  REQUIRE(body.at("lines").size() == 1);
  auto line = body.at("lines")[0];
  CHECK(line.at("product_id") == product);
  CHECK(line.at("unit_price") == json{{"amount", 1190}, {"currency", "EUR"}});
  CHECK(line.at("tax_rate_bp") == 1900);
  CHECK(line.at("line_total").at("amount") == 2380);
  CHECK(line.at("line_tax").at("amount") == 380);
  CHECK(body.at("totals").at("subtotal").at("amount") == 2000);
  CHECK(body.at("totals").at("total").at("amount") == 2380);

  // Adding the same SKU raises the line's quantity.
  auto again = c.post("/v1/carts/" + id + "/lines", {{"sku", "MUG-1"}, {"quantity", 1}}, with_token(token));
  REQUIRE(again.status == 200);
  REQUIRE(again.json().at("lines").size() == 1);
  CHECK(again.json().at("lines")[0].at("quantity") == 3);

  // A second POST without credentials is a new guest cart, not this one.
  auto other = c.post("/v1/carts", json::object());
  REQUIRE(other.status == 201);
  CHECK(other.json().at("id") != id);
  CHECK(c.get("/v1/carts/" + id, with_token(other.json().at("cart_token"))).status == 404);
}

TEST_CASE("prices exclusive of tax add the region's rate on top", "[cart]") {
  testing::harness h(shop({{"modules.cart.prices_include_tax", false}}));
  auto admin = h.connect_as_admin();
  add_product(admin, "BOOK-1", 1000);
  auto c = h.connect();
  auto made = c.post("/v1/carts", {{"region", "FR"}});
  REQUIRE(made.status == 201);
  auto id = made.json().at("id").get<std::string>();
  auto token = made.json().at("cart_token").get<std::string>();
  auto added = c.post("/v1/carts/" + id + "/lines", {{"sku", "BOOK-1"}, {"quantity", 3}}, with_token(token));
  REQUIRE(added.status == 200);
  auto totals = added.json().at("totals");
  CHECK(totals.at("subtotal").at("amount") == 3000);
  CHECK(totals.at("tax").at("amount") == 600);
  CHECK(totals.at("total").at("amount") == 3600);
  CHECK(totals.at("tax_lines") == json::array({{{"rate_bp", 2000},
                                                 {"taxable", {{"amount", 3000}, {"currency", "EUR"}}},
                                                 {"tax", {{"amount", 600}, {"currency", "EUR"}}}}}));
  CHECK(c.post("/v1/carts", {{"region", "XX"}}).error_fields() == std::set<std::string>{"region"});
}

TEST_CASE("signing in with a guest cart's token merges it into the customer's cart", "[cart]") {
  testing::harness h(shop());
  auto admin = h.connect_as_admin();
  add_product(admin, "A-1", 500);
  add_product(admin, "B-1", 700);
  auto c = h.connect();
  auto access = sign_up(c, "merge@example.com");

  auto mine = c.post("/v1/carts", json::object(), bearer(access));
  REQUIRE(mine.status == 201);
  CHECK_FALSE(mine.json().contains("cart_token"));
  auto mine_id = mine.json().at("id").get<std::string>();
  CHECK(mine.json().at("customer_id").is_string());
  // The one open cart: asking again returns it.
  auto same = c.post("/v1/carts", json::object(), bearer(access));
  REQUIRE(same.status == 200);
  CHECK(same.json().at("id") == mine_id);
  REQUIRE(c.post("/v1/carts/" + mine_id + "/lines", {{"sku", "A-1"}, {"quantity", 1}}, bearer(access)).status == 200);

  auto guest = c.post("/v1/carts", json::object());
  auto guest_id = guest.json().at("id").get<std::string>();
  auto token = guest.json().at("cart_token").get<std::string>();
  REQUIRE(c.post("/v1/carts/" + guest_id + "/lines", {{"sku", "A-1"}, {"quantity", 2}}, with_token(token)).status == 200);
  REQUIRE(c.post("/v1/carts/" + guest_id + "/lines", {{"sku", "B-1"}, {"quantity", 1}}, with_token(token)).status == 200);

  auto headers = bearer(access);
  headers["X-Cart-Token"] = token;
  auto merged = c.post("/v1/carts", json::object(), headers);
  REQUIRE(merged.status == 200);
  auto body = merged.json();
  CHECK(body.at("id") == mine_id);
  REQUIRE(body.at("lines").size() == 2);
  std::map<std::string, std::int64_t> quantities;
  for (const auto& l : body.at("lines")) quantities[l.at("sku")] = l.at("quantity");
  CHECK(quantities == std::map<std::string, std::int64_t>{{"A-1", 3}, {"B-1", 1}});
  CHECK(body.at("totals").at("total").at("amount") == 3 * 500 + 700);

  // The guest cart is closed and its token is spent.
  CHECK(c.get("/v1/carts/" + guest_id, with_token(token)).status == 404);
  CHECK(c.post("/v1/carts", json::object(), headers).status == 404);
}

TEST_CASE("another customer's cart is not found, whatever the route", "[cart]") {
  testing::harness h(shop());
  auto admin = h.connect_as_admin();
  add_product(admin, "A-1", 500);
  auto c = h.connect();
  auto ada = sign_up(c, "ada@example.com");
  auto bob = sign_up(c, "bob@example.com");
  auto cart = c.post("/v1/carts", json::object(), bearer(ada)).json();
  auto id = cart.at("id").get<std::string>();
  auto added = c.post("/v1/carts/" + id + "/lines", {{"sku", "A-1"}, {"quantity", 1}}, bearer(ada));
  REQUIRE(added.status == 200);
  auto line = added.json().at("lines")[0].at("id").get<std::string>();

  CHECK(c.get("/v1/carts/" + id, bearer(bob)).status == 404);
  CHECK(c.get("/v1/carts/" + id).status == 404);
  CHECK(c.post("/v1/carts/" + id + "/lines", {{"sku", "A-1"}, {"quantity", 1}}, bearer(bob)).status == 404);
  CHECK(c.patch("/v1/carts/" + id + "/lines/" + line, {{"quantity", 5}}, bearer(bob)).status == 404);
  CHECK(c.del("/v1/carts/" + id + "/lines/" + line, bearer(bob)).status == 404);
  auto still = c.get("/v1/carts/" + id, bearer(ada));
  REQUIRE(still.status == 200);
  CHECK(still.json().at("lines")[0].at("quantity") == 1);
}

TEST_CASE("If-Match guards line changes, and bad quantities, skus, currencies and ids are refused", "[cart]") {
  testing::harness h(shop());
  auto admin = h.connect_as_admin();
  add_product(admin, "EUR-1", 500);
  add_product(admin, "USD-1", 500, "USD");
  auto c = h.connect();
  auto made = c.post("/v1/carts", json::object()).json();
  auto id = made.at("id").get<std::string>();
  auto t = with_token(made.at("cart_token").get<std::string>());
  auto lines = "/v1/carts/" + id + "/lines";

  auto added = c.post(lines, {{"sku", "EUR-1"}, {"quantity", 1}}, t);
  REQUIRE(added.status == 200);
  auto line = lines + "/" + added.json().at("lines")[0].at("id").get<std::string>();

  auto stale = t;
  stale["If-Match"] = "\"1\"";
  CHECK(c.patch(line, {{"quantity", 4}}, stale).status == 412);
  CHECK(c.del(line, stale).status == 412);
  auto fresh = t;
  fresh["If-Match"] = added.header("etag");
  auto patched = c.patch(line, {{"quantity", 4}}, fresh);
  REQUIRE(patched.status == 200);
  CHECK(patched.json().at("lines")[0].at("quantity") == 4);
  CHECK(patched.header("etag") == "\"3\"");

  for (auto q : {0, -1, 100}) {
    INFO(q);
    CHECK(c.post(lines, {{"sku", "EUR-1"}, {"quantity", q}}, t).error_fields() == std::set<std::string>{"quantity"});
    CHECK(c.patch(line, {{"quantity", q}}, t).error_fields() == std::set<std::string>{"quantity"});
  }
  // 4 in the line plus 96 passes the cap of 99.
  CHECK(c.post(lines, {{"sku", "EUR-1"}, {"quantity", 96}}, t).error_fields() == std::set<std::string>{"quantity"});
  CHECK(c.post(lines, {{"sku", "EUR-1"}, {"quantity", "two"}}, t).status == 422);

  auto usd = c.post(lines, {{"sku", "USD-1"}, {"quantity", 1}}, t);
  CHECK(usd.status == 422);
  CHECK(usd.error_fields() == std::set<std::string>{"sku"});
  CHECK(usd.body.find("USD") != std::string::npos);

  auto unknown = c.post(lines, {{"sku", "NOPE-404"}, {"quantity", 1}}, t);
  CHECK(unknown.status == 404);
  CHECK(unknown.body.find("NOPE-404") != std::string::npos);
  CHECK(c.post(lines, {{"sku", ""}, {"quantity", 1}}, t).error_fields() == std::set<std::string>{"sku"});

  CHECK(c.get("/v1/carts/not-a-cart", t).status == 404);
  CHECK(c.post("/v1/carts/cart_123/lines", {{"sku", "EUR-1"}, {"quantity", 1}}, t).status == 404);
  CHECK(c.patch(lines + "/line_nope", {{"quantity", 1}}, t).status == 404);
  CHECK(c.del(lines + "/line_nope", t).status == 404);

  auto removed = c.del(line, t);
  REQUIRE(removed.status == 200);
  CHECK(removed.json().at("lines").empty());
  CHECK(removed.json().at("totals").at("total").at("amount") == 0);
}

TEST_CASE("50 concurrent add_line calls on one cart, spread over the replicas, lose nothing", "[cart]") {
  testing::harness h(shop());
  auto admin = h.connect_as_admin();
  add_product(admin, "A-1", 100);
  add_product(admin, "B-1", 200);
  auto c = h.connect();
  auto made = c.post("/v1/carts", json::object()).json();
  auto id = made.at("id").get<std::string>();
  auto token = made.at("cart_token").get<std::string>();

  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 10; ++t)
    threads.emplace_back([&, t] {
      auto mine = h.connect();
      for (int i = 0; i < 5; ++i) {
        auto r = mine.post("/v1/carts/" + id + "/lines", {{"sku", t % 2 ? "A-1" : "B-1"}, {"quantity", 1}},
                           with_token(token));
        if (r.status == 200) ++ok;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(ok == 50);
  auto read = c.get("/v1/carts/" + id, with_token(token)).json();
  CHECK(read.at("version") == 51);
  std::int64_t total = 0;
  for (const auto& l : read.at("lines")) total += l.at("quantity").get<std::int64_t>();
  CHECK(total == 50);
  CHECK(read.at("totals").at("total").at("amount") == 25 * 100 + 25 * 200);
}

TEST_CASE("carts survive a restart", "[cart]") {
  testing::harness h(shop());
  auto admin = h.connect_as_admin();
  add_product(admin, "A-1", 100);
  auto c = h.connect();
  auto made = c.post("/v1/carts", json::object()).json();
  auto id = made.at("id").get<std::string>();
  auto t = with_token(made.at("cart_token").get<std::string>());
  auto before = c.post("/v1/carts/" + id + "/lines", {{"sku", "A-1"}, {"quantity", 2}}, t);
  REQUIRE(before.status == 200);
  h.restart();
  auto after = c.get("/v1/carts/" + id, t);
  REQUIRE(after.status == 200);
  CHECK(after.json() == before.json());
}
