#pragma once

#include <agora/result.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

// Passwords, random secrets and their digests: the only code here that touches libsodium.
namespace agora::customers::secrets {

struct argon2_cost {
  std::uint64_t iterations = 2;
  std::size_t memory_kib = 19456;
};

// An Argon2id hash string (PHC form, salt and cost inside). Slow on purpose: call it on
// the module's worker_pool, never on a strand, an io thread or the store thread.
std::string hash_password(std::string_view password, argon2_cost cost);
bool verify_password(std::string_view password, const std::string& hash);

// `bytes` random bytes as unpadded base64url.
std::string random_token(std::size_t bytes);
// A lower-case [a-z0-9] string of `n` characters.
std::string random_alnum(std::size_t n);
// Hex of the BLAKE2b-256 of `secret`: how refresh tokens and API keys are stored (they
// are random and 256-bit, so a fast digest is enough; a password needs Argon2id).
std::string digest(std::string_view secret);
// Equal without a timing side channel (for digests of equal length).
bool equal(std::string_view a, std::string_view b);

// The rules of account fields, each naming the field it checks.
void check_email(std::string_view email, std::string_view field, std::vector<field_error>& errors);
// The email as accounts are keyed (trimmed, lower-cased ASCII).
std::string email_key(std::string_view email);
void check_password(std::string_view password, std::string_view field, std::vector<field_error>& errors);
void check_name(std::string_view name, std::string_view field, std::vector<field_error>& errors);

}  // namespace agora::customers::secrets
