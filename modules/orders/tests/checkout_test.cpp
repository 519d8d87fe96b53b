// Checkout end to end over HTTP through the embedding harness: customers, catalog,
// inventory, cart and orders, each its own module on its own store, talking over the bus.
#include <cart/api.hpp>
#include <catalog/api.hpp>
#include <customers/api.hpp>
#include <inventory/api.hpp>
#include <orders/api.hpp>

#include <agora/app.hpp>
#include <agora/bus.hpp>
#include <agora/testing.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <barrier>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

agora::testing::options shop_options(std::vector<std::pair<std::string, json>> settings = {}) {
  agora::testing::options o;
  o.modules.push_back(agora::customers::module());
  o.modules.push_back(agora::catalog::module());
  o.modules.push_back(agora::inventory::module());
  o.modules.push_back(agora::cart::module());
  o.modules.push_back(agora::orders::module());
  o.settings = std::move(settings);
  o.settings.push_back({"server.max_connections_per_client", 4096});
  return o;
}

// A store with an admin, products and stock, and customers who shop in it.
struct shop {
  explicit shop(std::vector<std::pair<std::string, json>> settings = {})
      : h(shop_options(std::move(settings))), admin(h.connect_as_admin()) {}

  void product(const std::string& sku, std::int64_t price, const std::string& currency = "EUR") {
    auto r =
        admin.post("/v1/products",
                   {{"sku", sku}, {"name", "Item " + sku}, {"price", {{"amount", price}, {"currency", currency}}}});
    REQUIRE(r.status == 201);
  }
  void stock(const std::string& sku, std::int64_t delta) {
    auto r = admin.post("/v1/inventory/adjustments",
                        {{"sku", sku}, {"location", "web"}, {"delta", delta}, {"reason", "test stock"}});
    REQUIRE(r.status == 201);
  }
  json level(const std::string& sku) {
    auto r = admin.get("/v1/inventory/levels/" + sku + "?location=web");
    REQUIRE(r.status == 200);
    return r.json();
  }
  agora::testing::client customer(const std::string& email) {
    auto c = h.connect();
    auto reg =
        c.post("/v1/auth/register", {{"email", email}, {"password", "correct horse battery"}, {"name", "Shopper"}});
    REQUIRE(reg.status == 201);
    c.authorize(agora::testing::login(c, email, "correct horse battery"));
    return c;
  }
  static std::string cart_with(agora::testing::client& c, const std::string& sku, std::int64_t quantity) {
    auto cart = c.post("/v1/carts", json::object());
    REQUIRE((cart.status == 201 || cart.status == 200));
    auto id = cart.json().at("id").get<std::string>();
    auto line = c.post("/v1/carts/" + id + "/lines", {{"sku", sku}, {"quantity", quantity}});
    REQUIRE(line.status == 200);
    return id;
  }
  static agora::testing::reply checkout(agora::testing::client& c, const std::string& cart_id,
                                        const std::string& key = {}, const std::string& token = {}) {
    json body = {{"cart_id", cart_id}};
    if (!token.empty()) body["payment_token"] = token;
    std::map<std::string, std::string> headers;
    if (!key.empty()) headers["Idempotency-Key"] = key;
    return c.post("/v1/orders", body, headers);
  }
  json only_order_of(agora::testing::client& c) {
    auto r = c.get("/v1/orders");
    REQUIRE(r.status == 200);
    auto data = r.json().at("data");
    REQUIRE(data.size() == 1);
    return data[0];
  }

  agora::testing::harness h;
  agora::testing::client admin;
};

}  // namespace

TEST_CASE("a checkout reserves, charges and commits: the order is paid, the stock gone, the cart closed",
          "[orders][checkout]") {
  shop s;
  s.product("MUG-1", 1299);
  s.stock("MUG-1", 5);
  auto ada = s.customer("ada@example.com");
  auto cart_id = shop::cart_with(ada, "MUG-1", 2);

  auto r = shop::checkout(ada, cart_id, "key-1");
  REQUIRE(r.status == 201);
  auto o = r.json();
  CHECK(o.at("status") == "paid");
  CHECK(o.at("payment_status") == "captured");
  CHECK(o.at("fulfilment_status") == "unfulfilled");
  CHECK(o.at("saga_step") == "done");
  CHECK(o.at("lines").size() == 1);
  CHECK(o.at("lines")[0].at("quantity") == 2);
  CHECK(o.at("total").at("currency") == "EUR");
  CHECK(o.at("total").at("amount").get<std::int64_t>() >= 2 * 1299);
  CHECK(r.header("location") == "/v1/orders/" + o.at("id").get<std::string>());
  CHECK(o.at("history").size() >= 3);

  auto lvl = s.level("MUG-1");
  CHECK(lvl.at("on_hand") == 3);
  CHECK(lvl.at("reserved") == 0);
  CHECK(lvl.at("available") == 3);

  auto cart = ada.get("/v1/carts/" + cart_id);
  REQUIRE(cart.status == 200);
  CHECK(cart.json().at("status") == "checked_out");

  auto got = ada.get("/v1/orders/" + o.at("id").get<std::string>());
  REQUIRE(got.status == 200);
  CHECK(got.json().at("status") == "paid");
  CHECK(got.header("etag") == "\"" + std::to_string(got.json().at("version").get<int>()) + "\"");
}

TEST_CASE("a retried checkout with the same Idempotency-Key answers the same order, and another body with it is 422",
          "[orders][checkout][idempotency]") {
  shop s;
  s.product("MUG-1", 1000);
  s.stock("MUG-1", 5);
  auto ada = s.customer("ada@example.com");
  auto cart_id = shop::cart_with(ada, "MUG-1", 1);

  auto first = shop::checkout(ada, cart_id, "same-key");
  REQUIRE(first.status == 201);
  auto second = shop::checkout(ada, cart_id, "same-key");
  REQUIRE(second.status == 201);
  CHECK(second.json().at("id") == first.json().at("id"));
  CHECK(s.level("MUG-1").at("on_hand") == 4);  // charged and taken once

  auto other = shop::checkout(ada, cart_id, "same-key", "tok_decline");
  CHECK(other.status == 422);
  CHECK(other.error_fields().contains("Idempotency-Key"));

  // Keys are the customer's own: another customer's same key is another checkout.
  auto bob = s.customer("bob@example.com");
  auto bob_cart = shop::cart_with(bob, "MUG-1", 1);
  auto bobs = shop::checkout(bob, bob_cart, "same-key");
  REQUIRE(bobs.status == 201);
  CHECK(bobs.json().at("id") != first.json().at("id"));

  auto bad_key = shop::checkout(bob, bob_cart, std::string(300, 'k'));
  CHECK(bad_key.status == 422);
}

TEST_CASE("no oversell: 1000 concurrent checkouts of a SKU with 10 units confirm exactly 10",
          "[orders][checkout][concurrency][.slow]") {
  // A correctness test, not a speed one: the deadlines are wide, so a slow machine
  // refuses nobody for lack of time.
  shop s({{"bus.request_timeout_ms", 120000},
          {"server.handler_timeout_ms", 180000},
          {"modules.orders.step_timeout_ms", 120000}});
  s.product("RARE-1", 500);
  s.stock("RARE-1", 10);
  constexpr int buyers = 1000;
  constexpr int setup_threads = 8;

  std::vector<std::optional<agora::testing::client>> clients(buyers);
  std::vector<std::string> carts(buyers);
  {
    std::vector<std::thread> ts;
    for (int t = 0; t < setup_threads; ++t)
      ts.emplace_back([&, t] {
        for (int i = t; i < buyers; i += setup_threads) {
          auto email = "buyer" + std::to_string(i) + "@example.com";
          auto c = s.h.connect();
          auto reg =
              c.post("/v1/auth/register", {{"email", email}, {"password", "correct horse battery"}, {"name", "B"}});
          if (reg.status != 201) continue;
          c.authorize(agora::testing::login(c, email, "correct horse battery"));
          auto cart = c.post("/v1/carts", json::object());
          auto id = cart.json().at("id").get<std::string>();
          if (c.post("/v1/carts/" + id + "/lines", {{"sku", "RARE-1"}, {"quantity", 1}}).status != 200) continue;
          carts[i] = id;
          clients[i].emplace(std::move(c));
        }
      });
    for (auto& t : ts) t.join();
  }
  for (int i = 0; i < buyers; ++i) REQUIRE(clients[i].has_value());

  std::vector<agora::testing::reply> replies(buyers);
  std::barrier start(buyers);
  {
    std::vector<std::thread> ts;
    ts.reserve(buyers);
    for (int i = 0; i < buyers; ++i)
      ts.emplace_back([&, i] {
        start.arrive_and_wait();
        replies[i] = shop::checkout(*clients[i], carts[i], "k" + std::to_string(i));
      });
    for (auto& t : ts) t.join();
  }
  int confirmed = 0, refused = 0, other = 0;
  for (const auto& r : replies) {
    if (r.status == 201 && r.json().at("status") == "paid") {
      ++confirmed;
    } else if (r.status == 409 && r.header("content-type") == "application/problem+json" &&
               r.json().at("detail").get<std::string>().find("insufficient stock") != std::string::npos) {
      ++refused;
    } else {
      ++other;
      UNSCOPED_INFO("unexpected reply " << r.status << " " << r.body << r.error);
    }
  }
  CHECK(confirmed == 10);
  CHECK(refused == buyers - 10);
  CHECK(other == 0);
  auto lvl = s.level("RARE-1");
  CHECK(lvl.at("on_hand") == 0);
  CHECK(lvl.at("reserved") == 0);
  CHECK(lvl.at("available") == 0);
  // Every refused buyer's cart is open again, to be checked out later.
  CHECK(clients[0]->get("/v1/carts/" + carts[0]).json().at("status") != "checking_out");
}

TEST_CASE("a declined payment releases the stock and reopens the cart, and the order ends canceled with its reason",
          "[orders][checkout][saga]") {
  shop s;
  s.product("MUG-1", 1000);
  s.stock("MUG-1", 3);
  auto ada = s.customer("ada@example.com");
  auto cart_id = shop::cart_with(ada, "MUG-1", 2);

  auto r = shop::checkout(ada, cart_id, "k1", "tok_decline");
  CHECK(r.status == 409);
  CHECK(r.json().at("detail").get<std::string>().find("payment declined") != std::string::npos);
  auto lvl = s.level("MUG-1");
  CHECK(lvl.at("available") == 3);
  CHECK(lvl.at("reserved") == 0);
  CHECK(ada.get("/v1/carts/" + cart_id).json().at("status") == "open");
  auto o = s.only_order_of(ada);
  CHECK(o.at("status") == "canceled");
  CHECK(o.at("cancel_reason") == "payment_declined");
  CHECK(o.at("saga_step") == "failed");

  // The same cart checks out once the payment goes through.
  auto again = shop::checkout(ada, cart_id, "k2");
  REQUIRE(again.status == 201);
  CHECK(again.json().at("status") == "paid");
}

TEST_CASE("a payment that times out is voided, the stock released: 503, and nothing is charged",
          "[orders][checkout][saga]") {
  shop s({{"modules.orders.step_timeout_ms", 300}});
  s.product("MUG-1", 1000);
  s.stock("MUG-1", 3);
  auto ada = s.customer("ada@example.com");
  auto cart_id = shop::cart_with(ada, "MUG-1", 1);

  auto r = shop::checkout(ada, cart_id, "k1", "tok_timeout");
  CHECK(r.status == 503);
  auto o = s.only_order_of(ada);
  CHECK(o.at("status") == "canceled");
  CHECK(o.at("cancel_reason") == "payment_timeout");
  CHECK(o.at("payment_status") == "voided");  // the authorisation the provider made is undone
  CHECK(s.level("MUG-1").at("available") == 3);
  CHECK(ada.get("/v1/carts/" + cart_id).json().at("status") == "open");
}

TEST_CASE("stock gone between cart and checkout: 409 naming the line, and the cart is open again",
          "[orders][checkout][saga]") {
  shop s;
  s.product("MUG-1", 1000);
  s.stock("MUG-1", 2);
  auto ada = s.customer("ada@example.com");
  auto cart_id = shop::cart_with(ada, "MUG-1", 2);
  s.stock("MUG-1", -1);

  auto r = shop::checkout(ada, cart_id, "k1");
  CHECK(r.status == 409);
  CHECK(r.error_fields().contains("lines[0].quantity"));
  CHECK(s.only_order_of(ada).at("cancel_reason") == "insufficient_stock");
  CHECK(s.level("MUG-1").at("reserved") == 0);
  CHECK(ada.get("/v1/carts/" + cart_id).json().at("status") == "open");
}

TEST_CASE("inventory unavailable: 503, the order canceled, the cart open again", "[orders][checkout][saga]") {
  shop s({{"modules.orders.step_timeout_ms", 300}});
  s.product("MUG-1", 1000);
  s.stock("MUG-1", 2);
  auto ada = s.customer("ada@example.com");
  auto cart_id = shop::cart_with(ada, "MUG-1", 1);
  s.h.app().message_bus().unserve(agora::inventory::reserve::name, "inventory#0");

  auto r = shop::checkout(ada, cart_id, "k1");
  CHECK(r.status == 503);
  auto o = s.only_order_of(ada);
  CHECK(o.at("status") == "canceled");
  CHECK(o.at("cancel_reason") == "inventory_unavailable");
  CHECK(ada.get("/v1/carts/" + cart_id).json().at("status") == "open");
  CHECK(s.level("MUG-1").at("reserved") == 0);
}

TEST_CASE("cancel a paid order: the stock goes back and the payment is refunded", "[orders][cancel]") {
  shop s;
  s.product("MUG-1", 1000);
  s.stock("MUG-1", 3);
  auto ada = s.customer("ada@example.com");
  auto cart_id = shop::cart_with(ada, "MUG-1", 2);
  auto placed = shop::checkout(ada, cart_id, "k1");
  REQUIRE(placed.status == 201);
  auto id = placed.json().at("id").get<std::string>();
  CHECK(s.level("MUG-1").at("on_hand") == 1);

  auto bob = s.customer("bob@example.com");
  CHECK(bob.post("/v1/orders/" + id + "/cancel", json::object()).status == 404);

  auto c = ada.post("/v1/orders/" + id + "/cancel", {{"reason", "changed my mind"}});
  REQUIRE(c.status == 200);
  CHECK(c.json().at("status") == "canceled");
  CHECK(c.json().at("payment_status") == "refunded");
  CHECK(c.json().at("refunded") == placed.json().at("total"));
  CHECK(s.level("MUG-1").at("on_hand") == 3);
  // Canceling again changes nothing.
  auto again = ada.request("POST", "/v1/orders/" + id + "/cancel", "");
  CHECK(again.status == 200);
  CHECK(s.level("MUG-1").at("on_hand") == 3);
}

TEST_CASE("refunds by line: partial, then the rest, never more than was sold", "[orders][refund]") {
  shop s;
  s.product("MUG-1", 1000);
  s.product("BOWL-1", 333);
  s.stock("MUG-1", 5);
  s.stock("BOWL-1", 5);
  auto ada = s.customer("ada@example.com");
  auto cart_id = shop::cart_with(ada, "MUG-1", 2);
  REQUIRE(ada.post("/v1/carts/" + cart_id + "/lines", {{"sku", "BOWL-1"}, {"quantity", 3}}).status == 200);
  auto placed = shop::checkout(ada, cart_id, "k1");
  REQUIRE(placed.status == 201);
  auto o = placed.json();
  auto id = o.at("id").get<std::string>();
  std::string bowl_line;
  std::int64_t bowl_total = 0;
  for (const auto& l : o.at("lines"))
    if (l.at("sku") == "BOWL-1") {
      bowl_line = l.at("id");
      bowl_total = l.at("line_total").at("amount");
    }
  REQUIRE(!bowl_line.empty());

  // A customer may not refund.
  CHECK(ada.post("/v1/orders/" + id + "/refunds", json::object()).status == 403);

  auto one = s.admin.post("/v1/orders/" + id + "/refunds", {{"lines", {{{"line_id", bowl_line}, {"quantity", 1}}}}},
                          {{"Idempotency-Key", "r1"}});
  REQUIRE(one.status == 200);
  CHECK(one.json().at("status") == "partially_refunded");
  auto first_amount = one.json().at("refunded").at("amount").get<std::int64_t>();
  CHECK(first_amount == bowl_total / 3);
  // The same key again is the same refund.
  auto replay = s.admin.post("/v1/orders/" + id + "/refunds", {{"lines", {{{"line_id", bowl_line}, {"quantity", 1}}}}},
                             {{"Idempotency-Key", "r1"}});
  REQUIRE(replay.status == 200);
  CHECK(replay.json().at("refunded").at("amount") == first_amount);

  auto over = s.admin.post("/v1/orders/" + id + "/refunds", {{"lines", {{{"line_id", bowl_line}, {"quantity", 3}}}}});
  CHECK(over.status == 422);
  CHECK(over.error_fields().contains("lines[0].quantity"));

  auto rest = s.admin.request("POST", "/v1/orders/" + id + "/refunds", "");
  REQUIRE(rest.status == 200);
  CHECK(rest.json().at("status") == "refunded");
  CHECK(rest.json().at("refunded") == o.at("total"));  // the split units add up to the whole
  CHECK(s.admin.post("/v1/orders/" + id + "/refunds", json::object()).status == 409);
}

TEST_CASE("fulfilment moves on in order, by staff only", "[orders][fulfilment]") {
  shop s;
  s.product("MUG-1", 1000);
  s.stock("MUG-1", 1);
  auto ada = s.customer("ada@example.com");
  auto placed = shop::checkout(ada, shop::cart_with(ada, "MUG-1", 1), "k1");
  REQUIRE(placed.status == 201);
  auto path = "/v1/orders/" + placed.json().at("id").get<std::string>() + "/fulfilment";
  CHECK(ada.post(path, {{"fulfilment_status", "fulfilled"}}).status == 403);
  CHECK(s.admin.post(path, {{"fulfilment_status", "shipped"}}).status == 409);
  CHECK(s.admin.post(path, {{"fulfilment_status", "fulfilled"}}).status == 200);
  auto shipped = s.admin.post(path, {{"fulfilment_status", "shipped"}, {"tracking", "TRK123"}});
  REQUIRE(shipped.status == 200);
  CHECK(shipped.json().at("tracking") == "TRK123");
  CHECK(s.admin.post(path, {{"fulfilment_status", "bogus"}}).status == 422);
  // Shipped: the customer can no longer cancel it.
  CHECK(ada.post("/v1/orders/" + placed.json().at("id").get<std::string>() + "/cancel", json::object()).status == 409);
}

TEST_CASE("orders are private: another customer's order and cart answer 404 while staff see all", "[orders][idor]") {
  shop s;
  s.product("MUG-1", 1000);
  s.stock("MUG-1", 5);
  auto ada = s.customer("ada@example.com");
  auto bob = s.customer("bob@example.com");
  auto ada_cart = shop::cart_with(ada, "MUG-1", 1);
  auto placed = shop::checkout(ada, ada_cart, "k1");
  REQUIRE(placed.status == 201);
  auto id = placed.json().at("id").get<std::string>();

  CHECK(bob.get("/v1/orders/" + id).status == 404);
  CHECK(bob.get("/v1/orders").json().at("data").empty());
  CHECK(bob.get("/v1/orders?customer_id=" + placed.json().at("customer_id").get<std::string>()).status == 422);
  auto bobs_try = shop::checkout(bob, ada_cart, "k2");
  CHECK(bobs_try.status == 404);
  CHECK(s.admin.get("/v1/orders/" + id).status == 200);
  CHECK(s.admin.get("/v1/orders?status=paid").json().at("data").size() == 1);
}

TEST_CASE("bad checkout input is refused with field-level problems and harms nothing", "[orders][bad-input]") {
  shop s;
  auto ada = s.customer("ada@example.com");
  auto malformed = ada.post("/v1/orders", {{"cart_id", "nope"}});
  CHECK(malformed.status == 422);
  CHECK(malformed.error_fields().contains("cart_id"));
  CHECK(ada.post("/v1/orders", json::object()).error_fields().contains("cart_id"));
  CHECK(ada.post("/v1/orders", {{"cart_id", "cart_01JC0000000000000000000000"}, {"extra", 1}}).status == 422);
  CHECK(ada.request("POST", "/v1/orders", "{nope").status == 400);
  CHECK(ada.post("/v1/orders", {{"cart_id", "cart_01JC0000000000000000000000"}}).status == 404);
  CHECK(ada.get("/v1/orders/not-an-id").status == 404);
  CHECK(ada.get("/v1/orders?from=yesterday").error_fields().contains("from"));
  CHECK(ada.get("/v1/orders?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z").status == 422);
  CHECK(ada.get("/v1/orders?status=lost").status == 422);
  auto anonymous = s.h.connect();
  CHECK(anonymous.post("/v1/orders", {{"cart_id", "cart_01JC0000000000000000000000"}}).status == 401);
}
