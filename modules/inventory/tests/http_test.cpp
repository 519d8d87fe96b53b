#include <customers/api.hpp>
#include <inventory/api.hpp>

#include <agora/testing.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace agora;
using json = nlohmann::json;

namespace {

testing::options identity_and_inventory() {
  testing::options o;
  o.modules.push_back(customers::module());
  o.modules.push_back(inventory::module());
  return o;
}

// An account of `role` made by the first admin, signed in.
testing::client signed_in(testing::harness& h, testing::client& admin, const std::string& role) {
  auto email = role + "@inventory.test";
  auto made = admin.post("/v1/admin/accounts",
                         {{"email", email}, {"password", "long enough password"}, {"name", "Staff"}, {"role", role}});
  REQUIRE(made.status == 201);
  auto c = h.connect();
  c.authorize(testing::login(c, email, "long enough password"));
  return c;
}

json adjustment(std::string sku, std::int64_t delta) {
  return {{"sku", std::move(sku)}, {"location", "web"}, {"delta", delta}, {"reason", "stock count"}};
}

}  // namespace

TEST_CASE("inventory routes: staff reserve and commit, managers adjust, customers are refused", "[inventory][e2e]") {
  testing::harness h(identity_and_inventory());
  auto admin = h.connect_as_admin();
  auto manager = signed_in(h, admin, "manager");
  auto clerk = signed_in(h, admin, "clerk");
  auto customer = signed_in(h, admin, "customer");
  auto anonymous = h.connect();

  auto adjusted = manager.post("/v1/inventory/adjustments", adjustment("MUG-1", 10));
  REQUIRE(adjusted.status == 201);
  CHECK(adjusted.json().at("available") == 10);
  CHECK(clerk.post("/v1/inventory/adjustments", adjustment("MUG-1", 1)).status == 403);
  CHECK(customer.post("/v1/inventory/adjustments", adjustment("MUG-1", 1)).status == 403);
  CHECK(customer.get("/v1/inventory/levels").status == 403);
  CHECK(anonymous.get("/v1/inventory/levels").status == 401);
  CHECK(clerk.post("/v1/inventory/locations", {{"id", "store-x"}, {"name", "X"}}).status == 403);

  auto level = clerk.get("/v1/inventory/levels/MUG-1?location=web");
  REQUIRE(level.status == 200);
  CHECK(level.json().at("on_hand") == 10);
  CHECK(level.header("etag") == "\"1\"");
  CHECK(clerk.get("/v1/inventory/levels/NOPE").status == 404);

  auto reserved = clerk.post("/v1/inventory/reservations",
                             {{"location", "web"}, {"lines", json::array({{{"sku", "MUG-1"}, {"quantity", 4}}})}});
  REQUIRE(reserved.status == 201);
  auto id = reserved.json().at("id").get<std::string>();
  CHECK(id.starts_with("rsv_"));
  CHECK(reserved.json().at("status") == "active");

  auto short_of =
      clerk.post("/v1/inventory/reservations", {{"reservation_id", "ord_2"},
                                                {"location", "web"},
                                                {"lines", json::array({{{"sku", "MUG-1"}, {"quantity", 7}}})}});
  CHECK(short_of.status == 409);
  CHECK(short_of.header("content-type") == "application/problem+json");
  CHECK(short_of.error_fields() == std::set<std::string>{"lines[0].quantity"});

  auto committed = clerk.post("/v1/inventory/reservations/" + id + "/commit", json::object());
  REQUIRE(committed.status == 200);
  CHECK(committed.json().at("status") == "committed");
  CHECK(clerk.post("/v1/inventory/reservations/" + id + "/release", json::object()).status == 409);
  CHECK(clerk.get("/v1/inventory/reservations/ord_none").status == 404);
  CHECK(clerk.get("/v1/inventory/reservations/" + id).json().at("status") == "committed");

  auto levels = clerk.get("/v1/inventory/levels?sku=MUG-1");
  REQUIRE(levels.status == 200);
  CHECK(levels.json().at("data").at(0).at("on_hand") == 6);
  CHECK(levels.json().at("data").at(0).at("reserved") == 0);

  REQUIRE(
      admin.post("/v1/inventory/locations", {{"id", "store-berlin"}, {"name", "Berlin"}, {"kind", "store"}}).status ==
      201);
  CHECK(admin.post("/v1/inventory/locations", {{"id", "store-berlin"}, {"name", "Again"}}).status == 409);
  CHECK(clerk.get("/v1/inventory/locations").json().at("data").size() == 2);

  auto shipped = clerk.post(
      "/v1/inventory/transfers",
      {{"from", "web"}, {"to", "store-berlin"}, {"lines", json::array({{{"sku", "MUG-1"}, {"quantity", 2}}})}});
  REQUIRE(shipped.status == 201);
  auto trf = shipped.json().at("id").get<std::string>();
  auto got = clerk.post("/v1/inventory/transfers/" + trf + "/receive",
                        {{"lines", json::array({{{"sku", "MUG-1"}, {"quantity", 2}}})}});
  REQUIRE(got.status == 200);
  CHECK(got.json().at("status") == "received");
  CHECK(clerk.get("/v1/inventory/transfers/" + trf).status == 200);
  CHECK(clerk.get("/v1/inventory/transfers/trf_nothing").status == 404);

  auto threshold = clerk.put("/v1/inventory/thresholds", {{"sku", "MUG-1"}, {"location", "web"}, {"threshold", 5}});
  REQUIRE(threshold.status == 200);
  auto low = clerk.get("/v1/inventory/low-stock?location=web");
  REQUIRE(low.status == 200);
  CHECK(low.json().at("data").size() == 1);
}

TEST_CASE("inventory routes name every bad field with 422", "[inventory][e2e]") {
  testing::harness h(identity_and_inventory());
  auto admin = h.connect_as_admin();
  struct bad_case {
    std::string method;
    std::string target;
    json body;
    std::set<std::string> fields;
  };
  auto line = [](json sku, json quantity) { return json{{"sku", std::move(sku)}, {"quantity", std::move(quantity)}}; };
  std::vector<bad_case> cases = {
      {"POST",
       "/v1/inventory/adjustments",
       {{"sku", "A"}, {"location", "web"}, {"delta", 0}, {"reason", "x"}},
       {"delta"}},
      {"POST",
       "/v1/inventory/adjustments",
       {{"sku", "bad sku"}, {"location", "Web!"}, {"delta", 1}, {"reason", ""}},
       {"sku", "location", "reason"}},
      {"POST",
       "/v1/inventory/adjustments",
       {{"sku", "A"}, {"location", "web"}, {"delta", "1"}, {"reason", "x"}},
       {"delta"}},
      {"POST",
       "/v1/inventory/adjustments",
       {{"sku", "A"}, {"location", "web"}, {"reason", "x"}, {"extra", 1}},
       {"delta", "extra"}},
      {"POST", "/v1/inventory/reservations", {{"location", "web"}, {"lines", json::array()}}, {"lines"}},
      {"POST",
       "/v1/inventory/reservations",
       {{"location", "web"}, {"lines", json::array({line("A", 0), line("B", -2)})}},
       {"lines[0].quantity", "lines[1].quantity"}},
      {"POST",
       "/v1/inventory/reservations",
       {{"location", "web"}, {"lines", json::array({line(7, "x")})}},
       {"lines[0].sku", "lines[0].quantity"}},
      {"POST",
       "/v1/inventory/reservations",
       {{"reservation_id", "has space"}, {"location", "web"}, {"lines", json::array({line("A", 1)})}, {"ttl_s", 0}},
       {"reservation_id", "ttl_s"}},
      {"POST",
       "/v1/inventory/transfers",
       {{"from", "web"}, {"to", "web"}, {"lines", json::array({line("A", 1)})}},
       {"to"}},
      {"PUT", "/v1/inventory/thresholds", {{"sku", "A"}, {"location", "web"}, {"threshold", -1}}, {"threshold"}},
      {"POST", "/v1/inventory/locations", {{"id", "Bad_Id"}, {"name", " "}}, {"id", "name"}},
      {"POST", "/v1/inventory/locations", {{"id", "shed-1"}, {"name", "Shed"}, {"kind", "shed"}}, {"kind"}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.method, c.target, c.body.dump());
    auto r = admin.request(c.method, c.target, c.body.dump(), {{"Content-Type", "application/json"}});
    CHECK(r.status == 422);
    CHECK(r.error_fields() == c.fields);
  }
  CHECK(admin.get("/v1/inventory/levels?limit=0").status == 422);
  CHECK(admin.get("/v1/inventory/levels?cursor=nonsense").status == 422);
  CHECK(admin.post("/v1/inventory/reservations", {{"location", "nowhere"}, {"lines", json::array({line("A", 1)})}})
            .status == 404);
}
