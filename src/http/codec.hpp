#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Byte-level helpers of the HTTP edge: percent-decoding, query strings, media types,
// request ids and W3C trace context.
namespace agora::http::detail {

// Decodes %XX escapes; with `plus_is_space` (query strings) also '+' as ' '.
// Returns nothing when an escape is malformed.
std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space);

// Splits "a=1&b=x%20y&flag" into decoded pairs; malformed escapes are kept verbatim.
void parse_query(std::string_view query, std::vector<std::pair<std::string, std::string>>& out);

// "application/json" or "application/<x>+json", parameters (charset) ignored.
bool is_json_media_type(std::string_view content_type);

// ≤ 128 chars of [A-Za-z0-9._-], not empty.
bool is_valid_request_id(std::string_view id);
std::string make_request_id();

// "00-<32 hex>-<16 hex>-<2 hex>", lowercase, ids not all zeros.
bool is_valid_traceparent(std::string_view tp);
// Continues the caller's trace with a new span id, or starts a new trace.
std::string continue_traceparent(std::string_view incoming);

// Inside a catch block: what the exception being handled says ("unknown exception" for one
// that is not a std::exception), for a log line.
std::string current_exception_message();

// RFC 9110 IMF-fixdate of the current second, cached per thread.
std::string_view http_date();

}  // namespace agora::http::detail
