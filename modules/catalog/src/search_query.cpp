#include "search_query.hpp"
#include "validation.hpp"

namespace agora::catalog {

namespace {

// Decodes the code point at `s[i]` of valid UTF-8 and moves `i` past it.
char32_t next_code_point(std::string_view s, std::size_t& i) noexcept {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : 4;
  char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += len;
  return cp;
}

// An approximation of what the unicode61 tokenizer treats as a separator,
// enough that a word made only of these is not sent as an empty phrase (which
// matches nothing). Latin-1 keeps its letters and digits (ª ² ³ µ ¹ º ¼ ½ ¾).
bool is_separator(char32_t c) noexcept {
  if (c < 0x80) return c <= 0x20 || c == 0x7F;
  if (c <= 0xBF)
    return !(c == 0xAA || c == 0xB2 || c == 0xB3 || c == 0xB5 || c == 0xB9 || c == 0xBA || (c >= 0xBC && c <= 0xBE));
  return c == 0xD7 || c == 0xF7 || (c >= 0x2000 && c <= 0x206F) || (c >= 0x20A0 && c <= 0x20CF) ||
         (c >= 0x3000 && c <= 0x3003) || (c >= 0xFE00 && c <= 0xFE0F) || c == 0xFEFF || (c >= 0x1F300 && c <= 0x1FAFF);
}

bool is_ascii_alnum(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// True when the word holds something the tokenizer may index.
bool searchable(std::string_view word) noexcept {
  for (char c : word)
    if (is_ascii_alnum(c) || static_cast<unsigned char>(c) >= 0x80) return true;
  return false;
}

void append_quoted(std::string& out, std::string_view word) {
  out.push_back('"');
  for (char c : word) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

}  // namespace

std::optional<match_expressions> parse_search_query(std::string_view text, std::string_view field,
                                                    std::vector<field_error>& out) {
  const std::string name(field);
  std::size_t length = utf8_length(text);
  if (length == std::string_view::npos) {
    out.push_back({name, "must be valid UTF-8"});
    return std::nullopt;
  }
  std::string trimmed = trim(text);
  length = utf8_length(trimmed);
  if (length == 0 || length > search_query_max) {
    out.push_back({name, "must be 1 to " + std::to_string(search_query_max) + " characters after trimming"});
    return std::nullopt;
  }

  std::vector<std::string_view> words;
  std::string_view s = trimmed;
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t at = i;
    if (is_separator(next_code_point(s, i))) {
      if (auto w = s.substr(start, at - start); searchable(w)) words.push_back(w);
      start = i;
    }
  }
  if (auto w = s.substr(start); searchable(w)) words.push_back(w);

  if (words.empty()) {
    out.push_back({name, "must contain a letter or a digit"});
    return std::nullopt;
  }
  if (words.size() > search_words_max) {
    out.push_back({name, "must have at most " + std::to_string(search_words_max) + " words"});
    return std::nullopt;
  }

  match_expressions m;
  m.words = words.size();
  for (std::size_t k = 0; k < words.size(); ++k) {
    if (k > 0) {
      m.all_words.push_back(' ');
      m.any_word += " OR ";
    }
    append_quoted(m.all_words, words[k]);
    m.all_words.push_back('*');
    append_quoted(m.any_word, words[k]);
    m.any_word.push_back('*');
  }
  return m;
}

}  // namespace agora::catalog
