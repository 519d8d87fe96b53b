#pragma once

#include <agora/result.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// JSON Web Tokens as compact JWS (RFC 7515/7519), signed with Ed25519 ("EdDSA", RFC 8037)
// or RSA PKCS#1 v1.5 with SHA-256 ("RS256"). Nothing else is ever accepted: no "none", no
// HMAC (a verifier holding only public keys must never treat one as a shared secret).
// The customers module owns the private keys and signs; the core's auth filter and the
// gateways verify with the public keys it publishes as JWKs.
namespace agora::jwt {

enum class algorithm { eddsa, rs256 };
std::string_view to_string(algorithm a) noexcept;  // "EdDSA", "RS256"
// The algorithm a JOSE "alg" names; nullopt for any other name (case-sensitive).
std::optional<algorithm> algorithm_from(std::string_view name) noexcept;

// RFC 4648 §5 without padding. decode refuses padding, characters outside the alphabet
// (whitespace included), a length of 4n+1 and non-zero leftover bits, so each byte string
// has exactly one accepted text.
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

// A signing key. The secret never leaves the module that owns it.
struct private_key {
  std::string kid;
  algorithm alg = algorithm::eddsa;
  std::string secret;  // EdDSA: libsodium's 64-byte secret key (seed then public key); RS256: PKCS#8 PEM
  // The public half as a JWK (RFC 7517/8037): {"kty":"OKP","crv":"Ed25519","x"} or
  // {"kty":"RSA","n","e"}, plus "kid", "alg" and "use":"sig". Throws std::runtime_error if
  // the secret is not a key of `alg`.
  nlohmann::json public_jwk() const;
};

// A new random key; RS256 keys are 2048-bit. Throws std::runtime_error on a crypto library failure.
private_key generate_key(algorithm alg, std::string kid);

// The compact JWS of `claims` (a JSON object; std::invalid_argument otherwise), with the
// header {"alg","kid","typ":"JWT"}. Throws std::runtime_error if the key's secret is unusable.
std::string sign(const private_key& key, const nlohmann::json& claims);

// A verification key, parsed from a JWK. Cheap to copy (shared immutable state); usable
// from many threads at once.
class public_key {
 public:
  // Accepts an Ed25519 OKP key (32-byte "x") or an RSA key of at least 2048 bits, with a
  // non-empty string "kid". "alg", when present, must match the key type ("EdDSA" for
  // OKP, "RS256" for RSA) and "use", when present, must be "sig". A JWK carrying private
  // members ("d", "p", ...) is refused: public key sets must not hold secrets.
  // Errors are invalid_argument with a message naming what is wrong.
  static result<public_key> from_jwk(const nlohmann::json& jwk);

  const std::string& kid() const noexcept;
  algorithm alg() const noexcept;
  // Whether `signature` (raw bytes, not base64url) is this key's signature of `signing_input`.
  bool verify(std::string_view signing_input, std::string_view signature) const;
  // The JWK in normal form: the members listed for from_jwk, "use":"sig", and nothing else.
  nlohmann::json jwk() const;

 private:
  struct state;
  explicit public_key(std::shared_ptr<const state> s) : s_(std::move(s)) {}
  std::shared_ptr<const state> s_;
};

struct verify_options {
  std::string issuer;               // "iss" must equal it; must not be empty
  std::string audience;             // "aud" (a string or an array of strings) must contain it; must not be empty
  std::chrono::seconds leeway{30};  // on exp and nbf (and iat in the future)
  std::size_t max_token_bytes = 8192;
  // How many verified tokens to remember (0: none). A token seen again is answered from
  // memory: its signature and claims are not checked again, only exp, nbf and iat against
  // `now`. The memory belongs to the key set, so set_keys() empties it. Worth it where the
  // same access token comes back on every request (a gateway); an entry holds the claims.
  std::size_t cache_entries = 0;
};

// Why a token was refused; describe() gives a short English reason (safe to show a client).
enum class failure {
  malformed,              // not three base64url parts of JSON objects; a claim of the wrong type; a "crit" header
  unsupported_algorithm,  // "alg" absent, not a string, or not EdDSA or RS256 ("none" and HS256 included)
  unknown_key,            // "kid" missing or not among the verifier's keys
  algorithm_mismatch,     // "alg" is not the algorithm of the key "kid" names
  bad_signature,
  expired,        // now ≥ exp + leeway
  not_yet_valid,  // nbf or iat later than now + leeway
  wrong_issuer,
  wrong_audience,  // "aud" missing or without the expected audience
  missing_claim,   // "exp", "sub" or "iss" absent, or "sub" or "iss" empty
};
std::string_view describe(failure f) noexcept;

// A token that passed every check.
struct verified {
  nlohmann::json claims;  // the whole payload
  std::string subject, issuer, jti, kid;
  std::int64_t expires_at = 0, issued_at = 0;  // unix seconds; issued_at 0 when there is no "iat"
};

// Verifies compact JWS tokens against a set of public keys it holds. set_keys() may run
// while other threads verify (the key set is an immutable snapshot swapped atomically).
// A moved-from verifier may only be assigned to or destroyed.
//
// A token is accepted when: it is at most max_token_bytes; its header is a JSON object with
// "alg" EdDSA or RS256, a string "kid" naming a held key of that algorithm, and no "crit";
// the signature verifies; its payload is a JSON object with integer "exp" (and "nbf",
// "iat" when present) within the leeway of `now`, string "sub" and "iss", "iss" equal to
// the issuer and "aud" containing the audience; "jti", when present, is a string. Header
// and payload are strict JSON in UTF-8 without a BOM, no member name repeated. "typ" is
// not checked. The payload is parsed only after its signature has verified.
class verifier {
 public:
  // Throws std::invalid_argument if the issuer or the audience is empty.
  explicit verifier(verify_options o);
  ~verifier();
  verifier(verifier&&) noexcept;
  verifier& operator=(verifier&&) noexcept;

  // Replaces the key set. Throws std::invalid_argument if two keys share a kid.
  void set_keys(std::vector<public_key> keys);
  std::vector<std::string> kids() const;
  // now: unix seconds (the caller's clock, so tests use a manual one). Never throws.
  result<verified, failure> verify(std::string_view token, std::int64_t now) const;
  const verify_options& options() const noexcept;

 private:
  struct state;
  std::unique_ptr<state> s_;
};

}  // namespace agora::jwt
