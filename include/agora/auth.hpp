#pragma once

#include <agora/bus.hpp>
#include <agora/clock.hpp>
#include <agora/http.hpp>
#include <agora/log.hpp>
#include <agora/metrics.hpp>
#include <agora/principal.hpp>
#include <agora/result.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <string>

// Who is calling, decided once per request before its handler runs. The pieces are the
// core's, not a module's, so the server and (later) each API gateway use the same ones:
// read_credential takes the credential off the request, an authenticator turns it into a
// principal, and guard() is the filter that refuses what a route's `access` does not allow.
namespace agora::auth {

namespace asio = boost::asio;

// What a request presented.
struct credential {
  enum class kind { none, token, api_key };
  kind type = kind::none;
  std::string value;
};

// The credential of a request: `Authorization: Bearer <value>` (a value of three
// dot-separated parts is a token, any other an API key) or `X-API-Key: <value>`.
// Refused with bad_request: a credential in the query string (access_token, api_key,
// apikey: they end up in logs and proxies), both headers at once, either header twice.
// Refused with unauthenticated: another scheme than Bearer, an empty value, a value over
// 8 KiB or with characters outside RFC 6750's b64token.
result<credential> read_credential(const http::request_context& ctx);

// Turns a credential into a principal.
class authenticator {
 public:
  virtual ~authenticator() = default;
  // unauthenticated (a message safe to show: "token expired") when the credential is no
  // good; unavailable when the identity source cannot be asked now.
  virtual asio::awaitable<result<principal>> authenticate(const credential& c, const log::trace& tr,
                                                          std::chrono::steady_clock::time_point deadline) = 0;
};

// The filter every matched route passes: reads the credential, authenticates it when
// there is one (on open routes too: a bad credential is refused, never ignored), sets
// ctx.who, then applies the route's `access`: 401 with `WWW-Authenticate: Bearer …`
// (RFC 6750) when a principal is needed or the credential is bad, 403 with
// error="insufficient_scope" when it lacks the role or scope. Errors come in the route's
// error_shape. Counts agora_auth_decisions_total{outcome}.
http::filter guard(std::shared_ptr<authenticator> a, metrics::registry& m);

struct identity_options {
  std::string issuer = "agora";
  std::string audience = "agora";
  std::chrono::seconds leeway{30};
  std::chrono::seconds api_key_cache{30};  // 0: ask every time
  std::size_t api_key_cache_entries = 10000;
  std::size_t token_cache_entries = 20000;  // tokens verified before, answered from memory
};

// This platform's authenticator. Access tokens are verified here, without a bus call,
// against the public keys the identity module publishes (identity::signing_keys): fetched
// at start(), again on every signing_key.rotated event, and when a token names a key not
// held (at most once a second, so unknown kids cannot make it hammer the module). API
// keys are asked of the module (identity::verify_api_key) and trusted for
// `api_key_cache`, dropped at once on apikey.revoked. Works without the identity module
// (every credential is then refused as unknown).
class identity_authenticator final : public authenticator {
 public:
  identity_authenticator(bus::bus& b, bus::executor ex, identity_options o, const clock& time, metrics::registry& m);
  ~identity_authenticator() override;

  // Subscribes to identity::credentials_topic (group "auth.<name>") and fetches the keys.
  asio::awaitable<void> start(std::string name);
  asio::awaitable<result<principal>> authenticate(const credential& c, const log::trace& tr,
                                                  std::chrono::steady_clock::time_point deadline) override;
  // Fetches the public keys now; false when the identity module did not answer.
  asio::awaitable<bool> refresh_keys();

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace agora::auth
