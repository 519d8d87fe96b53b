#include <catalog/api.hpp>
#include <customers/api.hpp>

#include <agora/testing.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

using namespace agora;
namespace asio = boost::asio;
using json = nlohmann::json;

namespace {

testing::options catalog_only() {
  testing::options o;
  o.modules.push_back(customers::module());
  o.modules.push_back(catalog::module());
  return o;
}

json product_body(std::string sku) {
  return {{"sku", std::move(sku)}, {"name", "Espresso cup"}, {"price", {{"amount", 1299}, {"currency", "EUR"}}}};
}

// Subscribes a test consumer group to a topic and keeps what it receives.
class event_sink {
 public:
  event_sink(bus::bus& b, std::string topic) : work_(io_.get_executor()), thread_([this] { io_.run(); }) {
    b.subscribe(bus::subscription{std::move(topic), "catalog-e2e", "catalog-e2e#0", io_.get_executor(),
                                  [this](const bus::event& ev) -> asio::awaitable<result<void>> {
                                    {
                                      std::lock_guard lock(mu_);
                                      events_.push_back(ev);
                                    }
                                    cv_.notify_all();
                                    co_return ok();
                                  }});
  }
  ~event_sink() {
    work_.reset();
    io_.stop();
    thread_.join();
  }

  // The events received once `n` have arrived, or what arrived within `timeout`.
  std::vector<bus::event> wait_for(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return events_.size() >= n; });
    return events_;
  }

 private:
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<bus::event> events_;
};

}  // namespace

TEST_CASE("a product goes through create, read, conditional update and delete over HTTP", "[catalog]") {
  testing::harness h(catalog_only());
  auto c = h.connect_as_admin();

  auto created = c.post("/v1/products", product_body("CUP-1"));
  REQUIRE(created.status == 201);
  auto p = created.json();
  const std::string id = p["id"];
  CHECK(id.starts_with("prod_"));
  CHECK(created.header("Location") == "/v1/products/" + id);
  CHECK(created.header("ETag") == "\"1\"");
  CHECK(created.header("Content-Type") == "application/json");
  CHECK(p["price"] == json({{"amount", 1299}, {"currency", "EUR"}}));
  CHECK(p["status"] == "active");
  CHECK(p["category_id"].is_null());

  auto got = c.get("/v1/products/" + id);
  REQUIRE(got.status == 200);
  CHECK(got.header("ETag") == "\"1\"");
  CHECK(got.json() == p);

  auto not_modified = c.get("/v1/products/" + id, {{"If-None-Match", "\"1\""}});
  CHECK(not_modified.status == 304);
  CHECK(not_modified.body.empty());
  CHECK(not_modified.header("ETag") == "\"1\"");
  CHECK(c.get("/v1/products/" + id, {{"If-None-Match", "\"9\""}}).status == 200);

  auto updated = c.patch("/v1/products/" + id, {{"name", "Espresso cup, white"}}, {{"If-Match", "\"1\""}});
  REQUIRE(updated.status == 200);
  CHECK(updated.header("ETag") == "\"2\"");
  CHECK(updated.json()["name"] == "Espresso cup, white");
  CHECK(updated.json()["sku"] == "CUP-1");

  auto stale = c.patch("/v1/products/" + id, {{"name", "Lost update"}}, {{"If-Match", "\"1\""}});
  CHECK(stale.status == 412);
  CHECK(stale.header("Content-Type") == "application/problem+json");
  CHECK(stale.json()["status"] == 412);

  auto blind = c.patch("/v1/products/" + id, {{"category_id", nullptr}, {"status", "archived"}});
  REQUIRE(blind.status == 200);
  CHECK(blind.header("ETag") == "\"3\"");
  CHECK(blind.json()["status"] == "archived");

  CHECK(c.del("/v1/products/" + id, {{"If-Match", "\"2\""}}).status == 412);
  auto removed = c.del("/v1/products/" + id, {{"If-Match", "\"3\""}});
  CHECK(removed.status == 204);
  CHECK(removed.body.empty());

  auto gone = c.get("/v1/products/" + id);
  CHECK(gone.status == 404);
  CHECK(gone.header("Content-Type") == "application/problem+json");
  CHECK(gone.json()["status"] == 404);
  CHECK(c.del("/v1/products/" + id).status == 404);
  CHECK(c.patch("/v1/products/" + id, {{"name", "x"}}).status == 404);
}

TEST_CASE("an invalid product body is refused with 422 naming every bad field", "[catalog]") {
  testing::harness h(catalog_only());
  auto c = h.connect_as_admin();

  auto bad = c.post("/v1/products", {{"sku", "has space"},
                                     {"name", 42},
                                     {"description", std::string(5001, 'd')},
                                     {"price", {{"amount", 12.5}, {"currency", "eur"}}},
                                     {"status", "gone"},
                                     {"colour", "red"}});
  REQUIRE(bad.status == 422);
  CHECK(bad.header("Content-Type") == "application/problem+json");
  auto body = bad.json();
  CHECK(body["type"].is_string());
  CHECK(body["title"].is_string());
  CHECK(body["status"] == 422);
  CHECK(bad.error_fields() ==
        std::set<std::string>{"sku", "name", "description", "price.amount", "price.currency", "status", "colour"});
  for (const auto& e : body["errors"]) {
    if (e["field"] == "name") CHECK(e["message"] == "expected a string");
    if (e["field"] == "price.amount") CHECK(e["message"] == "expected an integer");
    if (e["field"] == "colour") CHECK(e["message"] == "unknown field");
  }

  auto empty = c.post("/v1/products", json::object());
  REQUIRE(empty.status == 422);
  CHECK(empty.error_fields() == std::set<std::string>{"sku", "name", "price"});

  auto negative =
      c.post("/v1/products", {{"sku", "NEG"}, {"name", "N"}, {"price", {{"amount", -1}, {"currency", "XYZ"}}}});
  REQUIRE(negative.status == 422);
  CHECK(negative.error_fields() == std::set<std::string>{"price.amount", "price.currency"});

  auto not_object = c.post("/v1/products", json::array({1, 2}));
  CHECK(not_object.status == 422);

  auto created = c.post("/v1/products", product_body("OK-1"));
  REQUIRE(created.status == 201);
  auto typo = c.patch("/v1/products/" + created.json()["id"].get<std::string>(), {{"nmae", "typo"}, {"price", 5}});
  REQUIRE(typo.status == 422);
  CHECK(typo.error_fields() == std::set<std::string>{"nmae", "price"});
}

TEST_CASE("duplicates, unknown references and categories in use answer 409 or 422", "[catalog]") {
  testing::harness h(catalog_only());
  auto c = h.connect_as_admin();

  REQUIRE(c.post("/v1/products", product_body("DUP-1")).status == 201);
  auto dup = c.post("/v1/products", product_body("DUP-1"));
  CHECK(dup.status == 409);
  CHECK(dup.header("Content-Type") == "application/problem+json");

  auto unknown_category = product_body("CAT-1");
  unknown_category["category_id"] = "cat_01JD0000000000000000000000";
  auto refused = c.post("/v1/products", unknown_category);
  REQUIRE(refused.status == 422);
  CHECK(refused.error_fields() == std::set<std::string>{"category_id"});

  auto cat = c.post("/v1/categories", {{"name", "Cups"}, {"description", "Things to drink from"}});
  REQUIRE(cat.status == 201);
  const std::string cat_id = cat.json()["id"];
  CHECK(cat.header("Location") == "/v1/categories/" + cat_id);
  CHECK(cat.header("ETag") == "\"1\"");
  CHECK(c.post("/v1/categories", {{"name", "Cups"}}).status == 409);

  auto in_category = product_body("CAT-2");
  in_category["category_id"] = cat_id;
  auto p = c.post("/v1/products", in_category);
  REQUIRE(p.status == 201);
  CHECK(p.json()["category_id"] == cat_id);

  auto in_use = c.del("/v1/categories/" + cat_id);
  CHECK(in_use.status == 409);
  CHECK(in_use.json()["status"] == 409);

  auto child = c.post("/v1/categories", {{"name", "Espresso cups"}, {"parent_id", cat_id}});
  REQUIRE(child.status == 201);
  const std::string child_id = child.json()["id"];
  auto cycle = c.patch("/v1/categories/" + cat_id, {{"parent_id", child_id}});
  REQUIRE(cycle.status == 422);
  CHECK(cycle.error_fields() == std::set<std::string>{"parent_id"});

  CHECK(c.get("/v1/categories/" + cat_id, {{"If-None-Match", "\"1\""}}).status == 304);
  CHECK(c.get("/v1/categories/cat_01JD0000000000000000000000").status == 404);

  auto listed = c.get("/v1/categories?parent_id=" + cat_id);
  REQUIRE(listed.status == 200);
  CHECK(listed.json()["data"].size() == 1);

  REQUIRE(c.del("/v1/products/" + p.json()["id"].get<std::string>()).status == 204);
  REQUIRE(c.del("/v1/categories/" + child_id, {{"If-Match", "\"1\""}}).status == 204);
  CHECK(c.del("/v1/categories/" + cat_id).status == 204);
}

TEST_CASE("products are listed a page at a time with cursors and validated limits", "[catalog]") {
  testing::harness h(catalog_only());
  auto c = h.connect_as_admin();
  std::set<std::string> created;
  for (int i = 0; i < 25; ++i) {
    auto r = c.post("/v1/products", product_body(fmt::format("PAGE-{:02}", i)));
    REQUIRE(r.status == 201);
    created.insert(r.json()["id"].get<std::string>());
  }

  std::vector<std::string> seen;
  std::string target = "/v1/products?limit=10";
  int pages = 0;
  for (;;) {
    auto page = c.get(target);
    REQUIRE(page.status == 200);
    auto body = page.json();
    ++pages;
    for (const auto& p : body["data"]) seen.push_back(p["id"]);
    if (body["next_cursor"].is_null()) break;
    target = "/v1/products?limit=10&cursor=" + body["next_cursor"].get<std::string>();
    REQUIRE(pages < 10);
  }
  CHECK(pages == 3);
  CHECK(seen.size() == 25);
  CHECK(std::is_sorted(seen.begin(), seen.end()));
  CHECK(std::set<std::string>(seen.begin(), seen.end()) == created);

  auto first = c.get("/v1/products");
  REQUIRE(first.status == 200);
  CHECK(first.json()["data"].size() == 20);
  CHECK(first.json()["next_cursor"].is_string());

  for (const char* bad : {"0", "101", "-3", "ten", "1.5"}) {
    auto r = c.get(std::string("/v1/products?limit=") + bad);
    INFO(bad);
    CHECK(r.status == 422);
    CHECK(r.error_fields() == std::set<std::string>{"limit"});
  }
  auto bad_cursor = c.get("/v1/products?cursor=not-a-cursor");
  CHECK(bad_cursor.status == 422);
  CHECK(bad_cursor.error_fields() == std::set<std::string>{"cursor"});
  auto bad_status = c.get("/v1/products?status=deleted");
  CHECK(bad_status.status == 422);
  CHECK(bad_status.error_fields() == std::set<std::string>{"status"});
  auto archived = c.get("/v1/products?status=archived");
  REQUIRE(archived.status == 200);
  CHECK(archived.json()["data"].empty());
}

TEST_CASE("product changes reach a subscriber as product.created, updated and deleted", "[catalog]") {
  testing::harness h(catalog_only());
  event_sink sink(h.app().message_bus(), std::string(catalog::products_topic));
  auto c = h.connect_as_admin();

  auto created = c.post("/v1/products", product_body("EVT-1"), {{"X-Request-Id", "e2e-create-1"}});
  REQUIRE(created.status == 201);
  const std::string id = created.json()["id"];
  REQUIRE(c.patch("/v1/products/" + id, {{"price", {{"amount", 999}, {"currency", "EUR"}}}}).status == 200);
  REQUIRE(c.del("/v1/products/" + id).status == 204);

  auto events = sink.wait_for(3);
  REQUIRE(events.size() == 3);
  CHECK(events[0].type == "product.created");
  CHECK(events[1].type == "product.updated");
  CHECK(events[2].type == "product.deleted");
  for (const auto& ev : events) {
    CHECK(ev.subject == id);
    CHECK(ev.source == "agora/catalog");
    CHECK(ev.topic == "catalog.products");
    CHECK(ev.id.starts_with("evt_"));
  }
  CHECK(events[0].tr.request_id == "e2e-create-1");
  CHECK(events[0].data == created.json());
  CHECK(events[1].data["price"]["amount"] == 999);
  CHECK(events[2].data["version"] == 2);
}

TEST_CASE("the OpenAPI document describes every catalog route", "[catalog]") {
  testing::harness h(catalog_only());
  auto c = h.connect_as_admin();
  auto doc = c.get("/openapi.json");
  REQUIRE(doc.status == 200);
  auto paths = doc.json()["paths"];
  std::set<std::string> operations;
  for (const auto& [path, methods] : paths.items())
    for (const auto& [method, op] : methods.items())
      if (auto tags = op.value("tags", json::array()); std::find(tags.begin(), tags.end(), "catalog") != tags.end())
        operations.insert(op["operationId"].get<std::string>());
  CHECK(operations == std::set<std::string>{"createProduct", "getProduct", "listProducts", "searchProducts",
                                            "updateProduct", "deleteProduct", "createCategory", "getCategory",
                                            "listCategories", "updateCategory", "deleteCategory", "createVariant",
                                            "updateVariant", "deleteVariant", "listVariants", "findVariant",
                                            "importProducts"});
  auto create = paths["/v1/products"]["post"];
  CHECK(create["requestBody"]["content"]["application/json"]["schema"]["additionalProperties"] == false);
  CHECK(create["responses"].contains("201"));
  CHECK(create["responses"].contains("409"));
  auto patch = paths["/v1/products/{id}"]["patch"];
  CHECK(patch["responses"].contains("412"));
  bool documents_if_match = false;
  for (const auto& p : patch["parameters"])
    if (p["in"] == "header" && p["name"] == "If-Match") documents_if_match = true;
  CHECK(documents_if_match);
  CHECK(paths["/v1/products/{id}"]["get"]["responses"].contains("304"));
  std::set<std::string> search_params;
  for (const auto& p : paths["/v1/products/search"]["get"]["parameters"])
    if (p["in"] == "query") search_params.insert(p["name"].get<std::string>());
  CHECK(search_params == std::set<std::string>{"q", "limit", "category_id", "status", "cursor", "price_min",
                                               "price_max", "currency", "in_stock"});
  CHECK(paths["/v1/products/{id}/variants/{variant_id}"]["patch"]["responses"].contains("412"));
  CHECK(paths["/v1/variants"]["get"]["responses"].contains("200"));
  CHECK(paths["/v1/catalog/import"]["post"]["responses"].contains("200"));
}

TEST_CASE("products are found by full-text search over HTTP, and bad searches answer 422", "[catalog]") {
  testing::harness h(catalog_only());
  auto c = h.connect_as_admin();
  auto cat = c.post("/v1/categories", {{"name", "Clothes"}});
  REQUIRE(cat.status == 201);
  const std::string cat_id = cat.json()["id"];
  json shirt = product_body("SHIRT-1");
  shirt["name"] = "Blue shirt";
  shirt["description"] = "Cotton, with a crème collar";
  shirt["category_id"] = cat_id;
  REQUIRE(c.post("/v1/products", shirt).status == 201);
  json shoes = product_body("SHOE-1");
  shoes["name"] = "Blue shoes";
  REQUIRE(c.post("/v1/products", shoes).status == 201);
  json old = product_body("SHIRT-2");
  old["name"] = "Blue shirt, old model";
  old["status"] = "archived";
  REQUIRE(c.post("/v1/products", old).status == 201);

  auto found = c.get("/v1/products/search?q=blu+sh");
  REQUIRE(found.status == 200);
  CHECK(found.header("Content-Type") == "application/json");
  auto body = found.json();
  CHECK(body["all_words"] == true);
  REQUIRE(body["data"].size() == 2);
  std::set<std::string> skus;
  for (const auto& hit : body["data"]) {
    skus.insert(hit["product"]["sku"].get<std::string>());
    CHECK(hit["score"].is_number());
    CHECK(hit["snippet"].is_string());
  }
  CHECK(skus == std::set<std::string>{"SHIRT-1", "SHOE-1"});

  auto creme = c.get("/v1/products/search?q=CREME&category_id=" + cat_id + "&limit=1");
  REQUIRE(creme.status == 200);
  REQUIRE(creme.json()["data"].size() == 1);
  CHECK(creme.json()["data"][0]["product"]["sku"] == "SHIRT-1");
  CHECK(creme.json()["data"][0]["snippet"] == "Cotton, with a crème collar");

  auto archived = c.get("/v1/products/search?q=shirt&status=archived");
  REQUIRE(archived.status == 200);
  REQUIRE(archived.json()["data"].size() == 1);
  CHECK(archived.json()["data"][0]["product"]["sku"] == "SHIRT-2");

  auto hostile = c.get("/v1/products/search?q=%22blue%22%20OR%20NEAR(name%3Ashirt%20*)%20-x");
  CHECK(hostile.status == 200);

  for (const char* bad : {"/v1/products/search", "/v1/products/search?q=", "/v1/products/search?q=%22",
                          "/v1/products/search?q=%00", "/v1/products/search?q=%FF%FE"}) {
    INFO(bad);
    auto r = c.get(bad);
    CHECK(r.status == 422);
    CHECK(r.header("Content-Type") == "application/problem+json");
    CHECK(r.error_fields() == std::set<std::string>{"q"});
  }
  auto too_long = c.get("/v1/products/search?q=" + std::string(600, 'a'));
  CHECK(too_long.status == 422);
  auto bad_fields = c.get("/v1/products/search?q=shirt&limit=ten&status=gone&category_id=x");
  CHECK(bad_fields.status == 422);
  CHECK(bad_fields.error_fields() == std::set<std::string>{"limit", "status", "category_id"});
  auto over = c.get("/v1/products/search?q=shirt&limit=51");
  CHECK(over.status == 422);
  CHECK(over.error_fields() == std::set<std::string>{"limit"});
}

TEST_CASE("variants are managed and found by barcode over HTTP", "[catalog]") {
  testing::harness h(catalog_only());
  auto c = h.connect_as_admin();
  auto body = product_body("SHIRT");
  body["tax_class"] = "reduced";
  body["barcode"] = "036000291452";
  auto created = c.post("/v1/products", body);
  REQUIRE(created.status == 201);
  auto p = created.json();
  const std::string id = p["id"];
  CHECK(p["tax_class"] == "reduced");
  REQUIRE(p["variants"].size() == 1);
  CHECK(p["variants"][0]["is_default"] == true);
  CHECK(p["variants"][0]["barcode"] == "0036000291452");
  const std::string default_id = p["variants"][0]["id"];

  auto red = c.post("/v1/products/" + id + "/variants", {{"sku", "SHIRT-RED"},
                                                         {"name", "Red / L"},
                                                         {"price", {{"amount", 1499}, {"currency", "EUR"}}},
                                                         {"barcode", "4006381333931"}});
  REQUIRE(red.status == 201);
  const std::string red_id = red.json()["id"];
  CHECK(red.header("Location") == "/v1/products/" + id + "/variants/" + red_id);
  CHECK(red.header("ETag") == "\"1\"");

  auto bad =
      c.post("/v1/products/" + id + "/variants",
             {{"sku", "bad sku"}, {"price", {{"amount", 1}, {"currency", "EUR"}}}, {"barcode", "4006381333932"}});
  CHECK(bad.status == 422);
  CHECK(bad.error_fields() == std::set<std::string>{"sku", "barcode"});
  auto dup =
      c.post("/v1/products/" + id + "/variants",
             {{"sku", "SHIRT-2"}, {"price", {{"amount", 1}, {"currency", "EUR"}}}, {"barcode", "4006381333931"}});
  CHECK(dup.status == 409);

  auto list = c.get("/v1/products/" + id + "/variants");
  REQUIRE(list.status == 200);
  REQUIRE(list.json()["data"].size() == 2);
  CHECK(list.json()["data"][0]["id"] == default_id);

  auto anyone = testing::client("127.0.0.1", h.port());
  auto by_upc = anyone.get("/v1/variants?barcode=036000291452");
  REQUIRE(by_upc.status == 200);
  CHECK(by_upc.json()["variant"]["sku"] == "SHIRT");
  CHECK(by_upc.json()["tax_class"] == "reduced");
  CHECK(by_upc.json()["product_name"] == "Espresso cup");
  auto by_sku = anyone.get("/v1/variants?sku=SHIRT-RED");
  REQUIRE(by_sku.status == 200);
  CHECK(by_sku.json()["variant"]["barcode"] == "4006381333931");
  CHECK(anyone.get("/v1/variants?sku=NOPE").status == 404);
  CHECK(anyone.get("/v1/variants").status == 422);
  CHECK(anyone.get("/v1/variants?barcode=036000291453").error_fields() == std::set<std::string>{"barcode"});
  CHECK(anyone.post("/v1/products/" + id + "/variants", {{"sku", "X"}}).status == 401);

  const std::string red_path = "/v1/products/" + id + "/variants/" + red_id;
  CHECK(c.patch(red_path, {{"name", "Red / XL"}}, {{"If-Match", "\"9\""}}).status == 412);
  auto changed = c.patch(red_path, {{"name", "Red / XL"}, {"barcode", nullptr}}, {{"If-Match", "\"1\""}});
  REQUIRE(changed.status == 200);
  CHECK(changed.header("ETag") == "\"2\"");
  CHECK(changed.json()["barcode"].is_null());
  auto product = c.get("/v1/products/" + id);
  CHECK(product.json()["variants"][1]["name"] == "Red / XL");

  CHECK(c.del("/v1/products/" + id + "/variants/" + default_id).status == 409);
  CHECK(c.del(red_path).status == 204);
  CHECK(c.del(red_path).status == 404);

  auto filtered = anyone.get("/v1/products?price_min=1000&price_max=2000&currency=EUR&in_stock=false");
  REQUIRE(filtered.status == 200);
  CHECK(filtered.json()["data"].size() == 1);
  CHECK(anyone.get("/v1/products?price_min=1000").error_fields() == std::set<std::string>{"currency"});
  CHECK(anyone.get("/v1/products/search?q=cup&in_stock=maybe").error_fields() == std::set<std::string>{"in_stock"});
}

TEST_CASE("the import route is for admins and reports bad rows by line", "[catalog]") {
  testing::harness h(catalog_only());
  auto c = h.connect_as_admin();
  const std::string csv =
      "sku,name,price,currency\n"
      "IMP-1,\"Imported, one\",100,EUR\n"
      "IMP-2,Imported two,abc,EUR\n";
  auto r = c.request("POST", "/v1/catalog/import", csv, {{"Content-Type", "text/csv"}});
  REQUIRE(r.status == 200);
  auto report = r.json();
  CHECK(report["rows"] == 2);
  CHECK(report["created"] == 1);
  CHECK(report["error_count"] == 1);
  CHECK(report["errors"][0]["line"] == 3);
  CHECK(report["errors"][0]["sku"] == "IMP-2");
  auto again = c.request("POST", "/v1/catalog/import", csv, {{"Content-Type", "text/csv; charset=utf-8"}});
  REQUIRE(again.status == 200);
  CHECK(again.json()["unchanged"] == 1);
  auto jsonl =
      c.request("POST", "/v1/catalog/import", R"({"sku": "IMP-3", "name": "Three", "price": 5, "currency": "EUR"})",
                {{"Content-Type", "application/x-ndjson"}});
  REQUIRE(jsonl.status == 200);
  CHECK(jsonl.json()["created"] == 1);
  CHECK(c.request("POST", "/v1/catalog/import", "<xml/>", {{"Content-Type", "application/xml"}}).status == 422);
  auto anyone = testing::client("127.0.0.1", h.port());
  CHECK(anyone.request("POST", "/v1/catalog/import", csv, {{"Content-Type", "text/csv"}}).status == 401);
  auto listed = c.get("/v1/products?limit=10");
  CHECK(listed.json()["data"].size() == 2);
}
