#include <agora/auth.hpp>

#include "http/test_server.hpp"
#include "support/http_client.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace agora;
using agora::test::http_client;
using json = nlohmann::json;
namespace asio = boost::asio;

namespace {

// Credentials a test names: "customer-token" (a JWT-shaped value is a token), "admin-key",
// "down" (the identity source is unreachable); anything else is unknown.
class fixed_authenticator final : public auth::authenticator {
 public:
  asio::awaitable<result<principal>> authenticate(const auth::credential& c, const log::trace&,
                                                  std::chrono::steady_clock::time_point) override {
    if (c.type == auth::credential::kind::token && c.value == "customer.token.sig")
      co_return principal{"cus_1", principal_kind::customer, {"customer"}, {}, "jti_1"};
    if (c.type == auth::credential::kind::api_key && c.value == "agk_admin")
      co_return principal{"cus_2", principal_kind::api_key, {"admin"}, {"catalog:write"}, "key_1"};
    if (c.value == "agk_down") co_return error::unavailable("identity down");
    co_return error::unauthenticated("invalid token: unknown");
  }
};

http::route echo_route(http::verb m, std::string pattern, agora::access who, std::string op) {
  auto r = http::describe(m, std::move(pattern), std::move(op), "echo the principal");
  r.who = std::move(who);
  r.fn = [](http::request_context& ctx) -> asio::awaitable<http::response> {
    co_return http::json_response(200, {{"who", ctx.who}, {"client", ctx.client_address}});
  };
  return r;
}

struct guarded_server {
  guarded_server() {
    s.routes.use(auth::guard(std::make_shared<fixed_authenticator>(), s.metrics));
    s.routes.add(echo_route(http::verb::get, "/open", agora::access::anyone(), "open"));
    s.routes.add(echo_route(http::verb::get, "/token-endpoint", agora::access::token_endpoint(), "tokenEndpoint"));
    s.routes.add(echo_route(http::verb::get, "/closed", agora::access::signed_in(), "closed"));
    s.routes.add(echo_route(http::verb::get, "/account", agora::access::signed_in("account"), "account"));
    s.routes.add(echo_route(http::verb::get, "/admin", agora::access::any_role({"admin"}, "admin"), "admin"));
    s.routes.add(echo_route(http::verb::get, "/catalog", agora::access::any_role({"admin", "manager"}, "catalog:write"),
                            "catalog"));
    auto body = echo_route(http::verb::post, "/closed-body", agora::access::signed_in(), "closedBody");
    body.request_schema = {{"type", "object"}};
    s.routes.add(body);
    auto openai = echo_route(http::verb::get, "/openai", agora::access::signed_in(), "openai");
    openai.errors = http::error_shape::openai;
    s.routes.add(openai);
    s.start();
  }
  http::testing::test_server s;
};

agora::test::http_headers bearer(std::string v) { return {{"Authorization", "Bearer " + std::move(v)}}; }

}  // namespace

TEST_CASE("access decisions: open, signed in, roles, and restricted keys' scopes", "[auth]") {
  principal anon;
  principal customer{"cus_1", principal_kind::customer, {"customer"}, {}, ""};
  principal admin{"cus_2", principal_kind::staff, {"admin"}, {}, ""};
  principal narrow_key{"cus_2", principal_kind::api_key, {"admin"}, {"account"}, "key_1"};
  CHECK(decide(agora::access::anyone(), anon) == access_decision::allow);
  CHECK(decide(agora::access::signed_in(), anon) == access_decision::unauthenticated);
  CHECK(decide(agora::access::signed_in(), customer) == access_decision::allow);
  CHECK(decide(agora::access::any_role({"admin"}), customer) == access_decision::forbidden);
  CHECK(decide(agora::access::any_role({"admin"}), admin) == access_decision::allow);
  CHECK(decide(agora::access::any_role({"admin"}, "admin"), narrow_key) == access_decision::forbidden);
  CHECK(decide(agora::access::signed_in("account"), narrow_key) == access_decision::allow);
  // A restricted key never reaches a route that names no scope.
  CHECK(decide(agora::access::signed_in(), narrow_key) == access_decision::forbidden);
  CHECK(customer.usage_subject() == "cus_1");
  CHECK(narrow_key.usage_subject() == "key_1");
  CHECK(anon.usage_subject() == "anonymous");
  CHECK(json(narrow_key).get<principal>().scopes == narrow_key.scopes);
}

TEST_CASE("the guard answers 401 with a challenge, 403, 400 and 503, and hands the principal on", "[auth]") {
  guarded_server g;
  http_client c("127.0.0.1", g.s.port());

  auto open = c.get("/open");
  REQUIRE(open.status() == 200);
  CHECK(json::parse(open.body())["who"]["kind"] == "anonymous");
  CHECK(json::parse(open.body())["client"] == "127.0.0.1");

  auto closed = c.get("/closed");
  CHECK(closed.status() == 401);
  CHECK(closed.header("WWW-Authenticate") == "Bearer realm=\"agora\"");
  CHECK(closed.header("Content-Type") == "application/problem+json");

  auto signed_in = c.get("/closed", bearer("customer.token.sig"));
  REQUIRE(signed_in.status() == 200);
  CHECK(json::parse(signed_in.body())["who"]["subject"] == "cus_1");

  auto bad = c.get("/open", bearer("other.token.sig"));
  CHECK(bad.status() == 401);
  CHECK(bad.header("WWW-Authenticate").find("error=\"invalid_token\"") != std::string::npos);
  // The token endpoints do not look at credentials at all.
  CHECK(c.get("/token-endpoint", bearer("other.token.sig")).status() == 200);

  CHECK(c.get("/admin", bearer("customer.token.sig")).status() == 403);
  CHECK(c.get("/admin", {{"X-API-Key", "agk_admin"}}).status() == 403);  // the key lacks scope admin
  CHECK(c.get("/catalog", {{"X-API-Key", "agk_admin"}}).status() == 200);
  CHECK(c.get("/account", {{"X-API-Key", "agk_admin"}}).status() == 403);
  CHECK(c.get("/closed", {{"X-API-Key", "agk_down"}}).status() == 503);

  CHECK(c.get("/closed?access_token=customer.token.sig").status() == 400);
  CHECK(c.get("/closed?API_KEY=agk_admin").status() == 400);
  CHECK(c.get("/closed", {{"Authorization", "Bearer customer.token.sig"}, {"X-API-Key", "agk_admin"}}).status() == 400);
  CHECK(
      c.get("/closed", {{"Authorization", "Bearer customer.token.sig"}, {"Authorization", "Bearer x.y.z"}}).status() ==
      400);
  CHECK(c.get("/closed", {{"Authorization", "Basic Y3VzdDpwdw=="}}).status() == 401);
  CHECK(c.get("/closed", {{"Authorization", "Bearer "}}).status() == 401);
  CHECK(c.get("/closed", bearer("has space")).status() == 401);
  CHECK(c.get("/closed", bearer(std::string(9000, 'a'))).status() == 401);
  CHECK(c.get("/closed", {{"Authorization", "bearer customer.token.sig"}}).status() == 200);  // scheme is case-blind

  // Credentials come before the body: a refused caller learns nothing of the body's checks.
  auto early =
      c.request(boost::beast::http::verb::post, "/closed-body", "{not json", {{"Content-Type", "application/json"}});
  CHECK(early.status() == 401);
  auto late = c.request(boost::beast::http::verb::post, "/closed-body", "{not json",
                        {{"Content-Type", "application/json"}, {"Authorization", "Bearer customer.token.sig"}});
  CHECK(late.status() == 400);

  // OpenAI-shaped routes refuse in OpenAI's shape.
  auto openai = c.get("/openai");
  CHECK(openai.status() == 401);
  auto body = json::parse(openai.body());
  CHECK(body["error"]["type"] == "authentication_error");
  CHECK(body["error"]["code"] == "missing_credentials");

  // The connection survived every refusal.
  CHECK(c.get("/open").status() == 200);
}
