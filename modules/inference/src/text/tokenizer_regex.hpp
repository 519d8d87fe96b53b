#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agora::inference {

// A compiled PCRE2 pattern in UTF + Unicode-properties mode (\p{L}, \s and \w by
// Unicode), JIT-compiled when the platform allows. Safe to share between threads.
class split_regex {
 public:
  // Throws std::invalid_argument with PCRE2's message when pattern does not compile.
  explicit split_regex(const std::string& pattern);
  split_regex(split_regex&&) noexcept;
  split_regex& operator=(split_regex&&) noexcept;
  ~split_regex();

  // The [begin, end) byte ranges of the successive non-overlapping matches in
  // text, which must be valid UTF-8. Empty matches are skipped.
  std::vector<std::pair<std::size_t, std::size_t>> matches(std::string_view text) const;

 private:
  struct code;
  std::unique_ptr<code> code_;
};

}  // namespace agora::inference
