#pragma once

#include <agora/values.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace agora {

// A new opaque id: the type prefix, '_', then 26 Crockford base32 characters of a
// ULID (48-bit millisecond time, 80 random bits), so ids sort by creation time.
std::string new_id(std::string_view prefix);
// The same with the time part taken from `at` (a module's clock). Still monotonic within
// the process: a time earlier than the last id's borrows that id's millisecond.
std::string new_id(std::string_view prefix, std::chrono::system_clock::time_point at);

// Current UTC time as RFC 3339 with milliseconds: "2026-11-23T12:00:00.123Z".
std::string now_rfc3339();
std::string to_rfc3339(std::chrono::system_clock::time_point t);
// Reads an RFC 3339 date-time ("2026-11-23T12:00:00Z", fractions and a ±hh:mm offset
// allowed; 'T' and 'Z' in either case); nullopt for anything else, out-of-range fields
// included (month 13, hour 24, Feb 30).
std::optional<std::chrono::system_clock::time_point> from_rfc3339(std::string_view text);

// encode_cursor / decode_cursor (opaque pagination cursors) are in <agora/values.hpp>.

}  // namespace agora
