#pragma once

#include <agora/identity.hpp>
#include <agora/json_fields.hpp>
#include <agora/principal.hpp>
#include <agora/values.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

// The customers module's one door: accounts, credentials (passwords, refresh tokens, API
// keys, signing keys), roles, addresses and quotas. Every method acts for the principal
// of its call (bus::call_context::who): "me" is that principal's account, and ids of
// another customer's things answer not_found. It also answers the core's identity
// protocol (agora/identity.hpp): the public signing keys and API key verification.
namespace agora {
struct module_definition;
}

namespace agora::customers {

module_definition module();

using identity::accounts_topic;
inline constexpr std::string_view customer_registered = "customer.registered";
inline constexpr std::string_view customer_updated = "customer.updated";
using identity::apikey_created;
using identity::apikey_revoked;
using identity::credentials_topic;
using identity::signing_key_rotated;

// An account: a customer (registered themself) or staff (clerk, manager, admin; made by
// an admin). `version` is the ETag. Never carries the password or its hash.
struct account {
  std::string id;  // "cus_…"
  std::string email;
  std::string name;
  std::string role;    // customer | clerk | manager | admin
  std::string status;  // active | disabled
  std::int64_t version = 0;
  std::string created_at;
  std::string updated_at;
};
constexpr auto json_fields(const account*) {
  return std::tuple{json_field("id", &account::id),
                    json_field("email", &account::email),
                    json_field("name", &account::name),
                    json_field("role", &account::role),
                    json_field("status", &account::status),
                    json_field("version", &account::version),
                    json_field("created_at", &account::created_at),
                    json_field("updated_at", &account::updated_at)};
}

// RFC 6749 §5.1's successful token response.
struct token_grant {
  std::string access_token;  // a JWT (EdDSA by default)
  std::string token_type = "Bearer";
  std::int64_t expires_in = 0;  // seconds
  std::string refresh_token;    // single use: each refresh answers a new one
  std::string account_id;
};
constexpr auto json_fields(const token_grant*) {
  return std::tuple{
      json_field("access_token", &token_grant::access_token), json_field("token_type", &token_grant::token_type),
      json_field("expires_in", &token_grant::expires_in), json_field("refresh_token", &token_grant::refresh_token),
      json_field("account_id", &token_grant::account_id)};
}

// Email: 3–254 characters, one '@', unique without regard to case. Password: 10–256
// characters (UTF-8), not all one character. Name: 1–200 characters after trimming.
struct register_request {
  std::string email;
  std::string password;
  std::string name;
};
constexpr auto json_fields(const register_request*) {
  return std::tuple{json_field("email", &register_request::email), json_field("password", &register_request::password),
                    json_field("name", &register_request::name)};
}

// Wrong password and unknown email answer the same unauthenticated error after the same
// work. Repeated failures answer resource_exhausted with retry_after_s, per account and
// per client address.
struct login_request {
  std::string email;
  std::string password;
  std::string client_address;  // the HTTP peer, filled by the route, not by the body
};
constexpr auto json_fields(const login_request*) {
  return std::tuple{json_field("email", &login_request::email), json_field("password", &login_request::password),
                    json_field("client_address", &login_request::client_address, json_default)};
}

// Refresh tokens rotate: a spent one presented again revokes its whole family (every
// token descended from the same login), as a stolen token's replay would.
struct refresh_request {
  std::string refresh_token;
};
constexpr auto json_fields(const refresh_request*) {
  return std::tuple{json_field("refresh_token", &refresh_request::refresh_token)};
}

struct logout_reply {
  bool revoked = false;
};
constexpr auto json_fields(const logout_reply*) { return std::tuple{json_field("revoked", &logout_reply::revoked)}; }

struct get_me_request {
  int unused = 0;
};
constexpr auto json_fields(const get_me_request*) {
  return std::tuple{json_field("unused", &get_me_request::unused, json_default)};
}

// Changing the email or the password needs current_password. A new password revokes
// every refresh token of the account.
struct update_me_request {
  std::optional<std::string> name;
  std::optional<std::string> email;
  std::optional<std::string> password;
  std::optional<std::string> current_password;
  std::optional<version_match> if_match;
};
void to_json(nlohmann::json& j, const update_me_request& r);
void from_json(const nlohmann::json& j, update_me_request& r);

// An API key for an external application. The secret (`key` of api_key_created) is
// shown once; the store keeps its hash and the visible `prefix`.
struct api_key {
  std::string id;  // "key_…"
  std::string name;
  std::string prefix;               // "agk_3f9c2a7b1d" — the start of the key, to recognise it
  std::vector<std::string> scopes;  // empty: everything the owner may do
  std::optional<std::string> expires_at;
  std::optional<std::string> revoked_at;
  std::optional<std::string> last_used_at;  // recorded within a minute or so
  std::string account_id;
  std::string created_at;
};
constexpr auto json_fields(const api_key*) {
  return std::tuple{json_field("id", &api_key::id),
                    json_field("name", &api_key::name),
                    json_field("prefix", &api_key::prefix),
                    json_field("scopes", &api_key::scopes),
                    json_field("expires_at", &api_key::expires_at),
                    json_field("revoked_at", &api_key::revoked_at),
                    json_field("last_used_at", &api_key::last_used_at),
                    json_field("account_id", &api_key::account_id),
                    json_field("created_at", &api_key::created_at)};
}

// Scopes a key may hold: catalog:write, inference, conversations, account, admin, metrics
// (admin and metrics only for an admin's keys). Name: 1–100 characters; expires_at in
// the future (RFC 3339).
struct create_api_key_request {
  std::string name;
  std::vector<std::string> scopes;
  std::optional<std::string> expires_at;
};
constexpr auto json_fields(const create_api_key_request*) {
  return std::tuple{json_field("name", &create_api_key_request::name),
                    json_field("scopes", &create_api_key_request::scopes, json_default),
                    json_field("expires_at", &create_api_key_request::expires_at)};
}

struct api_key_created {
  std::string key;  // the whole secret, shown this once
  api_key item;
};
constexpr auto json_fields(const api_key_created*) {
  return std::tuple{json_field("key", &api_key_created::key), json_field("item", &api_key_created::item)};
}

struct list_api_keys_request {
  std::optional<std::int64_t> limit;
  std::string cursor;
};
constexpr auto json_fields(const list_api_keys_request*) {
  return std::tuple{json_field("limit", &list_api_keys_request::limit),
                    json_field("cursor", &list_api_keys_request::cursor, json_default)};
}
using api_key_page = page<api_key>;

struct revoke_api_key_request {
  std::string id;
};
constexpr auto json_fields(const revoke_api_key_request*) {
  return std::tuple{json_field("id", &revoke_api_key_request::id)};
}

// Admins make staff (and other admin) accounts, list accounts, change roles and disable.
struct create_account_request {
  std::string email;
  std::string password;
  std::string name;
  std::string role;
};
constexpr auto json_fields(const create_account_request*) {
  return std::tuple{
      json_field("email", &create_account_request::email), json_field("password", &create_account_request::password),
      json_field("name", &create_account_request::name), json_field("role", &create_account_request::role)};
}

struct list_accounts_request {
  std::optional<std::int64_t> limit;
  std::string cursor;
  std::optional<std::string> role;
};
constexpr auto json_fields(const list_accounts_request*) {
  return std::tuple{json_field("limit", &list_accounts_request::limit),
                    json_field("cursor", &list_accounts_request::cursor, json_default),
                    json_field("role", &list_accounts_request::role)};
}
using account_page = page<account>;

struct get_account_request {
  std::string id;
};
constexpr auto json_fields(const get_account_request*) {
  return std::tuple{json_field("id", &get_account_request::id)};
}

struct update_account_request {
  std::string id;
  std::optional<std::string> role;
  std::optional<std::string> status;
  std::optional<version_match> if_match;
};
void to_json(nlohmann::json& j, const update_account_request& r);
void from_json(const nlohmann::json& j, update_account_request& r);

// Per customer or API key: the request rate the edge enforces and the daily inference
// token allowance. Defaults (the settings) apply when none is set.
struct quota {
  std::string subject;  // "cus_…" or "key_…"
  std::int64_t requests_per_minute = 100;
  std::int64_t requests_per_hour = 1000;
  std::int64_t daily_tokens = 0;
  bool is_default = true;
};
constexpr auto json_fields(const quota*) {
  return std::tuple{json_field("subject", &quota::subject),
                    json_field("requests_per_minute", &quota::requests_per_minute),
                    json_field("requests_per_hour", &quota::requests_per_hour),
                    json_field("daily_tokens", &quota::daily_tokens), json_field("is_default", &quota::is_default)};
}

struct get_quota_request {
  std::string subject;
};
constexpr auto json_fields(const get_quota_request*) {
  return std::tuple{json_field("subject", &get_quota_request::subject)};
}

struct set_quota_request {
  std::string subject;
  std::optional<std::int64_t> requests_per_minute;
  std::optional<std::int64_t> requests_per_hour;
  std::optional<std::int64_t> daily_tokens;
};
constexpr auto json_fields(const set_quota_request*) {
  return std::tuple{json_field("subject", &set_quota_request::subject),
                    json_field("requests_per_minute", &set_quota_request::requests_per_minute),
                    json_field("requests_per_hour", &set_quota_request::requests_per_hour),
                    json_field("daily_tokens", &set_quota_request::daily_tokens)};
}

struct rotate_keys_request {
  int unused = 0;
};
constexpr auto json_fields(const rotate_keys_request*) {
  return std::tuple{json_field("unused", &rotate_keys_request::unused, json_default)};
}
struct rotate_keys_reply {
  std::string kid;                     // the new signing key
  std::vector<std::string> published;  // every kid in the JWKS now
};
constexpr auto json_fields(const rotate_keys_reply*) {
  return std::tuple{json_field("kid", &rotate_keys_reply::kid), json_field("published", &rotate_keys_reply::published)};
}

// The signed-in account's postal addresses (at most 50 an account). Each is of one kind,
// shipping or billing, and at most one of each kind is the default: making an address
// the default (on create or update) clears the previous default of its kind in the same
// change, and the first address of a kind is made the default whatever is_default says.
// Deleting the default promotes nothing: the kind then has no default until one is set.
// Ids of another account's addresses answer not_found, for admins too.
inline constexpr std::string_view addresses_topic = "customers.addresses";
inline constexpr std::string_view address_created = "address.created";
inline constexpr std::string_view address_updated = "address.updated";
inline constexpr std::string_view address_deleted = "address.deleted";

// Field rules (text is trimmed first; an optional one left empty is absent):
// recipient 1–200 characters, line1 1–200, line2 up to 200, city 1–100, region up to
// 100, postal_code 1–20 of A–Z, a–z, 0–9, space and '-', country ISO 3166-1 alpha-2 in
// upper case ("DE"), phone up to 32 of digits, spaces, '+', '-', '(' and ')' with at
// least one digit. `version` is the ETag.
struct address {
  std::string id;    // "adr_…"
  std::string kind;  // shipping | billing
  bool is_default = false;
  std::string recipient;
  std::string line1;
  std::optional<std::string> line2;
  std::string city;
  std::optional<std::string> region;
  std::string postal_code;
  std::string country;
  std::optional<std::string> phone;
  std::int64_t version = 0;
  std::string created_at;
  std::string updated_at;

  friend bool operator==(const address&, const address&) = default;
};
constexpr auto json_fields(const address*) {
  return std::tuple{json_field("id", &address::id),
                    json_field("kind", &address::kind),
                    json_field("is_default", &address::is_default),
                    json_field("recipient", &address::recipient),
                    json_field("line1", &address::line1),
                    json_field("line2", &address::line2),
                    json_field("city", &address::city),
                    json_field("region", &address::region),
                    json_field("postal_code", &address::postal_code),
                    json_field("country", &address::country),
                    json_field("phone", &address::phone),
                    json_field("version", &address::version),
                    json_field("created_at", &address::created_at),
                    json_field("updated_at", &address::updated_at)};
}

// More than 50 addresses answer conflict.
struct create_address_request {
  std::string kind;
  bool is_default = false;
  std::string recipient;
  std::string line1;
  std::optional<std::string> line2;
  std::string city;
  std::optional<std::string> region;
  std::string postal_code;
  std::string country;
  std::optional<std::string> phone;
};
constexpr auto json_fields(const create_address_request*) {
  using r = create_address_request;
  return std::tuple{json_field("kind", &r::kind),           json_field("is_default", &r::is_default, json_default),
                    json_field("recipient", &r::recipient), json_field("line1", &r::line1),
                    json_field("line2", &r::line2),         json_field("city", &r::city),
                    json_field("region", &r::region),       json_field("postal_code", &r::postal_code),
                    json_field("country", &r::country),     json_field("phone", &r::phone)};
}

// In id order (creation order), optionally of one kind.
struct list_addresses_request {
  std::optional<std::int64_t> limit;
  std::string cursor;
  std::optional<std::string> kind;
};
constexpr auto json_fields(const list_addresses_request*) {
  return std::tuple{json_field("limit", &list_addresses_request::limit),
                    json_field("cursor", &list_addresses_request::cursor, json_default),
                    json_field("kind", &list_addresses_request::kind)};
}
using address_page = page<address>;

struct get_address_request {
  std::string id;
};
constexpr auto json_fields(const get_address_request*) {
  return std::tuple{json_field("id", &get_address_request::id)};
}

// Only the fields present change; line2, region and phone set to null are cleared. With
// `expected_version` set, an address at none of its versions is refused with
// failed_precondition. is_default false leaves the kind without a default; an address
// moved to the other kind keeps its is_default (and, as a default, displaces that kind's).
struct update_address_request {
  std::string id;
  std::optional<version_match> expected_version;  // If-Match
  std::optional<std::string> kind;
  std::optional<bool> is_default;
  std::optional<std::string> recipient;
  std::optional<std::string> line1;
  nullable_patch<std::string> line2;
  std::optional<std::string> city;
  nullable_patch<std::string> region;
  std::optional<std::string> postal_code;
  std::optional<std::string> country;
  nullable_patch<std::string> phone;
};
constexpr auto json_fields(const update_address_request*) {
  using r = update_address_request;
  return std::tuple{json_field("id", &r::id),
                    json_field("expected_version", &r::expected_version),
                    json_field("kind", &r::kind),
                    json_field("is_default", &r::is_default),
                    json_field("recipient", &r::recipient),
                    json_field("line1", &r::line1),
                    json_field("line2", &r::line2),
                    json_field("city", &r::city),
                    json_field("region", &r::region),
                    json_field("postal_code", &r::postal_code),
                    json_field("country", &r::country),
                    json_field("phone", &r::phone)};
}

struct delete_address_request {
  std::string id;
  std::optional<version_match> expected_version;  // If-Match
};
constexpr auto json_fields(const delete_address_request*) {
  return std::tuple{json_field("id", &delete_address_request::id),
                    json_field("expected_version", &delete_address_request::expected_version)};
}

// The deleted address and the version it had.
struct address_removed {
  std::string id;
  std::int64_t version = 0;
};
constexpr auto json_fields(const address_removed*) {
  return std::tuple{json_field("id", &address_removed::id), json_field("version", &address_removed::version)};
}

#define AGORA_CUSTOMERS_METHOD(type, method_name, req, rep) \
  struct type {                                             \
    static constexpr std::string_view name = method_name;   \
    using request = req;                                    \
    using reply = rep;                                      \
  }

AGORA_CUSTOMERS_METHOD(register_account, "customers.register", register_request, account);
AGORA_CUSTOMERS_METHOD(login, "customers.login", login_request, token_grant);
AGORA_CUSTOMERS_METHOD(refresh, "customers.refresh", refresh_request, token_grant);
AGORA_CUSTOMERS_METHOD(logout, "customers.logout", refresh_request, logout_reply);
AGORA_CUSTOMERS_METHOD(get_me, "customers.get_me", get_me_request, account);
AGORA_CUSTOMERS_METHOD(update_me, "customers.update_me", update_me_request, account);
AGORA_CUSTOMERS_METHOD(create_api_key, "customers.create_api_key", create_api_key_request, api_key_created);
AGORA_CUSTOMERS_METHOD(list_api_keys, "customers.list_api_keys", list_api_keys_request, api_key_page);
AGORA_CUSTOMERS_METHOD(revoke_api_key, "customers.revoke_api_key", revoke_api_key_request, api_key);
AGORA_CUSTOMERS_METHOD(create_account, "customers.create_account", create_account_request, account);
AGORA_CUSTOMERS_METHOD(list_accounts, "customers.list_accounts", list_accounts_request, account_page);
AGORA_CUSTOMERS_METHOD(get_account, "customers.get_account", get_account_request, account);
AGORA_CUSTOMERS_METHOD(update_account, "customers.update_account", update_account_request, account);
AGORA_CUSTOMERS_METHOD(get_quota, "customers.get_quota", get_quota_request, quota);
AGORA_CUSTOMERS_METHOD(set_quota, "customers.set_quota", set_quota_request, quota);
AGORA_CUSTOMERS_METHOD(rotate_keys, "customers.rotate_keys", rotate_keys_request, rotate_keys_reply);

AGORA_CUSTOMERS_METHOD(create_address, "customers.create_address", create_address_request, address);
AGORA_CUSTOMERS_METHOD(list_addresses, "customers.list_addresses", list_addresses_request, address_page);
AGORA_CUSTOMERS_METHOD(get_address, "customers.get_address", get_address_request, address);
AGORA_CUSTOMERS_METHOD(update_address, "customers.update_address", update_address_request, address);
AGORA_CUSTOMERS_METHOD(delete_address, "customers.delete_address", delete_address_request, address_removed);

#undef AGORA_CUSTOMERS_METHOD

}  // namespace agora::customers
