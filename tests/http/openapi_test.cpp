#include "sample_routes.hpp"

#include <catch2/catch.hpp>

using namespace agora::http;

TEST_CASE("openapi() documents every route with its parameters, body and problems", "[http]") {
  auto doc = testing::sample_router().openapi("agora sample", "1.2.3");
  CHECK(doc["openapi"] == "3.1.0");
  CHECK(doc["info"]["title"] == "agora sample");
  CHECK(doc["info"]["version"] == "1.2.3");
  REQUIRE(doc["components"]["schemas"].contains("Problem"));

  const auto& get = doc["paths"]["/v1/products/{id}"]["get"];
  CHECK(get["operationId"] == "getProduct");
  CHECK(get["tags"] == nlohmann::json::array({"catalog"}));
  const auto& params = get["parameters"];
  REQUIRE(params.size() == 2);
  CHECK(params[0] ==
        nlohmann::json{{"name", "id"}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}});
  CHECK(params[1]["in"] == "header");
  CHECK(params[1]["name"] == "If-None-Match");
  CHECK_FALSE(get.contains("requestBody"));
  CHECK(get["responses"]["200"]["content"]["application/json"]["schema"]["type"] == "object");
  CHECK_FALSE(get["responses"]["304"].contains("content"));
  for (auto status : {"400", "404", "405", "422", "500"})
    CHECK(get["responses"][status]["content"]["application/problem+json"]["schema"]["$ref"] ==
          "#/components/schemas/Problem");
  CHECK_FALSE(get["responses"].contains("415"));

  const auto& create = doc["paths"]["/v1/products"]["post"];
  CHECK(create["requestBody"]["content"]["application/json"]["schema"]["required"] ==
        nlohmann::json::array({"name", "price"}));
  CHECK(create["responses"].contains("201"));
  CHECK(create["responses"].contains("413"));
  CHECK(create["responses"].contains("415"));
  CHECK(create["responses"]["409"]["content"].contains("application/problem+json"));

  const auto& list = doc["paths"]["/v1/products"]["get"];
  CHECK(list["parameters"][0]["name"] == "limit");
  CHECK(list["parameters"][0]["in"] == "query");
  CHECK(list["parameters"][0]["schema"]["type"] == "integer");

  const auto& del = doc["paths"]["/v1/carts/{cart_id}/lines/{line_id}"]["delete"];
  CHECK(del["parameters"].size() == 2);
  CHECK_FALSE(del["responses"]["204"].contains("content"));

  CHECK(doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"].contains("text/plain; version=0.0.4"));
}
