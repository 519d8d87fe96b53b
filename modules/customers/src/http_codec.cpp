#include "http_codec.hpp"

#include <agora/rest.hpp>

#include <boost/beast/http/field.hpp>

namespace agora::customers::http_codec {

namespace {

using json = nlohmann::json;
using http::object_reader;
using http::page_schema;
namespace bhttp = boost::beast::http;

access admin_only() { return access::any_role({std::string(roles::admin)}, "admin"); }

http::route doc(http::verb method, std::string pattern, std::string operation_id, std::string summary, access who) {
  auto r = http::describe(method, std::move(pattern), std::move(operation_id), std::move(summary));
  r.who = std::move(who);
  return r;
}

json text(std::size_t min, std::size_t max) { return {{"type", "string"}, {"minLength", min}, {"maxLength", max}}; }
json time_schema() { return {{"type", "string"}, {"format", "date-time"}}; }
json nullable_time() { return {{"type", json::array({"string", "null"})}, {"format", "date-time"}}; }
json roles_enum() { return {{"type", "string"}, {"enum", json::array({"customer", "clerk", "manager", "admin"})}}; }

json account_schema() {
  return {{"type", "object"},
          {"required", json::array({"id", "email", "name", "role", "status", "version", "created_at", "updated_at"})},
          {"properties",
           {{"id", {{"type", "string"}}},
            {"email", {{"type", "string"}}},
            {"name", {{"type", "string"}}},
            {"role", roles_enum()},
            {"status", {{"type", "string"}, {"enum", json::array({"active", "disabled"})}}},
            {"version", {{"type", "integer"}, {"description", "The ETag is this, quoted"}}},
            {"created_at", time_schema()},
            {"updated_at", time_schema()}}}};
}

json grant_schema() {
  return {{"type", "object"},
          {"description", "RFC 6749 §5.1 token response"},
          {"required", json::array({"access_token", "token_type", "expires_in", "refresh_token"})},
          {"properties",
           {{"access_token", {{"type", "string"}, {"description", "JWT; send as Authorization: Bearer"}}},
            {"token_type", {{"type", "string"}, {"enum", json::array({"Bearer"})}}},
            {"expires_in", {{"type", "integer"}, {"description", "Seconds"}}},
            {"refresh_token", {{"type", "string"}, {"description", "Single use; POST /v1/auth/refresh"}}},
            {"account_id", {{"type", "string"}}}}}};
}

json api_key_schema() {
  return {{"type", "object"},
          {"required", json::array({"id", "name", "prefix", "scopes", "expires_at", "revoked_at", "last_used_at",
                                    "account_id", "created_at"})},
          {"properties",
           {{"id", {{"type", "string"}}},
            {"name", {{"type", "string"}}},
            {"prefix", {{"type", "string"}, {"description", "The start of the key, to recognise it"}}},
            {"scopes", {{"type", "array"}, {"items", {{"type", "string"}}}}},
            {"expires_at", nullable_time()},
            {"revoked_at", nullable_time()},
            {"last_used_at", nullable_time()},
            {"account_id", {{"type", "string"}}},
            {"created_at", time_schema()}}}};
}

json quota_schema() {
  return {
      {"type", "object"},
      {"required", json::array({"subject", "requests_per_minute", "requests_per_hour", "daily_tokens", "is_default"})},
      {"properties",
       {{"subject", {{"type", "string"}}},
        {"requests_per_minute", {{"type", "integer"}}},
        {"requests_per_hour", {{"type", "integer"}}},
        {"daily_tokens", {{"type", "integer"}, {"description", "Inference tokens per UTC day"}}},
        {"is_default", {{"type", "boolean"}}}}}};
}

json object_schema(json required, json properties) {
  return {{"type", "object"},
          {"required", std::move(required)},
          {"additionalProperties", false},
          {"properties", std::move(properties)}};
}

std::string render(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

http::response no_store(http::response res) {
  res.set(bhttp::field::cache_control, "no-store");
  res.set(bhttp::field::pragma, "no-cache");
  return res;
}

template <class T>
http::response plain(int status, const T& v) {
  return http::json_text(status, render(json(v)));
}

http::response account_response(int status, const account& a, http::request_context& ctx) {
  return http::versioned(status, a.version, ctx, [&] { return render(json(a)); });
}

// Reads the string members `names` of the body into `out` (required ones must be there).
result<json> read_object(http::request_context& ctx, std::initializer_list<std::string_view> known,
                         std::initializer_list<std::string_view> required) {
  std::vector<field_error> errors;
  object_reader body(ctx.body, "", known, errors);
  json out = json::object();
  if (body.ok())
    for (auto k : known) {
      bool req = std::find(required.begin(), required.end(), k) != required.end();
      if (auto s = body.string(k, req)) out[std::string(k)] = *s;
    }
  if (!errors.empty()) return error::invalid(std::move(errors));
  return out;
}

std::string str(const json& j, std::string_view k) {
  auto it = j.find(k);
  return it == j.end() ? std::string() : it->get<std::string>();
}

std::optional<std::string> opt(const json& j, std::string_view k) {
  auto it = j.find(k);
  if (it == j.end()) return std::nullopt;
  return it->get<std::string>();
}

result<register_request> decode_register(http::request_context& ctx) {
  auto b = read_object(ctx, {"email", "password", "name"}, {"email", "password", "name"});
  if (!b) return std::move(b).err();
  return register_request{str(*b, "email"), str(*b, "password"), str(*b, "name")};
}

result<login_request> decode_login(http::request_context& ctx) {
  auto b = read_object(ctx, {"email", "password"}, {"email", "password"});
  if (!b) return std::move(b).err();
  auto email = str(*b, "email"), password = str(*b, "password");
  if (email.size() > 254 || password.size() > 1024) return error::unauthenticated("the email or the password is wrong");
  return login_request{std::move(email), std::move(password), ctx.client_address};
}

result<refresh_request> decode_refresh(http::request_context& ctx) {
  auto b = read_object(ctx, {"refresh_token"}, {"refresh_token"});
  if (!b) return std::move(b).err();
  return refresh_request{str(*b, "refresh_token")};
}

result<get_me_request> decode_get_me(http::request_context&) { return get_me_request{}; }

result<update_me_request> decode_update_me(http::request_context& ctx) {
  auto b = read_object(ctx, {"name", "email", "password", "current_password"}, {});
  if (!b) return std::move(b).err();
  update_me_request r;
  r.name = opt(*b, "name");
  r.email = opt(*b, "email");
  r.password = opt(*b, "password");
  r.current_password = opt(*b, "current_password");
  r.if_match = http::if_match(ctx);
  if (!r.name && !r.email && !r.password)
    return error::invalid({{"body", "name, email or password: at least one"}}, "nothing to change");
  return r;
}

result<create_api_key_request> decode_create_api_key(http::request_context& ctx) {
  std::vector<field_error> errors;
  object_reader body(ctx.body, "", {"name", "scopes", "expires_at"}, errors);
  create_api_key_request r;
  if (body.ok()) {
    if (auto n = body.string("name", true)) r.name = std::move(*n);
    if (auto s = body.string_list("scopes", false)) r.scopes = std::move(*s);
    if (const json* e = body.member("expires_at", false); e && !e->is_null()) {
      if (e->is_string())
        r.expires_at = e->get<std::string>();
      else
        body.fail("expires_at", "expected an RFC 3339 date-time or null");
    }
  }
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

result<list_api_keys_request> decode_list_api_keys(http::request_context& ctx) {
  std::vector<field_error> errors;
  list_api_keys_request r;
  http::read_page_query(ctx, r.limit, r.cursor, errors);
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

result<revoke_api_key_request> decode_revoke_api_key(http::request_context& ctx) {
  return revoke_api_key_request{http::path_param(ctx, "id")};
}

result<create_account_request> decode_create_account(http::request_context& ctx) {
  auto b = read_object(ctx, {"email", "password", "name", "role"}, {"email", "password", "name", "role"});
  if (!b) return std::move(b).err();
  return create_account_request{str(*b, "email"), str(*b, "password"), str(*b, "name"), str(*b, "role")};
}

result<list_accounts_request> decode_list_accounts(http::request_context& ctx) {
  std::vector<field_error> errors;
  list_accounts_request r;
  http::read_page_query(ctx, r.limit, r.cursor, errors);
  if (auto role = ctx.query_param("role")) r.role = std::string(*role);
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

result<get_account_request> decode_get_account(http::request_context& ctx) {
  return get_account_request{http::path_param(ctx, "id")};
}

result<update_account_request> decode_update_account(http::request_context& ctx) {
  auto b = read_object(ctx, {"role", "status"}, {});
  if (!b) return std::move(b).err();
  update_account_request r;
  r.id = http::path_param(ctx, "id");
  r.role = opt(*b, "role");
  r.status = opt(*b, "status");
  r.if_match = http::if_match(ctx);
  if (!r.role && !r.status) return error::invalid({{"body", "role or status: at least one"}}, "nothing to change");
  return r;
}

result<get_quota_request> decode_get_quota(http::request_context& ctx) {
  return get_quota_request{http::path_param(ctx, "subject")};
}

result<get_quota_request> decode_my_quota(http::request_context& ctx) {
  return get_quota_request{ctx.who.usage_subject()};
}

result<set_quota_request> decode_set_quota(http::request_context& ctx) {
  std::vector<field_error> errors;
  object_reader body(ctx.body, "", {"requests_per_minute", "requests_per_hour", "daily_tokens"}, errors);
  set_quota_request r;
  r.subject = http::path_param(ctx, "subject");
  if (body.ok()) {
    r.requests_per_minute = body.integer("requests_per_minute", false);
    r.requests_per_hour = body.integer("requests_per_hour", false);
    r.daily_tokens = body.integer("daily_tokens", false);
  }
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

result<rotate_keys_request> decode_rotate(http::request_context&) { return rotate_keys_request{}; }
result<identity::signing_keys_request> decode_jwks(http::request_context&) { return identity::signing_keys_request{}; }

http::response encode_jwks(const identity::signing_keys_reply& r, http::request_context&) {
  auto res = http::json_text(200, render(json{{"keys", r.keys}}));
  res.set(bhttp::field::cache_control, "public, max-age=300");
  return res;
}

}  // namespace

void add_routes(module_decl<service>& decl) {
  auto open = access::token_endpoint();
  auto me = access::signed_in("account");
  auto grant = [](const token_grant& g, http::request_context&) { return no_store(plain(200, g)); };
  auto account_200 = [](const account& a, http::request_context& ctx) { return account_response(200, a, ctx); };
  auto quota_200 = [](const quota& q, http::request_context&) { return plain(200, q); };

  auto r = doc(http::verb::post, "/v1/auth/register", "register", "Register a customer account (201)", open);
  r.request_schema = object_schema(json::array({"email", "password", "name"}),
                                   {{"email", text(3, 254)}, {"password", text(10, 256)}, {"name", text(1, 200)}});
  r.responses = {{201, account_schema()}, {409, nullptr}, {422, nullptr}};
  decl.route<register_account>(
      r, decode_register, [](const account& a, http::request_context& ctx) { return account_response(201, a, ctx); });

  r = doc(http::verb::post, "/v1/auth/login", "login",
          "Exchange email and password for an access token and a refresh token (RFC 6749 §5.1)", open);
  r.request_schema =
      object_schema(json::array({"email", "password"}), {{"email", text(1, 254)}, {"password", text(1, 1024)}});
  r.responses = {{200, grant_schema()}, {401, nullptr}, {429, nullptr}};
  decl.route<login>(r, decode_login, grant);

  r = doc(http::verb::post, "/v1/auth/refresh", "refreshToken",
          "Exchange a refresh token for new tokens; a spent one revokes its whole family", open);
  r.request_schema = object_schema(json::array({"refresh_token"}), {{"refresh_token", text(1, 512)}});
  r.responses = {{200, grant_schema()}, {401, nullptr}};
  decl.route<refresh>(r, decode_refresh, grant);

  r = doc(http::verb::post, "/v1/auth/logout", "logout", "Revoke a refresh token and every token of its login", open);
  r.request_schema = object_schema(json::array({"refresh_token"}), {{"refresh_token", text(1, 512)}});
  r.responses = {{200, {{"type", "object"}, {"properties", {{"revoked", {{"type", "boolean"}}}}}}}};
  decl.route<logout>(r, decode_refresh, [](const logout_reply& v, http::request_context&) { return plain(200, v); });

  r = doc(http::verb::get, "/.well-known/jwks.json", "getJwks", "The public keys access tokens are signed with",
          access::anyone());
  r.responses = {{200, {{"type", "object"}, {"properties", {{"keys", {{"type", "array"}}}}}}}};
  decl.route<identity::signing_keys>(r, decode_jwks, encode_jwks);

  r = doc(http::verb::get, "/v1/customers/me", "getMe", "The signed-in account, with its ETag", me);
  r.responses = {{200, account_schema()}, {304, nullptr}};
  r.request_headers = {"If-None-Match"};
  decl.route<get_me>(r, decode_get_me, account_200);

  r = doc(http::verb::patch, "/v1/customers/me", "updateMe",
          "Change name, email or password (the last two need current_password)", me);
  r.request_schema = {{"type", "object"},
                      {"additionalProperties", false},
                      {"properties",
                       {{"name", text(1, 200)},
                        {"email", text(3, 254)},
                        {"password", text(10, 256)},
                        {"current_password", text(1, 1024)}}}};
  r.responses = {{200, account_schema()}, {409, nullptr}, {412, nullptr}};
  r.request_headers = {"If-Match"};
  decl.route<update_me>(r, decode_update_me, account_200);

  r = doc(http::verb::get, "/v1/customers/me/quota", "getMyQuota",
          "The caller's request rate and daily token allowance", access::signed_in("account"));
  r.responses = {{200, quota_schema()}};
  decl.route<get_quota>(r, decode_my_quota, quota_200);

  r = doc(http::verb::post, "/v1/api-keys", "createApiKey", "Make an API key; its secret is in this answer only", me);
  r.request_schema = {{"type", "object"},
                      {"required", json::array({"name"})},
                      {"additionalProperties", false},
                      {"properties",
                       {{"name", text(1, 100)},
                        {"scopes", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                        {"expires_at", nullable_time()}}}};
  r.responses = {
      {201, {{"type", "object"}, {"properties", {{"key", {{"type", "string"}}}, {"item", api_key_schema()}}}}},
      {422, nullptr}};
  decl.route<create_api_key>(r, decode_create_api_key,
                             [](const api_key_created& k, http::request_context&) { return no_store(plain(201, k)); });

  r = doc(http::verb::get, "/v1/api-keys", "listApiKeys", "The caller's API keys (never their secrets)", me);
  r.query = http::page_query_docs("", 20);
  r.responses = {{200, page_schema(api_key_schema())}};
  decl.route<list_api_keys>(r, decode_list_api_keys,
                            [](const api_key_page& p, http::request_context&) { return plain(200, p); });

  r = doc(http::verb::delete_, "/v1/api-keys/{id}", "revokeApiKey", "Revoke an API key (at once, everywhere)", me);
  r.responses = {{200, api_key_schema()}};
  decl.route<revoke_api_key>(r, decode_revoke_api_key,
                             [](const api_key& k, http::request_context&) { return plain(200, k); });

  r = doc(http::verb::post, "/v1/admin/accounts", "createAccount", "Make a staff, manager, admin or customer account",
          admin_only());
  r.request_schema = object_schema(
      json::array({"email", "password", "name", "role"}),
      {{"email", text(3, 254)}, {"password", text(10, 256)}, {"name", text(1, 200)}, {"role", roles_enum()}});
  r.responses = {{201, account_schema()}, {409, nullptr}};
  decl.route<create_account>(r, decode_create_account, [](const account& a, http::request_context& ctx) {
    return account_response(201, a, ctx);
  });

  r = doc(http::verb::get, "/v1/admin/accounts", "listAccounts", "Accounts in id order, optionally of one role",
          admin_only());
  r.query = http::page_query_docs("", 20);
  r.query.push_back({"role", "string", "customer, clerk, manager or admin"});
  r.responses = {{200, page_schema(account_schema())}};
  decl.route<list_accounts>(r, decode_list_accounts,
                            [](const account_page& p, http::request_context&) { return plain(200, p); });

  r = doc(http::verb::get, "/v1/admin/accounts/{id}", "getAccount", "One account", admin_only());
  r.responses = {{200, account_schema()}};
  decl.route<get_account>(r, decode_get_account, account_200);

  r = doc(http::verb::patch, "/v1/admin/accounts/{id}", "updateAccount",
          "Change an account's role or status (disabling revokes its sessions)", admin_only());
  r.request_schema = {
      {"type", "object"},
      {"additionalProperties", false},
      {"properties",
       {{"role", roles_enum()}, {"status", {{"type", "string"}, {"enum", json::array({"active", "disabled"})}}}}}};
  r.request_headers = {"If-Match"};
  r.responses = {{200, account_schema()}, {412, nullptr}};
  decl.route<update_account>(r, decode_update_account, account_200);

  r = doc(http::verb::get, "/v1/admin/quotas/{subject}", "getQuota", "The quota of an account or API key",
          admin_only());
  r.responses = {{200, quota_schema()}};
  decl.route<get_quota>(r, decode_get_quota, quota_200);

  r = doc(http::verb::put, "/v1/admin/quotas/{subject}", "setQuota",
          "Set an account's or API key's request rates and daily token allowance (fields left out keep their value)",
          admin_only());
  r.request_schema = {{"type", "object"},
                      {"additionalProperties", false},
                      {"properties",
                       {{"requests_per_minute", {{"type", "integer"}, {"minimum", 0}}},
                        {"requests_per_hour", {{"type", "integer"}, {"minimum", 0}}},
                        {"daily_tokens", {{"type", "integer"}, {"minimum", 0}}}}}};
  r.responses = {{200, quota_schema()}};
  decl.route<set_quota>(r, decode_set_quota, quota_200);

  r = doc(http::verb::post, "/v1/admin/signing-keys/rotate", "rotateSigningKeys",
          "Sign with a new key from now on; the old one stays published for the overlap window", admin_only());
  r.responses = {{200, {{"type", "object"}}}};
  decl.route<rotate_keys>(r, decode_rotate,
                          [](const rotate_keys_reply& v, http::request_context&) { return plain(200, v); });
}

}  // namespace agora::customers::http_codec
