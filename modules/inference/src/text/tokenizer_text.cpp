#include "text/tokenizer_text.hpp"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>

#include <stdexcept>

namespace agora::inference::text {
namespace {

enum class scan_state { valid, truncated, invalid };

struct scan_result {
  std::size_t length;
  scan_state state;
};

// Follows the "maximal subpart" rule: an invalid sequence covers the lead byte and
// the continuation bytes that could still have belonged to a valid character.
scan_result scan_char(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return {1, scan_state::valid};
  std::size_t need = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 == 0xE0) {
    need = 2;
    lo = 0xA0;
  } else if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) {
    need = 2;
  } else if (b0 == 0xED) {
    need = 2;
    hi = 0x9F;
  } else if (b0 == 0xF0) {
    need = 3;
    lo = 0x90;
  } else if (b0 >= 0xF1 && b0 <= 0xF3) {
    need = 3;
  } else if (b0 == 0xF4) {
    need = 3;
    hi = 0x8F;
  } else {
    return {1, scan_state::invalid};
  }
  std::size_t len = 1;
  for (std::size_t k = 0; k < need; ++k) {
    if (i + len >= s.size()) return {len, scan_state::truncated};
    const auto b = static_cast<unsigned char>(s[i + len]);
    if (b < lo || b > hi) return {len, scan_state::invalid};
    lo = 0x80;
    hi = 0xBF;
    ++len;
  }
  return {len, scan_state::valid};
}

constexpr std::string_view replacement_char = "\xEF\xBF\xBD";

}  // namespace

std::size_t valid_char_length(std::string_view s, std::size_t i) {
  const auto r = scan_char(s, i);
  return r.state == scan_state::valid ? r.length : 0;
}

bool is_valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const auto r = scan_char(s, i);
    if (r.state != scan_state::valid) return false;
    i += r.length;
  }
  return true;
}

std::string to_valid_utf8(std::string_view s) {
  if (is_valid_utf8(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  for (std::size_t i = 0; i < s.size();) {
    const auto r = scan_char(s, i);
    if (r.state == scan_state::valid) {
      out.append(s.substr(i, r.length));
    } else {
      out.append(replacement_char);
    }
    i += r.length;
  }
  return out;
}

std::size_t complete_prefix_length(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto r = scan_char(s, i);
    if (r.state == scan_state::truncated) return i;
    i += r.length;
  }
  return s.size();
}

char32_t decode_char(std::string_view s, std::size_t i, std::size_t len) {
  const auto b = [&](std::size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(s[i + k])); };
  switch (len) {
    case 1:
      return b(0);
    case 2:
      return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    case 3:
      return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    default:
      return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
  }
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool is_whitespace(char32_t cp) {
  return u_hasBinaryProperty(static_cast<UChar32>(cp), UCHAR_WHITE_SPACE);
}

bool is_word_char(char32_t cp) {
  const auto c = static_cast<UChar32>(cp);
  if (u_isalnum(c)) return true;
  const auto mask = U_GET_GC_MASK(c);
  return (mask & (U_GC_M_MASK | U_GC_PC_MASK)) != 0;
}

byte_level_map::byte_level_map() {
  char_to_byte.fill(-1);
  std::array<bool, 256> printable{};
  for (int b = '!'; b <= '~'; ++b) printable[b] = true;
  for (int b = 0xA1; b <= 0xAC; ++b) printable[b] = true;
  for (int b = 0xAE; b <= 0xFF; ++b) printable[b] = true;
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const char32_t cp = printable[b] ? static_cast<char32_t>(b) : next++;
    append_utf8(byte_to_char[b], cp);
    char_to_byte[cp] = static_cast<std::int16_t>(b);
  }
}

std::string byte_level_map::encode(std::string_view bytes) const {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) out.append(byte_to_char[static_cast<unsigned char>(c)]);
  return out;
}

bool byte_level_map::decode(std::string_view token, std::string& out) const {
  const auto start = out.size();
  for (std::size_t i = 0; i < token.size();) {
    const auto len = valid_char_length(token, i);
    const char32_t cp = len == 0 ? 0xFFFFFFFF : decode_char(token, i, len);
    if (cp >= char_to_byte.size() || char_to_byte[cp] < 0) {
      out.resize(start);
      return false;
    }
    out.push_back(static_cast<char>(char_to_byte[cp]));
    i += len;
  }
  return true;
}

const byte_level_map& byte_level() {
  static const byte_level_map map;
  return map;
}

std::string normalize(std::string_view s, normal_form form) {
  bool ascii = true;
  for (const char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return std::string(s);
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = nullptr;
  switch (form) {
    case normal_form::nfc:
      normalizer = icu::Normalizer2::getNFCInstance(err);
      break;
    case normal_form::nfd:
      normalizer = icu::Normalizer2::getNFDInstance(err);
      break;
    case normal_form::nfkc:
      normalizer = icu::Normalizer2::getNFKCInstance(err);
      break;
    case normal_form::nfkd:
      normalizer = icu::Normalizer2::getNFKDInstance(err);
      break;
  }
  if (U_FAILURE(err)) throw std::runtime_error("ICU normalizer unavailable");
  const icu::StringPiece piece(s.data(), static_cast<std::int32_t>(s.size()));
  if (normalizer->isNormalizedUTF8(piece, err) && U_SUCCESS(err)) return std::string(s);
  err = U_ZERO_ERROR;
  std::string out;
  icu::StringByteSink<std::string> sink(&out, static_cast<std::int32_t>(s.size()));
  normalizer->normalizeUTF8(0, piece, sink, nullptr, err);
  if (U_FAILURE(err)) throw std::runtime_error("ICU normalization failed");
  return out;
}

}  // namespace agora::inference::text
