#include <catalog/api.hpp>
#include <customers/api.hpp>

#include <agora/jwt.hpp>
#include <agora/testing.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <set>
#include <string>
#include <thread>

using namespace agora;
using json = nlohmann::json;

namespace {

testing::options identity_and_catalog(const agora::clock* c = nullptr) {
  testing::options o;
  o.modules.push_back(customers::module());
  o.modules.push_back(catalog::module());
  o.clock = c;
  return o;
}

json person(const std::string& email) {
  return {{"email", email}, {"password", "correct horse battery"}, {"name", "Ada Lovelace"}};
}

// Registers and logs in; answers the token response.
json sign_up(testing::client& c, const std::string& email) {
  auto r = c.post("/v1/auth/register", person(email));
  REQUIRE(r.status == 201);
  auto l = c.post("/v1/auth/login", {{"email", email}, {"password", "correct horse battery"}});
  REQUIRE(l.status == 200);
  return l.json();
}

std::map<std::string, std::string> bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

json product_body(std::string sku) {
  return {{"sku", std::move(sku)}, {"name", "Espresso cup"}, {"price", {{"amount", 1299}, {"currency", "EUR"}}}};
}

}  // namespace

TEST_CASE("register, log in, read me, refresh, log out: the refresh token then stops working", "[customers][e2e]") {
  testing::harness h(identity_and_catalog());
  auto c = h.connect();
  auto reg = c.post("/v1/auth/register", person("Ada@Example.com"));
  REQUIRE(reg.status == 201);
  CHECK(reg.json().at("role") == "customer");
  CHECK_FALSE(reg.json().contains("password"));
  CHECK_FALSE(reg.body.find("argon2") != std::string::npos);

  auto login = c.post("/v1/auth/login", {{"email", "ada@example.com"}, {"password", "correct horse battery"}});
  REQUIRE(login.status == 200);
  CHECK(login.header("cache-control") == "no-store");
  auto grant = login.json();
  CHECK(grant.at("token_type") == "Bearer");
  CHECK(grant.at("expires_in") == 900);
  auto access_token = grant.at("access_token").get<std::string>();
  auto refresh_token = grant.at("refresh_token").get<std::string>();

  auto me = c.get("/v1/customers/me", bearer(access_token));
  REQUIRE(me.status == 200);
  CHECK(me.json().at("email") == "Ada@Example.com");
  CHECK(me.json().at("id") == grant.at("account_id"));
  CHECK(me.header("etag") == "\"1\"");

  // A client that sends its (stale) token with every request still reaches the token
  // endpoints: they do not read credentials.
  auto refreshed = c.post("/v1/auth/refresh", {{"refresh_token", refresh_token}}, bearer("stale.expired.token"));
  REQUIRE(refreshed.status == 200);
  auto next_refresh = refreshed.json().at("refresh_token").get<std::string>();
  CHECK(next_refresh != refresh_token);
  CHECK(c.get("/v1/customers/me", bearer(refreshed.json().at("access_token"))).status == 200);

  auto out = c.post("/v1/auth/logout", {{"refresh_token", next_refresh}});
  REQUIRE(out.status == 200);
  CHECK(out.json().at("revoked") == true);
  auto again = c.post("/v1/auth/refresh", {{"refresh_token", next_refresh}});
  CHECK(again.status == 401);
  CHECK(again.header("content-type") == "application/problem+json");
}

TEST_CASE("a spent refresh token presented again revokes its whole family", "[customers][e2e]") {
  testing::harness h(identity_and_catalog());
  auto c = h.connect();
  auto first = sign_up(c, "reuse@example.com").at("refresh_token").get<std::string>();
  auto second = c.post("/v1/auth/refresh", {{"refresh_token", first}});
  REQUIRE(second.status == 200);
  auto live = second.json().at("refresh_token").get<std::string>();
  auto replay = c.post("/v1/auth/refresh", {{"refresh_token", first}});
  CHECK(replay.status == 401);
  CHECK(replay.json().at("detail").get<std::string>().find("already used") != std::string::npos);
  // The thief's replay cost the legitimate holder the family too.
  CHECK(c.post("/v1/auth/refresh", {{"refresh_token", live}}).status == 401);
  // Another login is a new family.
  auto fresh = c.post("/v1/auth/login", {{"email", "reuse@example.com"}, {"password", "correct horse battery"}});
  REQUIRE(fresh.status == 200);
  CHECK(c.post("/v1/auth/refresh", {{"refresh_token", fresh.json().at("refresh_token")}}).status == 200);
}

TEST_CASE("bad registrations and logins get clear errors and reveal nothing", "[customers][e2e]") {
  testing::harness h(identity_and_catalog());
  auto c = h.connect();
  auto weak = c.post("/v1/auth/register", {{"email", "w@example.com"}, {"password", "short"}, {"name", "W"}});
  CHECK(weak.status == 422);
  CHECK(weak.error_fields() == std::set<std::string>{"password"});
  auto bad_email =
      c.post("/v1/auth/register", {{"email", "not an email"}, {"password", "long enough pw 1"}, {"name", "W"}});
  CHECK(bad_email.status == 422);
  CHECK(bad_email.error_fields() == std::set<std::string>{"email"});
  auto too_long = c.post("/v1/auth/register",
                         {{"email", "l@example.com"}, {"password", std::string(300, 'x') + "y"}, {"name", "L"}});
  CHECK(too_long.status == 422);
  auto missing = c.post("/v1/auth/register", {{"email", "m@example.com"}});
  CHECK(missing.status == 422);
  CHECK(missing.error_fields() == std::set<std::string>{"password", "name"});
  CHECK(c.request("POST", "/v1/auth/register", "{nope").status == 400);
  CHECK(c.request("POST", "/v1/auth/register", std::string(2 * 1024 * 1024, ' ')).status == 413);
  CHECK(c.request("POST", "/v1/auth/login", "[]").status == 422);
  CHECK(c.request("POST", "/v1/auth/login", R"({"email": 7, "password": null})").status == 422);
  CHECK(
      c.request("POST", "/v1/auth/register", person("x@example.com").dump(), {{"Content-Type", "text/plain"}}).status ==
      415);

  REQUIRE(c.post("/v1/auth/register", person("dup@example.com")).status == 201);
  CHECK(c.post("/v1/auth/register", person("DUP@example.COM")).status == 409);

  auto wrong = c.post("/v1/auth/login", {{"email", "dup@example.com"}, {"password", "not the password"}});
  auto unknown = c.post("/v1/auth/login", {{"email", "nobody@example.com"}, {"password", "not the password"}});
  CHECK(wrong.status == 401);
  CHECK(unknown.status == 401);
  CHECK(wrong.json().at("detail") == unknown.json().at("detail"));

  // A token in the query string is refused, never read.
  auto grant = c.post("/v1/auth/login", {{"email", "dup@example.com"}, {"password", "correct horse battery"}});
  REQUIRE(grant.status == 200);
  auto token = grant.json().at("access_token").get<std::string>();
  CHECK(c.get("/v1/customers/me?access_token=" + token).status == 400);
  CHECK(c.get("/v1/customers/me", {{"Authorization", "Basic dXNlcjpwYXNz"}}).status == 401);
  CHECK(c.get("/v1/customers/me", {{"Authorization", "Bearer " + token}, {"X-API-Key", "agk_x"}}).status == 400);
}

TEST_CASE("repeated failed logins answer 429 with Retry-After, per account and per address", "[customers][e2e]") {
  testing::harness h(identity_and_catalog());
  auto c = h.connect();
  REQUIRE(c.post("/v1/auth/register", person("victim@example.com")).status == 201);
  for (int i = 0; i < 5; ++i)
    CHECK(c.post("/v1/auth/login", {{"email", "victim@example.com"}, {"password", "guess number " + std::to_string(i)}})
              .status == 401);
  auto locked = c.post("/v1/auth/login", {{"email", "VICTIM@example.com"}, {"password", "correct horse battery"}});
  CHECK(locked.status == 429);
  CHECK(std::stoi(locked.header("retry-after")) > 0);
  // Other accounts are untouched until the address itself has failed too often.
  REQUIRE(c.post("/v1/auth/register", person("other@example.com")).status == 201);
  CHECK(c.post("/v1/auth/login", {{"email", "other@example.com"}, {"password", "correct horse battery"}}).status ==
        200);
  for (int i = 0; i < 20; ++i)
    c.post("/v1/auth/login", {{"email", "spray" + std::to_string(i) + "@example.com"}, {"password", "whatever pw 1"}});
  CHECK(c.post("/v1/auth/login", {{"email", "other@example.com"}, {"password", "correct horse battery"}}).status ==
        429);
}

TEST_CASE("routes refuse what their access does not allow: 401 with a challenge, 403", "[customers][e2e]") {
  testing::harness h(identity_and_catalog());
  auto anon = h.connect();
  auto open = anon.get("/v1/admin/bus");
  CHECK(open.status == 401);
  CHECK(open.header("www-authenticate").find("Bearer") == 0);
  CHECK(anon.get("/healthz").status == 200);
  CHECK(anon.get("/openapi.json").status == 200);
  CHECK(anon.get("/v1/products").status == 200);
  CHECK(anon.post("/v1/products", product_body("ANON-1")).status == 401);

  auto customer = h.connect();
  customer.authorize(sign_up(customer, "cust@example.com").at("access_token").get<std::string>());
  auto forbidden = customer.get("/v1/admin/bus");
  CHECK(forbidden.status == 403);
  CHECK(forbidden.header("www-authenticate").find("insufficient_scope") != std::string::npos);
  CHECK(customer.post("/v1/products", product_body("CUST-1")).status == 403);
  CHECK(customer.get("/v1/admin/accounts").status == 403);

  auto admin = h.connect_as_admin();
  CHECK(admin.get("/v1/admin/bus").status == 200);
  CHECK(admin.post("/v1/products", product_body("ADMIN-1")).status == 201);
  auto staff = admin.post(
      "/v1/admin/accounts",
      {{"email", "mgr@example.com"}, {"password", "manager password"}, {"name", "Manager"}, {"role", "manager"}});
  REQUIRE(staff.status == 201);
  auto manager = h.connect();
  manager.authorize(testing::login(manager, "mgr@example.com", "manager password"));
  CHECK(manager.post("/v1/products", product_body("MGR-1")).status == 201);
  CHECK(manager.get("/v1/admin/bus").status == 403);

  // A tampered token is refused, on open routes too.
  auto token = testing::login(anon, testing::admin_email, testing::admin_password);
  auto tampered = token;
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  CHECK(anon.get("/v1/admin/bus", bearer(tampered)).status == 401);
  CHECK(anon.get("/v1/products", bearer(tampered)).status == 401);
  CHECK(anon.get("/v1/admin/bus", bearer("not.a.token")).status == 401);

  // The document says who may call what.
  auto doc = anon.get("/openapi.json").json();
  CHECK(doc["components"]["securitySchemes"].contains("bearerAuth"));
  CHECK(doc["components"]["securitySchemes"].contains("apiKeyAuth"));
  CHECK(doc["paths"]["/healthz"]["get"]["security"] == json::array());
  CHECK(doc["paths"]["/v1/admin/bus"]["get"]["x-agora-roles"] == json::array({"admin"}));
  CHECK(doc["paths"]["/v1/products"]["post"]["security"].size() == 2);
}

TEST_CASE("API keys: the secret once, both headers, scopes, revocation at once, no reach into others'",
          "[customers][e2e]") {
  testing::harness h(identity_and_catalog());
  auto owner = h.connect();
  owner.authorize(sign_up(owner, "app@example.com").at("access_token").get<std::string>());
  auto made = owner.post("/v1/api-keys", {{"name", "shop sync"}, {"scopes", json::array({"account"})}});
  REQUIRE(made.status == 201);
  auto key = made.json().at("key").get<std::string>();
  auto id = made.json().at("item").at("id").get<std::string>();
  CHECK(key.rfind(made.json().at("item").at("prefix").get<std::string>(), 0) == 0);

  auto by_header = h.connect();
  CHECK(by_header.get("/v1/customers/me", {{"X-API-Key", key}}).status == 200);
  CHECK(by_header.get("/v1/customers/me", bearer(key)).json().at("email") == "app@example.com");
  // Its scope is account only: generating, catalog writes and key making are out.
  CHECK(by_header.post("/v1/products", product_body("KEY-1"), {{"X-API-Key", key}}).status == 403);
  CHECK(by_header.post("/v1/api-keys", {{"name", "child"}}, {{"X-API-Key", key}}).status == 403);

  auto list = owner.get("/v1/api-keys");
  REQUIRE(list.status == 200);
  CHECK(list.json().at("data").size() == 1);
  CHECK(list.body.find(key) == std::string::npos);

  // Another customer cannot see or revoke it.
  auto other = h.connect();
  other.authorize(sign_up(other, "intruder@example.com").at("access_token").get<std::string>());
  CHECK(other.del("/v1/api-keys/" + id).status == 404);
  CHECK(other.get("/v1/api-keys").json().at("data").empty());
  CHECK(by_header.get("/v1/customers/me", {{"X-API-Key", key}}).status == 200);

  // Unknown scopes and past expiry are refused by name.
  auto bad = owner.post("/v1/api-keys",
                        {{"name", "x"}, {"scopes", json::array({"root"})}, {"expires_at", "2001-01-01T00:00:00Z"}});
  CHECK(bad.status == 422);
  CHECK(bad.error_fields() == std::set<std::string>{"scopes", "expires_at"});

  REQUIRE(owner.del("/v1/api-keys/" + id).status == 200);
  // The apikey.revoked event drops the cached key: within milliseconds, not at the cache's
  // expiry (30 s).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int status = 0;
  while ((status = by_header.get("/v1/customers/me", {{"X-API-Key", key}}).status) == 200 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(status == 401);
  CHECK(by_header.get("/v1/customers/me", {{"X-API-Key", key + "x"}}).status == 401);
  CHECK(by_header.get("/v1/customers/me", {{"X-API-Key", "agk_0123456789_forged"}}).status == 401);
}

TEST_CASE("access tokens expire on the module's clock, and rotated keys keep old tokens valid for the overlap",
          "[customers][e2e]") {
  manual_clock time(std::chrono::system_clock::now());
  testing::harness h(identity_and_catalog(&time));
  auto c = h.connect();
  auto old_token = testing::login(c, testing::admin_email, testing::admin_password);
  auto old_kid = nlohmann::json::parse(*jwt::base64url_decode(old_token.substr(0, old_token.find('.'))))["kid"];

  c.authorize(old_token);
  auto rotated = c.post("/v1/admin/signing-keys/rotate", json::object());
  REQUIRE(rotated.status == 200);
  CHECK(rotated.json().at("kid") != old_kid);
  CHECK(rotated.json().at("published").size() == 2);
  auto jwks = h.connect().get("/.well-known/jwks.json");
  REQUIRE(jwks.status == 200);
  CHECK(jwks.json().at("keys").size() == 2);
  for (const auto& k : jwks.json().at("keys")) {
    CHECK(k.at("kty") == "OKP");
    CHECK_FALSE(k.contains("d"));
  }
  // The old token still verifies; a new one names the new key.
  CHECK(c.get("/v1/admin/bus").status == 200);
  auto new_token = testing::login(c, testing::admin_email, testing::admin_password);
  auto new_kid = nlohmann::json::parse(*jwt::base64url_decode(new_token.substr(0, new_token.find('.'))))["kid"];
  CHECK(new_kid == rotated.json().at("kid"));

  time.advance(std::chrono::minutes(16));
  auto expired = c.get("/v1/admin/bus");
  CHECK(expired.status == 401);
  CHECK(expired.header("www-authenticate").find("expired") != std::string::npos);
}

TEST_CASE("a disabled account loses its sessions and keys, and admins manage staff and quotas", "[customers][e2e]") {
  testing::harness h(identity_and_catalog());
  auto admin = h.connect_as_admin();
  auto user = h.connect();
  auto grant = sign_up(user, "leaving@example.com");
  user.authorize(grant.at("access_token").get<std::string>());
  auto key = user.post("/v1/api-keys", {{"name", "k"}}).json().at("key").get<std::string>();
  auto id = grant.at("account_id").get<std::string>();

  auto quota = admin.get("/v1/admin/quotas/" + id);
  REQUIRE(quota.status == 200);
  CHECK(quota.json().at("requests_per_minute") == 100);
  CHECK(quota.json().at("requests_per_hour") == 1000);
  auto set = admin.put("/v1/admin/quotas/" + id, {{"daily_tokens", 5}});
  REQUIRE(set.status == 200);
  CHECK(set.json().at("daily_tokens") == 5);
  CHECK(set.json().at("requests_per_minute") == 100);
  CHECK(user.get("/v1/customers/me/quota").json().at("daily_tokens") == 5);
  CHECK(user.get("/v1/admin/quotas/" + id).status == 403);
  CHECK(admin.put("/v1/admin/quotas/" + id, {{"daily_tokens", -1}}).status == 422);

  auto disabled = admin.patch("/v1/admin/accounts/" + id, {{"status", "disabled"}});
  REQUIRE(disabled.status == 200);
  CHECK(disabled.json().at("status") == "disabled");
  CHECK(user.post("/v1/auth/refresh", {{"refresh_token", grant.at("refresh_token")}}).status == 401);
  // Its access token stops as the customer.updated event lands, not at its expiry.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int status = 0;
  while ((status = user.get("/v1/customers/me").status) == 200 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(status == 401);
  CHECK(user.get("/v1/customers/me", {{"X-API-Key", key}}).status == 401);
  CHECK(user.post("/v1/auth/login", {{"email", "leaving@example.com"}, {"password", "correct horse battery"}}).status ==
        401);
}

TEST_CASE("changing me needs If-Match to match and the current password for the email or the password",
          "[customers][e2e]") {
  testing::harness h(identity_and_catalog());
  auto c = h.connect();
  c.authorize(sign_up(c, "me@example.com").at("access_token").get<std::string>());
  auto renamed = c.patch("/v1/customers/me", {{"name", "Ada King"}}, {{"If-Match", "\"1\""}});
  REQUIRE(renamed.status == 200);
  CHECK(renamed.json().at("version") == 2);
  CHECK(c.patch("/v1/customers/me", {{"name", "Stale"}}, {{"If-Match", "\"1\""}}).status == 412);
  auto no_current = c.patch("/v1/customers/me", {{"password", "a brand new password"}});
  CHECK(no_current.status == 422);
  CHECK(no_current.error_fields() == std::set<std::string>{"current_password"});
  auto wrong_current =
      c.patch("/v1/customers/me", {{"password", "a brand new password"}, {"current_password", "nope nope nope"}});
  CHECK(wrong_current.status == 422);
  auto changed = c.patch("/v1/customers/me",
                         {{"password", "a brand new password"}, {"current_password", "correct horse battery"}});
  REQUIRE(changed.status == 200);
  CHECK(c.post("/v1/auth/login", {{"email", "me@example.com"}, {"password", "a brand new password"}}).status == 200);
  CHECK(c.post("/v1/auth/login", {{"email", "me@example.com"}, {"password", "correct horse battery"}}).status == 401);
}
