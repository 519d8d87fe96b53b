#include <agora/idempotency.hpp>

#include <sodium.h>

#include <stdexcept>

namespace agora::idempotency {

result<void> check_key(std::string_view key) {
  if (key.empty() || key.size() > 255)
    return error::invalid({{std::string(header), "1 to 255 visible ASCII characters"}},
                          "Idempotency-Key must be 1 to 255 visible ASCII characters");
  for (unsigned char c : key)
    if (c < 0x21 || c > 0x7e)
      return error::invalid({{std::string(header), "1 to 255 visible ASCII characters"}},
                            "Idempotency-Key must be 1 to 255 visible ASCII characters");
  return ok();
}

std::string sha256_hex(std::string_view bytes) {
  static const bool ready = sodium_init() >= 0;
  if (!ready) throw std::runtime_error("libsodium failed to initialise");
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return std::string(hex, crypto_hash_sha256_BYTES * 2);
}

std::string fingerprint(const nlohmann::json& request) {
  return sha256_hex(request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

result<std::optional<std::string>> recall(store::database& db, std::string_view scope, std::string_view key,
                                          std::string_view fingerprint) {
  auto hit = db.find_idempotency(scope, key);
  if (!hit) return std::optional<std::string>{};
  if (hit->fingerprint != fingerprint)
    return error::invalid({{std::string(header), "already used with a different request"}},
                          "Idempotency-Key was already used with a different request");
  return std::optional<std::string>{std::move(hit->outcome)};
}

}  // namespace agora::idempotency
