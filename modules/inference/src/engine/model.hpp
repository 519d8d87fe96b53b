#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include <ATen/core/Tensor.h>

#include "engine/model_config.hpp"
#include "engine/model_files.hpp"

namespace agora::inference {

enum class device_choice { automatic, cpu, cuda };
enum class compute_dtype { automatic, f32, bf16, f16 };

struct model_options {
  // automatic: CUDA when torch::cuda::is_available(), else the CPU.
  device_choice device = device_choice::automatic;
  // automatic: float32 on the CPU, bfloat16 on CUDA.
  compute_dtype dtype = compute_dtype::automatic;
  // KV-cache slots, i.e. sequences that can be in flight at once.
  int max_sequences = 8;
  // Positions per slot; 0 means min(max_position_embeddings, 4096).
  std::int64_t max_context = 0;
  // The most bytes each file of the folder may have.
  model_file_limits files;
};

// One engine step. For each sequence: its slot and the new tokens to append at the
// slot's current length (a prefill passes many, a decode step one). Slots must be
// distinct, acquired, and have room for their tokens.
struct step_input {
  std::vector<int> slot;
  std::vector<std::vector<std::int32_t>> tokens;
};

// A Llama-family decoder (Llama, Mistral, Qwen2, Qwen3) loaded from a Hugging Face
// folder, with a slot-based KV cache allocated once at load:
// per layer [max_sequences, kv_heads, max_context, head_dim] for keys and for values.
// Sequences join and leave a running batch by acquiring and releasing slots; any
// mix of prefills and decodes may share one forward call. Weights are converted to
// the compute dtype and moved to the device once, at load.
//
// Not thread-safe: one thread (the engine's) calls everything.
class model {
 public:
  // Throws model_error naming the file and field or tensor when the folder is
  // incomplete, inconsistent or unsupported.
  static std::unique_ptr<model> load(const std::filesystem::path& dir, const model_options& options = {});
  ~model();
  model(const model&) = delete;
  model& operator=(const model&) = delete;

  const model_config& config() const;
  bool on_cuda() const;
  std::int64_t max_context() const;
  int max_sequences() const;

  // A free slot with length 0, or nullopt when all are in use.
  std::optional<int> acquire();
  // Frees slot; its cached positions are forgotten.
  void release(int slot);
  // Positions cached for slot.
  std::size_t length(int slot) const;
  // Forgets positions from new_length on (e.g. to retry from a shorter prefix).
  void truncate(int slot, std::size_t new_length);

  // Runs the new tokens through the model, appends their keys and values to the
  // slots' caches, and returns the logits of each sequence's last new token:
  // [batch, vocab] float32 on the CPU, in step_input order. Throws
  // std::invalid_argument for a bad slot, an empty or over-long token list, or a token
  // outside the vocabulary; nothing is changed then.
  at::Tensor forward(const step_input& input);

  struct impl;

 private:
  explicit model(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace agora::inference
