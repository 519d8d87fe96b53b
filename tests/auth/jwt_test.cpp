#include <agora/jwt.hpp>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace jwt = agora::jwt;
using nlohmann::json;

namespace {

constexpr std::int64_t now = 1'764'547'200;

const jwt::private_key& ed_key() {
  static const auto k = jwt::generate_key(jwt::algorithm::eddsa, "ed-1");
  return k;
}

const jwt::private_key& rsa_key() {
  static const auto k = jwt::generate_key(jwt::algorithm::rs256, "rsa-1");
  return k;
}

jwt::public_key public_of(const jwt::private_key& k) {
  auto p = jwt::public_key::from_jwk(k.public_jwk());
  REQUIRE(p);
  return *p;
}

// Most tests below run twice (GENERATE): without and with a cache of verified tokens.
jwt::verifier make_verifier(std::size_t cache_entries = 0) {
  jwt::verifier v({.issuer = "agora", .audience = "agora-api", .cache_entries = cache_entries});
  v.set_keys({public_of(ed_key()), public_of(rsa_key())});
  return v;
}

std::string b64(std::string_view s) { return jwt::base64url_encode(s); }

std::string raw(std::string_view b64url) {
  auto d = jwt::base64url_decode(b64url);
  REQUIRE(d);
  return *d;
}

const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

std::string ed_signature(const jwt::private_key& k, std::string_view input) {
  std::string sig(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr, bytes(input), input.size(),
                       bytes(k.secret));
  return sig;
}

EVP_PKEY* read_pem(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  REQUIRE(key);
  return key;
}

std::string rsa_signature(const jwt::private_key& k, std::string_view input) {
  EVP_PKEY* key = read_pem(k.secret);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string sig(256, '\0');
  std::size_t size = sig.size();
  bool ok = EVP_DigestSignInit_ex(ctx, nullptr, "SHA256", nullptr, nullptr, key, nullptr) == 1 &&
            EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &size, bytes(input), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  REQUIRE(ok);
  sig.resize(size);
  return sig;
}

// header.payload.signature from texts given verbatim, signed by hand with `k`'s algorithm.
std::string hand_token(std::string_view header, std::string_view payload, const jwt::private_key& k) {
  auto input = b64(header) + "." + b64(payload);
  auto sig = k.alg == jwt::algorithm::eddsa ? ed_signature(k, input) : rsa_signature(k, input);
  return input + "." + b64(sig);
}

std::string ed_header() { return R"({"alg":"EdDSA","typ":"JWT","kid":"ed-1"})"; }
std::string rsa_header() { return R"({"alg":"RS256","typ":"JWT","kid":"rsa-1"})"; }

json claims() {
  return {{"iss", "agora"},  {"sub", "cus_1"},  {"aud", "agora-api"}, {"exp", now + 600},
          {"nbf", now - 10}, {"iat", now - 10}, {"jti", "tok_1"},     {"roles", {"customer"}}};
}

std::string ed_token(const json& c) { return hand_token(ed_header(), c.dump(), ed_key()); }

jwt::failure refusal(const jwt::verifier& v, std::string_view token, std::int64_t at = now) {
  auto r = v.verify(token, at);
  REQUIRE_FALSE(r);
  return r.err();
}

struct parts {
  std::string header, payload, signature;
};

parts split(const std::string& token) {
  auto a = token.find('.');
  auto b = token.find('.', a + 1);
  return {token.substr(0, a), token.substr(a + 1, b - a - 1), token.substr(b + 1)};
}

std::string join(const parts& p) { return p.header + "." + p.payload + "." + p.signature; }

std::string flip_bit(std::string_view part, std::size_t byte, int bit) {
  auto d = raw(part);
  d.at(byte) = static_cast<char>(d.at(byte) ^ (1 << bit));
  return b64(d);
}

}  // namespace

TEST_CASE("base64url encodes without padding and decodes only canonical text", "[jwt]") {
  CHECK(b64("") == "");
  CHECK(b64("f") == "Zg");
  CHECK(b64("fo") == "Zm8");
  CHECK(b64("foo") == "Zm9v");
  CHECK(b64("foob") == "Zm9vYg");
  CHECK(b64("\xfb\xff") == "-_8");
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); n += 37)
    CHECK(jwt::base64url_decode(b64(all.substr(0, n))) == all.substr(0, n));
  CHECK(jwt::base64url_decode("Zm9vYg") == "foob");
  CHECK(jwt::base64url_decode("-_8") == "\xfb\xff");

  CHECK_FALSE(jwt::base64url_decode("Zm9vYg=="));  // padding
  CHECK_FALSE(jwt::base64url_decode("Zg=="));
  CHECK_FALSE(jwt::base64url_decode("+/8"));    // the standard alphabet's characters
  CHECK_FALSE(jwt::base64url_decode("Zm9 v"));  // whitespace
  CHECK_FALSE(jwt::base64url_decode("Zm9v\n"));
  CHECK_FALSE(jwt::base64url_decode("Zm9vY"));  // 4n+1 characters
  CHECK_FALSE(jwt::base64url_decode("Zh"));     // leftover bits not zero ("Zg" is the text of "f")
  CHECK_FALSE(jwt::base64url_decode("Zm9"));    // likewise for two bytes ("Zm8")
  CHECK_FALSE(jwt::base64url_decode(std::string_view("Zm\0v", 4)));
}

TEST_CASE("algorithm names are the JOSE ones, case-sensitive", "[jwt]") {
  CHECK(jwt::to_string(jwt::algorithm::eddsa) == "EdDSA");
  CHECK(jwt::to_string(jwt::algorithm::rs256) == "RS256");
  CHECK(jwt::algorithm_from("EdDSA") == jwt::algorithm::eddsa);
  CHECK(jwt::algorithm_from("RS256") == jwt::algorithm::rs256);
  CHECK_FALSE(jwt::algorithm_from("eddsa"));
  CHECK_FALSE(jwt::algorithm_from("HS256"));
  CHECK_FALSE(jwt::algorithm_from("none"));
}

TEST_CASE("a signed token verifies and yields its claims, for both algorithms", "[jwt]") {
  auto v = make_verifier(GENERATE(std::size_t{0}, std::size_t{16}));
  for (const auto* key : {&ed_key(), &rsa_key()}) {
    auto token = jwt::sign(*key, claims());
    auto p = split(token);
    auto header = json::parse(raw(p.header));
    CHECK(header == json{{"alg", jwt::to_string(key->alg)}, {"typ", "JWT"}, {"kid", key->kid}});
    auto r = v.verify(token, now);
    REQUIRE(r);
    CHECK(r->claims == claims());
    CHECK(r->subject == "cus_1");
    CHECK(r->issuer == "agora");
    CHECK(r->jti == "tok_1");
    CHECK(r->kid == key->kid);
    CHECK(r->expires_at == now + 600);
    CHECK(r->issued_at == now - 10);
  }
  CHECK_THROWS_AS(jwt::sign(ed_key(), json::array({1, 2})), std::invalid_argument);
}

TEST_CASE("tokens built by hand verify, so the refusals below are about what they change", "[jwt]") {
  auto v = make_verifier(GENERATE(std::size_t{0}, std::size_t{16}));
  CHECK(v.verify(ed_token(claims()), now));
  CHECK(v.verify(hand_token(rsa_header(), claims().dump(), rsa_key()), now));
  auto c = claims();
  c.erase("jti");
  c.erase("iat");
  c.erase("nbf");
  auto r = v.verify(ed_token(c), now);
  REQUIRE(r);
  CHECK(r->jti.empty());
  CHECK(r->issued_at == 0);
}

TEST_CASE("alg none is refused, with or without a signature", "[jwt]") {
  auto v = make_verifier(GENERATE(std::size_t{0}, std::size_t{16}));
  auto input = b64(R"({"alg":"none","typ":"JWT","kid":"ed-1"})") + "." + b64(claims().dump());
  CHECK(refusal(v, input + ".") == jwt::failure::unsupported_algorithm);
  CHECK(refusal(v, input + "." + b64(ed_signature(ed_key(), input))) == jwt::failure::unsupported_algorithm);
  CHECK(refusal(v, hand_token(R"({"alg":"None","kid":"ed-1"})", claims().dump(), ed_key())) ==
        jwt::failure::unsupported_algorithm);
}

TEST_CASE("a missing, non-string or unknown alg is refused, and HMAC never is accepted", "[jwt]") {
  auto v = make_verifier(GENERATE(std::size_t{0}, std::size_t{16}));
  CHECK(refusal(v, hand_token(R"({"kid":"ed-1"})", claims().dump(), ed_key())) == jwt::failure::unsupported_algorithm);
  CHECK(refusal(v, hand_token(R"({"alg":7,"kid":"ed-1"})", claims().dump(), ed_key())) ==
        jwt::failure::unsupported_algorithm);
  CHECK(refusal(v, hand_token(R"({"alg":["EdDSA"],"kid":"ed-1"})", claims().dump(), ed_key())) ==
        jwt::failure::unsupported_algorithm);
  CHECK(refusal(v, hand_token(R"({"alg":"ES256","kid":"ed-1"})", claims().dump(), ed_key())) ==
        jwt::failure::unsupported_algorithm);

  // The algorithm-confusion attack: an HMAC keyed with the published public key.
  auto x = raw(ed_key().public_jwk()["x"].get<std::string>());
  auto input = b64(R"({"alg":"HS256","typ":"JWT","kid":"ed-1"})") + "." + b64(claims().dump());
  std::string mac(crypto_auth_hmacsha256_BYTES, '\0');
  crypto_auth_hmacsha256(reinterpret_cast<unsigned char*>(mac.data()), bytes(input), input.size(), bytes(x));
  CHECK(refusal(v, input + "." + b64(mac)) == jwt::failure::unsupported_algorithm);
}

TEST_CASE("a token whose kid is missing or unknown is refused", "[jwt]") {
  auto v = make_verifier(GENERATE(std::size_t{0}, std::size_t{16}));
  CHECK(refusal(v, hand_token(R"({"alg":"EdDSA"})", claims().dump(), ed_key())) == jwt::failure::unknown_key);
  CHECK(refusal(v, hand_token(R"({"alg":"EdDSA","kid":1})", claims().dump(), ed_key())) == jwt::failure::unknown_key);
  CHECK(refusal(v, hand_token(R"({"alg":"EdDSA","kid":"ed-2"})", claims().dump(), ed_key())) ==
        jwt::failure::unknown_key);
  CHECK(refusal(v, hand_token(R"({"alg":"EdDSA","kid":""})", claims().dump(), ed_key())) == jwt::failure::unknown_key);
  auto other = jwt::generate_key(jwt::algorithm::eddsa, "ed-1");
  CHECK(refusal(v, jwt::sign(other, claims())) == jwt::failure::bad_signature);
}

TEST_CASE("a header alg that is not the key's algorithm is refused", "[jwt]") {
  auto v = make_verifier(GENERATE(std::size_t{0}, std::size_t{16}));
  CHECK(refusal(v, hand_token(R"({"alg":"RS256","kid":"ed-1"})", claims().dump(), rsa_key())) ==
        jwt::failure::algorithm_mismatch);
  CHECK(refusal(v, hand_token(R"({"alg":"EdDSA","kid":"rsa-1"})", claims().dump(), ed_key())) ==
        jwt::failure::algorithm_mismatch);
}

TEST_CASE("one flipped bit in the payload or the signature fails the signature", "[jwt]") {
  auto v = make_verifier(GENERATE(std::size_t{0}, std::size_t{16}));
  for (const auto* key : {&ed_key(), &rsa_key()}) {
    auto token = jwt::sign(*key, claims());
    auto p = split(token);
    auto payload = raw(p.payload);
    auto at = payload.find("cus_1") + 4;
    auto tampered = p;
    tampered.payload = flip_bit(p.payload, at, 1);  // "cus_1" becomes "cus_3"
    REQUIRE(raw(tampered.payload).find("cus_3") != std::string::npos);
    CHECK(refusal(v, join(tampered)) == jwt::failure::bad_signature);
    for (std::size_t byte : {std::size_t{0}, raw(p.signature).size() / 2, raw(p.signature).size() - 1}) {
      tampered = p;
      tampered.signature = flip_bit(p.signature, byte, 0);
      CHECK(refusal(v, join(tampered)) == jwt::failure::bad_signature);
    }
    tampered = p;
    tampered.header = b64(R"({"alg":")" + std::string(jwt::to_string(key->alg)) + R"(","kid":")" + key->kid + R"("})");
    CHECK(refusal(v, join(tampered)) == jwt::failure::bad_signature);  // the header is signed too
  }
}

TEST_CASE("a signature of the wrong length is refused", "[jwt]") {
  auto v = make_verifier(GENERATE(std::size_t{0}, std::size_t{16}));
  for (const auto* key : {&ed_key(), &rsa_key()}) {
    auto p = split(jwt::sign(*key, claims()));
    auto sig = raw(p.signature);
    for (auto bad : {sig.substr(0, sig.size() - 1), sig + '\0', std::string("\0", 1) + sig, std::string(1, 'x')}) {
      auto tampered = p;
      tampered.signature = b64(bad);
      CHECK(refusal(v, join(tampered)) == jwt::failure::bad_signature);
    }
  }
}

TEST_CASE("exp is enforced with the leeway", "[jwt]") {
  auto v = make_verifier(GENERATE(std::size_t{0}, std::size_t{16}));
  auto c = claims();
  c["exp"] = now - 29;
  CHECK(v.verify(ed_token(c), now));  // within the 30 s leeway
  c["exp"] = now - 30;
  CHECK(refusal(v, ed_token(c)) == jwt::failure::expired);
  c["exp"] = now - 3600;
  CHECK(refusal(v, ed_token(c)) == jwt::failure::expired);
  c["exp"] = now + 600;
  CHECK(refusal(v, ed_token(c), now + 630) == jwt::failure::expired);
  CHECK(v.verify(ed_token(c), now + 629));

  jwt::verifier strict({.issuer = "agora", .audience = "agora-api", .leeway = std::chrono::seconds(0)});
  strict.set_keys({public_of(ed_key())});
  c["exp"] = now;
  CHECK(refusal(strict, ed_token(c)) == jwt::failure::expired);
  c["exp"] = now + 1;
  CHECK(strict.verify(ed_token(c), now));
}

TEST_CASE("nbf and iat in the future beyond the leeway are refused", "[jwt]") {
  auto v = make_verifier(GENERATE(std::size_t{0}, std::size_t{16}));
  auto c = claims();
  c["nbf"] = now + 30;
  CHECK(v.verify(ed_token(c), now));
  c["nbf"] = now + 31;
  CHECK(refusal(v, ed_token(c)) == jwt::failure::not_yet_valid);
  c = claims();
  c["iat"] = now + 30;
  CHECK(v.verify(ed_token(c), now));
  c["iat"] = now + 86'400;
  CHECK(refusal(v, ed_token(c)) == jwt::failure::not_yet_valid);
}

TEST_CASE("the issuer must be the expected one", "[jwt]") {
  auto v = make_verifier(GENERATE(std::size_t{0}, std::size_t{16}));
  auto c = claims();
  c["iss"] = "someone-else";
  CHECK(refusal(v, ed_token(c)) == jwt::failure::wrong_issuer);
  c["iss"] = "Agora";
  CHECK(refusal(v, ed_token(c)) == jwt::failure::wrong_issuer);
}

TEST_CASE("the audience must be present and contain the expected one", "[jwt]") {
  auto v = make_verifier(GENERATE(std::size_t{0}, std::size_t{16}));
  auto c = claims();
  c["aud"] = json::array({"billing", "agora-api"});
  CHECK(v.verify(ed_token(c), now));
  c["aud"] = "billing";
  CHECK(refusal(v, ed_token(c)) == jwt::failure::wrong_audience);
  c["aud"] = json::array({"billing", "agora"});
  CHECK(refusal(v, ed_token(c)) == jwt::failure::wrong_audience);
  c["aud"] = json::array();
  CHECK(refusal(v, ed_token(c)) == jwt::failure::wrong_audience);
  c.erase("aud");
  CHECK(refusal(v, ed_token(c)) == jwt::failure::wrong_audience);
  c["aud"] = json::array({"agora-api", 3});
  CHECK(refusal(v, ed_token(c)) == jwt::failure::malformed);
  c["aud"] = json{{"agora-api", true}};
  CHECK(refusal(v, ed_token(c)) == jwt::failure::malformed);
}

TEST_CASE("exp, sub and iss are required", "[jwt]") {
  auto v = make_verifier(GENERATE(std::size_t{0}, std::size_t{16}));
  for (const char* name : {"exp", "sub", "iss"}) {
    auto c = claims();
    c.erase(name);
    CHECK(refusal(v, ed_token(c)) == jwt::failure::missing_claim);
  }
  auto c = claims();
  c["sub"] = "";
  CHECK(refusal(v, ed_token(c)) == jwt::failure::missing_claim);
}

TEST_CASE("claims of the wrong type are malformed", "[jwt]") {
  auto v = make_verifier(GENERATE(std::size_t{0}, std::size_t{16}));
  auto with = [](const char* name, json value) {
    auto c = claims();
    c[name] = std::move(value);
    return ed_token(c);
  };
  CHECK(refusal(v, with("exp", "9999999999")) == jwt::failure::malformed);
  CHECK(refusal(v, with("exp", 1.9e9)) == jwt::failure::malformed);
  CHECK(refusal(v, with("exp", nullptr)) == jwt::failure::malformed);
  CHECK(refusal(v, hand_token(ed_header(), R"({"iss":"agora","sub":"cus_1","aud":"agora-api","exp":1e400})",
                              ed_key())) == jwt::failure::malformed);
  CHECK(refusal(v,
                hand_token(ed_header(), R"({"iss":"agora","sub":"cus_1","aud":"agora-api","exp":18446744073709551615})",
                           ed_key())) == jwt::failure::malformed);
  CHECK(refusal(v, hand_token(ed_header(),
                              R"({"iss":"agora","sub":"cus_1","aud":"agora-api","exp":99999999999999999999999})",
                              ed_key())) == jwt::failure::malformed);
  CHECK(refusal(v, with("nbf", "0")) == jwt::failure::malformed);
  CHECK(refusal(v, with("iat", 1.5)) == jwt::failure::malformed);
  CHECK(refusal(v, with("sub", 42)) == jwt::failure::malformed);
  CHECK(refusal(v, with("iss", json::array({"agora"}))) == jwt::failure::malformed);
  CHECK(refusal(v, with("jti", 7)) == jwt::failure::malformed);
  // The largest exp an int64 holds is fine, and so is a far-future one.
  CHECK(v.verify(with("exp", std::numeric_limits<std::int64_t>::max()), now));
}

TEST_CASE("tokens that are not three base64url parts of JSON objects are malformed", "[jwt]") {
  auto v = make_verifier(GENERATE(std::size_t{0}, std::size_t{16}));
  auto good = ed_token(claims());
  auto p = split(good);
  auto payload = claims().dump();
  std::vector<std::string> bad = {
      "",
      ".",
      "..",
      "...",
      p.header,
      p.header + "." + p.payload,  // two parts
      good + "." + p.signature,    // four parts
      good + ".",
      "." + p.payload + "." + p.signature,              // empty header
      p.header + ".." + p.signature,                    // empty payload
      p.header + "." + p.payload + ".",                 // empty signature
      p.header + "=." + p.payload + "." + p.signature,  // padding
      p.header + "." + p.payload + "." + p.signature + "==",
      b64(ed_header()) + "=" + good.substr(good.find('.')),
      " " + good,  // whitespace
      good + " ",
      good + "\n",
      p.header + ". " + p.payload + "." + p.signature,
      p.header + "." + p.payload.substr(0, 10) + " " + p.payload.substr(10) + "." + p.signature,
      p.header + "." + p.payload + "." + p.signature.substr(0, p.signature.size() - 1),  // 4n+1 characters
      hand_token("not json", payload, ed_key()),
      hand_token("[]", payload, ed_key()),
      hand_token(R"("EdDSA")", payload, ed_key()),
      hand_token(ed_header() + " {}", payload, ed_key()),
      hand_token(ed_header(), "not json", ed_key()),
      hand_token(ed_header(), "[1,2,3]", ed_key()),
      hand_token(ed_header(), "null", ed_key()),
      hand_token(ed_header(), payload + ",", ed_key()),
      hand_token(ed_header(), payload.substr(0, payload.size() - 1), ed_key()),
      hand_token(ed_header(), "\xef\xbb\xbf" + payload, ed_key()),
      hand_token(ed_header(), R"({"iss":"agora","sub":"\xff","aud":"agora-api","exp":1900000000})", ed_key()),
      // A repeated member: which one wins would depend on the parser.
      hand_token(R"({"alg":"EdDSA","kid":"ed-1","alg":"none"})", payload, ed_key()),
      hand_token(R"({"alg":"EdDSA","kid":"ed-2","kid":"ed-1"})", payload, ed_key()),
      hand_token(ed_header(), R"({"iss":"agora","sub":"cus_1","aud":"agora-api","exp":1900000000,"sub":"cus_2"})",
                 ed_key()),
      hand_token(ed_header(), R"({"iss":"agora","sub":"cus_1","aud":"agora-api","exp":1900000000,"x":{"a":1,"a":2}})",
                 ed_key()),
      // crit names extensions the verifier must understand; it understands none.
      hand_token(R"({"alg":"EdDSA","kid":"ed-1","crit":["exp"],"exp":1})", payload, ed_key()),
      hand_token(R"({"alg":"EdDSA","kid":"ed-1","b64":false,"crit":["b64"]})", payload, ed_key()),
      hand_token(R"({"alg":"EdDSA","kid":"ed-1","crit":[]})", payload, ed_key()),
  };
  for (std::size_t i = 0; i < bad.size(); ++i) {
    INFO("case " << i << ": " << bad[i]);
    CHECK(refusal(v, bad[i]) == jwt::failure::malformed);
  }
  CHECK(refusal(v, p.header + "+." + p.payload + "." + p.signature) == jwt::failure::malformed);
  auto standard = good;
  for (auto& ch : standard)
    if (ch == '-')
      ch = '+';
    else if (ch == '_')
      ch = '/';
  if (standard != good) CHECK(refusal(v, standard) == jwt::failure::malformed);
  CHECK(refusal(v, p.header + "." + p.payload + "/." + p.signature) == jwt::failure::malformed);
}

TEST_CASE("a token over max_token_bytes is refused before anything else", "[jwt]") {
  auto c = claims();
  c["pad"] = std::string(200, 'a');
  auto fits = ed_token(c);
  c["pad"] = std::string(203, 'a');  // three more bytes of JSON, four more of base64url
  auto over = ed_token(c);
  REQUIRE(over.size() == fits.size() + 4);
  jwt::verifier v({.issuer = "agora", .audience = "agora-api", .max_token_bytes = fits.size()});
  v.set_keys({public_of(ed_key())});
  CHECK(v.verify(fits, now));
  CHECK(refusal(v, over) == jwt::failure::malformed);
  CHECK(refusal(v, fits + "AAAA") == jwt::failure::malformed);
  CHECK(make_verifier().verify(over, now));
}

TEST_CASE("typ is not checked: another value or none at all is fine", "[jwt]") {
  auto v = make_verifier(GENERATE(std::size_t{0}, std::size_t{16}));
  CHECK(v.verify(hand_token(R"({"alg":"EdDSA","kid":"ed-1"})", claims().dump(), ed_key()), now));
  CHECK(v.verify(hand_token(R"({"alg":"EdDSA","kid":"ed-1","typ":"at+jwt"})", claims().dump(), ed_key()), now));
}

TEST_CASE("a JWK survives public_jwk → from_jwk → jwk and verifies", "[jwt]") {
  for (const auto* key : {&ed_key(), &rsa_key()}) {
    auto published = key->public_jwk();
    CHECK(published["kid"] == key->kid);
    CHECK(published["alg"] == jwt::to_string(key->alg));
    CHECK(published["use"] == "sig");
    if (key->alg == jwt::algorithm::eddsa) {
      CHECK(published["kty"] == "OKP");
      CHECK(published["crv"] == "Ed25519");
      CHECK(raw(published["x"].get<std::string>()).size() == 32);
      CHECK(published.size() == 6);
    } else {
      CHECK(published["kty"] == "RSA");
      CHECK(raw(published["n"].get<std::string>()).size() == 256);
      CHECK(raw(published["e"].get<std::string>()) == std::string("\x01\x00\x01", 3));
      CHECK(published.size() == 6);
    }
    auto pub = jwt::public_key::from_jwk(json::parse(published.dump()));
    REQUIRE(pub);
    CHECK(pub->kid() == key->kid);
    CHECK(pub->alg() == key->alg);
    CHECK(pub->jwk() == published);
    auto p = split(jwt::sign(*key, claims()));
    CHECK(pub->verify(p.header + "." + p.payload, raw(p.signature)));
    CHECK_FALSE(pub->verify(p.header + "." + p.payload + "x", raw(p.signature)));
    CHECK_FALSE(pub->verify(p.header + "." + p.payload, ""));
  }
  // A JWK without alg and use (both optional) is taken, and normalised.
  auto bare = ed_key().public_jwk();
  bare.erase("alg");
  bare.erase("use");
  auto pub = jwt::public_key::from_jwk(bare);
  REQUIRE(pub);
  CHECK(pub->jwk() == ed_key().public_jwk());
}

TEST_CASE("from_jwk refuses JWKs that are not usable public signing keys", "[jwt]") {
  auto ed = ed_key().public_jwk();
  auto rsa = rsa_key().public_jwk();
  auto refused = [](const json& jwk, const std::string& field) {
    auto r = jwt::public_key::from_jwk(jwk);
    REQUIRE_FALSE(r);
    CHECK(r.err().code == agora::errc::invalid_argument);
    REQUIRE(r.err().fields.size() == 1);
    CHECK(r.err().fields[0].field == field);
    CHECK_FALSE(r.err().message.empty());
  };
  auto with = [](json jwk, const char* name, json value) {
    jwk[name] = std::move(value);
    return jwk;
  };
  auto without = [](json jwk, const char* name) {
    jwk.erase(name);
    return jwk;
  };
  refused(json::array(), "");
  refused(without(ed, "kid"), "kid");
  refused(with(ed, "kid", ""), "kid");
  refused(with(ed, "kid", 5), "kid");
  refused(with(ed, "kty", "EC"), "kty");
  refused(with(ed, "kty", "oct"), "kty");
  refused(without(ed, "kty"), "kty");
  refused(with(ed, "crv", "X25519"), "crv");
  refused(with(ed, "crv", "Ed448"), "crv");
  refused(with(ed, "x", b64(std::string(31, 'a'))), "x");
  refused(with(ed, "x", b64(raw(ed["x"].get<std::string>()) + "a")), "x");
  refused(with(ed, "x", ed["x"].get<std::string>() + "="), "x");
  refused(with(ed, "x", b64(std::string(32, '\0'))), "x");  // a small-order point
  refused(without(ed, "x"), "x");
  refused(with(ed, "alg", "RS256"), "alg");
  refused(with(ed, "alg", "HS256"), "alg");
  refused(with(ed, "use", "enc"), "use");
  refused(with(ed, "d", b64(std::string(32, 'a'))), "d");
  refused(with(rsa, "alg", "EdDSA"), "alg");
  refused(without(rsa, "n"), "n");
  refused(without(rsa, "e"), "e");
  refused(with(rsa, "e", b64(std::string("\x01\x00\x00", 3))), "e");  // even
  refused(with(rsa, "e", b64(std::string("\x01", 1))), "e");
  refused(with(rsa, "d", "AQAB"), "d");

  // An RSA key of 1024 bits, made here with OpenSSL.
  EVP_PKEY* small = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(1024));
  REQUIRE(small);
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  REQUIRE(EVP_PKEY_get_bn_param(small, OSSL_PKEY_PARAM_RSA_N, &n) == 1);
  REQUIRE(EVP_PKEY_get_bn_param(small, OSSL_PKEY_PARAM_RSA_E, &e) == 1);
  std::string nb(static_cast<std::size_t>(BN_num_bytes(n)), '\0');
  std::string eb(static_cast<std::size_t>(BN_num_bytes(e)), '\0');
  BN_bn2bin(n, reinterpret_cast<unsigned char*>(nb.data()));
  BN_bn2bin(e, reinterpret_cast<unsigned char*>(eb.data()));
  BN_free(n);
  BN_free(e);
  EVP_PKEY_free(small);
  refused(json{{"kty", "RSA"}, {"kid", "small"}, {"n", b64(nb)}, {"e", b64(eb)}}, "n");
  // Leading zero bytes do not make a short modulus long.
  refused(json{{"kty", "RSA"}, {"kid", "small"}, {"n", b64(std::string(200, '\0') + nb)}, {"e", b64(eb)}}, "n");
}

TEST_CASE("kids lists the key set, which must not repeat a kid", "[jwt]") {
  jwt::verifier v({.issuer = "agora", .audience = "agora-api"});
  CHECK(v.kids().empty());
  CHECK(refusal(v, ed_token(claims())) == jwt::failure::unknown_key);
  v.set_keys({public_of(ed_key()), public_of(rsa_key())});
  CHECK(v.kids() == std::vector<std::string>{"ed-1", "rsa-1"});
  CHECK_THROWS_AS(v.set_keys({public_of(ed_key()), public_of(jwt::generate_key(jwt::algorithm::eddsa, "ed-1"))}),
                  std::invalid_argument);
  CHECK(v.kids() == std::vector<std::string>{"ed-1", "rsa-1"});
  v.set_keys({public_of(rsa_key())});
  CHECK(v.kids() == std::vector<std::string>{"rsa-1"});
  CHECK(refusal(v, ed_token(claims())) == jwt::failure::unknown_key);
  CHECK(v.options().issuer == "agora");
  CHECK(v.options().audience == "agora-api");
}

TEST_CASE("a verifier needs an issuer and an audience", "[jwt]") {
  CHECK_THROWS_AS(jwt::verifier({.issuer = "", .audience = "agora-api"}), std::invalid_argument);
  CHECK_THROWS_AS(jwt::verifier({.issuer = "agora", .audience = ""}), std::invalid_argument);
}

TEST_CASE("every failure has a reason", "[jwt]") {
  using f = jwt::failure;
  for (auto x : {f::malformed, f::unsupported_algorithm, f::unknown_key, f::algorithm_mismatch, f::bad_signature,
                 f::expired, f::not_yet_valid, f::wrong_issuer, f::wrong_audience, f::missing_claim})
    CHECK_FALSE(jwt::describe(x).empty());
}

TEST_CASE("set_keys while other threads verify: each sees a whole key set", "[jwt]") {
  auto cache_entries = GENERATE(std::size_t{0}, std::size_t{64});
  auto v = make_verifier(cache_entries);
  auto second = jwt::generate_key(jwt::algorithm::eddsa, "ed-2");
  auto first_pub = public_of(ed_key());
  auto second_pub = public_of(second);
  auto token_first = ed_token(claims());
  auto token_second = jwt::sign(second, claims());
  v.set_keys({first_pub});

  std::atomic<bool> done{false};
  std::atomic<int> started{0};
  std::atomic<int> unexpected{0};
  std::atomic<long> accepted{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      const auto& token = t % 2 == 0 ? token_first : token_second;
      bool first = true;
      bool took = false;
      // Until the writer is done and this reader has then taken its token (the last set holds both keys).
      while (!(done.load() && took)) {
        bool writer_done = done.load();
        auto r = v.verify(token, now);
        if (r) {
          if (r->claims != claims()) ++unexpected;
          ++accepted;
          took = writer_done;
        } else if (r.err() != jwt::failure::unknown_key || writer_done) {
          ++unexpected;
          if (writer_done) break;
        }
        auto kids = v.kids();
        if (kids.empty() || kids.size() > 2) ++unexpected;
        if (first) ++started;
        first = false;
      }
    });
  }
  while (started.load() < 4) std::this_thread::yield();
  for (int i = 0; i < 3000; ++i) {
    switch (i % 3) {
      case 0: v.set_keys({first_pub}); break;
      case 1: v.set_keys({second_pub}); break;
      default: v.set_keys({second_pub, first_pub}); break;
    }
  }
  done = true;
  for (auto& t : readers) t.join();
  CHECK(unexpected == 0);
  CHECK(accepted >= 4);
  CHECK(v.kids() == std::vector<std::string>{"ed-2", "ed-1"});
}

TEST_CASE("with a cache, a token seen again is still held to its times and its keys", "[jwt]") {
  auto v = make_verifier(4);
  auto token = ed_token(claims());
  auto first = v.verify(token, now);
  REQUIRE(first);
  auto again = v.verify(token, now);
  REQUIRE(again);
  CHECK(again->claims == first->claims);
  CHECK(again->subject == "cus_1");
  CHECK(again->kid == "ed-1");
  CHECK(again->expires_at == now + 600);
  CHECK(again->issued_at == now - 10);
  CHECK(refusal(v, token, now + 630) == jwt::failure::expired);
  CHECK(refusal(v, token, now - 100) == jwt::failure::not_yet_valid);  // nbf is now - 10
  auto c = claims();
  c.erase("nbf");
  c["iat"] = now + 20;
  auto early = ed_token(c);
  REQUIRE(v.verify(early, now));
  CHECK(refusal(v, early, now - 20) == jwt::failure::not_yet_valid);  // iat beyond the leeway

  auto p = split(token);
  p.signature = flip_bit(p.signature, 0, 0);
  CHECK(refusal(v, join(p)) == jwt::failure::bad_signature);
  CHECK(refusal(v, token + " ") == jwt::failure::malformed);

  v.set_keys({public_of(rsa_key())});
  CHECK(refusal(v, token) == jwt::failure::unknown_key);
  v.set_keys({public_of(ed_key())});
  CHECK(v.verify(token, now));

  // More tokens than entries: the cache makes room and every answer stays right.
  std::vector<std::string> many;
  for (int i = 0; i < 10; ++i) {
    auto ci = claims();
    ci["jti"] = "tok_" + std::to_string(i);
    ci["exp"] = now + 100 + i;
    many.push_back(ed_token(ci));
  }
  for (int round = 0; round < 2; ++round)
    for (std::size_t i = 0; i < many.size(); ++i) {
      auto r = v.verify(many[i], now);
      REQUIRE(r);
      CHECK(r->jti == "tok_" + std::to_string(i));
    }
  for (std::size_t i = 0; i < many.size(); ++i)
    CHECK(refusal(v, many[i], now + 130 + static_cast<std::int64_t>(i)) == jwt::failure::expired);

  // Making room looks at every entry's exp, the largest an int64 holds included.
  auto tiny = make_verifier(1);
  auto c3 = claims();
  c3["exp"] = std::numeric_limits<std::int64_t>::max();
  auto forever = ed_token(c3);
  CHECK(tiny.verify(forever, now));
  CHECK(tiny.verify(token, now));
  CHECK(tiny.verify(forever, std::numeric_limits<std::int64_t>::max() - 31));

  // A refused token is not remembered: refused at a late time, it passes at an early one.
  auto c2 = claims();
  c2["exp"] = now + 10;
  auto short_lived = ed_token(c2);
  CHECK(refusal(v, short_lived, now + 100) == jwt::failure::expired);
  CHECK(v.verify(short_lived, now));
}
