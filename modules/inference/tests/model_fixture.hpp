#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "engine/safetensors.hpp"

namespace agora::inference::testing {

// A tiny decoder's shape and quirks, written to a folder as a Hugging Face model with
// deterministic pseudo-random weights (the same spec gives the same bytes everywhere).
struct fixture_spec {
  std::string architecture = "LlamaForCausalLM";
  std::int64_t hidden = 64;
  std::int64_t intermediate = 96;
  std::int64_t layers = 2;
  std::int64_t heads = 4;
  std::int64_t kv_heads = 2;
  std::int64_t head_dim = 0;  // 0: hidden / heads, and no head_dim key in config.json
  std::int64_t vocab = 101;
  std::int64_t max_positions = 256;
  double rope_theta = 10000.0;
  // null, or a rope_scaling object such as {"rope_type": "llama3", ...}
  nlohmann::json rope_scaling;
  // Write rope_theta and rope_scaling as the newer rope_parameters object.
  bool rope_parameters_form = false;
  bool tie = false;
  bool attention_bias = false;  // Llama/Qwen3 key; Qwen2 always has q/k/v bias
  st_dtype dtype = st_dtype::f32;
  int shards = 1;
  std::uint64_t seed = 7;
};

// The models whose logits are checked against llama.cpp (tests/reference/llamacpp/):
// one per architecture and quirk, float32, named as the reference files are.
// Llama 3's quirks on `base`: rope scaling (llama3 type, a small original context so
// short prompts reach the scaled band), one KV head, tied embeddings, explicit head_dim.
fixture_spec llama3_quirks(fixture_spec base);

struct named_spec {
  std::string name;
  fixture_spec spec;
};
std::vector<named_spec> reference_specs();

// The config.json the fixture writes for spec.
nlohmann::json config_json(const fixture_spec& spec);

// The weights for spec (float32, already rounded through spec.dtype), by HF name.
std::map<std::string, at::Tensor> make_weights(const fixture_spec& spec);

// Writes config.json, generation_config.json and the safetensors file(s) to dir and
// returns the weights as stored, in float32.
std::map<std::string, at::Tensor> write_model(const std::filesystem::path& dir, const fixture_spec& spec);

// Writes tensors (any float dtype) as one safetensors file, in name order.
void write_safetensors(const std::filesystem::path& path, const std::map<std::string, at::Tensor>& tensors,
                       st_dtype dtype);

void write_text(const std::filesystem::path& path, const std::string& text);

// The ids write_byte_tokenizer gives its special tokens; a model paired with it needs a
// vocab of at least byte_tokenizer_vocab.
inline constexpr std::int32_t byte_tokenizer_begin = 256;      // "<|begin|>", bos
inline constexpr std::int32_t byte_tokenizer_end = 257;        // "<|end|>", eos
inline constexpr std::int32_t byte_tokenizer_user = 258;       // "<|user|>"
inline constexpr std::int32_t byte_tokenizer_assistant = 259;  // "<|assistant|>"
inline constexpr std::int32_t byte_tokenizer_system = 260;     // "<|system|>"
inline constexpr std::int64_t byte_tokenizer_vocab = 261;

// Writes tokenizer.json and tokenizer_config.json to dir: a byte-level BPE tokenizer
// whose ids 0..255 are the bytes (as GPT-2's byte-to-unicode characters, so any text
// round-trips), with no merges, followed by the special tokens above; the config names
// bos and eos and carries a chat template that renders
// "<|begin|><|role|>content<|end|>...<|assistant|>". Call it after write_model: it sets
// the model's bos/eos (config.json, generation_config.json) to the tokenizer's.
void write_byte_tokenizer(const std::filesystem::path& dir);

// Logits of every position for tokens, computed naively in float64 straight from the
// Hugging Face modeling code (repeat_kv, rotate_half, causal mask; no cache):
// [tokens.size(), vocab], float32.
at::Tensor reference_logits(const fixture_spec& spec, const std::map<std::string, at::Tensor>& weights,
                            const std::vector<std::int32_t>& tokens);

// A fresh directory under the system temp dir, removed on destruction.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace agora::inference::testing
