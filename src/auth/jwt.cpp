#include <agora/jwt.hpp>

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

namespace agora::jwt {

namespace {

using json = nlohmann::json;

template <auto F>
struct free_with {
  template <class T>
  void operator()(T* p) const noexcept {
    F(p);
  }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, free_with<EVP_PKEY_free>>;
using pkey_ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, free_with<EVP_PKEY_CTX_free>>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, free_with<EVP_MD_CTX_free>>;
using bio_ptr = std::unique_ptr<BIO, free_with<BIO_free>>;
using bn_ptr = std::unique_ptr<BIGNUM, free_with<BN_free>>;
using param_bld_ptr = std::unique_ptr<OSSL_PARAM_BLD, free_with<OSSL_PARAM_BLD_free>>;
using params_ptr = std::unique_ptr<OSSL_PARAM, free_with<OSSL_PARAM_free>>;

constexpr std::size_t min_rsa_bits = 2048;
constexpr std::size_t max_rsa_bits = 8192;

void need_sodium() {
  static const bool ready = sodium_init() >= 0;
  if (!ready) throw std::runtime_error("libsodium failed to initialise");
}

[[noreturn]] void openssl_failure(const char* what) {
  ERR_clear_error();
  throw std::runtime_error(fmt::format("OpenSSL: {} failed", what));
}

const unsigned char* bytes(std::string_view s) noexcept { return reinterpret_cast<const unsigned char*>(s.data()); }

// The SHA-256 method, fetched once: fetching it by name for every signature costs a lookup
// in OpenSSL's method store.
const EVP_MD* sha256() {
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (!md) openssl_failure("fetching SHA256");
  return md;
}

constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<std::int8_t, 256> decode_table = [] {
  std::array<std::int8_t, 256> t{};
  t.fill(-1);
  for (std::size_t i = 0; i < alphabet.size(); ++i)
    t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
  return t;
}();

bool decode_into(std::string_view text, std::string& out) {
  if (text.size() % 4 == 1) return false;
  out.resize(text.size() / 4 * 3 + (text.size() % 4 == 0 ? 0 : text.size() % 4 - 1));
  std::uint32_t bad = 0;
  auto sextet = [&](std::size_t i) -> std::uint32_t {
    auto v = decode_table[static_cast<unsigned char>(text[i])];
    bad |= static_cast<std::uint32_t>(v < 0);
    return static_cast<std::uint32_t>(v) & 63;
  };
  std::size_t i = 0, o = 0;
  for (; i + 4 <= text.size(); i += 4) {
    auto v = sextet(i) << 18 | sextet(i + 1) << 12 | sextet(i + 2) << 6 | sextet(i + 3);
    out[o++] = static_cast<char>(v >> 16);
    out[o++] = static_cast<char>(v >> 8);
    out[o++] = static_cast<char>(v);
  }
  switch (text.size() - i) {
    case 2: {
      auto a = sextet(i), b = sextet(i + 1);
      bad |= static_cast<std::uint32_t>((b & 15) != 0);
      out[o++] = static_cast<char>(a << 2 | b >> 4);
      break;
    }
    case 3: {
      auto a = sextet(i), b = sextet(i + 1), c = sextet(i + 2);
      bad |= static_cast<std::uint32_t>((c & 3) != 0);
      out[o++] = static_cast<char>(a << 2 | b >> 4);
      out[o++] = static_cast<char>((b & 15) << 4 | c >> 2);
      break;
    }
    default: break;
  }
  return bad == 0;
}

std::string big_endian(const BIGNUM* n) {
  std::string out(static_cast<std::size_t>(BN_num_bytes(n)), '\0');
  BN_bn2bin(n, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

pkey_ptr load_rsa_private(const std::string& pem) {
  bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) openssl_failure("BIO_new_mem_buf");
  pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) openssl_failure("reading an RSA private key");
  return key;
}

void check_ed25519_secret(const private_key& key) {
  if (key.secret.size() != crypto_sign_SECRETKEYBYTES)
    throw std::runtime_error(fmt::format("EdDSA key '{}': the secret is not a {}-byte libsodium secret key", key.kid,
                                         crypto_sign_SECRETKEYBYTES));
}

// Counts the members of each object as they are parsed; an object left with fewer members
// than it had names repeated one. A repeated name is refused rather than resolved: two
// parsers that resolve it differently would read one token two ways.
json parse_object(std::string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) return json(json::value_t::discarded);  // nlohmann would skip a BOM
  std::vector<std::size_t> names;
  bool repeated = false;
  json::parser_callback_t count = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start: names.push_back(0); break;
      case json::parse_event_t::key: ++names.back(); break;
      case json::parse_event_t::object_end:
        if (parsed.size() != names.back()) repeated = true;
        names.pop_back();
        break;
      default: break;
    }
    return true;
  };
  auto j = json::parse(text.begin(), text.end(), count, false);
  if (repeated || !j.is_object()) return json(json::value_t::discarded);
  return j;
}

enum class read { absent, wrong_type, ok };

read integer_claim(const json& claims, const char* name, std::int64_t& out) {
  auto it = claims.find(name);
  if (it == claims.end()) return read::absent;
  if (it->is_number_unsigned()) {
    auto v = it->get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return read::wrong_type;
    out = static_cast<std::int64_t>(v);
    return read::ok;
  }
  if (!it->is_number_integer()) return read::wrong_type;
  out = it->get<std::int64_t>();
  return read::ok;
}

read string_claim(const json& claims, const char* name, const std::string*& out) {
  auto it = claims.find(name);
  if (it == claims.end()) return read::absent;
  if (!it->is_string()) return read::wrong_type;
  out = it->get_ptr<const std::string*>();
  return read::ok;
}

}  // namespace

std::string_view to_string(algorithm a) noexcept {
  switch (a) {
    case algorithm::eddsa: return "EdDSA";
    case algorithm::rs256: return "RS256";
  }
  return "EdDSA";
}

std::optional<algorithm> algorithm_from(std::string_view name) noexcept {
  if (name == "EdDSA") return algorithm::eddsa;
  if (name == "RS256") return algorithm::rs256;
  return std::nullopt;
}

std::string base64url_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() * 4 + 2) / 3);
  std::size_t i = 0;
  auto at = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(in[k])); };
  for (; i + 3 <= in.size(); i += 3) {
    auto v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    out += alphabet[v >> 18 & 63];
    out += alphabet[v >> 12 & 63];
    out += alphabet[v >> 6 & 63];
    out += alphabet[v & 63];
  }
  if (in.size() - i == 1) {
    auto v = at(i) << 16;
    out += alphabet[v >> 18 & 63];
    out += alphabet[v >> 12 & 63];
  } else if (in.size() - i == 2) {
    auto v = at(i) << 16 | at(i + 1) << 8;
    out += alphabet[v >> 18 & 63];
    out += alphabet[v >> 12 & 63];
    out += alphabet[v >> 6 & 63];
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  std::string out;
  if (!decode_into(text, out)) return std::nullopt;
  return out;
}

json private_key::public_jwk() const {
  json jwk;
  if (alg == algorithm::eddsa) {
    check_ed25519_secret(*this);
    std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> pk{};
    crypto_sign_ed25519_sk_to_pk(pk.data(), bytes(secret));
    jwk = {{"kty", "OKP"},
           {"crv", "Ed25519"},
           {"x", base64url_encode({reinterpret_cast<const char*>(pk.data()), pk.size()})}};
  } else {
    auto key = load_rsa_private(secret);
    BIGNUM* n = nullptr;
    BIGNUM* e = nullptr;
    if (EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_N, &n) != 1) openssl_failure("reading n");
    bn_ptr n_owner(n);
    if (EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_E, &e) != 1) openssl_failure("reading e");
    bn_ptr e_owner(e);
    jwk = {{"kty", "RSA"}, {"n", base64url_encode(big_endian(n))}, {"e", base64url_encode(big_endian(e))}};
  }
  jwk["kid"] = kid;
  jwk["alg"] = to_string(alg);
  jwk["use"] = "sig";
  return jwk;
}

private_key generate_key(algorithm alg, std::string kid) {
  private_key key{std::move(kid), alg, {}};
  if (alg == algorithm::eddsa) {
    need_sodium();
    std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> pk{};
    key.secret.resize(crypto_sign_SECRETKEYBYTES);
    if (crypto_sign_keypair(pk.data(), reinterpret_cast<unsigned char*>(key.secret.data())) != 0)
      throw std::runtime_error("libsodium: crypto_sign_keypair failed");
    return key;
  }
  pkey_ptr pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(min_rsa_bits)));
  if (!pkey) openssl_failure("RSA key generation");
  bio_ptr bio(BIO_new(BIO_s_mem()));
  if (!bio) openssl_failure("BIO_new");
  if (PEM_write_bio_PKCS8PrivateKey(bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    openssl_failure("writing the PKCS#8 key");
  char* data = nullptr;
  auto size = BIO_get_mem_data(bio.get(), &data);
  key.secret.assign(data, static_cast<std::size_t>(size));
  OPENSSL_cleanse(data, static_cast<std::size_t>(size));
  return key;
}

std::string sign(const private_key& key, const json& claims) {
  if (!claims.is_object()) throw std::invalid_argument("JWT claims must be a JSON object");
  json header = {{"alg", to_string(key.alg)}, {"typ", "JWT"}, {"kid", key.kid}};
  auto token = base64url_encode(header.dump());
  token += '.';
  token += base64url_encode(claims.dump());
  std::string signature;
  if (key.alg == algorithm::eddsa) {
    check_ed25519_secret(key);
    need_sodium();
    signature.resize(crypto_sign_BYTES);
    crypto_sign_detached(reinterpret_cast<unsigned char*>(signature.data()), nullptr, bytes(token), token.size(),
                         bytes(key.secret));
  } else {
    auto pkey = load_rsa_private(key.secret);
    md_ctx_ptr ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;
    if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, sha256(), nullptr, pkey.get()) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
      openssl_failure("EVP_DigestSignInit");
    std::size_t size = 0;
    if (EVP_DigestSign(ctx.get(), nullptr, &size, bytes(token), token.size()) != 1) openssl_failure("EVP_DigestSign");
    signature.resize(size);
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size, bytes(token),
                       token.size()) != 1)
      openssl_failure("EVP_DigestSign");
    signature.resize(size);
  }
  token += '.';
  token += base64url_encode(signature);
  return token;
}

struct public_key::state {
  std::string kid;
  algorithm alg = algorithm::eddsa;
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> ed25519{};
  pkey_ptr rsa;
  std::size_t rsa_bytes = 0;
  json jwk;
};

result<public_key> public_key::from_jwk(const json& jwk) {
  auto bad = [](std::string field, std::string message) {
    return error::invalid({{std::move(field), message}}, "invalid JWK: " + message);
  };
  if (!jwk.is_object()) return bad("", "a JWK must be a JSON object");
  auto text = [&](const char* name) -> const std::string* {
    auto it = jwk.find(name);
    return it != jwk.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
  };
  auto kid = text("kid");
  if (!kid || kid->empty()) return bad("kid", "\"kid\" must be a non-empty string");
  for (const char* secret : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
    if (jwk.contains(secret))
      return bad(secret, fmt::format("a public JWK must not carry the private member \"{}\"", secret));
  if (jwk.contains("use") && (!text("use") || *text("use") != "sig")) return bad("use", "\"use\" must be \"sig\"");
  auto kty = text("kty");
  if (!kty || (*kty != "OKP" && *kty != "RSA")) return bad("kty", "\"kty\" must be \"OKP\" or \"RSA\"");

  auto s = std::make_shared<state>();
  s->kid = *kid;
  s->alg = *kty == "OKP" ? algorithm::eddsa : algorithm::rs256;
  if (jwk.contains("alg") && (!text("alg") || *text("alg") != to_string(s->alg)))
    return bad("alg", fmt::format("\"alg\" must be \"{}\" for a {} key", to_string(s->alg), *kty));
  try {
    if (s->alg == algorithm::eddsa) {
      need_sodium();
      auto crv = text("crv");
      if (!crv || *crv != "Ed25519") return bad("crv", "\"crv\" must be \"Ed25519\"");
      auto x = text("x") ? base64url_decode(*text("x")) : std::nullopt;
      if (!x || x->size() != crypto_sign_PUBLICKEYBYTES)
        return bad("x", "\"x\" must be the base64url of a 32-byte Ed25519 public key");
      std::copy(x->begin(), x->end(), s->ed25519.begin());
      if (crypto_core_ed25519_is_valid_point(s->ed25519.data()) != 1)
        return bad("x", "\"x\" is not a usable Ed25519 public key");
      s->jwk = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", *text("x")}};
    } else {
      auto n = text("n") ? base64url_decode(*text("n")) : std::nullopt;
      auto e = text("e") ? base64url_decode(*text("e")) : std::nullopt;
      if (!n) return bad("n", "\"n\" must be a base64url string");
      if (!e) return bad("e", "\"e\" must be a base64url string");
      bn_ptr bn_n(BN_bin2bn(bytes(*n), static_cast<int>(n->size()), nullptr));
      bn_ptr bn_e(BN_bin2bn(bytes(*e), static_cast<int>(e->size()), nullptr));
      if (!bn_n || !bn_e) openssl_failure("BN_bin2bn");
      auto bits = static_cast<std::size_t>(BN_num_bits(bn_n.get()));
      if (bits < min_rsa_bits || bits > max_rsa_bits)
        return bad("n",
                   fmt::format("the RSA modulus has {} bits; it must have {} to {}", bits, min_rsa_bits, max_rsa_bits));
      if (!BN_is_odd(bn_e.get()) || BN_num_bits(bn_e.get()) < 2 || BN_num_bits(bn_e.get()) > 64)
        return bad("e", "\"e\" must be an odd exponent above 1 of at most 64 bits");
      param_bld_ptr bld(OSSL_PARAM_BLD_new());
      if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
          OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1)
        openssl_failure("OSSL_PARAM_BLD");
      params_ptr params(OSSL_PARAM_BLD_to_param(bld.get()));
      pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
      EVP_PKEY* raw = nullptr;
      if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
          EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
        openssl_failure("EVP_PKEY_fromdata");
      s->rsa.reset(raw);
      s->rsa_bytes = static_cast<std::size_t>(EVP_PKEY_get_size(raw));
      s->jwk = {{"kty", "RSA"},
                {"n", base64url_encode(big_endian(bn_n.get()))},
                {"e", base64url_encode(big_endian(bn_e.get()))}};
    }
  } catch (const std::exception& e) {
    return error::internal(e.what());
  }
  s->jwk["kid"] = s->kid;
  s->jwk["alg"] = to_string(s->alg);
  s->jwk["use"] = "sig";
  return public_key(std::move(s));
}

const std::string& public_key::kid() const noexcept { return s_->kid; }
algorithm public_key::alg() const noexcept { return s_->alg; }
json public_key::jwk() const { return s_->jwk; }

bool public_key::verify(std::string_view signing_input, std::string_view signature) const {
  if (s_->alg == algorithm::eddsa) {
    return signature.size() == crypto_sign_BYTES &&
           crypto_sign_verify_detached(bytes(signature), bytes(signing_input), signing_input.size(),
                                       s_->ed25519.data()) == 0;
  }
  if (signature.size() != s_->rsa_bytes) return false;
  md_ctx_ptr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok =
      ctx && EVP_DigestVerifyInit(ctx.get(), &pctx, sha256(), nullptr, s_->rsa.get()) == 1 &&
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 &&
      EVP_DigestVerify(ctx.get(), bytes(signature), signature.size(), bytes(signing_input), signing_input.size()) == 1;
  if (!ok) ERR_clear_error();
  return ok;
}

std::string_view describe(failure f) noexcept {
  switch (f) {
    case failure::malformed: return "the token is malformed";
    case failure::unsupported_algorithm: return "the token's signing algorithm is not accepted";
    case failure::unknown_key: return "the token was signed with an unknown key";
    case failure::algorithm_mismatch: return "the token's algorithm does not match its key";
    case failure::bad_signature: return "the token's signature is invalid";
    case failure::expired: return "the token has expired";
    case failure::not_yet_valid: return "the token is not valid yet";
    case failure::wrong_issuer: return "the token was issued by another issuer";
    case failure::wrong_audience: return "the token is meant for another audience";
    case failure::missing_claim: return "the token lacks a required claim";
  }
  return "the token is invalid";
}

namespace {

// Tokens that verified, keyed by a keyed BLAKE2b digest of their whole text: a lookup
// compares digests an attacker cannot predict, in constant time, never token bytes. Only
// verified tokens enter, so refused input can neither fill it nor evict. Full, it drops
// what has expired and, if that is not enough, everything.
class token_cache {
 public:
  using digest = std::array<unsigned char, 32>;
  struct entry {
    std::shared_ptr<const verified> token;
    std::int64_t not_before = 0;
  };

  explicit token_cache(std::size_t capacity) : capacity_(capacity) {}

  std::optional<entry> find(const digest& d) const {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(d);
    if (it == entries_.end()) return std::nullopt;
    return it->second;
  }

  void insert(const digest& d, entry e, std::int64_t now, std::chrono::seconds leeway) {
    std::lock_guard lock(mutex_);
    if (entries_.size() >= capacity_) {
      std::erase_if(entries_, [&](const auto& kv) {
        return static_cast<__int128>(now) >= kv.second.token->expires_at + static_cast<__int128>(leeway.count());
      });
      if (entries_.size() >= capacity_) entries_.clear();
    }
    entries_.emplace(d, std::move(e));
  }

 private:
  struct digest_hash {
    std::size_t operator()(const digest& d) const noexcept {
      std::size_t h = 0;
      std::memcpy(&h, d.data(), sizeof h);
      return h;
    }
  };
  struct digest_equal {
    bool operator()(const digest& a, const digest& b) const noexcept {
      return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
    }
  };
  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::unordered_map<digest, entry, digest_hash, digest_equal> entries_;
};

// nullopt when `now` lies inside the token's validity, stretched by the leeway.
std::optional<failure> outside_validity(std::int64_t expires_at, std::int64_t not_before, std::int64_t issued_at,
                                        std::int64_t now, std::chrono::seconds leeway) {
  auto slack = static_cast<__int128>(leeway.count());
  if (static_cast<__int128>(now) >= expires_at + slack) return failure::expired;
  if (static_cast<__int128>(not_before) > now + slack) return failure::not_yet_valid;
  if (static_cast<__int128>(issued_at) > now + slack) return failure::not_yet_valid;
  return std::nullopt;
}

// One snapshot of the keys, with the cache of tokens verified against exactly these keys:
// replacing the keys starts an empty cache, so a withdrawn key's tokens stop at once.
struct key_set {
  key_set(std::vector<public_key> k, std::size_t cache_entries) : keys(std::move(k)), cache(cache_entries) {}
  std::vector<public_key> keys;
  mutable token_cache cache;
};

}  // namespace

// The key set is swapped under a mutex held only to copy or replace the pointer (a
// reference count's increment): std::atomic<std::shared_ptr> in GCC 12 guards the pointer
// with a lock bit that ThreadSanitizer cannot see, so every swap would read as a race.
struct verifier::state {
  verify_options options;
  std::array<unsigned char, crypto_generichash_KEYBYTES> cache_key{};
  mutable std::mutex keys_mutex;
  std::shared_ptr<const key_set> keys;

  std::shared_ptr<const key_set> snapshot() const {
    std::lock_guard lock(keys_mutex);
    return keys;
  }
  result<verified, failure> check(std::string_view token, std::int64_t now) const;
  result<verified, failure> check_uncached(std::string_view token, std::int64_t now, const key_set& keys,
                                           std::int64_t& not_before) const;
};

verifier::verifier(verify_options o) : s_(std::make_unique<state>()) {
  if (o.issuer.empty()) throw std::invalid_argument("jwt::verifier: the issuer must not be empty");
  if (o.audience.empty()) throw std::invalid_argument("jwt::verifier: the audience must not be empty");
  need_sodium();
  randombytes_buf(s_->cache_key.data(), s_->cache_key.size());
  s_->options = std::move(o);
  s_->keys = std::make_shared<const key_set>(std::vector<public_key>{}, s_->options.cache_entries);
}

verifier::~verifier() = default;
verifier::verifier(verifier&&) noexcept = default;
verifier& verifier::operator=(verifier&&) noexcept = default;

void verifier::set_keys(std::vector<public_key> keys) {
  for (std::size_t i = 0; i < keys.size(); ++i)
    for (std::size_t j = i + 1; j < keys.size(); ++j)
      if (keys[i].kid() == keys[j].kid())
        throw std::invalid_argument(fmt::format("jwt::verifier: two keys share the kid '{}'", keys[i].kid()));
  auto next = std::make_shared<const key_set>(std::move(keys), s_->options.cache_entries);
  std::lock_guard lock(s_->keys_mutex);
  s_->keys.swap(next);
}

std::vector<std::string> verifier::kids() const {
  auto keys = s_->snapshot();
  std::vector<std::string> out;
  out.reserve(keys->keys.size());
  for (const auto& k : keys->keys) out.push_back(k.kid());
  return out;
}

const verify_options& verifier::options() const noexcept { return s_->options; }

result<verified, failure> verifier::verify(std::string_view token, std::int64_t now) const {
  try {
    return s_->check(token, now);
  } catch (...) {
    return failure::malformed;
  }
}

result<verified, failure> verifier::state::check(std::string_view token, std::int64_t now) const {
  if (token.size() > options.max_token_bytes) return failure::malformed;
  auto keys = snapshot();
  std::int64_t not_before = 0;
  if (options.cache_entries == 0) return check_uncached(token, now, *keys, not_before);

  token_cache::digest d;
  crypto_generichash(d.data(), d.size(), bytes(token), token.size(), cache_key.data(), cache_key.size());
  if (auto hit = keys->cache.find(d)) {
    const auto& t = *hit->token;
    if (auto f = outside_validity(t.expires_at, hit->not_before, t.issued_at, now, options.leeway)) return *f;
    return t;
  }
  auto r = check_uncached(token, now, *keys, not_before);
  if (r) {
    keys->cache.insert(d, {std::make_shared<const verified>(*r), not_before}, now, options.leeway);
  }
  return r;
}

result<verified, failure> verifier::state::check_uncached(std::string_view token, std::int64_t now, const key_set& keys,
                                                          std::int64_t& not_before) const {
  auto dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return failure::malformed;
  auto dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) return failure::malformed;
  auto header_text = token.substr(0, dot1);
  auto payload_text = token.substr(dot1 + 1, dot2 - dot1 - 1);
  auto signature_text = token.substr(dot2 + 1);
  if (header_text.empty() || payload_text.empty()) return failure::malformed;

  std::string buffer;
  if (!decode_into(header_text, buffer)) return failure::malformed;
  auto header = parse_object(buffer);
  if (header.is_discarded()) return failure::malformed;
  const std::string* alg_name = nullptr;
  if (string_claim(header, "alg", alg_name) != read::ok) return failure::unsupported_algorithm;
  auto alg = algorithm_from(*alg_name);
  if (!alg) return failure::unsupported_algorithm;
  if (header.contains("crit")) return failure::malformed;
  const std::string* kid = nullptr;
  if (string_claim(header, "kid", kid) != read::ok) return failure::unknown_key;

  auto key = std::find_if(keys.keys.begin(), keys.keys.end(), [&](const public_key& k) { return k.kid() == *kid; });
  if (key == keys.keys.end()) return failure::unknown_key;
  if (key->alg() != *alg) return failure::algorithm_mismatch;

  std::string signature;
  if (signature_text.empty() || !decode_into(signature_text, signature)) return failure::malformed;
  if (!decode_into(payload_text, buffer)) return failure::malformed;
  if (!key->verify(token.substr(0, dot2), signature)) return failure::bad_signature;

  auto claims = parse_object(buffer);
  if (claims.is_discarded()) return failure::malformed;
  verified out;
  switch (integer_claim(claims, "exp", out.expires_at)) {
    case read::absent: return failure::missing_claim;
    case read::wrong_type: return failure::malformed;
    case read::ok: break;
  }
  not_before = std::numeric_limits<std::int64_t>::min();
  if (integer_claim(claims, "nbf", not_before) == read::wrong_type) return failure::malformed;
  if (integer_claim(claims, "iat", out.issued_at) == read::wrong_type) return failure::malformed;
  const std::string* subject = nullptr;
  const std::string* issuer = nullptr;
  const std::string* jti = nullptr;
  for (auto [name, field] : {std::pair{"sub", &subject}, std::pair{"iss", &issuer}}) {
    switch (string_claim(claims, name, *field)) {
      case read::absent: return failure::missing_claim;
      case read::wrong_type: return failure::malformed;
      case read::ok: break;
    }
    if ((*field)->empty()) return failure::missing_claim;
  }
  if (string_claim(claims, "jti", jti) == read::wrong_type) return failure::malformed;

  if (auto f = outside_validity(out.expires_at, not_before, out.issued_at, now, options.leeway)) return *f;
  if (*issuer != options.issuer) return failure::wrong_issuer;

  auto aud = claims.find("aud");
  if (aud == claims.end()) return failure::wrong_audience;
  if (aud->is_string()) {
    if (aud->get_ref<const std::string&>() != options.audience) return failure::wrong_audience;
  } else if (aud->is_array()) {
    bool found = false;
    for (const auto& a : *aud) {
      if (!a.is_string()) return failure::malformed;
      found = found || a.get_ref<const std::string&>() == options.audience;
    }
    if (!found) return failure::wrong_audience;
  } else {
    return failure::malformed;
  }

  out.subject = *subject;
  out.issuer = *issuer;
  if (jti) out.jti = *jti;
  out.kid = *kid;
  out.claims = std::move(claims);
  return out;
}

}  // namespace agora::jwt
