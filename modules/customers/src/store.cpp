#include "store.hpp"

namespace agora::customers::sql {

namespace {

constexpr std::string_view account_columns =
    "id, email, name, role, status, version, created_at, updated_at, password_hash";

account_row read_account(const store::statement& s) {
  account_row r;
  s.columns(r.item.id, r.item.email, r.item.name, r.item.role, r.item.status, r.item.version, r.item.created_at,
            r.item.updated_at, r.password_hash);
  return r;
}

constexpr std::string_view api_key_columns =
    "id, name, prefix, scopes, expires_at, revoked_at, last_used_at, account_id, created_at, digest";

api_key_row read_api_key(const store::statement& s) {
  api_key_row r;
  std::string scopes;
  s.columns(r.item.id, r.item.name, r.item.prefix, scopes, r.item.expires_at, r.item.revoked_at, r.item.last_used_at,
            r.item.account_id, r.item.created_at, r.digest);
  auto j = nlohmann::json::parse(scopes, nullptr, false);
  if (j.is_array())
    for (const auto& v : j)
      if (v.is_string()) r.item.scopes.push_back(v.get<std::string>());
  return r;
}

std::string sql(std::string_view head, std::string_view columns, std::string_view tail) {
  return std::string(head) + std::string(columns) + std::string(tail);
}

}  // namespace

void insert_account(store::database& db, const account& a, const std::string& password_hash) {
  db.prepare(
        "INSERT INTO accounts (id, email, email_key, name, password_hash, role, status, version, created_at, "
        "updated_at) "
        "VALUES (?, ?, lower(?), ?, ?, ?, ?, ?, ?, ?)")
      .bind_all(a.id, a.email, a.email, a.name, password_hash, a.role, a.status, a.version, a.created_at, a.updated_at)
      .run();
}

std::optional<account_row> find_account(store::database& db, const std::string& id) {
  auto& s = db.prepare(sql("SELECT ", account_columns, " FROM accounts WHERE id = ?"));
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read_account(s);
}

std::optional<account_row> find_account_by_email(store::database& db, const std::string& email_key) {
  auto& s = db.prepare(sql("SELECT ", account_columns, " FROM accounts WHERE email_key = ?"));
  s.bind(1, email_key);
  if (!s.step()) return std::nullopt;
  return read_account(s);
}

bool email_taken(store::database& db, const std::string& email_key, const std::string& except_id) {
  auto& s = db.prepare("SELECT 1 FROM accounts WHERE email_key = ? AND id != ?");
  s.bind_all(email_key, except_id);
  return s.step();
}

void update_account(store::database& db, const account& a, const std::optional<std::string>& new_password_hash) {
  db.prepare(
        "UPDATE accounts SET email = ?, email_key = lower(?), name = ?, role = ?, status = ?, version = ?, "
        "updated_at = ?, password_hash = coalesce(?, password_hash) WHERE id = ?")
      .bind_all(a.email, a.email, a.name, a.role, a.status, a.version, a.updated_at, new_password_hash, a.id)
      .run();
}

std::vector<account> list_accounts(store::database& db, const std::string& after,
                                   const std::optional<std::string>& role, std::int64_t limit) {
  auto& s = db.prepare(sql("SELECT ", account_columns,
                           " FROM accounts WHERE id > ? AND (?2 IS NULL OR role = ?2) ORDER BY id LIMIT ?3"));
  s.bind(1, after).bind(2, role).bind(3, limit);
  std::vector<account> out;
  while (s.step()) out.push_back(read_account(s).item);
  return out;
}

void insert_refresh(store::database& db, const std::string& id, const std::string& digest, const std::string& family,
                    const std::string& account_id, const std::string& expires_at, const std::string& now) {
  db.prepare(
        "INSERT INTO refresh_tokens (id, digest, family, account_id, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)")
      .bind_all(id, digest, family, account_id, expires_at, now)
      .run();
}

std::optional<refresh_row> find_refresh(store::database& db, const std::string& digest) {
  auto& s =
      db.prepare("SELECT id, family, account_id, expires_at, used_at, revoked_at FROM refresh_tokens WHERE digest = ?");
  s.bind(1, digest);
  if (!s.step()) return std::nullopt;
  refresh_row r;
  s.columns(r.id, r.family, r.account_id, r.expires_at, r.used_at, r.revoked_at);
  return r;
}

void spend_refresh(store::database& db, const std::string& id, const std::string& now) {
  db.prepare("UPDATE refresh_tokens SET used_at = ? WHERE id = ?").bind_all(now, id).run();
}

std::int64_t revoke_family(store::database& db, const std::string& family, const std::string& now) {
  db.prepare("UPDATE refresh_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL")
      .bind_all(now, family)
      .run();
  return db.changes();
}

std::int64_t revoke_account_tokens(store::database& db, const std::string& account_id, const std::string& now) {
  db.prepare("UPDATE refresh_tokens SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL")
      .bind_all(now, account_id)
      .run();
  return db.changes();
}

void insert_key(store::database& db, const key_row& k) {
  db.prepare(
        "INSERT INTO signing_keys (kid, alg, secret, public_jwk, created_at, retired_at, published_until) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind_all(k.kid, k.alg, k.secret, k.public_jwk, k.created_at, k.retired_at, k.published_until)
      .run();
}

void retire_keys_except(store::database& db, const std::string& kid, const std::string& now, const std::string& until) {
  db.prepare("UPDATE signing_keys SET retired_at = ?, published_until = ? WHERE kid != ? AND retired_at IS NULL")
      .bind_all(now, until, kid)
      .run();
}

std::vector<key_row> published_keys(store::database& db, const std::string& now) {
  auto& s = db.prepare(
      "SELECT kid, alg, secret, public_jwk, created_at, retired_at, published_until FROM signing_keys "
      "WHERE retired_at IS NULL OR published_until > ? ORDER BY retired_at IS NOT NULL, created_at DESC, kid DESC");
  s.bind(1, now);
  std::vector<key_row> out;
  while (s.step()) {
    key_row k;
    s.columns(k.kid, k.alg, k.secret, k.public_jwk, k.created_at, k.retired_at, k.published_until);
    out.push_back(std::move(k));
  }
  return out;
}

void drop_unpublished_keys(store::database& db, const std::string& now) {
  db.prepare("DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND published_until <= ?").bind(1, now).run();
}

void insert_api_key(store::database& db, const api_key& k, const std::string& digest) {
  db.prepare(
        "INSERT INTO api_keys (id, account_id, name, prefix, digest, scopes, expires_at, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .bind_all(k.id, k.account_id, k.name, k.prefix, digest, nlohmann::json(k.scopes).dump(), k.expires_at,
                k.created_at)
      .run();
}

std::optional<api_key_row> find_api_key_by_prefix(store::database& db, const std::string& prefix) {
  auto& s = db.prepare(sql("SELECT ", api_key_columns, " FROM api_keys WHERE prefix = ?"));
  s.bind(1, prefix);
  if (!s.step()) return std::nullopt;
  return read_api_key(s);
}

std::optional<api_key> find_api_key(store::database& db, const std::string& id) {
  auto& s = db.prepare(sql("SELECT ", api_key_columns, " FROM api_keys WHERE id = ?"));
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read_api_key(s).item;
}

std::vector<api_key> list_api_keys(store::database& db, const std::string& account_id, const std::string& after,
                                   std::int64_t limit) {
  auto& s =
      db.prepare(sql("SELECT ", api_key_columns, " FROM api_keys WHERE account_id = ? AND id > ? ORDER BY id LIMIT ?"));
  s.bind_all(account_id, after, limit);
  std::vector<api_key> out;
  while (s.step()) out.push_back(read_api_key(s).item);
  return out;
}

void revoke_api_key(store::database& db, const std::string& id, const std::string& now) {
  db.prepare("UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?").bind_all(now, id).run();
}

void touch_api_key(store::database& db, const std::string& id, const std::string& at) {
  db.prepare("UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)")
      .bind_all(at, id, at)
      .run();
}

std::optional<quota_row> find_quota(store::database& db, const std::string& subject) {
  auto& s = db.prepare("SELECT requests_per_minute, requests_per_hour, daily_tokens FROM quotas WHERE subject = ?");
  s.bind(1, subject);
  if (!s.step()) return std::nullopt;
  quota_row q;
  s.columns(q.per_minute, q.per_hour, q.daily_tokens);
  return q;
}

void put_quota(store::database& db, const std::string& subject, const quota_row& q, const std::string& now) {
  db.prepare(
        "INSERT INTO quotas (subject, requests_per_minute, requests_per_hour, daily_tokens, updated_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (subject) DO UPDATE SET "
        "requests_per_minute = coalesce(?2, requests_per_minute), requests_per_hour = coalesce(?3, requests_per_hour), "
        "daily_tokens = coalesce(?4, daily_tokens), updated_at = ?5")
      .bind_all(subject, q.per_minute, q.per_hour, q.daily_tokens, now)
      .run();
}

}  // namespace agora::customers::sql
