#pragma once

#include <chrono>
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

// Opaque pagination cursors: base64url of the text, and back (empty on malformed input).
std::string encode_cursor(std::string_view text);
std::string decode_cursor(std::string_view cursor);

}  // namespace agora
