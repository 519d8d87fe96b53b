#pragma once

#include <agora/config.hpp>

namespace agora::customers::settings {

inline const config::string_setting admin_email{
    "admin_email", "", "The first admin's email: created at start when no account has it (never overwritten)"};
inline const config::secret_setting admin_password{"admin_password", "The first admin's password (with admin_email)"};
// OWASP's Argon2id minimum (m = 19 MiB, t = 2, p = 1): about 30–60 ms a hash on one core
// of these machines, bounded in memory by hash_threads × password_memory_kib.
inline const config::integer_setting password_memory_kib{
    "password_memory_kib", 19456, "Argon2id memory cost per hash, KiB", {.min = 8, .max = 4194304}};
inline const config::integer_setting password_iterations{
    "password_iterations", 2, "Argon2id time cost (passes)", {.min = 1, .max = 20}};
inline const config::integer_setting hash_threads{
    "hash_threads", 2, "Threads of the module's own that hash passwords", {.min = 1, .max = 64}};
inline const config::choice_setting<> token_algorithm{
    "token_algorithm", "EdDSA", "Signature of access tokens", {"EdDSA", "RS256"}};
inline const config::integer_setting access_token_ttl_s{
    "access_token_ttl_s", 900, "Life of an access token", {.min = 30, .max = 86400}};
inline const config::integer_setting refresh_token_ttl_s{
    "refresh_token_ttl_s", 2592000, "Life of a refresh token (30 days)", {.min = 60, .max = 31536000}};
inline const config::integer_setting key_rotation_s{
    "key_rotation_s",
    2592000,
    "Age at which the signing key is replaced (30 days); 0: only on command",
    {.min = 0, .max = 315360000}};
inline const config::integer_setting key_overlap_s{
    "key_overlap_s",
    3600,
    "How long a replaced key stays published (at least the access token life)",
    {.min = 60, .max = 31536000}};
inline const config::integer_setting login_failures_per_account{
    "login_failures_per_account",
    5,
    "Failed logins for one email within login_window_s before 429",
    {.min = 1, .max = 1000}};
inline const config::integer_setting login_failures_per_address{
    "login_failures_per_address",
    20,
    "Failed logins from one client address within login_window_s before 429",
    {.min = 1, .max = 100000}};
inline const config::integer_setting login_window_s{
    "login_window_s", 900, "Window of the failed-login counts", {.min = 1, .max = 86400}};
inline const config::integer_setting default_requests_per_minute{
    "default_requests_per_minute", 100, "Request rate per customer or key (edge)", {.min = 0, .max = 100000000}};
inline const config::integer_setting default_requests_per_hour{"default_requests_per_hour",
                                                               1000,
                                                               "Request rate per customer or key per hour (edge)",
                                                               {.min = 0, .max = 1000000000}};
inline const config::integer_setting default_daily_tokens{"default_daily_tokens",
                                                          100000,
                                                          "Inference tokens a customer or key may use per UTC day",
                                                          {.min = 0, .max = 1000000000000}};

}  // namespace agora::customers::settings
