#pragma once

#include <customers/api.hpp>

#include <agora/store.hpp>

#include <optional>
#include <string>
#include <vector>

// The customers module's SQL: plain functions over the module's database, run on its
// store thread inside the service's jobs.
namespace agora::customers::sql {

struct account_row {
  account item;
  std::string password_hash;
};

void insert_account(store::database& db, const account& a, const std::string& password_hash);
std::optional<account_row> find_account(store::database& db, const std::string& id);
std::optional<account_row> find_account_by_email(store::database& db, const std::string& email_key);
bool email_taken(store::database& db, const std::string& email_key, const std::string& except_id);
void update_account(store::database& db, const account& a, const std::optional<std::string>& new_password_hash);
std::vector<account> list_accounts(store::database& db, const std::string& after,
                                   const std::optional<std::string>& role, std::int64_t limit);

struct refresh_row {
  std::string id, family, account_id, expires_at;
  std::optional<std::string> used_at, revoked_at;
};
void insert_refresh(store::database& db, const std::string& id, const std::string& digest, const std::string& family,
                    const std::string& account_id, const std::string& expires_at, const std::string& now);
std::optional<refresh_row> find_refresh(store::database& db, const std::string& digest);
void spend_refresh(store::database& db, const std::string& id, const std::string& now);
// Revokes every live token of the family; the count revoked.
std::int64_t revoke_family(store::database& db, const std::string& family, const std::string& now);
std::int64_t revoke_account_tokens(store::database& db, const std::string& account_id, const std::string& now);

struct key_row {
  std::string kid, alg, secret, public_jwk, created_at;
  std::optional<std::string> retired_at, published_until;
};
void insert_key(store::database& db, const key_row& k);
// Retires every unretired key but `kid`, published until `until`.
void retire_keys_except(store::database& db, const std::string& kid, const std::string& now, const std::string& until);
// Keys still published at `now`: the active one first.
std::vector<key_row> published_keys(store::database& db, const std::string& now);
// Forgets the secrets of keys no longer published.
void drop_unpublished_keys(store::database& db, const std::string& now);

struct api_key_row {
  api_key item;
  std::string digest;
};
void insert_api_key(store::database& db, const api_key& k, const std::string& digest);
std::optional<api_key_row> find_api_key_by_prefix(store::database& db, const std::string& prefix);
std::optional<api_key> find_api_key(store::database& db, const std::string& id);
std::vector<api_key> list_api_keys(store::database& db, const std::string& account_id, const std::string& after,
                                   std::int64_t limit);
void revoke_api_key(store::database& db, const std::string& id, const std::string& now);
void touch_api_key(store::database& db, const std::string& id, const std::string& at);

struct quota_row {
  std::optional<std::int64_t> per_minute, per_hour, daily_tokens;
};
std::optional<quota_row> find_quota(store::database& db, const std::string& subject);
void put_quota(store::database& db, const std::string& subject, const quota_row& q, const std::string& now);

}  // namespace agora::customers::sql
