#include <agora/http.hpp>

#include <catch2/catch.hpp>

using namespace agora::http;

TEST_CASE("problem() writes RFC 9457 problem details", "[http]") {
  auto res = problem(422, "price must be positive", {{"price.amount", "must be > 0"}});
  CHECK(res.result_int() == 422);
  CHECK(res[beast::http::field::content_type] == "application/problem+json");
  CHECK(res.has_content_length());
  auto body = nlohmann::json::parse(res.body());
  CHECK(body["type"] == "https://agora.dev/problems/unprocessable-content");
  CHECK(body["title"] == "Unprocessable Content");
  CHECK(body["status"] == 422);
  CHECK(body["detail"] == "price must be positive");
  REQUIRE(body["errors"].size() == 1);
  CHECK(body["errors"][0]["field"] == "price.amount");
  CHECK(body["errors"][0]["message"] == "must be > 0");
  CHECK_FALSE(nlohmann::json::parse(problem(404, "x").body()).contains("errors"));
  CHECK(res.find(beast::http::field::retry_after) == res.end());
}

TEST_CASE("429 and 503 problems carry Retry-After", "[http]") {
  CHECK(problem(429, "slow down")[beast::http::field::retry_after] == "1");
  CHECK(problem(503, "overloaded")[beast::http::field::retry_after] == "1");
}

TEST_CASE("problem(error) maps the code to its status and hides internal messages", "[http]") {
  auto nf = problem(agora::error::not_found("no such product"));
  CHECK(nf.result_int() == 404);
  CHECK(nlohmann::json::parse(nf.body())["detail"] == "no such product");
  CHECK(nlohmann::json::parse(nf.body())["type"] == "https://agora.dev/problems/not-found");

  auto invalid = problem(agora::error::invalid({{"name", "required"}}));
  CHECK(invalid.result_int() == 422);
  CHECK(nlohmann::json::parse(invalid.body())["errors"][0]["field"] == "name");

  auto internal = problem(agora::error::internal("sqlite: no such table: orders"));
  CHECK(internal.result_int() == 500);
  CHECK(internal.body().find("sqlite") == std::string::npos);

  CHECK(problem(agora::error::timeout("slow")).result_int() == 504);
}

TEST_CASE("json_response sets the media type and length", "[http]") {
  auto res = json_response(201, {{"id", "prod_1"}});
  CHECK(res.result_int() == 201);
  CHECK(res[beast::http::field::content_type] == "application/json");
  CHECK(res.body() == R"({"id":"prod_1"})");
  CHECK(res[beast::http::field::content_length] == std::to_string(res.body().size()));
  CHECK(reason(404) == "Not Found");
  CHECK(reason(413) == "Content Too Large");
}
