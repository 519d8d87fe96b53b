#!/usr/bin/env node
// Writes llama.cpp reference logits for the engine's test "logits and greedy tokens match
// llama.cpp" (modules/inference/tests/engine_test.cpp).
//
// llama.cpp is an implementation of these architectures that nobody here wrote: its own
// graph code (src/models/llama.cpp, qwen2.cpp, qwen3.cpp), its own RoPE, attention and
// RMSNorm kernels. This script
//   1. has agora-make-test-model write the reference models (reference_specs() in
//      tests/model_fixture.cpp: llama 2 / GQA with bias / llama 3 rope scaling / linear
//      rope / mistral / qwen2 / qwen3) as Hugging Face folders with float32 safetensors;
//   2. converts each folder to GGUF the way llama.cpp's convert_hf_to_gguf.py does for
//      these architectures: tensor names, Q/K rows permuted from Hugging Face's
//      rotate-half order to llama.cpp's interleaved order for the "llama" architecture
//      (qwen2/qwen3 use NEOX rope and are not permuted), llama 3 rope scaling as the
//      `rope_freqs` factors tensor, linear scaling as rope.scaling.*; a byte-level
//      vocabulary without merges (token ids go in directly: the tokenizer plays no part);
//   3. runs each prompt through llama.cpp on the CPU (node-llama-cpp's prebuilt build,
//      float32 KV cache, no flash attention) and records the logits of the prompt's last
//      position and of each greedy step after it, fed one token at a time through the KV
//      cache.
// Output: tests/reference/llamacpp/<name>.json, committed. The test rebuilds each model from
// its spec, checks the weights hash recorded here (so a changed spec cannot pass against
// stale references), and compares.
//
//   cd modules/inference/tools/llamacpp_reference
//   npm install --omit=optional        # node-llama-cpp and its linux-x64 CPU build only
//   node make_reference.mjs --tool ../../../../build/modules/inference/agora-make-test-model
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { getLlama, LlamaLogLevel } from "node-llama-cpp";

import { convert } from "./gguf.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const NEW_TOKENS = 8;
// Token ids < 128 (the reference models' vocabulary); one long enough to cross many
// rotary periods, one of a single token.
const PROMPTS = [
  [1, 17, 42, 99, 3, 120, 7],
  [5],
  Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % 128),
];

function parseArgs(argv) {
  const args = { tool: null, out: path.resolve(here, "../../tests/reference/llamacpp") };
  for (let i = 0; i < argv.length; ++i) {
    if (argv[i] === "--tool") args.tool = path.resolve(argv[++i]);
    else if (argv[i] === "--out") args.out = path.resolve(argv[++i]);
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!args.tool) throw new Error("--tool PATH_TO_agora-make-test-model is required");
  return args;
}

function logitsArray(map, vocab) {
  if (!map || map.size !== vocab) throw new Error(`expected ${vocab} logits, got ${map?.size}`);
  const out = new Array(vocab);
  for (const [token, logit] of map) out[token] = logit;
  return out;
}

function argmaxAndMargin(logits) {
  let best = 0;
  for (let i = 1; i < logits.length; ++i) if (logits[i] > logits[best]) best = i;
  let second = -Infinity;
  for (let i = 0; i < logits.length; ++i) if (i !== best && logits[i] > second) second = logits[i];
  return { token: best, margin: logits[best] - second };
}

const round = (x) => Number(x.toPrecision(7));

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "agora-llamacpp-ref-"));
  try {
    execFileSync(args.tool, ["--reference-specs", work], { stdio: "inherit" });
    fs.mkdirSync(args.out, { recursive: true });
    const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
    const pkg = JSON.parse(fs.readFileSync(path.resolve(here, "node_modules/node-llama-cpp/package.json"), "utf8"));
    const release = JSON.parse(
      fs.readFileSync(path.resolve(here, "node_modules/node-llama-cpp/llama/binariesGithubRelease.json"), "utf8"),
    ).release;
    for (const name of fs.readdirSync(work).sort()) {
      const folder = path.join(work, name);
      const ggufFile = path.join(work, `${name}.gguf`);
      const { config, hash } = convert(folder, ggufFile, { hash: true });
      const model = await llama.loadModel({ modelPath: ggufFile, gpuLayers: 0 });
      const context = await model.createContext({
        contextSize: 256,
        batchSize: 256,
        sequences: PROMPTS.length,
        flashAttention: false,
        experimentalKvCacheKeyType: "F32",
        experimentalKvCacheValueType: "F32",
      });
      const cases = [];
      for (const prompt of PROMPTS) {
        const sequence = context.getSequence();
        const input = [...prompt.slice(0, -1), [prompt.at(-1), { generateNext: { logits: true } }]];
        let result = await sequence.controlledEvaluate(input);
        const steps = [];
        for (let step = 0; step <= NEW_TOKENS; ++step) {
          const logits = logitsArray(result.at(-1).next.logits, config.vocab_size);
          const { token, margin } = argmaxAndMargin(logits);
          steps.push({ logits: logits.map(round), argmax: token, margin: round(margin) });
          if (step === NEW_TOKENS) break;
          result = await sequence.controlledEvaluate([[token, { generateNext: { logits: true } }]]);
        }
        sequence.dispose();
        cases.push({ prompt, steps });
      }
      await context.dispose();
      await model.dispose();
      const reference = {
        model: name,
        architecture: config.architectures[0],
        weights_fnv1a64: hash,
        made_by: `llama.cpp ${release} via node-llama-cpp ${pkg.version}, CPU, float32 weights and KV cache`,
        cases,
      };
      fs.writeFileSync(path.join(args.out, `${name}.json`), JSON.stringify(reference) + "\n");
      const greedy = cases.map((c) => c.steps.map((s) => s.argmax).join(" ")).join(" | ");
      console.log(`${name}: ${config.architectures[0]} -> ${greedy}`);
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

await main();
