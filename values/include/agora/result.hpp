#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>

#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace agora {

// The kinds of failure that cross a boundary (the bus, the edge). Each maps to one
// HTTP status at the edge; nothing else about a failure leaves the module.
enum class errc {
  invalid_argument,     // 422: a field value is wrong
  bad_request,          // 400: the request itself is malformed
  unauthenticated,      // 401
  permission_denied,    // 403
  not_found,            // 404
  conflict,             // 409: state does not allow it (already exists, wrong state)
  failed_precondition,  // 412: If-Match / version mismatch
  resource_exhausted,   // 429: a quota or a full queue
  cancelled,            // 499: the caller gave up
  internal,             // 500: a bug or an unexpected store failure
  unavailable,          // 503: no replica, overloaded, stopping
  deadline_exceeded,    // 504
};

std::string_view to_string(errc code) noexcept;
errc errc_from_string(std::string_view name) noexcept;  // unknown names map to internal
int http_status(errc code) noexcept;

struct field_error {
  std::string field;    // JSON pointer-ish path: "price.amount"
  std::string message;  // what was expected
};

// A typed error: a code, a message safe to show a client, and per-field problems.
struct error {
  errc code = errc::internal;
  std::string message;
  std::vector<field_error> fields;
  // How long a refused caller should wait before trying again (seconds; 0: not said).
  // Becomes Retry-After on 429 and 503.
  std::int64_t retry_after_s = 0;

  static error invalid(std::vector<field_error> fields, std::string message = "invalid fields");
  static error not_found(std::string message) { return {errc::not_found, std::move(message), {}}; }
  static error conflict(std::string message) { return {errc::conflict, std::move(message), {}}; }
  static error unavailable(std::string message) { return {errc::unavailable, std::move(message), {}}; }
  static error internal(std::string message) { return {errc::internal, std::move(message), {}}; }
  static error timeout(std::string message) { return {errc::deadline_exceeded, std::move(message), {}}; }
  static error unauthenticated(std::string message) { return {errc::unauthenticated, std::move(message), {}}; }
  static error forbidden(std::string message) { return {errc::permission_denied, std::move(message), {}}; }
  static error exhausted(std::string message, std::int64_t retry_after_s) {
    return {errc::resource_exhausted, std::move(message), {}, retry_after_s};
  }
};

void to_json(nlohmann::json& j, const error& e);
void from_json(const nlohmann::json& j, error& e);

// A value or a typed error. Handlers return these; exceptions stay inside a module.
// E is agora::error everywhere but at edges that speak another error shape (the
// OpenAI routes' api_error).
template <class T, class E = error>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  result(E err) : v_(std::in_place_index<1>, std::move(err)) {}

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const E& err() const& { return std::get<1>(v_); }
  E&& err() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, E> v_;
};

template <class E>
class [[nodiscard]] result<void, E> {
 public:
  result() = default;
  result(E err) : err_(std::move(err)), ok_(false) {}

  bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const E& err() const& { return err_; }
  E&& err() && { return std::move(err_); }

 private:
  E err_;
  bool ok_ = true;
};

inline result<void> ok() { return {}; }

}  // namespace agora
