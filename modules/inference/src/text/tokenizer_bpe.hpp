#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace agora::inference {

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

using token_map = std::unordered_map<std::string, std::int32_t, string_hash, std::equal_to<>>;

// The BPE model: vocabulary, ranked merges keyed by the pair of ids, byte fallback
// and a bounded cache of the ids per pre-token. Words are sequences of UTF-8
// characters in the vocabulary's own alphabet (byte-level or "▁" form).
class bpe_model {
 public:
  struct settings {
    bool byte_fallback = false;
    bool ignore_merges = false;
    bool fuse_unk = false;
    std::optional<std::int32_t> unk_id;
    std::size_t cache_capacity = 16384;
  };

  bpe_model(token_map vocab, settings s);
  bpe_model(bpe_model&&) noexcept;
  bpe_model& operator=(bpe_model&&) noexcept;

  // Appends the next merge in rank order; throws std::invalid_argument when left,
  // right or their concatenation is not in the vocabulary.
  void add_merge(std::string_view left, std::string_view right);

  void encode(std::string_view word, std::vector<std::int32_t>& out) const;
  std::optional<std::int32_t> token_id(std::string_view token) const;
  const token_map& vocab() const { return vocab_; }

 private:
  struct merge {
    std::int32_t rank;
    std::int32_t merged_id;
  };
  static std::uint64_t pair_key(std::int32_t left, std::int32_t right) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
  }
  void initial_symbols(std::string_view word, std::vector<std::int32_t>& ids) const;
  void merge_symbols(std::vector<std::int32_t>& ids) const;

  token_map vocab_;
  settings settings_;
  std::unordered_map<std::uint64_t, merge> merges_;
  std::array<std::int32_t, 256> byte_ids_{};

  mutable std::unique_ptr<std::shared_mutex> cache_mutex_ = std::make_unique<std::shared_mutex>();
  mutable std::unordered_map<std::string, std::vector<std::int32_t>, string_hash, std::equal_to<>> cache_;
};

}  // namespace agora::inference
