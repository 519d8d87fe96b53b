#include "engine/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

namespace agora::inference {

void validate(const sampling_params& p) {
  auto fail = [](const char* field, std::string what) {
    throw std::invalid_argument(fmt::format("{}: {}", field, what));
  };
  if (!(p.temperature >= 0.0 && p.temperature <= 2.0))
    fail("temperature", fmt::format("must be between 0 and 2, got {}", p.temperature));
  if (p.top_k < -1) fail("top_k", fmt::format("must be -1, 0 (off) or positive, got {}", p.top_k));
  if (!(p.top_p > 0.0 && p.top_p <= 1.0)) fail("top_p", fmt::format("must be in (0, 1], got {}", p.top_p));
  if (!(p.repetition_penalty > 0.0 && p.repetition_penalty <= 2.0))
    fail("repetition_penalty", fmt::format("must be in (0, 2], got {}", p.repetition_penalty));
  if (!(p.presence_penalty >= -2.0 && p.presence_penalty <= 2.0))
    fail("presence_penalty", fmt::format("must be between -2 and 2, got {}", p.presence_penalty));
  if (!(p.frequency_penalty >= -2.0 && p.frequency_penalty <= 2.0))
    fail("frequency_penalty", fmt::format("must be between -2 and 2, got {}", p.frequency_penalty));
  for (const auto& [token, bias] : p.logit_bias) {
    if (token < 0) fail("logit_bias", fmt::format("token ids are not negative, got {}", token));
    if (!(bias >= -100.0f && bias <= 100.0f))
      fail("logit_bias", fmt::format("biases must be between -100 and 100, got {} for token {}", bias, token));
  }
}

sampler::sampler(const sampling_params& params, std::span<const std::int32_t> prompt) : params_(params) {
  validate(params_);
  rng_.seed(params_.seed ? *params_.seed : (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}());
  if (params_.repetition_penalty != 1.0)
    seen_.insert(prompt.begin(), prompt.end());
}

void sampler::accept(std::int32_t token) {
  ++output_counts_[token];
  if (params_.repetition_penalty != 1.0) seen_.insert(token);
}

void sampler::penalize(std::vector<float>& logits) const {
  const auto vocab = static_cast<std::int32_t>(logits.size());
  for (const auto& [t, bias] : params_.logit_bias) {
    if (t >= vocab) continue;
    auto& l = logits[static_cast<std::size_t>(t)];
    l = bias <= -100.0f ? -std::numeric_limits<float>::infinity() : l + bias;
  }
  if (params_.repetition_penalty != 1.0) {
    const auto r = static_cast<float>(params_.repetition_penalty);
    for (const auto t : seen_) {
      if (t < 0 || t >= vocab) continue;
      auto& l = logits[static_cast<std::size_t>(t)];
      l = l > 0 ? l / r : l * r;
    }
  }
  if (params_.presence_penalty != 0.0 || params_.frequency_penalty != 0.0) {
    for (const auto& [t, count] : output_counts_) {
      if (t < 0 || t >= vocab) continue;
      logits[static_cast<std::size_t>(t)] -= static_cast<float>(params_.frequency_penalty * count + params_.presence_penalty);
    }
  }
}

std::vector<std::pair<std::int32_t, float>> sampler::distribution(std::span<const float> raw) const {
  if (raw.empty()) throw std::invalid_argument("logits: empty");
  std::vector<float> logits(raw.begin(), raw.end());
  penalize(logits);
  const auto vocab = logits.size();
  auto better = [&](std::int32_t a, std::int32_t b) {
    const auto la = logits[static_cast<std::size_t>(a)];
    const auto lb = logits[static_cast<std::size_t>(b)];
    return la > lb || (la == lb && a < b);
  };
  if (params_.temperature == 0.0) {
    std::int32_t best = 0;
    for (std::int32_t t = 1; t < static_cast<std::int32_t>(vocab); ++t)
      if (better(t, best)) best = t;
    return {{best, 1.0f}};
  }
  std::vector<std::int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  std::size_t keep = vocab;
  if (params_.top_k > 0 && static_cast<std::size_t>(params_.top_k) < vocab) {
    keep = static_cast<std::size_t>(params_.top_k);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(), better);
  } else {
    std::sort(order.begin(), order.end(), better);
  }
  const double inv_t = 1.0 / params_.temperature;
  const double top = static_cast<double>(logits[static_cast<std::size_t>(order[0])]);
  std::vector<double> weight(keep);
  double sum = 0.0;
  for (std::size_t i = 0; i < keep; ++i) {
    weight[i] = std::exp((static_cast<double>(logits[static_cast<std::size_t>(order[i])]) - top) * inv_t);
    sum += weight[i];
  }
  if (params_.top_p < 1.0) {
    double cumulative = 0.0;
    std::size_t cut = 0;
    while (cut < keep && (cut == 0 || cumulative < params_.top_p * sum)) cumulative += weight[cut++];
    keep = cut;
    sum = cumulative;
  }
  std::vector<std::pair<std::int32_t, float>> out;
  out.reserve(keep);
  for (std::size_t i = 0; i < keep; ++i) {
    if (weight[i] == 0.0) break;
    out.emplace_back(order[i], static_cast<float>(weight[i] / sum));
  }
  return out;
}

double sampler::uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

std::int32_t sampler::next(std::span<const float> logits) {
  auto dist = distribution(logits);
  std::int32_t token = dist.front().first;
  if (dist.size() > 1) {
    const double u = uniform();
    double cumulative = 0.0;
    token = dist.back().first;
    for (const auto& [t, p] : dist) {
      cumulative += p;
      if (u < cumulative) {
        token = t;
        break;
      }
    }
  }
  accept(token);
  return token;
}

}  // namespace agora::inference
