#include <agora/http.hpp>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>

namespace agora::http {

namespace {

using json = nlohmann::json;

constexpr std::string_view problem_ref = "#/components/schemas/Problem";

std::optional<std::string> openapi_method(verb v) {
  switch (v) {
    case verb::get: return "get";
    case verb::put: return "put";
    case verb::post: return "post";
    case verb::delete_: return "delete";
    case verb::options: return "options";
    case verb::head: return "head";
    case verb::patch: return "patch";
    case verb::trace: return "trace";
    default: return std::nullopt;
  }
}

std::vector<std::string> path_params(std::string_view pattern) {
  std::vector<std::string> names;
  std::size_t pos = 0;
  while ((pos = pattern.find('{', pos)) != std::string_view::npos) {
    std::size_t end = pattern.find('}', pos);
    if (end == std::string_view::npos) break;
    names.emplace_back(pattern.substr(pos + 1, end - pos - 1));
    pos = end + 1;
  }
  return names;
}

std::string default_operation_id(const route& r) {
  std::string id(beast::http::to_string(r.method));
  std::transform(id.begin(), id.end(), id.begin(), [](unsigned char c) { return std::tolower(c); });
  for (char c : r.pattern) {
    if (std::isalnum(static_cast<unsigned char>(c)))
      id.push_back(c);
    else if (c == '/' && id.back() != '_')
      id.push_back('_');
  }
  while (!id.empty() && id.back() == '_') id.pop_back();
  return id;
}

json problem_response(int status) {
  return {{"description", reason(status)},
          {"content", {{"application/problem+json", {{"schema", {{"$ref", problem_ref}}}}}}}};
}

json problem_schema() {
  return {
      {"type", "object"},
      {"description", "RFC 9457 problem details"},
      {"required", json::array({"type", "title", "status"})},
      {"properties",
       {
           {"type", {{"type", "string"}, {"format", "uri-reference"}}},
           {"title", {{"type", "string"}}},
           {"status", {{"type", "integer"}, {"minimum", 100}, {"maximum", 599}}},
           {"detail", {{"type", "string"}}},
           {"instance", {{"type", "string"}}},
           {"errors",
            {{"type", "array"},
             {"items",
              {{"type", "object"},
               {"required", json::array({"field", "message"})},
               {"properties", {{"field", {{"type", "string"}}}, {"message", {{"type", "string"}}}}}}}}},
       }},
  };
}

json operation(const route& r) {
  json op = json::object();
  op["operationId"] = r.operation_id.empty() ? default_operation_id(r) : r.operation_id;
  if (!r.summary.empty()) op["summary"] = r.summary;
  if (!r.tag.empty()) op["tags"] = json::array({r.tag});

  json params = json::array();
  for (const auto& name : path_params(r.pattern))
    params.push_back({{"name", name}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}});
  for (const auto& q : r.query) {
    json p = {{"name", q.name}, {"in", "query"}, {"required", false}, {"schema", {{"type", q.type}}}};
    if (!q.description.empty()) p["description"] = q.description;
    params.push_back(std::move(p));
  }
  for (const auto& h : r.request_headers)
    params.push_back({{"name", h}, {"in", "header"}, {"required", false}, {"schema", {{"type", "string"}}}});
  if (!params.empty()) op["parameters"] = std::move(params);

  const bool takes_body = !r.request_schema.is_null();
  if (takes_body)
    op["requestBody"] = {{"required", true}, {"content", {{"application/json", {{"schema", r.request_schema}}}}}};

  json responses = json::object();
  for (const auto& [status, schema] : r.responses) {
    json resp = {{"description", reason(status)}};
    if (!schema.is_null())
      resp["content"] = {
          {status >= 400 ? std::string("application/problem+json") : r.content_type, {{"schema", schema}}}};
    else if (status >= 400)
      resp = problem_response(status);
    responses[std::to_string(status)] = std::move(resp);
  }
  if (r.responses.empty()) responses["200"] = {{"description", reason(200)}};
  std::vector<int> standard = {400, 404, 405, 422, 500, 504};
  if (r.who.open) {
    op["security"] = json::array();
  } else {
    op["security"] = json::array({{{"bearerAuth", json::array()}}, {{"apiKeyAuth", json::array()}}});
    if (!r.who.roles.empty()) op["x-agora-roles"] = r.who.roles;
    if (!r.who.scope.empty()) op["x-agora-scope"] = r.who.scope;
    standard.insert(standard.end(), {401, 403});
  }
  if (takes_body) standard.insert(standard.end(), {413, 415});
  for (int status : standard) {
    std::string key = std::to_string(status);
    if (!responses.contains(key)) responses[key] = problem_response(status);
  }
  op["responses"] = std::move(responses);
  return op;
}

}  // namespace

json router::openapi(std::string_view title, std::string_view version) const {
  json paths = json::object();
  std::set<std::string> tags;
  for (const auto& r : routes_) {
    auto method = openapi_method(r->method);
    if (!method) continue;
    paths[r->pattern][*method] = operation(*r);
    if (!r->tag.empty()) tags.insert(r->tag);
  }
  json tag_list = json::array();
  for (const auto& t : tags) tag_list.push_back({{"name", t}});
  json doc = {
      {"openapi", "3.1.0"},
      {"info", {{"title", title}, {"version", version}}},
      {"paths", std::move(paths)},
      {"components",
       {{"schemas", {{"Problem", problem_schema()}}},
        {"securitySchemes",
         {{"bearerAuth",
           {{"type", "http"},
            {"scheme", "bearer"},
            {"bearerFormat", "JWT"},
            {"description", "An access token from POST /v1/auth/login (EdDSA or RS256, keys at /.well-known/jwks.json); "
                            "an API key is also accepted here"}}},
          {"apiKeyAuth",
           {{"type", "apiKey"},
            {"in", "header"},
            {"name", "X-API-Key"},
            {"description", "An API key (agk_…) made at POST /v1/api-keys"}}}}}}},
  };
  if (!tag_list.empty()) doc["tags"] = std::move(tag_list);
  return doc;
}

}  // namespace agora::http
