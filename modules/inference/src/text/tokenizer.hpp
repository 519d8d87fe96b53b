#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace agora::inference {

// Thrown by tokenizer::from_files and from_json when a file cannot be read, is not
// valid JSON, or uses a field value this tokenizer does not support. what() names
// the file and the field, e.g. "tokenizer.json: model.type: unsupported model 'WordPiece'".
class tokenizer_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct tokenizer_options {
  // When false, text that spells a special token is tokenized as plain text
  // (Hugging Face's split_special_tokens); non-special added tokens still match.
  bool parse_special = true;
  // Upper bound on the number of pre-tokens whose BPE result is cached.
  std::size_t cache_capacity = 16384;
};

// A BPE tokenizer read from a Hugging Face tokenizer.json (plus, optionally, the
// model's tokenizer_config.json). Covers byte-level BPE (GPT-2, Llama 3, Qwen2/3)
// and SentencePiece-style BPE with byte fallback (Llama 2, Mistral).
//
// Encoding follows the Hugging Face pipeline: the input is split on added tokens,
// every other section is normalized, pre-tokenized and run through BPE, and the
// post-processor's template adds special tokens when asked. Input that is not valid
// UTF-8 has its bad bytes replaced by U+FFFD first.
//
// An instance is immutable after loading apart from an internal, bounded, locked
// cache, so one instance may be shared by threads that encode and decode at once.
class tokenizer {
 public:
  using options = tokenizer_options;

  // Reads tokenizer.json and, when tokenizer_config is not empty, the
  // tokenizer_config.json that supplies bos/eos and added tokens' flags.
  static tokenizer from_files(const std::filesystem::path& tokenizer_json,
                              const std::filesystem::path& tokenizer_config = {},
                              options opts = {});
  // The same from the files' contents; the names are used in error messages only.
  static tokenizer from_json(std::string_view tokenizer_json, std::string_view tokenizer_config = {},
                             options opts = {}, std::string_view json_name = "tokenizer.json",
                             std::string_view config_name = "tokenizer_config.json");

  tokenizer(tokenizer&&) noexcept;
  tokenizer& operator=(tokenizer&&) noexcept;
  ~tokenizer();

  // Token ids for text. With add_special_tokens the post-processor's template
  // (e.g. a leading BOS) is applied; a post-processor without one adds nothing.
  std::vector<std::int32_t> encode(std::string_view text, bool add_special_tokens = false) const;

  // Text for ids. Ids outside the vocabulary are skipped; with skip_special_tokens
  // special tokens are skipped too. Bytes that do not form valid UTF-8 become U+FFFD.
  // No "clean up tokenization spaces" rewriting is ever applied.
  std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens = false) const;

  std::optional<std::int32_t> token_id(std::string_view token) const;
  // The vocabulary string of id (byte-level or "▁" form), empty for unknown ids.
  std::string_view token(std::int32_t id) const;
  // One past the largest id; every id the tokenizer returns is below it.
  std::size_t vocab_size() const;
  std::optional<std::int32_t> bos_id() const;
  std::optional<std::int32_t> eos_id() const;
  // True for added tokens marked special and for the config's bos/eos/unk/pad tokens.
  bool is_special(std::int32_t id) const;

  // Turns ids arriving one by one into text, returning only complete UTF-8
  // characters: the bytes of a character split across tokens are held until the
  // token that completes it arrives. The concatenation of every push() and the
  // final finish() equals decode() of all pushed ids. Borrows the tokenizer, which
  // must outlive it. Not thread-safe; use one per stream.
  class stream_decoder {
   public:
    explicit stream_decoder(const tokenizer& tok, bool skip_special_tokens = false);
    std::string push(std::int32_t id);
    // Flushes held bytes (an incomplete character becomes U+FFFD) and resets.
    std::string finish();

   private:
    const tokenizer* tok_;
    bool skip_special_;
    bool first_ = true;
    std::size_t strip_left_;
    std::string pending_;
  };

  struct impl;

 private:
  explicit tokenizer(std::unique_ptr<impl> impl);
  std::unique_ptr<impl> impl_;
};

}  // namespace agora::inference
