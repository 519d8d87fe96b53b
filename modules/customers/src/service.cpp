#include "service.hpp"

#include "settings.hpp"

#include <agora/ids.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <set>

namespace agora::customers {

namespace {

using steady = std::chrono::steady_clock;

constexpr std::int64_t default_page_limit = 20;
constexpr std::int64_t max_page_limit = 100;
constexpr std::size_t throttle_keys_max = 100000;
const std::set<std::string, std::less<>> known_roles{"customer", "clerk", "manager", "admin"};
const std::set<std::string, std::less<>> known_scopes{"catalog:write", "inference", "conversations",
                                                      "account",       "admin",     "metrics"};

bool is_admin(const principal& p) { return p.has_role(roles::admin) && p.kind != principal_kind::api_key; }
bool is_admin_or_admin_key(const principal& p) { return p.has_role(roles::admin) && p.allows_scope("admin"); }

std::int64_t unix_seconds(const clock& c) {
  return std::chrono::duration_cast<std::chrono::seconds>(c.now().time_since_epoch()).count();
}

bus::call_context own_context() {
  bus::call_context c;
  c.method = "customers.start";
  return c;
}

}  // namespace

std::int64_t service::throttle::wait_for(const std::string& key, steady::time_point now, std::chrono::seconds window) {
  auto it = failures.find(key);
  if (it == failures.end()) return 0;
  auto& q = it->second;
  while (!q.empty() && q.front() + window <= now) q.pop_front();
  if (q.empty()) {
    failures.erase(it);
    return 0;
  }
  if (static_cast<std::int64_t>(q.size()) < limit) return 0;
  return std::max<std::int64_t>(1, std::chrono::ceil<std::chrono::seconds>(q.front() + window - now).count());
}

void service::throttle::fail(const std::string& key, steady::time_point now, std::chrono::seconds window) {
  if (failures.size() >= throttle_keys_max) {
    for (auto it = failures.begin(); it != failures.end();) {
      if (it->second.empty() || it->second.back() + window <= now)
        it = failures.erase(it);
      else
        ++it;
    }
    if (failures.size() >= throttle_keys_max) failures.clear();
  }
  auto& q = failures[key];
  q.push_back(now);
  while (static_cast<std::int64_t>(q.size()) > limit) q.pop_front();
}

service::service(module_context& ctx)
    : ctx_(ctx),
      hashing_(static_cast<std::size_t>(ctx.get(settings::hash_threads))),
      cost_{static_cast<std::uint64_t>(ctx.get(settings::password_iterations)),
            static_cast<std::size_t>(ctx.get(settings::password_memory_kib))},
      issuer_(ctx.core_setting(config::core::auth_issuer)),
      audience_(ctx.core_setting(config::core::auth_audience)),
      access_ttl_(ctx.get(settings::access_token_ttl_s)),
      refresh_ttl_(ctx.get(settings::refresh_token_ttl_s)),
      rotation_(ctx.get(settings::key_rotation_s)),
      overlap_(ctx.get(settings::key_overlap_s)),
      window_(ctx.get(settings::login_window_s)),
      logins_ok_(ctx.metrics().counter_of("agora_customers_logins_total", "Logins by outcome", {{"outcome", "ok"}})),
      logins_failed_(
          ctx.metrics().counter_of("agora_customers_logins_total", "Logins by outcome", {{"outcome", "failed"}})),
      logins_throttled_(
          ctx.metrics().counter_of("agora_customers_logins_total", "Logins by outcome", {{"outcome", "throttled"}})),
      refresh_reuse_(ctx.metrics().counter_of("agora_customers_refresh_reuse_total",
                                              "Spent refresh tokens presented again (their family was revoked)")) {
  per_account_.limit = ctx.get(settings::login_failures_per_account);
  per_address_.limit = ctx.get(settings::login_failures_per_address);
  if (overlap_ < access_ttl_)
    throw config::config_error(
        "modules.customers.key_overlap_s must be at least access_token_ttl_s, so that a "
        "replaced key still verifies the tokens it signed");
}

service::~service() = default;

std::string service::later(std::chrono::seconds s) const { return to_rfc3339(ctx_.clock().now() + s); }

asio::awaitable<void> service::start() {
  auto hash_cost = cost_;
  auto dummy = [hash_cost] { return secrets::hash_password(secrets::random_token(24), hash_cost); };
  dummy_hash_ = co_await hashing_.run(std::move(dummy));

  auto at = now();
  auto load = [at](store::database& db) { return sql::published_keys(db, at); };
  auto keys = co_await ctx_.store().run(std::move(load), bus::clock::time_point::max());
  if (!keys) throw std::runtime_error("customers: signing keys could not be read: " + keys.err().message);
  auto c = own_context();
  if (keys->empty() || keys->front().retired_at) {
    auto kid = co_await rotate(c);
    if (!kid) throw std::runtime_error("customers: no signing key could be made: " + kid.err().message);
  } else {
    const auto& k = keys->front();
    jwt::private_key pk;
    pk.kid = k.kid;
    pk.alg = jwt::algorithm_from(k.alg).value_or(jwt::algorithm::eddsa);
    pk.secret = k.secret;
    signing_key_ = std::move(pk);
    signing_key_created_ = k.created_at;
  }

  auto email = ctx_.get(settings::admin_email);
  auto password = ctx_.get(settings::admin_password);
  if (!email.empty() || !password.empty()) {
    if (email.empty() || password.empty())
      throw config::config_error("modules.customers.admin_email and admin_password are set together or not at all");
    auto key = secrets::email_key(email);
    auto find = [key](store::database& db) { return sql::find_account_by_email(db, key).has_value(); };
    auto exists = co_await ctx_.store().run(std::move(find), bus::clock::time_point::max());
    if (exists && !*exists) {
      auto made = co_await new_account(email, password, "Administrator", "admin", c);
      if (!made) {
        std::string why = made.err().message;
        for (const auto& f : made.err().fields) why += "; " + f.field + " " + f.message;
        throw config::config_error("modules.customers.admin_email/admin_password: " + why);
      }
      log::info("customers", "first admin created", {{"account", made->id}});
    }
  }
  tasks_.spawn(ctx_.executor(), background(), "customers.background");
}

asio::awaitable<void> service::stop() {
  co_await tasks_.stop();
  co_await flush_key_uses();
  hashing_.stop();
}

asio::awaitable<void> service::background() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(std::chrono::seconds(30));
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;  // stopping
    co_await flush_key_uses();
    auto at = now();
    auto prune = [at](store::database& db) { sql::drop_unpublished_keys(db, at); };
    (void)co_await ctx_.store().run(std::move(prune), bus::clock::time_point::max());
    if (rotation_.count() > 0 && signing_key_) {
      auto created = from_rfc3339(signing_key_created_);
      if (created && *created + rotation_ <= ctx_.clock().now()) {
        auto c = own_context();
        auto kid = co_await rotate(c);
        if (!kid) log::warn("customers", "scheduled key rotation failed", {{"error", kid.err().message}});
      }
    }
  }
}

asio::awaitable<void> service::flush_key_uses() {
  if (key_uses_.empty()) co_return;
  auto uses = std::move(key_uses_);
  key_uses_.clear();
  auto job = [uses = std::move(uses)](store::database& db) {
    db.transaction([&] {
      for (const auto& [id, at] : uses) sql::touch_api_key(db, id, at);
    });
  };
  auto r = co_await ctx_.store().run(std::move(job), bus::clock::time_point::max());
  if (!r) log::warn("customers", "API key use times not written", {{"error", r.err().message}});
}

asio::awaitable<result<std::string>> service::rotate(const bus::call_context& c) {
  auto alg = jwt::algorithm_from(ctx_.get(settings::token_algorithm)).value_or(jwt::algorithm::eddsa);
  auto kid = ctx_.clock().new_id("kid");
  auto make = [alg, kid] { return jwt::generate_key(alg, kid); };
  auto key = co_await hashing_.run(std::move(make));
  auto at = now();
  sql::key_row row{key.kid, std::string(jwt::to_string(alg)), key.secret, key.public_jwk().dump(), at, {}, {}};
  auto until = later(overlap_);
  auto ev = ctx_.event(credentials_topic, signing_key_rotated, key.kid, {{"kid", key.kid}, {"alg", row.alg}}, c, at);
  auto job = [row = std::move(row), until, at, ev = std::move(ev)](store::database& db) {
    db.transaction([&] {
      sql::insert_key(db, row);
      sql::retire_keys_except(db, row.kid, at, until);
      db.enqueue_event(ev);
    });
  };
  auto r = co_await ctx_.store().run(std::move(job), bus::clock::time_point::max());
  if (!r) co_return std::move(r).err();
  signing_key_ = std::move(key);
  signing_key_created_ = at;
  log::info("customers", "signing key rotated", {{"kid", signing_key_->kid}});
  co_return signing_key_->kid;
}

asio::awaitable<result<account>> service::new_account(std::string email, std::string password, std::string name,
                                                      std::string role, const bus::call_context& c) {
  std::vector<field_error> errors;
  email = trim(email);
  name = trim(name);
  secrets::check_email(email, "email", errors);
  secrets::check_password(password, "password", errors);
  secrets::check_name(name, "name", errors);
  if (!known_roles.count(role)) errors.push_back({"role", "must be customer, clerk, manager or admin"});
  if (!errors.empty()) co_return error::invalid(std::move(errors));
  auto hash_cost = cost_;
  auto hash = [password = std::move(password), hash_cost] { return secrets::hash_password(password, hash_cost); };
  auto password_hash = co_await hashing_.run(std::move(hash));
  auto at = now();
  account a{ctx_.clock().new_id("cus"), email, name, role, "active", 1, at, at};
  auto ev = ctx_.event(accounts_topic, customer_registered, a.id,
                       {{"id", a.id}, {"role", a.role}, {"created_at", a.created_at}}, c, at);
  auto job = [a, password_hash = std::move(password_hash), ev = std::move(ev)](store::database& db) {
    return db.transaction([&]() -> result<account> {
      if (sql::email_taken(db, secrets::email_key(a.email), a.id))
        return error::conflict("an account with this email already exists");
      sql::insert_account(db, a, password_hash);
      db.enqueue_event(ev);
      return a;
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

asio::awaitable<result<account>> service::register_account(register_request req, const bus::call_context& c) {
  co_return co_await new_account(std::move(req.email), std::move(req.password), std::move(req.name), "customer", c);
}

asio::awaitable<result<token_grant>> service::issue(const account& a, std::optional<std::string> family,
                                                    const bus::call_context& c) {
  if (!signing_key_) co_return error::unavailable("no signing key");
  auto iat = unix_seconds(ctx_.clock());
  auto iat_ms = std::chrono::duration_cast<std::chrono::milliseconds>(ctx_.clock().now().time_since_epoch()).count();
  nlohmann::json claims = {{"iss", issuer_},
                           {"iat_ms", iat_ms},
                           {"sub", a.id},
                           {"aud", audience_},
                           {"iat", iat},
                           {"nbf", iat},
                           {"exp", iat + access_ttl_.count()},
                           {"jti", ctx_.clock().new_id("jti")},
                           {"kind", a.role == "customer" ? "customer" : "staff"},
                           {"roles", nlohmann::json::array({a.role})}};
  token_grant g;
  g.access_token = jwt::sign(*signing_key_, claims);
  g.expires_in = access_ttl_.count();
  g.account_id = a.id;
  g.refresh_token = "rt_" + secrets::random_token(32);
  auto digest = secrets::digest(g.refresh_token);
  auto id = ctx_.clock().new_id("rt");
  auto fam = family ? *family : ctx_.clock().new_id("rtf");
  auto at = now();
  auto expires = later(refresh_ttl_);
  auto job = [id, digest, fam, account_id = a.id, expires, at](store::database& db) {
    sql::insert_refresh(db, id, digest, fam, account_id, expires, at);
  };
  auto r = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!r) co_return std::move(r).err();
  co_return g;
}

asio::awaitable<result<token_grant>> service::login(login_request req, const bus::call_context& c) {
  auto key = secrets::email_key(req.email);
  auto t = steady::now();
  auto wait = std::max(per_account_.wait_for(key, t, window_),
                       req.client_address.empty() ? 0 : per_address_.wait_for(req.client_address, t, window_));
  if (wait > 0) {
    logins_throttled_.inc();
    co_return error::exhausted("too many failed logins; try again later", wait);
  }
  auto find = [key](store::database& db) { return sql::find_account_by_email(db, key); };
  auto row = co_await ctx_.store().run(std::move(find), c.deadline);
  if (!row) co_return std::move(row).err();
  std::string hash = *row ? (*row)->password_hash : dummy_hash_;
  auto check = [password = std::move(req.password), hash = std::move(hash)] {
    return secrets::verify_password(password, hash);
  };
  bool ok = co_await hashing_.run(std::move(check));
  if (!ok || !*row || (*row)->item.status != "active") {
    logins_failed_.inc();
    per_account_.fail(key, steady::now(), window_);
    if (!req.client_address.empty()) per_address_.fail(req.client_address, steady::now(), window_);
    co_return error::unauthenticated("the email or the password is wrong");
  }
  per_account_.clear(key);
  logins_ok_.inc();
  co_return co_await issue((*row)->item, std::nullopt, c);
}

asio::awaitable<result<token_grant>> service::refresh(refresh_request req, const bus::call_context& c) {
  if (req.refresh_token.empty() || req.refresh_token.size() > 512)
    co_return error::unauthenticated("the refresh token is not valid");
  auto digest = secrets::digest(req.refresh_token);
  auto at = now();
  struct outcome {
    std::optional<account> a;
    std::string family;
    bool reused = false;
  };
  auto job = [digest, at](store::database& db) {
    return db.transaction([&]() -> outcome {
      outcome o;
      auto t = sql::find_refresh(db, digest);
      if (!t || t->revoked_at || t->expires_at <= at) return o;
      if (t->used_at) {
        sql::revoke_family(db, t->family, at);
        o.reused = true;
        return o;
      }
      auto acc = sql::find_account(db, t->account_id);
      if (!acc || acc->item.status != "active") return o;
      sql::spend_refresh(db, t->id, at);
      o.a = acc->item;
      o.family = t->family;
      return o;
    });
  };
  auto r = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!r) co_return std::move(r).err();
  if (r->reused) {
    refresh_reuse_.inc();
    log::warn("customers", "a spent refresh token was presented again; its family is revoked", {}, c.tr);
    co_return error::unauthenticated("the refresh token was already used; every session of that login is revoked");
  }
  if (!r->a) co_return error::unauthenticated("the refresh token is not valid");
  co_return co_await issue(*r->a, r->family, c);
}

asio::awaitable<result<logout_reply>> service::logout(refresh_request req, const bus::call_context& c) {
  auto digest = secrets::digest(req.refresh_token);
  auto at = now();
  auto job = [digest, at](store::database& db) {
    return db.transaction([&] {
      auto t = sql::find_refresh(db, digest);
      return t && sql::revoke_family(db, t->family, at) > 0;
    });
  };
  auto r = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!r) co_return std::move(r).err();
  co_return logout_reply{*r};
}

result<account> service::me_of(const bus::call_context& c) const {
  if (!c.who.authenticated() || c.who.subject.empty()) return error::unauthenticated("sign in first");
  return account{};
}

asio::awaitable<result<account>> service::get_me(get_me_request, const bus::call_context& c) {
  if (auto m = me_of(c); !m) co_return std::move(m).err();
  auto find = [id = c.who.subject](store::database& db) { return sql::find_account(db, id); };
  auto r = co_await ctx_.store().run(std::move(find), c.deadline);
  if (!r) co_return std::move(r).err();
  if (!*r) co_return error::not_found("no account has this id");
  co_return (*r)->item;
}

asio::awaitable<result<account>> service::update_me(update_me_request req, const bus::call_context& c) {
  if (auto m = me_of(c); !m) co_return std::move(m).err();
  if (c.who.kind == principal_kind::api_key && (req.email || req.password))
    co_return error::forbidden("an API key cannot change the email or the password");
  std::vector<field_error> errors;
  if (req.name) {
    req.name = trim(*req.name);
    secrets::check_name(*req.name, "name", errors);
  }
  if (req.email) {
    req.email = trim(*req.email);
    secrets::check_email(*req.email, "email", errors);
  }
  if (req.password) secrets::check_password(*req.password, "password", errors);
  if ((req.email || req.password) && !req.current_password)
    errors.push_back({"current_password", "is required to change the email or the password"});
  if (!errors.empty()) co_return error::invalid(std::move(errors));
  auto find = [id = c.who.subject](store::database& db) { return sql::find_account(db, id); };
  auto row = co_await ctx_.store().run(std::move(find), c.deadline);
  if (!row) co_return std::move(row).err();
  if (!*row) co_return error::not_found("no account has this id");
  if (req.if_match && !req.if_match->matches((*row)->item.version))
    co_return version_mismatch("account", (*row)->item.version);
  std::optional<std::string> new_hash;
  if (req.current_password) {
    auto check = [pw = *req.current_password, hash = (*row)->password_hash] {
      return secrets::verify_password(pw, hash);
    };
    if (!co_await hashing_.run(std::move(check)))
      co_return error::invalid({{"current_password", "is wrong"}}, "the current password is wrong");
  }
  if (req.password) {
    auto hash_cost = cost_;
    auto hash = [pw = *req.password, hash_cost] { return secrets::hash_password(pw, hash_cost); };
    new_hash = co_await hashing_.run(std::move(hash));
  }
  account a = (*row)->item;
  if (req.name) a.name = *req.name;
  if (req.email) a.email = *req.email;
  a.version += 1;
  a.updated_at = now();
  nlohmann::json data = {{"id", a.id}, {"role", a.role}, {"status", a.status}, {"version", a.version}};
  if (new_hash) data[std::string(identity::revoke_tokens_before)] = a.updated_at;  // a new password ends every session
  auto ev = ctx_.event(accounts_topic, customer_updated, a.id, std::move(data), c, a.updated_at);
  auto expected = (*row)->item.version;
  auto job = [a, new_hash, ev = std::move(ev), expected](store::database& db) {
    return db.transaction([&]() -> result<account> {
      auto cur = sql::find_account(db, a.id);
      if (!cur) return error::not_found("no account has this id");
      if (cur->item.version != expected) return version_mismatch("account", cur->item.version);
      if (sql::email_taken(db, secrets::email_key(a.email), a.id))
        return error::conflict("an account with this email already exists");
      sql::update_account(db, a, new_hash);
      if (new_hash) sql::revoke_account_tokens(db, a.id, a.updated_at);
      db.enqueue_event(ev);
      return a;
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

asio::awaitable<result<api_key_created>> service::create_api_key(create_api_key_request req,
                                                                 const bus::call_context& c) {
  if (auto m = me_of(c); !m) co_return std::move(m).err();
  if (c.who.kind == principal_kind::api_key) co_return error::forbidden("an API key cannot make API keys");
  std::vector<field_error> errors;
  req.name = trim(req.name);
  auto n = utf8_length(req.name);
  if (n == std::string_view::npos || n < 1 || n > 100) errors.push_back({"name", "must be 1 to 100 characters"});
  if (req.scopes.size() > known_scopes.size()) errors.push_back({"scopes", "lists too many scopes"});
  std::sort(req.scopes.begin(), req.scopes.end());
  req.scopes.erase(std::unique(req.scopes.begin(), req.scopes.end()), req.scopes.end());
  for (const auto& s : req.scopes) {
    if (!known_scopes.count(s)) {
      errors.push_back(
          {"scopes", "unknown scope (known: account, admin, catalog:write, conversations, inference, metrics)"});
      break;
    }
    if ((s == "admin" || s == "metrics") && !c.who.has_role(roles::admin)) {
      errors.push_back({"scopes", "admin and metrics are for an admin's keys"});
      break;
    }
  }
  if (req.expires_at) {
    auto t = from_rfc3339(*req.expires_at);
    if (!t)
      errors.push_back({"expires_at", "must be an RFC 3339 date-time"});
    else if (*t <= ctx_.clock().now())
      errors.push_back({"expires_at", "must be in the future"});
    else
      req.expires_at = to_rfc3339(*t);
  }
  if (!errors.empty()) co_return error::invalid(std::move(errors));
  api_key_created out;
  auto prefix = "agk_" + secrets::random_alnum(10);
  out.key = prefix + "_" + secrets::random_token(32);
  auto at = now();
  out.item =
      api_key{ctx_.clock().new_id("key"), req.name, prefix, req.scopes, req.expires_at, {}, {}, c.who.subject, at};
  auto ev = ctx_.event(
      credentials_topic, apikey_created, out.item.id,
      {{"id", out.item.id}, {"account_id", out.item.account_id}, {"prefix", prefix}, {"scopes", out.item.scopes}}, c,
      at);
  auto job = [k = out.item, digest = secrets::digest(out.key), ev = std::move(ev)](store::database& db) {
    return db.transaction([&]() -> result<api_key> {
      auto owner = sql::find_account(db, k.account_id);
      if (!owner || owner->item.status != "active") return error::not_found("no account has this id");
      sql::insert_api_key(db, k, digest);
      db.enqueue_event(ev);
      return k;
    });
  };
  auto r = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!r) co_return std::move(r).err();
  co_return out;
}

asio::awaitable<result<api_key_page>> service::list_api_keys(list_api_keys_request req, const bus::call_context& c) {
  if (auto m = me_of(c); !m) co_return std::move(m).err();
  auto fetch = [owner = c.who.subject](store::database& db, const std::string& after, std::int64_t n) {
    return sql::list_api_keys(db, owner, after, n);
  };
  page_rules rules{default_page_limit, max_page_limit, "key"};
  co_return co_await read_page<api_key>(ctx_.store(), req.limit, std::move(req.cursor), rules, std::move(fetch),
                                        c.deadline);
}

asio::awaitable<result<api_key>> service::revoke_api_key(revoke_api_key_request req, const bus::call_context& c) {
  if (auto m = me_of(c); !m) co_return std::move(m).err();
  if (!is_well_formed_id(req.id, "key")) co_return error::not_found("no API key has this id");
  auto at = now();
  auto ev = ctx_.event(credentials_topic, apikey_revoked, req.id, {{"id", req.id}}, c, at);
  auto job = [id = req.id, who = c.who, at, ev = std::move(ev)](store::database& db) {
    return db.transaction([&]() -> result<api_key> {
      auto k = sql::find_api_key(db, id);
      if (!k || (k->account_id != who.subject && !is_admin(who))) return error::not_found("no API key has this id");
      if (!k->revoked_at) {
        sql::revoke_api_key(db, id, at);
        db.enqueue_event(ev);
        k->revoked_at = at;
      }
      return std::move(*k);
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

asio::awaitable<result<identity::verify_api_key_reply>> service::verify_api_key(identity::verify_api_key_request req,
                                                                                const bus::call_context& c) {
  // agk_<10 of [a-z0-9]>_<secret>
  const std::string& key = req.key;
  if (key.size() < 16 || key.size() > 128 || key.compare(0, 4, "agk_") != 0 || key[14] != '_')
    co_return error::unauthenticated("invalid API key");
  auto prefix = key.substr(0, 14);
  auto digest = secrets::digest(key);
  auto at = now();
  auto job = [prefix, digest, at](store::database& db) -> result<identity::verify_api_key_reply> {
    auto k = sql::find_api_key_by_prefix(db, prefix);
    if (!k || !secrets::equal(k->digest, digest) || k->item.revoked_at ||
        (k->item.expires_at && *k->item.expires_at <= at))
      return error::unauthenticated("invalid API key");
    auto owner = sql::find_account(db, k->item.account_id);
    if (!owner || owner->item.status != "active") return error::unauthenticated("invalid API key");
    identity::verify_api_key_reply r;
    r.who.subject = owner->item.id;
    r.who.kind = principal_kind::api_key;
    r.who.roles = {owner->item.role};
    r.who.scopes = k->item.scopes;
    r.who.key_id = k->item.id;
    r.expires_at = k->item.expires_at;
    return r;
  };
  auto r = co_await ctx_.store().run(std::move(job), c.deadline);
  if (r) key_uses_[r->who.key_id] = at;
  co_return r;
}

asio::awaitable<result<account>> service::create_account(create_account_request req, const bus::call_context& c) {
  if (!is_admin_or_admin_key(c.who)) co_return error::forbidden("only an admin makes accounts");
  co_return co_await new_account(std::move(req.email), std::move(req.password), std::move(req.name),
                                 std::move(req.role), c);
}

asio::awaitable<result<account_page>> service::list_accounts(list_accounts_request req, const bus::call_context& c) {
  if (!is_admin_or_admin_key(c.who)) co_return error::forbidden("only an admin lists accounts");
  if (req.role && !known_roles.count(*req.role))
    co_return error::invalid({{"role", "must be customer, clerk, manager or admin"}});
  auto fetch = [role = req.role](store::database& db, const std::string& after, std::int64_t n) {
    return sql::list_accounts(db, after, role, n);
  };
  page_rules rules{default_page_limit, max_page_limit, "cus"};
  co_return co_await read_page<account>(ctx_.store(), req.limit, std::move(req.cursor), rules, std::move(fetch),
                                        c.deadline);
}

asio::awaitable<result<account>> service::get_account(get_account_request req, const bus::call_context& c) {
  if (!is_admin_or_admin_key(c.who)) co_return error::forbidden("only an admin reads other accounts");
  auto find = [id = req.id](store::database& db) { return sql::find_account(db, id); };
  auto r = co_await ctx_.store().run(std::move(find), c.deadline);
  if (!r) co_return std::move(r).err();
  if (!*r) co_return error::not_found("no account has this id");
  co_return (*r)->item;
}

asio::awaitable<result<account>> service::update_account(update_account_request req, const bus::call_context& c) {
  if (!is_admin_or_admin_key(c.who)) co_return error::forbidden("only an admin changes accounts");
  std::vector<field_error> errors;
  if (req.role && !known_roles.count(*req.role))
    errors.push_back({"role", "must be customer, clerk, manager or admin"});
  if (req.status && *req.status != "active" && *req.status != "disabled")
    errors.push_back({"status", "must be active or disabled"});
  if (req.id == c.who.subject && ((req.role && *req.role != "admin") || (req.status && *req.status != "active")))
    errors.push_back({"role", "an admin cannot demote or disable their own account"});
  if (!errors.empty()) co_return error::invalid(std::move(errors));
  auto at = now();
  auto job = [req, at, this, c](store::database& db) {
    return db.transaction([&]() -> result<account> {
      auto cur = sql::find_account(db, req.id);
      if (!cur) return error::not_found("no account has this id");
      if (req.if_match && !req.if_match->matches(cur->item.version))
        return version_mismatch("account", cur->item.version);
      account a = cur->item;
      if (req.role) a.role = *req.role;
      if (req.status) a.status = *req.status;
      if (a.role == cur->item.role && a.status == cur->item.status) return a;
      a.version += 1;
      a.updated_at = at;
      sql::update_account(db, a, std::nullopt);
      if (a.status != "active") sql::revoke_account_tokens(db, a.id, at);
      // Access tokens issued before now carry the old role or a disabled account: the
      // servers refuse them from this event on (identity::revoke_tokens_before).
      db.enqueue_event(ctx_.event(accounts_topic, customer_updated, a.id,
                                  {{"id", a.id},
                                   {"role", a.role},
                                   {"status", a.status},
                                   {"version", a.version},
                                   {std::string(identity::revoke_tokens_before), at}},
                                  c, at));
      return a;
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

quota service::quota_of(std::string subject, const std::optional<sql::quota_row>& row) const {
  quota q;
  q.subject = std::move(subject);
  q.requests_per_minute = ctx_.get(settings::default_requests_per_minute);
  q.requests_per_hour = ctx_.get(settings::default_requests_per_hour);
  q.daily_tokens = ctx_.get(settings::default_daily_tokens);
  q.is_default = !row;
  if (row) {
    if (row->per_minute) q.requests_per_minute = *row->per_minute;
    if (row->per_hour) q.requests_per_hour = *row->per_hour;
    if (row->daily_tokens) q.daily_tokens = *row->daily_tokens;
  }
  return q;
}

asio::awaitable<result<quota>> service::get_quota(get_quota_request req, const bus::call_context& c) {
  const bool own = !req.subject.empty() && (req.subject == c.who.subject || req.subject == c.who.key_id);
  if (!own && !is_admin_or_admin_key(c.who)) co_return error::not_found("no quota for this subject");
  if (!is_well_formed_id(req.subject, "cus") && !is_well_formed_id(req.subject, "key"))
    co_return error::invalid({{"subject", "must be an account id (cus_…) or an API key id (key_…)"}});
  auto find = [s = req.subject](store::database& db) { return sql::find_quota(db, s); };
  auto r = co_await ctx_.store().run(std::move(find), c.deadline);
  if (!r) co_return std::move(r).err();
  co_return quota_of(std::move(req.subject), *r);
}

asio::awaitable<result<quota>> service::set_quota(set_quota_request req, const bus::call_context& c) {
  if (!is_admin_or_admin_key(c.who)) co_return error::forbidden("only an admin sets quotas");
  std::vector<field_error> errors;
  if (!is_well_formed_id(req.subject, "cus") && !is_well_formed_id(req.subject, "key"))
    errors.push_back({"subject", "must be an account id (cus_…) or an API key id (key_…)"});
  auto check = [&](const std::optional<std::int64_t>& v, const char* f) {
    if (v && (*v < 0 || *v > 1'000'000'000'000)) errors.push_back({f, "must be from 0 to 10^12"});
  };
  check(req.requests_per_minute, "requests_per_minute");
  check(req.requests_per_hour, "requests_per_hour");
  check(req.daily_tokens, "daily_tokens");
  if (!errors.empty()) co_return error::invalid(std::move(errors));
  auto at = now();
  sql::quota_row q{req.requests_per_minute, req.requests_per_hour, req.daily_tokens};
  auto job = [s = req.subject, q, at](store::database& db) {
    return db.transaction([&] {
      sql::put_quota(db, s, q, at);
      return sql::find_quota(db, s);
    });
  };
  auto r = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!r) co_return std::move(r).err();
  co_return quota_of(std::move(req.subject), *r);
}

asio::awaitable<result<rotate_keys_reply>> service::rotate_keys(rotate_keys_request, const bus::call_context& c) {
  if (!is_admin_or_admin_key(c.who)) co_return error::forbidden("only an admin rotates keys");
  auto kid = co_await rotate(c);
  if (!kid) co_return std::move(kid).err();
  auto at = now();
  auto load = [at](store::database& db) { return sql::published_keys(db, at); };
  auto keys = co_await ctx_.store().run(std::move(load), c.deadline);
  if (!keys) co_return std::move(keys).err();
  rotate_keys_reply out;
  out.kid = *kid;
  for (const auto& k : *keys) out.published.push_back(k.kid);
  co_return out;
}

asio::awaitable<result<identity::signing_keys_reply>> service::signing_keys(identity::signing_keys_request,
                                                                            const bus::call_context& c) {
  auto at = now();
  auto load = [at](store::database& db) { return sql::published_keys(db, at); };
  auto keys = co_await ctx_.store().run(std::move(load), c.deadline);
  if (!keys) co_return std::move(keys).err();
  identity::signing_keys_reply out;
  for (const auto& k : *keys) {
    auto jwk = nlohmann::json::parse(k.public_jwk, nullptr, false);
    if (jwk.is_object()) out.keys.push_back(std::move(jwk));
  }
  co_return out;
}

asio::awaitable<int> service::create_admin_command(command_context& cmd) {
  std::string email, name = "Administrator";
  for (std::size_t i = 0; i < cmd.args.size(); ++i) {
    if (cmd.args[i] == "--email" && i + 1 < cmd.args.size())
      email = cmd.args[++i];
    else if (cmd.args[i] == "--name" && i + 1 < cmd.args.size())
      name = cmd.args[++i];
    else
      co_return cmd.usage_error("unknown argument '" + cmd.args[i] + "'");
  }
  if (email.empty()) co_return cmd.usage_error("--email is required");
  std::string password;
  std::getline(cmd.in, password);
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.empty()) {
    cmd.err << "agora customers create-admin: no password on standard input\n";
    co_return 2;
  }
  auto c = own_context();
  auto r = co_await new_account(email, std::move(password), name, "admin", c);
  if (!r) {
    cmd.err << "agora customers create-admin: " << r.err().message;
    for (const auto& f : r.err().fields) cmd.err << "; " << f.field << " " << f.message;
    cmd.err << '\n';
    co_return 1;
  }
  cmd.out << r->id << '\n';
  co_return 0;
}

asio::awaitable<int> service::rotate_keys_command(command_context& cmd) {
  if (!cmd.args.empty()) co_return cmd.usage_error("takes no arguments");
  auto c = own_context();
  auto kid = co_await rotate(c);
  if (!kid) {
    cmd.err << "agora customers rotate-keys: " << kid.err().message << '\n';
    co_return 1;
  }
  cmd.out << *kid << '\n';
  co_return 0;
}

}  // namespace agora::customers
