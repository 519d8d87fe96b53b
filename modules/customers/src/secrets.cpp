#include "secrets.hpp"

#include <agora/jwt.hpp>
#include <agora/values.hpp>

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace agora::customers::secrets {

namespace {

void init() {
  static const int ready = sodium_init();
  if (ready < 0) throw std::runtime_error("libsodium could not start");
}

}  // namespace

std::string hash_password(std::string_view password, argon2_cost cost) {
  init();
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), cost.iterations, cost.memory_kib * 1024,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    throw std::runtime_error("password hashing ran out of memory");
  return out;
}

bool verify_password(std::string_view password, const std::string& hash) {
  init();
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

std::string random_token(std::size_t bytes) {
  init();
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  return jwt::base64url_encode(raw);
}

std::string random_alnum(std::size_t n) {
  init();
  static constexpr std::string_view alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string out(n, 'a');
  for (auto& c : out) c = alphabet[randombytes_uniform(static_cast<std::uint32_t>(alphabet.size()))];
  return out;
}

std::string digest(std::string_view secret) {
  init();
  unsigned char d[32];
  crypto_generichash(d, sizeof d, reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), nullptr, 0);
  char hex[sizeof d * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, d, sizeof d);
  return hex;
}

bool equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

void check_email(std::string_view email, std::string_view field, std::vector<field_error>& errors) {
  const std::string f(field);
  if (utf8_length(email) == std::string_view::npos) return errors.push_back({f, "must be valid UTF-8"});
  if (email.size() < 3 || email.size() > 254) return errors.push_back({f, "must be 3 to 254 characters"});
  auto at = email.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= email.size() ||
      email.find('@', at + 1) != std::string_view::npos)
    return errors.push_back({f, "must be an address like name@example.com"});
  if (std::any_of(email.begin(), email.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u == 0x7f || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' || c == ';' ||
               c == ':' || c == '\\' || c == '"' || c == '[' || c == ']';
      }))
    return errors.push_back({f, "must not hold spaces, control characters or <>()[],;:\\\""});
  auto domain = email.substr(at + 1);
  if (domain.front() == '.' || domain.back() == '.' || domain.find("..") != std::string_view::npos)
    return errors.push_back({f, "has a malformed domain"});
}

std::string email_key(std::string_view email) {
  std::string out = trim(email);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

void check_password(std::string_view password, std::string_view field, std::vector<field_error>& errors) {
  const std::string f(field);
  auto n = utf8_length(password);
  if (n == std::string_view::npos) return errors.push_back({f, "must be valid UTF-8"});
  if (n < 10) return errors.push_back({f, "must be at least 10 characters"});
  if (n > 256) return errors.push_back({f, "must be at most 256 characters"});
  if (std::all_of(password.begin(), password.end(), [&](char c) { return c == password.front(); }))
    return errors.push_back({f, "must not be one character repeated"});
}

void check_name(std::string_view name, std::string_view field, std::vector<field_error>& errors) {
  auto n = utf8_length(name);
  if (n == std::string_view::npos) return errors.push_back({std::string(field), "must be valid UTF-8"});
  if (n < 1 || n > 200) errors.push_back({std::string(field), "must be 1 to 200 characters"});
}

}  // namespace agora::customers::secrets
