#!/usr/bin/env python3
"""Writes Hugging Face transformers reference fixtures for the engine's C++ test.

For each architecture the engine supports it builds a small random-weight model with a
fixed seed, saves it with save_pretrained (safetensors, float32), runs a few fixed
prompts (token id lists) through it and records the logits of each prompt's last
position and a greedy continuation, computed by a plain full-sequence loop. Output:
modules/inference/tests/fixtures/<name>/{config.json, generation_config.json,
model.safetensors, reference.json}, which the test "logits and greedy tokens match
Hugging Face transformers" in tests/engine_test.cpp reads.

Needs torch and transformers (no network). Run from anywhere:
    python3 modules/inference/tools/make_reference.py [--out DIR]
"""

import argparse
import json
import pathlib

import torch
import transformers
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

VOCAB = 256
NEW_TOKENS = 8
PROMPTS = [
    [1, 17, 42, 99, 3, 250, 7],
    [5],
    [1, 200, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211, 212, 213, 214, 215, 216, 217, 218, 219],
]

COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=64,
    intermediate_size=160,
    num_hidden_layers=2,
    num_attention_heads=4,
    max_position_embeddings=256,
    rms_norm_eps=1e-5,
    bos_token_id=1,
    eos_token_id=2,
)


def models():
    yield "llama2", LlamaForCausalLM, LlamaConfig(**COMMON, num_key_value_heads=4, rope_theta=10000.0)
    yield "llama3", LlamaForCausalLM, LlamaConfig(
        **COMMON,
        num_key_value_heads=1,
        head_dim=32,
        tie_word_embeddings=True,
        rope_theta=500000.0,
        # original_max_position_embeddings small so the prompts reach the scaled band.
        rope_scaling={
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64,
        },
    )
    yield "qwen2", Qwen2ForCausalLM, Qwen2Config(**COMMON, num_key_value_heads=2, rope_theta=1000000.0)
    qwen3 = getattr(transformers, "Qwen3ForCausalLM", None)
    if qwen3 is not None:
        yield "qwen3", qwen3, transformers.Qwen3Config(
            **COMMON, num_key_value_heads=2, head_dim=24, rope_theta=1000000.0
        )
    else:
        print("transformers has no Qwen3ForCausalLM: qwen3 fixture skipped")
    yield "mistral", MistralForCausalLM, MistralConfig(**COMMON, num_key_value_heads=2, sliding_window=None)


def randomize(model, seed):
    # Default init leaves norms at 1 and biases at 0; perturb everything so every
    # parameter (q/k/v bias, q/k norm, RMSNorm weights) matters to the logits.
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if p.dim() == 1 and "norm" in name:
                p.copy_(1.0 + 0.2 * (torch.rand(p.shape, generator=gen) - 0.5))
            elif p.dim() == 1:
                p.copy_(0.2 * (torch.rand(p.shape, generator=gen) - 0.5))
            else:
                bound = 1.0 if "embed_tokens" in name else p.shape[1] ** -0.5
                p.copy_(bound * (2 * torch.rand(p.shape, generator=gen) - 1))


@torch.no_grad()
def reference(model, prompt):
    ids = torch.tensor([prompt])
    last = model(ids).logits[0, -1].float()
    out = []
    logits = last
    for _ in range(NEW_TOKENS):
        token = int(torch.argmax(logits))
        out.append(token)
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
        logits = model(ids).logits[0, -1].float()
    return last, out


def main():
    default_out = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=pathlib.Path, default=default_out)
    args = parser.parse_args()
    torch.manual_seed(0)
    for index, (name, cls, config) in enumerate(models()):
        config.use_cache = True
        model = cls(config).float().eval()
        randomize(model, 1000 + index)
        if config.tie_word_embeddings:
            model.tie_weights()
        folder = args.out / name
        folder.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(folder, safe_serialization=True)
        model = cls.from_pretrained(folder, attn_implementation="eager").float().eval()
        saved = json.loads((folder / "config.json").read_text())
        if name == "llama3":
            rope = saved.get("rope_parameters") or saved.get("rope_scaling") or {}
            assert rope.get("rope_type", rope.get("type")) == "llama3", f"llama3 rope scaling not saved: {saved}"
        cases = []
        for prompt in PROMPTS:
            last, greedy = reference(model, prompt)
            cases.append({"prompt": prompt, "last_logits": [round(float(x), 6) for x in last], "greedy": greedy})
        ref = {
            "architecture": config.architectures[0] if config.architectures else cls.__name__,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "cases": cases,
        }
        (folder / "reference.json").write_text(json.dumps(ref, indent=1) + "\n")
        print(f"{name}: {cls.__name__}, {sum(p.numel() for p in model.parameters())} parameters -> {folder}")


if __name__ == "__main__":
    main()
