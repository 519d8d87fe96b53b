#include <agora/auth.hpp>
#include <agora/identity.hpp>
#include <agora/ids.hpp>
#include <agora/jwt.hpp>

#include <sodium.h>

#include <atomic>
#include <mutex>
#include <unordered_map>

namespace agora::auth {

namespace {

using steady = std::chrono::steady_clock;

std::string fingerprint(std::string_view key) {
  unsigned char out[32];
  crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(key.data()), key.size(), nullptr, 0);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

std::vector<std::string> strings_of(const nlohmann::json& claims, std::string_view name) {
  std::vector<std::string> out;
  auto it = claims.find(name);
  if (it == claims.end() || !it->is_array()) return out;
  for (const auto& v : *it)
    if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

// A client sends the same token for its whole life: the verifier answers a token it
// verified before from memory (emptied whenever the keys change), which costs a keyed
// hash instead of a signature check.
jwt::verify_options verify_options_of(const identity_options& o) {
  jwt::verify_options v;
  v.issuer = o.issuer;
  v.audience = o.audience;
  v.leeway = o.leeway;
  v.cache_entries = o.token_cache_entries;
  return v;
}

}  // namespace

struct identity_authenticator::impl : std::enable_shared_from_this<impl> {
  impl(bus::bus& b, bus::executor ex, identity_options o, const clock& time, metrics::registry& m)
      : bus(b),
        ex(std::move(ex)),
        opts(std::move(o)),
        time(time),
        verifier(verify_options_of(opts)),
        key_fetches(m.counter_of("agora_auth_key_fetches_total", "Fetches of the identity module's public keys")),
        cache_hits(m.counter_of("agora_auth_api_key_cache_total", "API key lookups by where they were answered",
                                {{"from", "cache"}})),
        cache_misses(m.counter_of("agora_auth_api_key_cache_total", "API key lookups by where they were answered",
                                  {{"from", "identity"}})) {}

  struct cached_key {
    principal who;
    steady::time_point until;
  };

  bus::bus& bus;
  bus::executor ex;
  identity_options opts;
  const clock& time;
  jwt::verifier verifier;
  metrics::counter& key_fetches;
  metrics::counter& cache_hits;
  metrics::counter& cache_misses;
  std::atomic<steady::rep> last_fetch{0};
  std::mutex mu;
  std::unordered_map<std::string, cached_key> keys_cache;
  // Accounts whose tokens issued before a time (unix milliseconds) are refused.
  std::unordered_map<std::string, std::int64_t> revoked_before;

  std::int64_t now_unix() const {
    return std::chrono::duration_cast<std::chrono::seconds>(time.now().time_since_epoch()).count();
  }

  asio::awaitable<bool> fetch(bus::request_options o) {
    last_fetch.store(steady::now().time_since_epoch().count());
    key_fetches.inc();
    identity::signing_keys_request req;
    auto r = co_await bus.call<identity::signing_keys>(req, std::move(o));
    if (!r) {
      log::warn("auth", "the identity module's keys could not be fetched", {{"error", r.err().message}});
      co_return false;
    }
    std::vector<jwt::public_key> keys;
    if (r->keys.is_array())
      for (const auto& jwk : r->keys) {
        auto k = jwt::public_key::from_jwk(jwk);
        if (k)
          keys.push_back(std::move(k).value());
        else
          log::warn("auth", "a published key was not usable", {{"error", k.err().message}});
      }
    verifier.set_keys(std::move(keys));
    co_return true;
  }

  void revoke_tokens(const std::string& subject, std::int64_t before) {
    std::lock_guard lock(mu);
    // Entries outlive every token they could refuse after a day (tokens live minutes).
    if (revoked_before.size() > 10000) {
      const auto horizon = (now_unix() - 86400) * 1000;
      for (auto it = revoked_before.begin(); it != revoked_before.end();)
        it = it->second < horizon ? revoked_before.erase(it) : std::next(it);
    }
    auto& t = revoked_before[subject];
    t = std::max(t, before);
  }

  bool revoked(const std::string& subject, std::int64_t issued_at) {
    std::lock_guard lock(mu);
    auto it = revoked_before.find(subject);
    return it != revoked_before.end() && issued_at < it->second;
  }

  void drop_api_keys() {
    std::lock_guard lock(mu);
    keys_cache.clear();
  }

  result<principal> from_claims(const jwt::verified& v) const {
    principal p;
    p.subject = v.subject;
    auto kind = v.claims.find("kind");
    auto k = kind != v.claims.end() && kind->is_string() ? principal_kind_from(kind->get<std::string>()) : std::nullopt;
    if (!k || *k == principal_kind::anonymous || *k == principal_kind::api_key)
      return error{errc::unauthenticated, "the token names no kind of account", {}};
    p.kind = *k;
    p.roles = strings_of(v.claims, "roles");
    p.key_id = v.jti;
    return p;
  }

  asio::awaitable<result<principal>> token(const std::string& value, bus::request_options o) {
    const auto now = now_unix();
    auto v = verifier.verify(value, now);
    if (!v && v.err() == jwt::failure::unknown_key) {
      auto last = steady::time_point(steady::duration(last_fetch.load()));
      if (steady::now() - last >= std::chrono::seconds(1)) {
        co_await fetch(o);
        v = verifier.verify(value, now_unix());
      }
    }
    if (!v) co_return error{errc::unauthenticated, "invalid token: " + std::string(jwt::describe(v.err())), {}};
    // Our tokens carry their issue time to the millisecond (iat_ms), so a change made the
    // same second as a new sign-in does not refuse the new token.
    auto ms = v->claims.find("iat_ms");
    std::int64_t issued_ms =
        ms != v->claims.end() && ms->is_number_integer() ? ms->get<std::int64_t>() : v->issued_at * 1000;
    if (revoked(v->subject, issued_ms))
      co_return error{errc::unauthenticated, "invalid token: revoked (the account changed); sign in again", {}};
    co_return from_claims(v.value());
  }

  asio::awaitable<result<principal>> api_key(const std::string& value, bus::request_options o) {
    const bool caching = opts.api_key_cache.count() > 0;
    std::string fp = caching ? fingerprint(value) : std::string();
    if (caching) {
      std::lock_guard lock(mu);
      auto it = keys_cache.find(fp);
      if (it != keys_cache.end()) {
        if (steady::now() < it->second.until) {
          cache_hits.inc();
          co_return it->second.who;
        }
        keys_cache.erase(it);
      }
    }
    cache_misses.inc();
    identity::verify_api_key_request req{value};
    auto r = co_await bus.call<identity::verify_api_key>(std::move(req), std::move(o));
    if (!r) {
      if (r.err().code == errc::unauthenticated || r.err().code == errc::not_found)
        co_return error{errc::unauthenticated, "invalid API key", {}};
      co_return error::unavailable("the identity module did not answer");
    }
    if (caching) {
      auto until = steady::now() + opts.api_key_cache;
      if (r->expires_at) {
        auto left = std::chrono::duration_cast<steady::duration>(from_rfc3339_or_now(*r->expires_at) - time.now());
        until = std::min(until, steady::now() + std::max(left, steady::duration::zero()));
      }
      std::lock_guard lock(mu);
      if (keys_cache.size() >= opts.api_key_cache_entries) keys_cache.clear();
      keys_cache[fp] = {r->who, until};
    }
    co_return std::move(r->who);
  }

  clock::time_point from_rfc3339_or_now(const std::string& t) const {
    auto v = agora::from_rfc3339(t);
    return v ? *v : time.now();
  }
};

identity_authenticator::identity_authenticator(bus::bus& b, bus::executor ex, identity_options o, const clock& time,
                                               metrics::registry& m)
    : impl_(std::make_shared<impl>(b, std::move(ex), std::move(o), time, m)) {}

identity_authenticator::~identity_authenticator() = default;

asio::awaitable<void> identity_authenticator::start(std::string name) {
  std::weak_ptr<impl> weak = impl_;
  for (auto topic : {identity::credentials_topic, identity::accounts_topic}) {
    bus::subscription s;
    s.topic = std::string(topic);
    s.group = "auth." + name;
    s.consumer = "auth." + name + "#0";
    s.ex = impl_->ex;
    s.handler = [weak](const bus::event& ev) -> asio::awaitable<result<void>> {
      auto self = weak.lock();
      if (!self) co_return ok();
      if (ev.type == identity::signing_key_rotated) {
        bus::request_options o(std::chrono::milliseconds(5000), ev.tr);
        if (!co_await self->fetch(std::move(o))) co_return error::unavailable("keys not fetched; retry");
      } else if (ev.type != identity::apikey_created && ev.type != "customer.registered") {
        auto before = ev.data.find(identity::revoke_tokens_before);
        if (before != ev.data.end() && before->is_string()) {
          if (auto t = from_rfc3339(before->get<std::string>()))
            self->revoke_tokens(ev.subject,
                                std::chrono::duration_cast<std::chrono::milliseconds>(t->time_since_epoch()).count());
        }
        // A revoked key, a changed or disabled account: cached API keys may be stale.
        self->drop_api_keys();
      }
      co_return ok();
    };
    impl_->bus.subscribe(std::move(s));
  }
  bus::request_options o(std::chrono::milliseconds(5000));
  co_await impl_->fetch(std::move(o));
}

asio::awaitable<bool> identity_authenticator::refresh_keys() {
  bus::request_options o(std::chrono::milliseconds(5000));
  co_return co_await impl_->fetch(std::move(o));
}

asio::awaitable<result<principal>> identity_authenticator::authenticate(const credential& c, const log::trace& tr,
                                                                        steady::time_point deadline) {
  auto left = deadline == steady::time_point::max()
                  ? std::chrono::milliseconds(5000)
                  : std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
  bus::request_options o(std::clamp(left, std::chrono::milliseconds(0), std::chrono::milliseconds(5000)), tr);
  auto self = impl_;
  if (c.type == credential::kind::token) co_return co_await self->token(c.value, std::move(o));
  if (c.type == credential::kind::api_key) co_return co_await self->api_key(c.value, std::move(o));
  co_return principal{};
}

}  // namespace agora::auth
