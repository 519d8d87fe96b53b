#pragma once

#include <agora/principal.hpp>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

// The identity protocol: what the core's authenticator (and later each API gateway) asks
// of the module that owns accounts and credentials (customers), over the bus. The core
// declares it so that it depends on no module; the customers module answers it.
namespace agora::identity {

// Events on this topic make holders of key material and cached API keys drop them at once.
inline constexpr std::string_view credentials_topic = "customers.credentials";
inline constexpr std::string_view signing_key_rotated = "signing_key.rotated";
inline constexpr std::string_view apikey_created = "apikey.created";
inline constexpr std::string_view apikey_revoked = "apikey.revoked";
// Account changes (a role changed, an account disabled): cached API keys may be stale.
inline constexpr std::string_view accounts_topic = "customers.accounts";
// In a customer.updated event's data: an RFC 3339 time. Access tokens of that account
// issued (iat) before it are refused from then on: its role changed, it was disabled, or
// its password changed.
inline constexpr std::string_view revoke_tokens_before = "revoke_tokens_before";

// The public keys tokens may be signed with: a JWKS's "keys" (RFC 7517), the current
// key and those still within their overlap window.
struct signing_keys_request {};
struct signing_keys_reply {
  nlohmann::json keys = nlohmann::json::array();
};
struct signing_keys {
  static constexpr std::string_view name = "customers.signing_keys";
  using request = signing_keys_request;
  using reply = signing_keys_reply;
};

// The principal an API key stands for; unauthenticated when it is unknown, revoked,
// expired or its account is disabled. Records the key's use (in memory, written in
// batches: no store write per request).
struct verify_api_key_request {
  std::string key;
};
struct verify_api_key_reply {
  principal who;
  std::optional<std::string> expires_at;  // RFC 3339; a cache must not hold it past this
};
struct verify_api_key {
  static constexpr std::string_view name = "customers.verify_api_key";
  using request = verify_api_key_request;
  using reply = verify_api_key_reply;
};

inline void to_json(nlohmann::json& j, const signing_keys_request&) { j = nlohmann::json::object(); }
inline void from_json(const nlohmann::json&, signing_keys_request&) {}
inline void to_json(nlohmann::json& j, const signing_keys_reply& r) { j = {{"keys", r.keys}}; }
inline void from_json(const nlohmann::json& j, signing_keys_reply& r) { r.keys = j.at("keys"); }
inline void to_json(nlohmann::json& j, const verify_api_key_request& r) { j = {{"key", r.key}}; }
inline void from_json(const nlohmann::json& j, verify_api_key_request& r) { j.at("key").get_to(r.key); }
inline void to_json(nlohmann::json& j, const verify_api_key_reply& r) {
  j = {{"who", r.who}, {"expires_at", r.expires_at ? nlohmann::json(*r.expires_at) : nlohmann::json(nullptr)}};
}
inline void from_json(const nlohmann::json& j, verify_api_key_reply& r) {
  j.at("who").get_to(r.who);
  auto e = j.find("expires_at");
  if (e != j.end() && e->is_string())
    r.expires_at = e->get<std::string>();
  else
    r.expires_at.reset();
}

}  // namespace agora::identity
