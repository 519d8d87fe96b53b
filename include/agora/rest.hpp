#pragma once

#include <agora/http.hpp>
#include <agora/values.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// What a module's HTTP codec needs to turn requests into bus messages and replies into
// responses, the same way on every route: a JSON object reader that reports every bad
// field at once, list paging from the query, ETags and conditional requests, JSON
// bodies, and degraded-answer marking. See modules/catalog/src/http_codec.cpp.
namespace agora::http {

// Reads the members of one JSON object, collecting every problem into `errors`: unknown
// members, wrong types, missing required members. Field names are prefixed with the
// object's path ("price.amount").
class object_reader {
 public:
  object_reader(const nlohmann::json& obj, std::string prefix, std::initializer_list<std::string_view> known,
                std::vector<field_error>& errors);

  // False when the value is not an object (nothing can be read then).
  bool ok() const noexcept { return ok_; }

  // Absent: nothing (and an error when required). Present: the value, unchecked.
  const nlohmann::json* member(std::string_view key, bool required);
  std::optional<std::string> string(std::string_view key, bool required);
  // Absent: not given; null: cleared; a string: set.
  nullable_patch<std::string> nullable_string(std::string_view key);
  std::optional<std::int64_t> integer(std::string_view key, bool required);
  std::optional<bool> boolean(std::string_view key, bool required);
  std::optional<double> number(std::string_view key, bool required);
  std::optional<std::vector<std::string>> string_list(std::string_view key, bool required);
  // {"amount": integer, "currency": string}; values are checked by check_money.
  std::optional<money> money_value(std::string_view key, bool required);

  // Records a problem with member `key` (a value rule the caller checks itself).
  void fail(std::string_view key, std::string message);
  // The full name of member `key`: "price.amount".
  std::string name(std::string_view key) const;
  std::vector<field_error>& errors() noexcept { return errors_; }

 private:
  const nlohmann::json& obj_;
  std::string prefix_;
  std::vector<field_error>& errors_;
  bool ok_ = true;
};

// Type errors first, then the value errors of fields that have none yet, so each field
// is named once in a 422.
std::vector<field_error> merge_field_errors(std::vector<field_error> type_errors,
                                            std::vector<field_error> value_errors);

// The string of a path parameter ("" when the route has none of that name).
std::string path_param(const request_context& ctx, std::string_view name);

// `limit` (an integer) and `cursor` from the query string.
void read_page_query(const request_context& ctx, std::optional<std::int64_t>& limit, std::string& cursor,
                     std::vector<field_error>& errors);
void read_limit_query(const request_context& ctx, std::optional<std::int64_t>& limit,
                      std::vector<field_error>& errors);
// The OpenAPI description of limit and cursor for a list route.
std::vector<query_param_doc> page_query_docs(std::string_view limit_setting, std::int64_t default_limit);

// The OpenAPI schemas every module's routes share: a page of `item`s ({data, next_cursor})
// and a money value ({amount: integer minor units, currency: ISO 4217}).
nlohmann::json page_schema(nlohmann::json item);
nlohmann::json money_schema();

// The strong ETag of a version: "\"7\"".
std::string etag(std::int64_t version);
// If-Match as a version_match: nothing when absent or "*" (unconditional), else every
// strong ETag listed ("\"3\", \"4\""); weak or foreign tags match no version.
std::optional<version_match> if_match(const request_context& ctx);
std::optional<version_match> parse_if_match(std::string_view header);
// If-None-Match (weak comparison): true when `version`'s tag, or "*", is listed.
bool if_none_match(std::string_view header, std::int64_t version);

// The Idempotency-Key header (see <agora/idempotency.hpp>): nothing when absent; 400
// (bad_request) when sent more than once, since the request is ambiguous; 422
// (invalid_argument, field "Idempotency-Key") when not 1..255 visible ASCII characters.
result<std::optional<std::string>> idempotency_key(const request_context& ctx);

// A JSON response. Invalid UTF-8 in strings is replaced, never thrown.
response json_body(int status, const nlohmann::json& body);
// A JSON response whose body is already rendered.
response json_text(int status, std::string body);
// 200 with the ETag of `version`, or 304 (no body) when If-None-Match lists it.
// `render` is called only when a body is sent.
template <class Render>
response versioned(int status, std::int64_t version, const request_context& ctx, Render render) {
  if (status == 200) {
    if (auto inm = ctx.header("If-None-Match"); inm && if_none_match(*inm, version)) {
      response res{boost::beast::http::status::not_modified, 11};
      res.set(boost::beast::http::field::etag, etag(version));
      return res;
    }
  }
  auto res = json_text(status, render());
  res.set(boost::beast::http::field::etag, etag(version));
  return res;
}
response no_content();

// Adds `reason` to the response's X-Degraded list ("grounding-unavailable, fallback-model"),
// once; an answer can be degraded in several ways at once.
void add_degraded(response& res, std::string_view reason);

}  // namespace agora::http
