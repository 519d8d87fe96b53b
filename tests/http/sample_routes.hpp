#pragma once

#include <agora/http.hpp>

// A router with one route of each shape the OpenAPI generator must handle: no body,
// path parameters, query parameters, documented headers, a JSON body, a 204, a text body.
namespace agora::http::testing {

inline asio::awaitable<response> ok_handler(request_context&) { co_return json_response(200, {{"ok", true}}); }

inline router sample_router() {
  using nlohmann::json;
  const json product = {
      {"type", "object"},
      {"required", json::array({"id", "name", "price"})},
      {"properties",
       {{"id", {{"type", "string"}}},
        {"name", {{"type", "string"}}},
        {"price",
         {{"type", "object"},
          {"required", json::array({"amount", "currency"})},
          {"properties",
           {{"amount", {{"type", "integer"}}}, {"currency", {{"type", "string"}, {"pattern", "^[A-Z]{3}$"}}}}}}}}},
  };
  const json new_product = {
      {"type", "object"},
      {"required", json::array({"name", "price"})},
      {"properties", {{"name", {{"type", "string"}, {"minLength", 1}}}, {"price", product["properties"]["price"]}}},
  };

  router r;
  r.add({.method = verb::get,
         .pattern = "/healthz",
         .fn = ok_handler,
         .operation_id = "getHealth",
         .summary = "Liveness",
         .tag = "ops",
         .responses = {{200, {{"type", "object"}}}}});
  r.add({.method = verb::get,
         .pattern = "/metrics",
         .fn = ok_handler,
         .operation_id = "getMetrics",
         .summary = "Prometheus metrics",
         .tag = "ops",
         .responses = {{200, {{"type", "string"}}}},
         .content_type = "text/plain; version=0.0.4"});
  r.add({.method = verb::get,
         .pattern = "/v1/products",
         .fn = ok_handler,
         .operation_id = "listProducts",
         .summary = "List products",
         .tag = "catalog",
         .responses = {{200,
                        {{"type", "object"},
                         {"properties",
                          {{"items", {{"type", "array"}, {"items", product}}},
                           {"next_cursor", {{"type", json::array({"string", "null"})}}}}}}}},
         .query = {{"limit", "integer", "page size, at most 100"}, {"cursor", "string", "from next_cursor"}}});
  r.add({.method = verb::post,
         .pattern = "/v1/products",
         .fn = ok_handler,
         .operation_id = "createProduct",
         .summary = "Create a product",
         .tag = "catalog",
         .request_schema = new_product,
         .responses = {{201, product}, {409, nullptr}},
         .request_headers = {"Idempotency-Key"}});
  r.add({.method = verb::get,
         .pattern = "/v1/products/{id}",
         .fn = ok_handler,
         .operation_id = "getProduct",
         .summary = "Get a product",
         .tag = "catalog",
         .responses = {{200, product}, {304, nullptr}},
         .request_headers = {"If-None-Match"}});
  r.add({.method = verb::patch,
         .pattern = "/v1/products/{id}",
         .fn = ok_handler,
         .operation_id = "updateProduct",
         .summary = "Update a product",
         .tag = "catalog",
         .request_schema = new_product,
         .responses = {{200, product}, {412, nullptr}},
         .request_headers = {"If-Match"}});
  r.add({.method = verb::delete_,
         .pattern = "/v1/carts/{cart_id}/lines/{line_id}",
         .fn = ok_handler,
         .operation_id = "deleteCartLine",
         .summary = "Remove a cart line",
         .tag = "cart",
         .responses = {{204, nullptr}}});
  return r;
}

}  // namespace agora::http::testing
