#pragma once

#include <agora/result.hpp>
#include <agora/store.hpp>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

// Idempotency keys, kept by the core in each module's own database (_agora_idempotency)
// and written in the same transaction as the effect they guard. A handler that accepts
// `Idempotency-Key` (http::idempotency_key reads it at the edge) does, inside ONE store job:
//
//   auto prior = idempotency::recall(db, "orders.checkout", key, fp);   // fp: fingerprint(request)
//   if (!prior) return the error;                 // same key, another request: 422
//   if (*prior) return decode(**prior);           // a replay: the first outcome, nothing done
//   ... the effect ...
//   db.record_idempotency("orders.checkout", key, fp, outcome_json);
//
// so that a key is recorded exactly when its effect committed, and a job that throws (or
// a group member rolled back to its savepoint) leaves no key behind. Keys older than
// store.idempotency_retention_s are swept by the runtime.
namespace agora::idempotency {

// The header a client sends.
inline constexpr std::string_view header = "Idempotency-Key";

// 1..255 visible ASCII characters (0x21-0x7E); else invalid_argument naming the field
// "Idempotency-Key".
result<void> check_key(std::string_view key);

// A stable fingerprint of a request: the SHA-256, in lowercase hex, of its canonical JSON
// (nlohmann's dump: object members sorted by name, no spaces). Two requests that differ
// only in member order have the same fingerprint.
std::string fingerprint(const nlohmann::json& request);

// The SHA-256 of `bytes` in lowercase hex (64 characters): the core's one digest helper.
std::string sha256_hex(std::string_view bytes);

// Inside a store job: nothing when `key` is new in `scope` (do the effect, then
// db.record_idempotency with its outcome); the recorded outcome when the fingerprint
// matches (a replay: answer it and do nothing); invalid_argument (422) "Idempotency-Key
// was already used with a different request", naming the field "Idempotency-Key", when
// it does not.
result<std::optional<std::string>> recall(store::database& db, std::string_view scope, std::string_view key,
                                          std::string_view fingerprint);

}  // namespace agora::idempotency
