#include "model_fixture.hpp"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <numbers>

#include <fmt/format.h>
#include <torch/torch.h>

namespace agora::inference::testing {
namespace {

std::uint64_t splitmix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

torch::Tensor uniform(std::uint64_t& state, std::vector<std::int64_t> shape, double lo, double hi) {
  auto t = torch::empty(shape, torch::kFloat32);
  auto* p = t.data_ptr<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    double u = static_cast<double>(splitmix(state) >> 11) * 0x1.0p-53;
    p[i] = static_cast<float>(lo + (hi - lo) * u);
  }
  return t;
}

torch::ScalarType scalar(st_dtype d) {
  return d == st_dtype::f32 ? torch::kFloat32 : d == st_dtype::f16 ? torch::kFloat16 : torch::kBFloat16;
}

std::int64_t head_dim_of(const fixture_spec& s) { return s.head_dim > 0 ? s.head_dim : s.hidden / s.heads; }

bool qkv_bias(const fixture_spec& s) {
  return s.architecture == "Qwen2ForCausalLM" ||
         (s.attention_bias && (s.architecture == "LlamaForCausalLM" || s.architecture == "Qwen3ForCausalLM"));
}

bool o_bias(const fixture_spec& s) { return s.attention_bias && s.architecture != "Qwen2ForCausalLM"; }

torch::Tensor rms(const torch::Tensor& x, const torch::Tensor& w, double eps) {
  return w * (x * torch::rsqrt(x.pow(2).mean(-1, true) + eps));
}

}  // namespace

nlohmann::json config_json(const fixture_spec& s) {
  nlohmann::json c = {
      {"architectures", {s.architecture}},
      {"model_type", "llama"},
      {"hidden_size", s.hidden},
      {"intermediate_size", s.intermediate},
      {"num_hidden_layers", s.layers},
      {"num_attention_heads", s.heads},
      {"num_key_value_heads", s.kv_heads},
      {"vocab_size", s.vocab},
      {"max_position_embeddings", s.max_positions},
      {"rms_norm_eps", 1e-5},
      {"hidden_act", "silu"},
      {"tie_word_embeddings", s.tie},
      {"bos_token_id", 1},
      {"eos_token_id", 2},
      {"torch_dtype", "float32"},
  };
  if (s.head_dim > 0) c["head_dim"] = s.head_dim;
  if (s.architecture != "Qwen2ForCausalLM" && s.architecture != "MistralForCausalLM")
    c["attention_bias"] = s.attention_bias;
  if (s.rope_parameters_form) {
    nlohmann::json p = s.rope_scaling.is_null() ? nlohmann::json{{"rope_type", "default"}} : s.rope_scaling;
    p["rope_theta"] = s.rope_theta;
    c["rope_parameters"] = p;
  } else {
    c["rope_theta"] = s.rope_theta;
    c["rope_scaling"] = s.rope_scaling;
  }
  return c;
}

std::map<std::string, at::Tensor> make_weights(const fixture_spec& s) {
  std::uint64_t state = s.seed;
  const auto hd = head_dim_of(s);
  const auto qw = s.heads * hd;
  const auto kvw = s.kv_heads * hd;
  std::map<std::string, torch::Tensor> w;
  auto lin = [&](std::int64_t out, std::int64_t in) {
    const double a = 1.0 / std::sqrt(static_cast<double>(in));
    return uniform(state, {out, in}, -a, a);
  };
  auto norm = [&](std::int64_t n) { return uniform(state, {n}, 0.8, 1.2); };
  w["model.embed_tokens.weight"] = uniform(state, {s.vocab, s.hidden}, -1.0, 1.0);
  for (std::int64_t i = 0; i < s.layers; ++i) {
    const auto pre = fmt::format("model.layers.{}.", i);
    w[pre + "input_layernorm.weight"] = norm(s.hidden);
    w[pre + "post_attention_layernorm.weight"] = norm(s.hidden);
    w[pre + "self_attn.q_proj.weight"] = lin(qw, s.hidden);
    w[pre + "self_attn.k_proj.weight"] = lin(kvw, s.hidden);
    w[pre + "self_attn.v_proj.weight"] = lin(kvw, s.hidden);
    w[pre + "self_attn.o_proj.weight"] = lin(s.hidden, qw);
    if (qkv_bias(s)) {
      w[pre + "self_attn.q_proj.bias"] = uniform(state, {qw}, -0.2, 0.2);
      w[pre + "self_attn.k_proj.bias"] = uniform(state, {kvw}, -0.2, 0.2);
      w[pre + "self_attn.v_proj.bias"] = uniform(state, {kvw}, -0.2, 0.2);
    }
    if (o_bias(s)) w[pre + "self_attn.o_proj.bias"] = uniform(state, {s.hidden}, -0.2, 0.2);
    if (s.architecture == "Qwen3ForCausalLM") {
      w[pre + "self_attn.q_norm.weight"] = norm(hd);
      w[pre + "self_attn.k_norm.weight"] = norm(hd);
    }
    w[pre + "mlp.gate_proj.weight"] = lin(s.intermediate, s.hidden);
    w[pre + "mlp.up_proj.weight"] = lin(s.intermediate, s.hidden);
    w[pre + "mlp.down_proj.weight"] = lin(s.hidden, s.intermediate);
  }
  w["model.norm.weight"] = norm(s.hidden);
  if (!s.tie) w["lm_head.weight"] = lin(s.vocab, s.hidden);
  for (auto& [name, t] : w) t = t.to(scalar(s.dtype)).to(torch::kFloat32);
  return w;
}

fixture_spec llama3_quirks(fixture_spec s) {
  s.head_dim = 32;
  s.kv_heads = 1;
  s.tie = true;
  s.rope_theta = 500000.0;
  s.rope_scaling = {{"rope_type", "llama3"},
                    {"factor", 8.0},
                    {"low_freq_factor", 1.0},
                    {"high_freq_factor", 4.0},
                    {"original_max_position_embeddings", 64}};
  return s;
}

std::vector<named_spec> reference_specs() {
  fixture_spec base;
  base.vocab = 128;
  base.layers = 2;
  std::vector<named_spec> out;
  auto add = [&](std::string name, auto&& tweak) {
    fixture_spec s = base;
    tweak(s);
    out.push_back({std::move(name), s});
  };
  add("llama2", [](fixture_spec& s) { s.kv_heads = s.heads; });
  add("llama-gqa-bias", [](fixture_spec& s) {
    s.attention_bias = true;
    s.seed = 11;
  });
  add("llama3", [](fixture_spec& s) {
    s = llama3_quirks(s);
    s.seed = 13;
  });
  add("llama-linear-rope", [](fixture_spec& s) {
    s.rope_parameters_form = true;
    s.rope_scaling = {{"rope_type", "linear"}, {"factor", 2.0}};
    s.seed = 17;
  });
  add("mistral", [](fixture_spec& s) {
    s.architecture = "MistralForCausalLM";
    s.seed = 19;
  });
  add("qwen2", [](fixture_spec& s) {
    s.architecture = "Qwen2ForCausalLM";
    s.rope_theta = 1000000.0;
    s.seed = 23;
  });
  add("qwen3", [](fixture_spec& s) {
    s.architecture = "Qwen3ForCausalLM";
    s.head_dim = 24;
    s.rope_theta = 1000000.0;
    s.tie = true;
    s.seed = 29;
  });
  return out;
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

void write_safetensors(const std::filesystem::path& path, const std::map<std::string, at::Tensor>& tensors,
                       st_dtype dtype) {
  nlohmann::json header = nlohmann::json::object();
  header["__metadata__"] = {{"format", "pt"}};
  std::vector<torch::Tensor> data;
  std::size_t offset = 0;
  for (const auto& [name, t] : tensors) {
    auto c = t.to(scalar(dtype)).contiguous();
    const auto bytes = static_cast<std::size_t>(c.numel() * c.element_size());
    header[name] = {{"dtype", to_string(dtype)}, {"shape", c.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(c);
  }
  auto text = header.dump();
  while ((text.size() + 8) % 8 != 0) text.push_back(' ');
  std::ofstream out(path, std::ios::binary);
  std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << text;
  for (const auto& c : data)
    out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.numel() * c.element_size()));
}

std::map<std::string, at::Tensor> write_model(const std::filesystem::path& dir, const fixture_spec& s) {
  std::filesystem::create_directories(dir);
  auto weights = make_weights(s);
  write_text(dir / "config.json", config_json(s).dump(2));
  write_text(dir / "generation_config.json", nlohmann::json{{"bos_token_id", 1}, {"eos_token_id", {2, 3}}}.dump());
  if (s.shards <= 1) {
    write_safetensors(dir / "model.safetensors", weights, s.dtype);
    return weights;
  }
  std::vector<std::map<std::string, torch::Tensor>> parts(static_cast<std::size_t>(s.shards));
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  std::size_t k = 0;
  for (const auto& [name, t] : weights) {
    const auto shard = k++ % parts.size();
    parts[shard][name] = t;
    index["weight_map"][name] = fmt::format("model-{:05}-of-{:05}.safetensors", shard + 1, parts.size());
  }
  for (std::size_t i = 0; i < parts.size(); ++i)
    write_safetensors(dir / fmt::format("model-{:05}-of-{:05}.safetensors", i + 1, parts.size()), parts[i], s.dtype);
  write_text(dir / "model.safetensors.index.json", index.dump(2));
  return weights;
}

namespace {

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the others
// take code points from U+0100 on, in byte order.
std::string byte_character(int byte) {
  const auto printable = [](int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE); };
  int code = byte;
  if (!printable(byte)) {
    code = 0x100;
    for (int b = 0; b < byte; ++b)
      if (!printable(b)) ++code;
  }
  std::string out;
  if (code < 0x80) {
    out.push_back(static_cast<char>(code));
  } else {
    out.push_back(static_cast<char>(0xC0 | (code >> 6)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  }
  return out;
}

}  // namespace

void write_byte_tokenizer(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_character(b)] = b;
  const std::pair<std::int32_t, const char*> specials[] = {{byte_tokenizer_begin, "<|begin|>"},
                                                           {byte_tokenizer_end, "<|end|>"},
                                                           {byte_tokenizer_user, "<|user|>"},
                                                           {byte_tokenizer_assistant, "<|assistant|>"},
                                                           {byte_tokenizer_system, "<|system|>"}};
  nlohmann::json added = nlohmann::json::array();
  for (const auto& [id, content] : specials) {
    added.push_back({{"id", id},
                     {"content", content},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  const nlohmann::json tokenizer = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", true}}},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"vocab", vocab},
        {"merges", nlohmann::json::array()}}},
  };
  const nlohmann::json config = {
      {"bos_token", "<|begin|>"},
      {"eos_token", "<|end|>"},
      {"clean_up_tokenization_spaces", false},
      {"model_max_length", 4096},
      {"chat_template",
       "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content }}<|end|>{% endfor %}"
       "{% if add_generation_prompt %}<|assistant|>{% endif %}"},
  };
  write_text(dir / "tokenizer.json", tokenizer.dump(2));
  write_text(dir / "tokenizer_config.json", config.dump(2));
  // The model's own bos/eos become the tokenizer's, so a generation stops at "<|end|>"
  // and nowhere else (write_model's 1 and 2/3 are bytes here).
  write_text(dir / "generation_config.json",
             nlohmann::json{{"bos_token_id", byte_tokenizer_begin}, {"eos_token_id", byte_tokenizer_end}}.dump());
  if (std::filesystem::exists(dir / "config.json")) {
    std::ifstream in(dir / "config.json");
    auto model_config = nlohmann::json::parse(in);
    model_config["bos_token_id"] = byte_tokenizer_begin;
    model_config["eos_token_id"] = byte_tokenizer_end;
    write_text(dir / "config.json", model_config.dump(2));
  }
}

at::Tensor reference_logits(const fixture_spec& s, const std::map<std::string, at::Tensor>& weights,
                            const std::vector<std::int32_t>& tokens) {
  torch::NoGradGuard no_grad;
  auto W = [&](const std::string& n) { return weights.at(n).to(torch::kFloat64); };
  const auto hd = head_dim_of(s);
  const auto n = static_cast<std::int64_t>(tokens.size());
  const double eps = 1e-5;
  std::vector<std::int64_t> ids(tokens.begin(), tokens.end());

  auto inv_freq = 1.0 / torch::pow(s.rope_theta, torch::arange(0, hd, 2, torch::kFloat64) / static_cast<double>(hd));
  const auto& rs = s.rope_scaling;
  if (rs.is_object()) {
    const std::string type = rs.value("rope_type", rs.value("type", std::string("default")));
    const double factor = rs.value("factor", 1.0);
    if (type == "linear") {
      inv_freq = inv_freq / factor;
    } else if (type == "llama3") {
      const double low = rs.at("low_freq_factor"), high = rs.at("high_freq_factor");
      const double old_ctx = rs.at("original_max_position_embeddings");
      auto wavelen = 2 * std::numbers::pi / inv_freq;
      auto scaled = torch::where(wavelen > old_ctx / low, inv_freq / factor, inv_freq);
      auto smooth = (old_ctx / wavelen - low) / (high - low);
      auto smoothed = (1 - smooth) * scaled / factor + smooth * scaled;
      auto medium = (wavelen >= old_ctx / high).logical_and(wavelen <= old_ctx / low);
      inv_freq = torch::where(medium, smoothed, scaled);
    }
  }
  auto freqs = torch::outer(torch::arange(n, torch::kFloat64), inv_freq);
  auto emb = torch::cat({freqs, freqs}, -1);
  auto cos = emb.cos(), sin = emb.sin();
  auto rotate_half = [](const torch::Tensor& x) {
    auto half = x.size(-1) / 2;
    return torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  };
  auto maybe_bias = [&](const std::string& name) {
    return weights.count(name) ? W(name) : torch::zeros({1}, torch::kFloat64);
  };
  auto mask = torch::ones({n, n}, torch::kBool).tril().logical_not();

  auto x = W("model.embed_tokens.weight").index_select(0, torch::tensor(ids, torch::kLong));
  for (std::int64_t l = 0; l < s.layers; ++l) {
    const auto pre = fmt::format("model.layers.{}.", l);
    auto h = rms(x, W(pre + "input_layernorm.weight"), eps);
    auto q = (h.matmul(W(pre + "self_attn.q_proj.weight").t()) + maybe_bias(pre + "self_attn.q_proj.bias"))
                 .view({n, s.heads, hd}).transpose(0, 1);
    auto k = (h.matmul(W(pre + "self_attn.k_proj.weight").t()) + maybe_bias(pre + "self_attn.k_proj.bias"))
                 .view({n, s.kv_heads, hd}).transpose(0, 1);
    auto v = (h.matmul(W(pre + "self_attn.v_proj.weight").t()) + maybe_bias(pre + "self_attn.v_proj.bias"))
                 .view({n, s.kv_heads, hd}).transpose(0, 1);
    if (s.architecture == "Qwen3ForCausalLM") {
      q = rms(q, W(pre + "self_attn.q_norm.weight"), eps);
      k = rms(k, W(pre + "self_attn.k_norm.weight"), eps);
    }
    q = q * cos + rotate_half(q) * sin;
    k = k * cos + rotate_half(k) * sin;
    k = k.repeat_interleave(s.heads / s.kv_heads, 0);
    v = v.repeat_interleave(s.heads / s.kv_heads, 0);
    auto scores = q.matmul(k.transpose(-1, -2)) / std::sqrt(static_cast<double>(hd));
    scores = scores.masked_fill(mask, -std::numeric_limits<double>::infinity());
    auto attn = torch::softmax(scores, -1).matmul(v).transpose(0, 1).reshape({n, s.heads * hd});
    x = x + attn.matmul(W(pre + "self_attn.o_proj.weight").t()) + maybe_bias(pre + "self_attn.o_proj.bias");
    h = rms(x, W(pre + "post_attention_layernorm.weight"), eps);
    auto mlp = torch::silu(h.matmul(W(pre + "mlp.gate_proj.weight").t())) * h.matmul(W(pre + "mlp.up_proj.weight").t());
    x = x + mlp.matmul(W(pre + "mlp.down_proj.weight").t());
  }
  auto head = weights.count("lm_head.weight") && !s.tie ? W("lm_head.weight") : W("model.embed_tokens.weight");
  return rms(x, W("model.norm.weight"), eps).matmul(head.t()).to(torch::kFloat32);
}

temp_dir::temp_dir() {
  static std::atomic<int> counter{0};
  path_ = std::filesystem::temp_directory_path() /
          fmt::format("agora-engine-{}-{}", static_cast<long>(::getpid()), counter++);
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace agora::inference::testing
