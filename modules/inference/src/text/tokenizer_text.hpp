#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace agora::inference::text {

// Length of the UTF-8 sequence that starts at s[i] if it is a complete, valid
// character, otherwise 0.
std::size_t valid_char_length(std::string_view s, std::size_t i);

// s with every byte that is not part of a valid UTF-8 character replaced by U+FFFD
// (one per maximal invalid subpart, as the WHATWG decoder and Rust do).
std::string to_valid_utf8(std::string_view s);
bool is_valid_utf8(std::string_view s);

// The length of the longest prefix of s that does not end inside a character that
// more bytes could still complete. Bytes that can never be completed count as
// part of the prefix (they will be replaced, not held).
std::size_t complete_prefix_length(std::string_view s);

// Decodes the code point of the valid character at s[i], of length len.
char32_t decode_char(std::string_view s, std::size_t i, std::size_t len);
void append_utf8(std::string& out, char32_t cp);

// Unicode White_Space.
bool is_whitespace(char32_t cp);
// Letter, mark, number or connector punctuation, as \w matches in Unicode mode.
bool is_word_char(char32_t cp);

// GPT-2's reversible map from bytes to printable characters.
struct byte_level_map {
  byte_level_map();
  std::array<std::string, 256> byte_to_char;
  // Inverse map, indexed by code point; -1 where the code point is not a byte's image.
  std::array<std::int16_t, 324> char_to_byte;
  std::string encode(std::string_view bytes) const;
  // Appends the bytes that token's characters stand for; false (and nothing
  // appended) when a character is not in the map.
  bool decode(std::string_view token, std::string& out) const;
};
const byte_level_map& byte_level();

enum class normal_form { nfc, nfd, nfkc, nfkd };
// Unicode normalization of valid UTF-8 (ICU).
std::string normalize(std::string_view s, normal_form form);

}  // namespace agora::inference::text
