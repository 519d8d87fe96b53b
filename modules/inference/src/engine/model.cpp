#include "engine/model.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>
#include <torch/torch.h>

#include "engine/safetensors.hpp"

namespace agora::inference {
namespace {

using torch::indexing::Slice;

struct layer_weights {
  torch::Tensor input_norm;
  torch::Tensor qkv;
  torch::Tensor qkv_bias;
  torch::Tensor o;
  torch::Tensor o_bias;
  torch::Tensor q_norm;
  torch::Tensor k_norm;
  torch::Tensor post_norm;
  torch::Tensor gate_up;
  torch::Tensor down;
};

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  auto h = x.to(torch::kFloat32);
  h = h * torch::rsqrt(h.pow(2).mean(-1, true) + eps);
  return weight * h.to(x.scalar_type());
}

// x [rows, in] times w [out, in]ᵀ (+ b). One row on the CPU goes through a
// matrix-vector product: libtorch sends a one-row linear to sgemm, which streams the
// weights at a third of the speed of sgemv on the same data (benchmarks/README.md), and a
// batch-1 decode step is nothing but such rows.
torch::Tensor project(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b = {}) {
  if (x.dim() == 2 && x.size(0) == 1 && x.device().is_cpu()) {
    auto y = torch::mv(w, x[0]);
    if (b.defined()) y.add_(b);
    return y.unsqueeze(0);
  }
  return b.defined() ? torch::linear(x, w, b) : torch::linear(x, w);
}

torch::Tensor rotate(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const auto half = x.size(-1) / 2;
  auto rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

// q: [B, kv_heads, Q, d], k/v: [B, kv_heads, L, d], allowed: [B, 1, Q, L] (true = attend).
torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                     const torch::Tensor& allowed) {
#if TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v, allowed);
#else
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  auto scores = torch::matmul(q, k.transpose(-1, -2)).to(torch::kFloat32) * scale;
  scores.masked_fill_(allowed.logical_not(), -std::numeric_limits<float>::infinity());
  return torch::matmul(torch::softmax(scores, -1).to(q.scalar_type()), v);
#endif
}

std::string shape_string(c10::IntArrayRef shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

class weight_reader {
 public:
  weight_reader(const tensor_store& store, std::string missing_source, torch::Device device, torch::ScalarType dtype)
      : store_(store), missing_source_(std::move(missing_source)), device_(device), dtype_(dtype) {}

  torch::Tensor get(const std::string& name, std::vector<std::int64_t> expected) const {
    if (!store_.contains(name)) throw model_error(fmt::format("{}: tensor {} is missing", missing_source_, name));
    const auto& info = store_.info(name);
    if (info.shape != expected)
      throw model_error(fmt::format("{}: tensor {} has shape {}, expected {}", store_.file_of(name), name,
                                    shape_string(info.shape), shape_string(expected)));
    return store_.view(name).to(device_, dtype_);
  }

 private:
  const tensor_store& store_;
  std::string missing_source_;
  torch::Device device_;
  torch::ScalarType dtype_;
};

}  // namespace

struct model::impl {
  model_config config;
  torch::Device device{torch::kCPU};
  torch::ScalarType dtype = torch::kFloat32;
  std::int64_t max_ctx = 0;
  int slots = 0;
  torch::Tensor embed;
  torch::Tensor final_norm;
  torch::Tensor lm_head;
  std::vector<layer_weights> layers;
  std::vector<torch::Tensor> k_cache;
  std::vector<torch::Tensor> v_cache;
  torch::Tensor cos;
  torch::Tensor sin;
  std::vector<std::int64_t> lengths;
  std::vector<bool> in_use;

  torch::Tensor index_tensor(const std::vector<std::int64_t>& v) const {
    return torch::tensor(v, torch::kLong).to(device);
  }
  void check_slot(int slot, const char* what) const {
    if (slot < 0 || slot >= slots || !in_use[static_cast<std::size_t>(slot)])
      throw std::invalid_argument(fmt::format("{}: slot {} is not acquired", what, slot));
  }
};

model::model(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
model::~model() = default;

const model_config& model::config() const { return impl_->config; }
bool model::on_cuda() const { return impl_->device.is_cuda(); }
std::int64_t model::max_context() const { return impl_->max_ctx; }
int model::max_sequences() const { return impl_->slots; }

std::unique_ptr<model> model::load(const std::filesystem::path& dir, const model_options& options) {
  auto p = std::make_unique<impl>();
  p->config = model_config::from_folder(dir, options.files);
  const auto& c = p->config;
  auto store = tensor_store::open_folder(dir, options.files);

  const bool cuda_available = torch::cuda::is_available();
  if (options.device == device_choice::cuda && !cuda_available)
    throw model_error("model_options.device: CUDA was asked for but is not available");
  const bool use_cuda = options.device == device_choice::cuda ||
                        (options.device == device_choice::automatic && cuda_available);
  p->device = use_cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  switch (options.dtype) {
    case compute_dtype::automatic:
      p->dtype = use_cuda ? torch::kBFloat16 : torch::kFloat32;
      break;
    case compute_dtype::f32:
      p->dtype = torch::kFloat32;
      break;
    case compute_dtype::bf16:
      p->dtype = torch::kBFloat16;
      break;
    case compute_dtype::f16:
      p->dtype = torch::kFloat16;
      break;
  }
  if (options.max_sequences <= 0)
    throw model_error(fmt::format("model_options.max_sequences: must be positive, got {}", options.max_sequences));
  if (options.max_context < 0)
    throw model_error(fmt::format("model_options.max_context: must not be negative, got {}", options.max_context));
  p->slots = options.max_sequences;
  p->max_ctx = options.max_context > 0 ? options.max_context : std::min<std::int64_t>(c.max_position_embeddings, 4096);

  c10::InferenceMode guard;
  const std::string missing_source = std::filesystem::exists(dir / "model.safetensors.index.json")
                                         ? "model.safetensors.index.json"
                                         : "model.safetensors";
  weight_reader w(store, missing_source, p->device, p->dtype);
  const auto hidden = c.hidden_size;
  const auto hd = c.head_dim;
  const auto q_width = c.num_attention_heads * hd;
  const auto kv_width = c.num_key_value_heads * hd;
  const auto inter = c.intermediate_size;

  p->embed = w.get("model.embed_tokens.weight", {c.vocab_size, hidden});
  p->final_norm = w.get("model.norm.weight", {hidden});
  if (!c.tie_word_embeddings && store.contains("lm_head.weight")) {
    p->lm_head = w.get("lm_head.weight", {c.vocab_size, hidden});
  } else {
    p->lm_head = p->embed;
  }
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const auto pre = fmt::format("model.layers.{}.", i);
    layer_weights l;
    l.input_norm = w.get(pre + "input_layernorm.weight", {hidden});
    l.post_norm = w.get(pre + "post_attention_layernorm.weight", {hidden});
    l.qkv = torch::cat({w.get(pre + "self_attn.q_proj.weight", {q_width, hidden}),
                        w.get(pre + "self_attn.k_proj.weight", {kv_width, hidden}),
                        w.get(pre + "self_attn.v_proj.weight", {kv_width, hidden})},
                       0);
    if (c.qkv_bias)
      l.qkv_bias = torch::cat({w.get(pre + "self_attn.q_proj.bias", {q_width}),
                               w.get(pre + "self_attn.k_proj.bias", {kv_width}),
                               w.get(pre + "self_attn.v_proj.bias", {kv_width})},
                              0);
    l.o = w.get(pre + "self_attn.o_proj.weight", {hidden, q_width});
    if (c.o_bias) l.o_bias = w.get(pre + "self_attn.o_proj.bias", {hidden});
    if (c.qk_norm) {
      l.q_norm = w.get(pre + "self_attn.q_norm.weight", {hd});
      l.k_norm = w.get(pre + "self_attn.k_norm.weight", {hd});
    }
    l.gate_up = torch::cat({w.get(pre + "mlp.gate_proj.weight", {inter, hidden}),
                            w.get(pre + "mlp.up_proj.weight", {inter, hidden})},
                           0);
    l.down = w.get(pre + "mlp.down_proj.weight", {hidden, inter});
    p->layers.push_back(std::move(l));
  }

  auto inv = rope_inv_freq(c);
  auto inv_t = torch::tensor(std::vector<float>(inv.begin(), inv.end()), torch::kFloat32);
  auto positions = torch::arange(p->max_ctx, torch::kFloat32);
  auto freqs = torch::outer(positions, inv_t);
  auto emb = torch::cat({freqs, freqs}, -1);
  p->cos = emb.cos().to(p->device, p->dtype);
  p->sin = emb.sin().to(p->device, p->dtype);

  auto cache_options = torch::TensorOptions().dtype(p->dtype).device(p->device);
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
    p->k_cache.push_back(torch::zeros({p->slots, c.num_key_value_heads, p->max_ctx, hd}, cache_options));
    p->v_cache.push_back(torch::zeros({p->slots, c.num_key_value_heads, p->max_ctx, hd}, cache_options));
  }
  p->lengths.assign(static_cast<std::size_t>(p->slots), 0);
  p->in_use.assign(static_cast<std::size_t>(p->slots), false);
  return std::unique_ptr<model>(new model(std::move(p)));
}

std::optional<int> model::acquire() {
  for (int s = 0; s < impl_->slots; ++s) {
    if (!impl_->in_use[static_cast<std::size_t>(s)]) {
      impl_->in_use[static_cast<std::size_t>(s)] = true;
      impl_->lengths[static_cast<std::size_t>(s)] = 0;
      return s;
    }
  }
  return std::nullopt;
}

void model::release(int slot) {
  impl_->check_slot(slot, "release");
  impl_->in_use[static_cast<std::size_t>(slot)] = false;
  impl_->lengths[static_cast<std::size_t>(slot)] = 0;
}

std::size_t model::length(int slot) const {
  impl_->check_slot(slot, "length");
  return static_cast<std::size_t>(impl_->lengths[static_cast<std::size_t>(slot)]);
}

void model::truncate(int slot, std::size_t new_length) {
  impl_->check_slot(slot, "truncate");
  auto& len = impl_->lengths[static_cast<std::size_t>(slot)];
  if (static_cast<std::int64_t>(new_length) > len)
    throw std::invalid_argument(fmt::format("truncate: slot {} holds {} positions, not {}", slot, len, new_length));
  len = static_cast<std::int64_t>(new_length);
}

at::Tensor model::forward(const step_input& input) {
  auto& m = *impl_;
  const auto& c = m.config;
  if (input.slot.size() != input.tokens.size())
    throw std::invalid_argument(fmt::format("forward: {} slots but {} token lists", input.slot.size(), input.tokens.size()));
  if (input.slot.empty()) throw std::invalid_argument("forward: no sequences");
  std::vector<bool> seen(static_cast<std::size_t>(m.slots), false);
  for (std::size_t b = 0; b < input.slot.size(); ++b) {
    const int s = input.slot[b];
    m.check_slot(s, "forward");
    if (seen[static_cast<std::size_t>(s)]) throw std::invalid_argument(fmt::format("forward: slot {} appears twice", s));
    seen[static_cast<std::size_t>(s)] = true;
    const auto& toks = input.tokens[b];
    if (toks.empty()) throw std::invalid_argument(fmt::format("forward: slot {} has no new tokens", s));
    const auto len = m.lengths[static_cast<std::size_t>(s)];
    if (len + static_cast<std::int64_t>(toks.size()) > m.max_ctx)
      throw std::invalid_argument(fmt::format("forward: slot {} would hold {} positions, max_context is {}", s,
                                              len + static_cast<std::int64_t>(toks.size()), m.max_ctx));
    for (auto t : toks)
      if (t < 0 || t >= c.vocab_size)
        throw std::invalid_argument(fmt::format("forward: token {} is outside the vocabulary (size {})", t, c.vocab_size));
  }

  c10::InferenceMode guard;
  const auto H = c.num_attention_heads;
  const auto KVH = c.num_key_value_heads;
  const auto G = H / KVH;
  const auto hd = c.head_dim;
  const auto I = c.intermediate_size;

  std::vector<std::int64_t> tok, pos, tok_slot, last;
  std::vector<std::int64_t> dec_tok, dec_slot, dec_len;
  struct prefill_seq {
    std::int64_t start, n, slot, past;
    torch::Tensor allowed;
  };
  std::vector<prefill_seq> prefills;
  for (std::size_t b = 0; b < input.slot.size(); ++b) {
    const std::int64_t s = input.slot[b];
    const auto past = m.lengths[static_cast<std::size_t>(s)];
    const auto start = static_cast<std::int64_t>(tok.size());
    const auto n = static_cast<std::int64_t>(input.tokens[b].size());
    for (std::int64_t j = 0; j < n; ++j) {
      tok.push_back(input.tokens[b][static_cast<std::size_t>(j)]);
      pos.push_back(past + j);
      tok_slot.push_back(s);
    }
    last.push_back(start + n - 1);
    if (n == 1) {
      dec_tok.push_back(start);
      dec_slot.push_back(s);
      dec_len.push_back(past + 1);
    } else {
      prefills.push_back({start, n, s, past, {}});
    }
  }
  const auto T = static_cast<std::int64_t>(tok.size());
  auto tok_t = m.index_tensor(tok);
  auto pos_t = m.index_tensor(pos);
  auto slot_t = m.index_tensor(tok_slot);
  auto cos = m.cos.index_select(0, pos_t).unsqueeze(1);
  auto sin = m.sin.index_select(0, pos_t).unsqueeze(1);

  torch::Tensor dec_tok_t, dec_slot_t, dec_allowed;
  std::int64_t dec_max = 0;
  bool dec_contiguous = true;
  if (!dec_tok.empty()) {
    dec_max = *std::max_element(dec_len.begin(), dec_len.end());
    for (std::size_t i = 1; i < dec_slot.size(); ++i) dec_contiguous = dec_contiguous && dec_slot[i] == dec_slot[i - 1] + 1;
    dec_tok_t = m.index_tensor(dec_tok);
    dec_slot_t = m.index_tensor(dec_slot);
    auto lens = m.index_tensor(dec_len);
    auto range = torch::arange(dec_max, torch::TensorOptions().dtype(torch::kLong).device(m.device));
    dec_allowed = (range.unsqueeze(0) < lens.unsqueeze(1)).view({-1, 1, 1, dec_max});
  }
  for (auto& p : prefills) {
    const auto total = p.past + p.n;
    auto opts = torch::TensorOptions().dtype(torch::kLong).device(m.device);
    auto key_pos = torch::arange(total, opts).unsqueeze(0);
    auto query_pos = (torch::arange(p.n, opts) + p.past).unsqueeze(1);
    p.allowed = (key_pos <= query_pos).repeat({G, 1}).view({1, 1, G * p.n, total});
  }

  auto x = m.embed.index_select(0, tok_t);
  for (std::size_t l = 0; l < m.layers.size(); ++l) {
    const auto& L = m.layers[l];
    auto h = rms_norm(x, L.input_norm, c.rms_norm_eps);
    auto qkv = project(h, L.qkv, L.qkv_bias).split_with_sizes({H * hd, KVH * hd, KVH * hd}, 1);
    auto q = qkv[0].reshape({T, H, hd});
    auto k = qkv[1].reshape({T, KVH, hd});
    auto v = qkv[2].reshape({T, KVH, hd});
    if (L.q_norm.defined()) {
      q = rms_norm(q, L.q_norm, c.rms_norm_eps);
      k = rms_norm(k, L.k_norm, c.rms_norm_eps);
    }
    q = rotate(q, cos, sin);
    k = rotate(k, cos, sin);
    auto& kc = m.k_cache[l];
    auto& vc = m.v_cache[l];
    kc.index_put_({slot_t, Slice(), pos_t}, k);
    vc.index_put_({slot_t, Slice(), pos_t}, v);

    auto attn = prefills.empty() ? torch::Tensor() : torch::empty({T, H * hd}, x.options());
    if (!dec_tok.empty()) {
      const auto B = static_cast<std::int64_t>(dec_tok.size());
      auto qd = (prefills.empty() ? q : q.index_select(0, dec_tok_t)).view({B, KVH, G, hd});
      torch::Tensor kd, vd;
      if (dec_contiguous) {
        kd = kc.narrow(0, dec_slot.front(), B).narrow(2, 0, dec_max);
        vd = vc.narrow(0, dec_slot.front(), B).narrow(2, 0, dec_max);
      } else {
        kd = kc.narrow(2, 0, dec_max).index_select(0, dec_slot_t);
        vd = vc.narrow(2, 0, dec_max).index_select(0, dec_slot_t);
      }
      auto out = attend(qd, kd, vd, dec_allowed).reshape({B, H * hd});
      if (prefills.empty()) {
        attn = out;
      } else {
        attn.index_copy_(0, dec_tok_t, out);
      }
    }
    for (const auto& p : prefills) {
      const auto total = p.past + p.n;
      auto qp = q.narrow(0, p.start, p.n).view({p.n, KVH, G, hd}).permute({1, 2, 0, 3}).reshape({1, KVH, G * p.n, hd});
      auto kp = kc.select(0, p.slot).narrow(1, 0, total).unsqueeze(0);
      auto vp = vc.select(0, p.slot).narrow(1, 0, total).unsqueeze(0);
      auto out = attend(qp, kp, vp, p.allowed).view({KVH, G, p.n, hd}).permute({2, 0, 1, 3}).reshape({p.n, H * hd});
      attn.narrow(0, p.start, p.n).copy_(out);
    }
    x = x + project(attn, L.o, L.o_bias);
    h = rms_norm(x, L.post_norm, c.rms_norm_eps);
    auto gate_up = project(h, L.gate_up);
    x = x + project(torch::silu(gate_up.narrow(1, 0, I)) * gate_up.narrow(1, I, I), L.down);
  }
  auto last_x = x.index_select(0, m.index_tensor(last));
  auto logits = project(rms_norm(last_x, m.final_norm, c.rms_norm_eps), m.lm_head);
  for (std::size_t b = 0; b < input.slot.size(); ++b)
    m.lengths[static_cast<std::size_t>(input.slot[b])] += static_cast<std::int64_t>(input.tokens[b].size());
  return logits.to(torch::kCPU, torch::kFloat32).contiguous();
}

}  // namespace agora::inference
