#pragma once

#include <agora/result.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Turns a shopper's search text into FTS5 MATCH expressions. The text is never
// query syntax: each word becomes one quoted FTS5 string (a phrase of the
// tokens the index's tokenizer finds in it), so quotes, operators, column
// filters and parentheses are only ever matched as text.
namespace agora::catalog {

inline constexpr std::size_t search_query_max = 500;  // characters, after trimming
inline constexpr std::size_t search_words_max = 32;

struct match_expressions {
  std::string all_words;  // "blu"* "shi"*   : every word (FTS5's implicit AND)
  std::string any_word;   // "blu"* OR "shi"*: at least one word
  std::size_t words = 0;
};

// Words are split at white space, control characters (NUL included) and the
// common non-ASCII spaces, punctuation, currency signs and emoji; inside a word
// other characters stay, so "MUG-1" is the phrase "mug 1". A word with no ASCII
// letter or digit and no other non-ASCII character is dropped. Every word
// matches as a prefix of the indexed words ("blu shi" finds "Blue shirt", "cup"
// finds "cups"). Appends a field_error for `field` when the text is not valid
// UTF-8, is blank or longer than search_query_max characters once trimmed, has
// more than search_words_max words, or has no word left to search for; the
// expressions only when it appended nothing.
std::optional<match_expressions> parse_search_query(std::string_view text, std::string_view field,
                                                    std::vector<field_error>& out);

}  // namespace agora::catalog
