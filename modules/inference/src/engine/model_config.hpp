#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "engine/model_files.hpp"

namespace agora::inference {

// Thrown when a model folder cannot be loaded: a file is missing or malformed, a field
// is absent, inconsistent or unsupported, or a tensor is missing or has the wrong shape
// or dtype. what() names the file and the field or tensor, e.g.
// "config.json: num_key_value_heads (3) must divide num_attention_heads (8)".
class model_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class model_family { llama, mistral, qwen2, qwen3 };

enum class rope_kind { none, linear, llama3 };

// Rotary embedding parameters, read from rope_theta/rope_scaling or from the newer
// rope_parameters object. Kinds other than default, linear and llama3 are refused.
struct rope_config {
  double theta = 10000.0;
  rope_kind kind = rope_kind::none;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  std::int64_t original_max_position_embeddings = 8192;
};

// A decoder-only model's shape as read from config.json and generation_config.json.
// After parsing, every invariant the engine relies on holds: heads divide evenly into
// key/value groups, head_dim is even, sizes are positive. sliding_window (Mistral,
// Qwen2) is ignored: attention always spans the whole context, which is exact for
// contexts shorter than the window and what the reference implementations do when
// use_sliding_window is false.
struct model_config {
  std::string architecture;
  model_family family = model_family::llama;
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_hidden_layers = 0;
  std::int64_t num_attention_heads = 0;
  std::int64_t num_key_value_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t vocab_size = 0;
  std::int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  // q/k/v projections carry a bias (always for Qwen2; attention_bias for Llama/Qwen3).
  bool qkv_bias = false;
  // o_proj carries a bias (attention_bias for Llama and Qwen3).
  bool o_bias = false;
  // Per-head RMSNorm of queries and keys before RoPE (Qwen3).
  bool qk_norm = false;
  rope_config rope;
  std::optional<std::int32_t> bos_token_id;
  // Union of config.json's and generation_config.json's eos ids (int or list).
  std::vector<std::int32_t> eos_token_ids;
  // Sampling defaults from generation_config.json, when given.
  std::optional<double> default_temperature;
  std::optional<double> default_top_p;
  std::optional<std::int64_t> default_top_k;
  std::optional<double> default_repetition_penalty;

  // Parses the two files' contents; names are used in messages only.
  static model_config parse(std::string_view config_json, std::string_view generation_config_json = {},
                            std::string_view config_name = "config.json",
                            std::string_view generation_name = "generation_config.json");
  // Reads config.json and, when present, generation_config.json from a model folder
  // (regular files within limits.config bytes: see model_file).
  static model_config from_folder(const std::filesystem::path& dir, const model_file_limits& limits = {});
};

// The rotary inverse frequencies, head_dim / 2 of them, computed in float32 the way
// Hugging Face does (including llama3 and linear scaling).
std::vector<float> rope_inv_freq(const model_config& config);

}  // namespace agora::inference
