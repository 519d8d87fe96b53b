#include <agora/jwt.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>

// agora_jwt_bench [seconds] [openssl ed25519 sign/s] [verify/s] [openssl rsa2048 sign/s] [verify/s]
// Prints one markdown table; the openssl figures (measured by run.sh in the same run) are the anchors.
// Each figure is the best of three rounds.
namespace {

namespace jwt = agora::jwt;
using bench_clock = std::chrono::steady_clock;

constexpr std::int64_t now = 1'764'547'200;

// Calls `op` for `seconds` in three rounds; returns the best round's calls per second (the
// machine is shared: the best round is the one least disturbed).
double rate(double seconds, const std::function<void()>& op) {
  for (int i = 0; i < 100; ++i) op();
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    long calls = 0;
    auto start = bench_clock::now();
    auto until = start + std::chrono::duration<double>(seconds / 3);
    auto end = start;
    do {
      for (int i = 0; i < 64; ++i) op();
      calls += 64;
      end = bench_clock::now();
    } while (end < until);
    best = std::max(best, static_cast<double>(calls) / std::chrono::duration<double>(end - start).count());
  }
  return best;
}

std::string per_second(double v) {
  auto digits = fmt::format("{:.0f}", v);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ' ';
    out += digits[i];
  }
  return out;
}

std::string ratio(double a, double b) { return b > 0 ? fmt::format("{:.2f}", a / b) : ""; }
std::string anchor(double v) { return v > 0 ? per_second(v) : "n/a"; }

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "agora_jwt_bench: %s\n", what);
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  double ed_sign_anchor = argc > 2 ? std::atof(argv[2]) : 0;
  double ed_verify_anchor = argc > 3 ? std::atof(argv[3]) : 0;
  double rsa_sign_anchor = argc > 4 ? std::atof(argv[4]) : 0;
  double rsa_verify_anchor = argc > 5 ? std::atof(argv[5]) : 0;

  auto ed = jwt::generate_key(jwt::algorithm::eddsa, "ed-2026-01");
  auto rsa = jwt::generate_key(jwt::algorithm::rs256, "rsa-2026-01");
  auto ed_pub = jwt::public_key::from_jwk(ed.public_jwk());
  auto rsa_pub = jwt::public_key::from_jwk(rsa.public_jwk());
  if (!ed_pub || !rsa_pub) fail("from_jwk refused a generated key");
  jwt::verifier v({.issuer = "https://agora.example", .audience = "agora-api"});
  v.set_keys({*ed_pub, *rsa_pub});

  nlohmann::json claims = {{"iss", "https://agora.example"},
                           {"sub", "cus_01JD2XK4M7Q8R9S0T1V2W3X4Y5"},
                           {"aud", "agora-api"},
                           {"exp", now + 900},
                           {"nbf", now},
                           {"iat", now},
                           {"jti", "tok_01JD2XK4M7Q8R9S0T1V2W3X4Y6"},
                           {"roles", {"customer", "reviewer"}}};
  jwt::verifier cached({.issuer = "https://agora.example", .audience = "agora-api", .cache_entries = 4096});
  cached.set_keys({*ed_pub, *rsa_pub});
  auto ed_token = jwt::sign(ed, claims);
  auto rsa_token = jwt::sign(rsa, claims);
  if (!v.verify(ed_token, now) || !v.verify(rsa_token, now)) fail("a fresh token did not verify");
  auto last_dot = ed_token.rfind('.');
  auto ed_input = ed_token.substr(0, last_dot);
  auto ed_signature = *jwt::base64url_decode(std::string_view(ed_token).substr(last_dot + 1));

  bool sink = true;
  auto ed_verify = rate(seconds, [&] { sink &= static_cast<bool>(v.verify(ed_token, now)); });
  auto ed_cached = rate(seconds, [&] { sink &= static_cast<bool>(cached.verify(ed_token, now)); });
  auto ed_check = rate(seconds, [&] { sink &= ed_pub->verify(ed_input, ed_signature); });
  auto rsa_verify = rate(seconds, [&] { sink &= static_cast<bool>(v.verify(rsa_token, now)); });
  auto ed_sign = rate(seconds, [&] { sink &= !jwt::sign(ed, claims).empty(); });
  auto rsa_sign = rate(seconds, [&] { sink &= !jwt::sign(rsa, claims).empty(); });
  if (!sink) fail("a verification failed during the run");

  constexpr double target = 50'000;
  std::printf("Token: %zu bytes (EdDSA), %zu bytes (RS256); claims iss, sub, aud, exp, nbf, iat, jti, roles.\n\n",
              ed_token.size(), rsa_token.size());
  std::printf("| measure (one core) | agora /s | anchor: openssl speed /s | agora/anchor | target | verdict |\n");
  std::printf("|---|---|---|---|---|---|\n");
  std::printf(
      "| EdDSA `verifier::verify` (parse + signature + claims) | %s | %s (ed25519 verify) | %s | ≥ 50 000 | %s |\n",
      per_second(ed_verify).c_str(), anchor(ed_verify_anchor).c_str(), ratio(ed_verify, ed_verify_anchor).c_str(),
      ed_verify >= target ? "met" : "not met");
  std::printf(
      "| EdDSA `verifier::verify`, the same token again, `cache_entries` on (a hit: no parse, no signature) | %s | %s "
      "(ed25519 verify) | %s | ≥ 50 000 | %s |\n",
      per_second(ed_cached).c_str(), anchor(ed_verify_anchor).c_str(), ratio(ed_cached, ed_verify_anchor).c_str(),
      ed_cached >= target ? "met, on a hit" : "not met");
  std::printf("| EdDSA signature check alone (`public_key::verify`) | %s | %s (ed25519 verify) | %s | | |\n",
              per_second(ed_check).c_str(), anchor(ed_verify_anchor).c_str(),
              ratio(ed_check, ed_verify_anchor).c_str());
  std::printf("| RS256 `verifier::verify` | %s | %s (rsa2048 verify) | %s | | |\n", per_second(rsa_verify).c_str(),
              anchor(rsa_verify_anchor).c_str(), ratio(rsa_verify, rsa_verify_anchor).c_str());
  std::printf("| EdDSA `jwt::sign` | %s | %s (ed25519 sign) | %s | | |\n", per_second(ed_sign).c_str(),
              anchor(ed_sign_anchor).c_str(), ratio(ed_sign, ed_sign_anchor).c_str());
  std::printf("| RS256 `jwt::sign` (PEM parsed each call) | %s | %s (rsa2048 sign) | %s | | |\n",
              per_second(rsa_sign).c_str(), anchor(rsa_sign_anchor).c_str(), ratio(rsa_sign, rsa_sign_anchor).c_str());
  std::printf("\nEdDSA: the signature check takes %.1f µs of the %.1f µs a full verify takes (%.0f%%).\n",
              1e6 / ed_check, 1e6 / ed_verify, 100.0 * ed_verify / ed_check);
  return 0;
}
