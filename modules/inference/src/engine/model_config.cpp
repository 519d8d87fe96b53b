#include "engine/model_config.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace agora::inference {
namespace {

using json = nlohmann::json;

struct reader {
  const json& obj;
  std::string_view file;

  [[noreturn]] void fail(std::string_view field, std::string_view what) const {
    throw model_error(fmt::format("{}: {}: {}", file, field, what));
  }

  bool has(const char* field) const { return obj.contains(field) && !obj.at(field).is_null(); }

  std::int64_t positive_int(const char* field) const {
    if (!has(field)) fail(field, "missing");
    const auto& v = obj.at(field);
    if (!v.is_number_integer()) fail(field, "must be an integer");
    auto n = v.get<std::int64_t>();
    if (n <= 0) fail(field, fmt::format("must be positive, got {}", n));
    return n;
  }

  std::int64_t positive_int_or(const char* field, std::int64_t fallback) const {
    return has(field) ? positive_int(field) : fallback;
  }

  double number_or(const char* field, double fallback) const {
    if (!has(field)) return fallback;
    const auto& v = obj.at(field);
    if (!v.is_number()) fail(field, "must be a number");
    return v.get<double>();
  }

  std::optional<double> optional_number(const char* field) const {
    if (!has(field)) return std::nullopt;
    return number_or(field, 0.0);
  }

  bool bool_or(const char* field, bool fallback) const {
    if (!has(field)) return fallback;
    const auto& v = obj.at(field);
    if (!v.is_boolean()) fail(field, "must be true or false");
    return v.get<bool>();
  }

  std::string string_or(const char* field, std::string fallback) const {
    if (!has(field)) return fallback;
    const auto& v = obj.at(field);
    if (!v.is_string()) fail(field, "must be a string");
    return v.get<std::string>();
  }

  std::vector<std::int32_t> ids(const char* field) const {
    std::vector<std::int32_t> out;
    if (!has(field)) return out;
    const auto& v = obj.at(field);
    auto one = [&](const json& x) {
      if (!x.is_number_integer() || x.get<std::int64_t>() < 0) fail(field, "must be a non-negative integer or a list of them");
      out.push_back(static_cast<std::int32_t>(x.get<std::int64_t>()));
    };
    if (v.is_array()) {
      for (const auto& x : v) one(x);
    } else {
      one(v);
    }
    return out;
  }
};

json parse_json(std::string_view text, std::string_view name) {
  try {
    auto j = json::parse(text);
    if (!j.is_object()) throw model_error(fmt::format("{}: must be a JSON object", name));
    return j;
  } catch (const json::exception& e) {
    throw model_error(fmt::format("{}: {}", name, json_problem(e)));
  }
}

void parse_rope(const json& root, std::string_view file, model_config& c) {
  reader top{root, file};
  c.rope.theta = top.number_or("rope_theta", 10000.0);
  const json* scaling = nullptr;
  std::string prefix;
  if (top.has("rope_parameters")) {
    scaling = &root.at("rope_parameters");
    prefix = "rope_parameters";
  } else if (top.has("rope_scaling")) {
    scaling = &root.at("rope_scaling");
    prefix = "rope_scaling";
  }
  if (scaling == nullptr) return;
  if (!scaling->is_object()) top.fail(prefix, "must be an object");
  reader r{*scaling, file};
  auto field = [&](const char* name) { return fmt::format("{}.{}", prefix, name); };
  if (r.has("rope_theta")) c.rope.theta = r.number_or("rope_theta", c.rope.theta);
  std::string type = r.string_or("rope_type", r.string_or("type", "default"));
  if (type == "default") {
    c.rope.kind = rope_kind::none;
  } else if (type == "linear") {
    c.rope.kind = rope_kind::linear;
  } else if (type == "llama3") {
    c.rope.kind = rope_kind::llama3;
  } else {
    r.fail(field("rope_type"), fmt::format("unsupported rope type '{}' (supported: default, linear, llama3)", shown(type)));
  }
  if (c.rope.kind == rope_kind::none) return;
  if (!r.has("factor")) r.fail(field("factor"), "missing");
  c.rope.factor = r.number_or("factor", 1.0);
  if (!(c.rope.factor >= 1.0)) r.fail(field("factor"), fmt::format("must be at least 1, got {}", c.rope.factor));
  if (c.rope.kind == rope_kind::llama3) {
    for (const char* f : {"low_freq_factor", "high_freq_factor", "original_max_position_embeddings"})
      if (!r.has(f)) r.fail(field(f), "missing");
    c.rope.low_freq_factor = r.number_or("low_freq_factor", 1.0);
    c.rope.high_freq_factor = r.number_or("high_freq_factor", 4.0);
    c.rope.original_max_position_embeddings = r.positive_int("original_max_position_embeddings");
    if (!(c.rope.high_freq_factor > c.rope.low_freq_factor) || !(c.rope.low_freq_factor > 0))
      r.fail(field("high_freq_factor"),
             fmt::format("must exceed low_freq_factor ({} vs {}), both positive", c.rope.high_freq_factor,
                         c.rope.low_freq_factor));
  }
}

}  // namespace

model_config model_config::parse(std::string_view config_json, std::string_view generation_config_json,
                                 std::string_view config_name, std::string_view generation_name) {
  auto root = parse_json(config_json, config_name);
  reader r{root, config_name};
  model_config c;

  if (!r.has("architectures")) r.fail("architectures", "missing");
  const auto& archs = root.at("architectures");
  if (!archs.is_array() || archs.size() != 1 || !archs[0].is_string())
    r.fail("architectures", "must be a list with one architecture name");
  c.architecture = archs[0].get<std::string>();
  if (c.architecture == "LlamaForCausalLM") {
    c.family = model_family::llama;
  } else if (c.architecture == "MistralForCausalLM") {
    c.family = model_family::mistral;
  } else if (c.architecture == "Qwen2ForCausalLM") {
    c.family = model_family::qwen2;
  } else if (c.architecture == "Qwen3ForCausalLM") {
    c.family = model_family::qwen3;
  } else {
    r.fail("architectures",
           fmt::format("unsupported architecture '{}' (supported: LlamaForCausalLM, MistralForCausalLM, "
                       "Qwen2ForCausalLM, Qwen3ForCausalLM)",
                       shown(c.architecture)));
  }

  c.hidden_size = r.positive_int("hidden_size");
  c.intermediate_size = r.positive_int("intermediate_size");
  c.num_hidden_layers = r.positive_int("num_hidden_layers");
  c.num_attention_heads = r.positive_int("num_attention_heads");
  c.num_key_value_heads = r.positive_int_or("num_key_value_heads", c.num_attention_heads);
  c.vocab_size = r.positive_int("vocab_size");
  c.max_position_embeddings = r.positive_int_or("max_position_embeddings", c.max_position_embeddings);
  c.rms_norm_eps = r.number_or("rms_norm_eps", c.rms_norm_eps);
  if (!(c.rms_norm_eps > 0)) r.fail("rms_norm_eps", fmt::format("must be positive, got {}", c.rms_norm_eps));
  c.tie_word_embeddings = r.bool_or("tie_word_embeddings", false);

  if (c.num_attention_heads % c.num_key_value_heads != 0)
    throw model_error(fmt::format("{}: num_key_value_heads ({}) must divide num_attention_heads ({})", config_name,
                                  c.num_key_value_heads, c.num_attention_heads));
  if (r.has("head_dim")) {
    c.head_dim = r.positive_int("head_dim");
  } else {
    if (c.hidden_size % c.num_attention_heads != 0)
      throw model_error(fmt::format("{}: num_attention_heads ({}) must divide hidden_size ({}) when head_dim is absent",
                                    config_name, c.num_attention_heads, c.hidden_size));
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.head_dim % 2 != 0) r.fail("head_dim", fmt::format("must be even for rotary embeddings, got {}", c.head_dim));

  auto act = r.string_or("hidden_act", "silu");
  if (act != "silu") r.fail("hidden_act", fmt::format("unsupported activation '{}' (supported: silu)", shown(act)));
  if (r.bool_or("mlp_bias", false)) r.fail("mlp_bias", "true is not supported");

  switch (c.family) {
    case model_family::qwen2:
      c.qkv_bias = true;
      break;
    case model_family::qwen3:
    case model_family::llama:
      c.qkv_bias = c.o_bias = r.bool_or("attention_bias", false);
      c.qk_norm = c.family == model_family::qwen3;
      break;
    case model_family::mistral:
      break;
  }

  parse_rope(root, config_name, c);

  if (r.has("bos_token_id")) {
    auto bos = r.ids("bos_token_id");
    if (!bos.empty()) c.bos_token_id = bos.front();
  }
  c.eos_token_ids = r.ids("eos_token_id");

  if (!generation_config_json.empty()) {
    auto gen = parse_json(generation_config_json, generation_name);
    reader g{gen, generation_name};
    auto eos = g.ids("eos_token_id");
    for (auto id : eos)
      if (std::find(c.eos_token_ids.begin(), c.eos_token_ids.end(), id) == c.eos_token_ids.end())
        c.eos_token_ids.push_back(id);
    if (g.has("bos_token_id")) {
      auto bos = g.ids("bos_token_id");
      if (!bos.empty()) c.bos_token_id = bos.front();
    }
    c.default_temperature = g.optional_number("temperature");
    c.default_top_p = g.optional_number("top_p");
    if (g.has("top_k")) c.default_top_k = static_cast<std::int64_t>(g.number_or("top_k", 0));
    c.default_repetition_penalty = g.optional_number("repetition_penalty");
  }
  for (auto id : c.eos_token_ids)
    if (id >= c.vocab_size)
      throw model_error(fmt::format("{}: eos_token_id ({}) must be below vocab_size ({})", config_name, id, c.vocab_size));
  return c;
}

model_config model_config::from_folder(const std::filesystem::path& dir, const model_file_limits& limits) {
  try {
    auto config = read_model_file(dir, "config.json", limits.config);
    if (!config) throw model_error("config.json: missing");
    auto gen = read_model_file(dir, "generation_config.json", limits.config);
    return parse(*config, gen.value_or(std::string()));
  } catch (const model_file_error& e) {
    throw model_error(e.what());
  }
}

std::vector<float> rope_inv_freq(const model_config& config) {
  const auto half = config.head_dim / 2;
  std::vector<float> inv(static_cast<std::size_t>(half));
  const auto theta = static_cast<float>(config.rope.theta);
  for (std::int64_t i = 0; i < half; ++i) {
    float exponent = static_cast<float>(2 * i) / static_cast<float>(config.head_dim);
    inv[static_cast<std::size_t>(i)] = 1.0f / std::pow(theta, exponent);
  }
  const auto& rope = config.rope;
  const auto factor = static_cast<float>(rope.factor);
  if (rope.kind == rope_kind::linear) {
    for (auto& f : inv) f /= factor;
  } else if (rope.kind == rope_kind::llama3) {
    const auto old_ctx = static_cast<float>(rope.original_max_position_embeddings);
    const auto low = static_cast<float>(rope.low_freq_factor);
    const auto high = static_cast<float>(rope.high_freq_factor);
    const float low_freq_wavelen = old_ctx / low;
    const float high_freq_wavelen = old_ctx / high;
    for (auto& f : inv) {
      const float wavelen = 2.0f * std::numbers::pi_v<float> / f;
      if (wavelen > low_freq_wavelen) {
        f = f / factor;
      } else if (wavelen >= high_freq_wavelen) {
        const float smooth = (old_ctx / wavelen - low) / (high - low);
        f = (1.0f - smooth) * f / factor + smooth * f;
      }
    }
  }
  return inv;
}

}  // namespace agora::inference
