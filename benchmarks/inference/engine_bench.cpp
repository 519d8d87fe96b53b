#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>

#include "engine/model.hpp"
#include "model_fixture.hpp"

using namespace agora::inference;
using clock_type = std::chrono::steady_clock;

namespace {

template <class F>
double median_seconds(int repeats, F&& f) {
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    auto t0 = clock_type::now();
    f();
    times.push_back(std::chrono::duration<double>(clock_type::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

std::vector<std::int32_t> tokens(std::size_t n, std::int64_t vocab, std::uint32_t salt) {
  std::vector<std::int32_t> out;
  std::uint32_t x = 99u + salt;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    out.push_back(static_cast<std::int32_t>((x >> 8) % static_cast<std::uint32_t>(vocab)));
  }
  return out;
}

struct row {
  std::string phase;
  int batch;
  std::int64_t tokens;
  double engine_s;
  double floor_s;
};

}  // namespace

int main(int argc, char** argv) {
  testing::fixture_spec spec;
  spec.hidden = 512;
  spec.intermediate = 1408;
  spec.layers = 8;
  spec.heads = 8;
  spec.kv_heads = 4;
  spec.vocab = 32000;
  spec.max_positions = 2048;
  std::size_t prompt_len = 128;
  int decode_steps = 32;
  int repeats = 3;
  std::string save;  // --save DIR: keep the model there (benchmarks/inference/llamacpp.sh runs it too)
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--save") {
      save = argv[i + 1];
      continue;
    }
    long v = std::strtol(argv[i + 1], nullptr, 10);
    if (k == "--prompt") prompt_len = static_cast<std::size_t>(v);
    else if (k == "--steps") decode_steps = static_cast<int>(v);
    else if (k == "--repeats") repeats = static_cast<int>(v);
    else if (k == "--layers") spec.layers = v;
    else if (k == "--hidden") spec.hidden = v;
  }

  testing::temp_dir temp;
  const std::filesystem::path dir = save.empty() ? temp.path() : std::filesystem::path(save);
  testing::write_model(dir, spec);
  model_options options;
  options.max_sequences = 8;
  options.max_context = static_cast<std::int64_t>(prompt_len) + decode_steps + 8;
  auto m = model::load(dir, options);
  const auto& c = m->config();
  const auto hd = c.head_dim;
  const std::int64_t params = c.num_hidden_layers * (c.hidden_size * (c.num_attention_heads + 2 * c.num_key_value_heads) * hd +
                                                      c.num_attention_heads * hd * c.hidden_size +
                                                      3 * c.hidden_size * c.intermediate_size) +
                              c.vocab_size * c.hidden_size;
  c10::InferenceMode guard;
  auto floor_weight = torch::randn({params / c.hidden_size, c.hidden_size}, torch::kFloat32);
  // One pass over the same weight bytes: a matrix-vector product for one row (the
  // engine's batch-1 kernel too), a matrix product for more.
  auto floor_time = [&](std::int64_t rows) {
    auto x = torch::randn({rows, c.hidden_size}, torch::kFloat32);
    auto v = x[0].contiguous();
    auto pass = [&] { return rows == 1 ? torch::mv(floor_weight, v) : torch::matmul(x, floor_weight.t()); };
    pass();
    return median_seconds(repeats, pass);
  };

  std::vector<row> rows;
  for (int batch : {1, 8}) {
    std::vector<int> slots;
    for (int b = 0; b < batch; ++b) slots.push_back(*m->acquire());
    auto reset = [&] {
      for (int s : slots) m->truncate(s, 0);
    };
    step_input prefill;
    for (int b = 0; b < batch; ++b) {
      prefill.slot.push_back(slots[static_cast<std::size_t>(b)]);
      prefill.tokens.push_back(tokens(prompt_len, c.vocab_size, static_cast<std::uint32_t>(b)));
    }
    reset();
    m->forward(prefill);
    const double prefill_s = median_seconds(repeats, [&] {
      reset();
      m->forward(prefill);
    });
    const auto prefill_tokens = static_cast<std::int64_t>(batch) * static_cast<std::int64_t>(prompt_len);
    rows.push_back({"prefill", batch, prefill_tokens, prefill_s, floor_time(prefill_tokens)});

    step_input decode;
    decode.slot = prefill.slot;
    decode.tokens.assign(static_cast<std::size_t>(batch), {7});
    std::vector<double> step_times;
    for (int r = 0; r < repeats; ++r) {
      reset();
      m->forward(prefill);
      auto t0 = clock_type::now();
      for (int i = 0; i < decode_steps; ++i) m->forward(decode);
      step_times.push_back(std::chrono::duration<double>(clock_type::now() - t0).count() / decode_steps);
    }
    std::sort(step_times.begin(), step_times.end());
    rows.push_back({"decode", batch, batch, step_times[step_times.size() / 2], floor_time(batch)});
    for (int s : slots) m->release(s);
  }

  std::printf("engine: hidden %lld, %lld layers, %lld heads / %lld kv heads, vocab %lld, %.1f M weights (%.0f MB f32); "
              "prompt %zu, %d decode steps; %d torch threads; device %s\n\n",
              static_cast<long long>(c.hidden_size), static_cast<long long>(c.num_hidden_layers),
              static_cast<long long>(c.num_attention_heads), static_cast<long long>(c.num_key_value_heads),
              static_cast<long long>(c.vocab_size), static_cast<double>(params) / 1e6,
              static_cast<double>(params) * 4 / 1e6, prompt_len, decode_steps, torch::get_num_threads(),
              m->on_cuda() ? "cuda" : "cpu");
  std::printf("| phase | batch | tokens/step | engine ms/step | engine tok/s | matmul floor ms | floor tok/s | engine / floor |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& r : rows)
    std::printf("| %s | %d | %lld | %.2f | %.0f | %.2f | %.0f | %.2f |\n", r.phase.c_str(), r.batch,
                static_cast<long long>(r.tokens), r.engine_s * 1e3, static_cast<double>(r.tokens) / r.engine_s,
                r.floor_s * 1e3, static_cast<double>(r.tokens) / r.floor_s, r.engine_s / r.floor_s);
  return 0;
}
