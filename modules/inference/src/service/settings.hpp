#pragma once

#include "engine/model.hpp"

#include <agora/config.hpp>

// The inference module's settings, under modules.inference.: declared in module.cpp,
// read with module_context::get.
namespace agora::inference::settings {

inline const config::string_list_setting models{
    "models", {}, "Hugging Face model folders loaded at start; the first is the default (agora serve --model DIR)"};
inline const config::choice_setting<device_choice> device{
    "device",
    device_choice::automatic,
    "Where the engine runs: auto (CUDA when there is a GPU), cpu or cuda",
    {{"auto", device_choice::automatic}, {"cpu", device_choice::cpu}, {"cuda", device_choice::cuda}}};
inline const config::integer_setting max_running{"max_running", 8,
                                                 "Sequences decoded together per model (KV cache slots)",
                                                 {.min = 1, .max = 256}};
inline const config::integer_setting max_waiting{"max_waiting", 64, "Requests queued per model before 429",
                                                 {.min = 0, .max = 100000}};
inline const config::integer_setting token_budget{"token_budget", 512,
                                                  "Tokens per engine step (prefill is chunked to fit)",
                                                  {.min = 16, .max = 65536}};
inline const config::integer_setting max_context{"max_context", 0,
                                                 "Positions per sequence; 0: the model's, at most 4096",
                                                 {.min = 0, .max = 1 << 20}};
inline const config::integer_setting cache_entries{"cache_entries", 256,
                                                   "Deterministic responses kept in the response cache (0: off)",
                                                   {.min = 0, .max = 1'000'000}};
inline const config::integer_setting memory_budget_mb{
    "memory_budget_mb", 0,
    "Weight-file bytes all loaded models may take, in MiB (0: no limit); beyond it a load is refused",
    {.min = 0, .max = 1 << 24}};
inline const config::integer_setting load_timeout_ms{
    "load_timeout_ms", 25000,
    "Time a model load over HTTP may take before it is abandoned with 504 (keep it below server.handler_timeout_ms)",
    {.min = 1000, .max = 3'600'000}};
inline const config::integer_setting tokenizer_limit_mb{
    "tokenizer_limit_mb", 64, "Largest tokenizer.json (and other tokenizer JSON files) a model folder may have, in MiB",
    {.min = 1, .max = 4096}};
inline const config::integer_setting weight_file_limit_mb{
    "weight_file_limit_mb", 65536, "Largest *.safetensors file a model folder may have, in MiB",
    {.min = 1, .max = 1 << 24}};

}  // namespace agora::inference::settings
