#include "text/tokenizer_bpe.hpp"

#include "engine/model_files.hpp"
#include "text/tokenizer_text.hpp"

#include <fmt/format.h>

#include <mutex>
#include <queue>
#include <stdexcept>

namespace agora::inference {
namespace {

constexpr std::size_t max_cached_word = 256;

struct symbol {
  std::int32_t id;
  std::int32_t prev;
  std::int32_t next;
};

struct candidate {
  std::int32_t rank;
  std::int32_t pos;
  std::int32_t left_id;
  std::int32_t right_id;
  std::int32_t merged_id;
  bool operator>(const candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

bpe_model::bpe_model(token_map vocab, settings s) : vocab_(std::move(vocab)), settings_(s) {
  for (int b = 0; b < 256; ++b) {
    const auto it = vocab_.find(fmt::format("<0x{:02X}>", b));
    byte_ids_[b] = it == vocab_.end() ? -1 : it->second;
  }
}

bpe_model::bpe_model(bpe_model&&) noexcept = default;
bpe_model& bpe_model::operator=(bpe_model&&) noexcept = default;

void bpe_model::add_merge(std::string_view left, std::string_view right) {
  const auto l = vocab_.find(left);
  const auto r = vocab_.find(right);
  std::string joined;
  joined.reserve(left.size() + right.size());
  joined.append(left).append(right);
  const auto m = vocab_.find(joined);
  if (l == vocab_.end() || r == vocab_.end() || m == vocab_.end()) {
    const std::string_view missing = l == vocab_.end() ? left : r == vocab_.end() ? right : std::string_view(joined);
    throw std::invalid_argument(fmt::format("merge '{} {}' uses '{}', which is not in the vocabulary", shown(left),
                                            shown(right), shown(missing)));
  }
  merges_.try_emplace(pair_key(l->second, r->second), merge{static_cast<std::int32_t>(merges_.size()), m->second});
}

std::optional<std::int32_t> bpe_model::token_id(std::string_view token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

void bpe_model::initial_symbols(std::string_view word, std::vector<std::int32_t>& ids) const {
  bool last_was_unk = false;
  const auto push_unk = [&] {
    if (!settings_.unk_id) return;
    if (settings_.fuse_unk && last_was_unk) return;
    ids.push_back(*settings_.unk_id);
    last_was_unk = true;
  };
  for (std::size_t i = 0; i < word.size();) {
    std::size_t len = text::valid_char_length(word, i);
    if (len == 0) len = 1;
    const auto ch = word.substr(i, len);
    i += len;
    if (const auto it = vocab_.find(ch); it != vocab_.end()) {
      ids.push_back(it->second);
      last_was_unk = false;
      continue;
    }
    if (settings_.byte_fallback) {
      bool all_bytes = true;
      for (const char c : ch) all_bytes = all_bytes && byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all_bytes) {
        for (const char c : ch) ids.push_back(byte_ids_[static_cast<unsigned char>(c)]);
        last_was_unk = false;
        continue;
      }
    }
    push_unk();
  }
}

void bpe_model::merge_symbols(std::vector<std::int32_t>& ids) const {
  if (ids.size() < 2) return;
  const auto n = static_cast<std::int32_t>(ids.size());
  std::vector<symbol> symbols(ids.size());
  for (std::int32_t i = 0; i < n; ++i) symbols[i] = {ids[i], i - 1, i + 1 < n ? i + 1 : -1};

  std::vector<candidate> storage;
  storage.reserve(ids.size() * 2);
  std::priority_queue<candidate, std::vector<candidate>, std::greater<>> queue(std::greater<>{}, std::move(storage));
  const auto consider = [&](std::int32_t left) {
    if (left < 0) return;
    const std::int32_t right = symbols[left].next;
    if (right < 0) return;
    const auto it = merges_.find(pair_key(symbols[left].id, symbols[right].id));
    if (it == merges_.end()) return;
    queue.push({it->second.rank, left, symbols[left].id, symbols[right].id, it->second.merged_id});
  };
  for (std::int32_t i = 0; i + 1 < n; ++i) consider(i);

  while (!queue.empty()) {
    const candidate c = queue.top();
    queue.pop();
    symbol& left = symbols[c.pos];
    if (left.id != c.left_id || left.next < 0) continue;
    const std::int32_t right_index = left.next;
    symbol& right = symbols[right_index];
    if (right.id != c.right_id) continue;
    left.id = c.merged_id;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.pos;
    right.id = -1;
    consider(left.prev);
    consider(c.pos);
  }

  ids.clear();
  for (std::int32_t i = 0; i >= 0; i = symbols[i].next) ids.push_back(symbols[i].id);
}

void bpe_model::encode(std::string_view word, std::vector<std::int32_t>& out) const {
  if (word.empty()) return;
  if (settings_.ignore_merges) {
    if (const auto it = vocab_.find(word); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const bool cacheable = settings_.cache_capacity > 0 && word.size() <= max_cached_word;
  if (cacheable) {
    std::shared_lock lock(*cache_mutex_);
    if (const auto it = cache_.find(word); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<std::int32_t> ids;
  ids.reserve(word.size());
  initial_symbols(word, ids);
  merge_symbols(ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::unique_lock lock(*cache_mutex_);
    if (cache_.size() >= settings_.cache_capacity) cache_.clear();
    cache_.try_emplace(std::string(word), std::move(ids));
  }
}

}  // namespace agora::inference
