#include <agora/http.hpp>

#include <catch2/catch.hpp>

using namespace agora::http;

namespace {

asio::awaitable<response> nothing(request_context&) { co_return json_response(200, nullptr); }

router sample() {
  router r;
  r.add({.method = verb::get, .pattern = "/v1/products", .fn = nothing, .operation_id = "list"});
  r.add({.method = verb::post, .pattern = "/v1/products", .fn = nothing, .operation_id = "create"});
  r.add({.method = verb::get, .pattern = "/v1/products/{id}", .fn = nothing, .operation_id = "get"});
  r.add({.method = verb::delete_, .pattern = "/v1/products/{id}", .fn = nothing, .operation_id = "delete"});
  r.add({.method = verb::get, .pattern = "/v1/products/search", .fn = nothing, .operation_id = "search"});
  r.add({.method = verb::get, .pattern = "/v1/carts/{cart_id}/lines/{line_id}", .fn = nothing, .operation_id = "line"});
  r.add({.method = verb::get, .pattern = "/", .fn = nothing, .operation_id = "root"});
  return r;
}

}  // namespace

TEST_CASE("literal routes match exactly and trailing slashes are distinct", "[http]") {
  auto r = sample();
  auto m = r.find(verb::get, "/v1/products");
  REQUIRE(m.r);
  CHECK(m.r->operation_id == "list");
  CHECK(m.params.empty());
  CHECK_FALSE(r.find(verb::get, "/v1/products/").r);
  CHECK_FALSE(r.find(verb::get, "/v1/product").r);
  CHECK_FALSE(r.find(verb::get, "/v1").r);
  CHECK(r.find(verb::get, "/").r->operation_id == "root");
  CHECK_FALSE(r.find(verb::get, "").r);
}

TEST_CASE("parameter segments capture and percent-decode their values", "[http]") {
  auto r = sample();
  auto m = r.find(verb::get, "/v1/carts/cart_1/lines/a%20b%2Fc");
  REQUIRE(m.r);
  CHECK(m.r->operation_id == "line");
  REQUIRE(m.params.size() == 2);
  CHECK(m.params[0] == std::pair<std::string, std::string>{"cart_id", "cart_1"});
  CHECK(m.params[1] == std::pair<std::string, std::string>{"line_id", "a b/c"});
  CHECK_FALSE(r.find(verb::get, "/v1/carts//lines/x").r);
  CHECK(r.find(verb::get, "/v1/products/%zz").params.at(0).second == "%zz");
}

TEST_CASE("a literal segment wins over a parameter", "[http]") {
  auto r = sample();
  CHECK(r.find(verb::get, "/v1/products/search").r->operation_id == "search");
  auto m = r.find(verb::get, "/v1/products/prod_1");
  CHECK(m.r->operation_id == "get");
  CHECK(m.params.at(0).second == "prod_1");
}

TEST_CASE("a path known for other methods lists them in allow", "[http]") {
  auto r = sample();
  auto m = r.find(verb::put, "/v1/products/prod_1");
  CHECK_FALSE(m.r);
  CHECK(m.allow == std::vector<verb>{verb::delete_, verb::get});
  auto unknown = r.find(verb::get, "/nope");
  CHECK_FALSE(unknown.r);
  CHECK(unknown.allow.empty());
  CHECK(r.find(verb::get, "/v1/products").allow.empty());
}

TEST_CASE("declaring a route twice or reusing an operation id throws", "[http]") {
  auto r = sample();
  CHECK_THROWS_AS(r.add({.method = verb::get, .pattern = "/v1/products/{other}", .fn = nothing}),
                  std::invalid_argument);
  CHECK_THROWS_AS(r.add({.method = verb::put, .pattern = "/v1/x", .fn = nothing, .operation_id = "list"}),
                  std::invalid_argument);
  CHECK_THROWS_AS(r.add({.method = verb::get, .pattern = "no-slash", .fn = nothing}), std::invalid_argument);
  CHECK_THROWS_AS(r.add({.method = verb::get, .pattern = "/a/x{id}", .fn = nothing}), std::invalid_argument);
  CHECK_THROWS_AS(r.add({.method = verb::get, .pattern = "/a/{}", .fn = nothing}), std::invalid_argument);
  CHECK_THROWS_AS(r.add({.method = verb::get, .pattern = "/a"}), std::invalid_argument);
  CHECK_NOTHROW(r.add({.method = verb::put, .pattern = "/v1/products/{id}", .fn = nothing}));
}
