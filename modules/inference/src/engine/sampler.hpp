#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace agora::inference {

// A request's sampling parameters, with OpenAI's names and ranges.
struct sampling_params {
  // 0 picks the most likely token (greedy); otherwise logits are divided by it. [0, 2].
  double temperature = 1.0;
  // Keep only the k most likely tokens; 0 (or -1) keeps all.
  std::int64_t top_k = 0;
  // Keep the smallest set of most likely tokens whose probability reaches top_p. (0, 1].
  double top_p = 1.0;
  // Hugging Face semantics: for every token in the prompt or the output so far, a
  // positive logit is divided by it and a negative one multiplied. (0, 2]; 1 is off.
  double repetition_penalty = 1.0;
  // OpenAI semantics, over output tokens only: logit -= presence_penalty once a token
  // has appeared and -= frequency_penalty * count. Each in [-2, 2].
  double presence_penalty = 0.0;
  double frequency_penalty = 0.0;
  // OpenAI's logit_bias: added to a token's logit before anything else; each bias in
  // [-100, 100], and -100 bans the token outright (its logit becomes -infinity).
  std::vector<std::pair<std::int32_t, float>> logit_bias;
  // Same seed, same prompt, same model and device: same tokens (at batch 1).
  std::optional<std::uint64_t> seed;
};

// Throws std::invalid_argument naming the field, e.g.
// "top_p: must be in (0, 1], got 1.5".
void validate(const sampling_params& params);

// Picks one sequence's tokens. Owns that sequence's random generator and the token
// counts the penalties need; one instance per sequence, used by one thread.
class sampler {
 public:
  // Validates params; prompt tokens count for repetition_penalty only.
  sampler(const sampling_params& params, std::span<const std::int32_t> prompt);

  // The distribution tokens are drawn from after penalties, temperature, top-k and
  // top-p: (token, probability) pairs, most likely first, probabilities summing to 1.
  // With temperature 0 it is the single most likely token.
  std::vector<std::pair<std::int32_t, float>> distribution(std::span<const float> logits) const;

  // Draws the next token from logits (one per vocabulary entry) and records it.
  std::int32_t next(std::span<const float> logits);
  // Records a token chosen elsewhere (e.g. forced), for the penalties.
  void accept(std::int32_t token);

  const sampling_params& params() const { return params_; }

 private:
  void penalize(std::vector<float>& logits) const;
  double uniform();

  sampling_params params_;
  std::mt19937_64 rng_;
  std::unordered_map<std::int32_t, std::int32_t> output_counts_;
  std::unordered_set<std::int32_t> seen_;
};

}  // namespace agora::inference
