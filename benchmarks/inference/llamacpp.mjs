#!/usr/bin/env node
// llama.cpp on the model agora_engine_bench just measured (saved with --save): the same
// prompt length, decode steps, batches and thread count, timed the same way (median of
// the repeats). Prints llama.cpp's table and the ratio agora time / llama.cpp time per
// row, reading agora's figures from its table. Run by llamacpp.sh.
//   node llamacpp.mjs --model DIR --agora AGORA_TABLE.md [--prompt N --steps N --repeats N]
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const tool = path.join(root, "modules/inference/tools/llamacpp_reference");
const { convert } = await import(path.join(tool, "gguf.mjs"));
const { getLlama, LlamaLogLevel } = await import(path.join(tool, "node_modules/node-llama-cpp/dist/index.js"));

const args = { prompt: 128, steps: 32, repeats: 3 };
const argv = process.argv.slice(2);
for (let i = 0; i + 1 < argv.length; i += 2) {
  const key = argv[i].replace(/^--/, "");
  args[key] = ["model", "agora"].includes(key) ? argv[i + 1] : Number(argv[i + 1]);
}
if (!args.model || !args.agora) throw new Error("--model DIR and --agora FILE are required");

// agora's table: its threads and, per (phase, batch), ms per step.
const agoraText = fs.readFileSync(args.agora, "utf8");
const threads = Number(/(\d+) torch threads/.exec(agoraText)?.[1] ?? os.availableParallelism());
const agoraMs = new Map();
for (const line of agoraText.split("\n")) {
  const cells = line.split("|").map((c) => c.trim());
  if (cells.length > 5 && (cells[1] === "prefill" || cells[1] === "decode"))
    agoraMs.set(`${cells[1]}/${cells[2]}`, Number(cells[4]));
}

function tokens(n, vocab, salt) {
  // The engine bench's generator (a 32-bit LCG), so both read the same prompts.
  const out = [];
  let x = (99 + salt) >>> 0;
  for (let i = 0; i < n; ++i) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out.push((x >>> 8) % vocab);
  }
  return out;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const now = () => Number(process.hrtime.bigint()) / 1e6;

const work = fs.mkdtempSync(path.join(os.tmpdir(), "agora-llamacpp-bench-"));
try {
  const gguf = path.join(work, "model.gguf");
  const { config } = convert(args.model, gguf);
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: threads });
  const model = await llama.loadModel({ modelPath: gguf, gpuLayers: 0 });
  const rows = [];
  for (const batch of [1, 8]) {
    const perSequence = args.prompt + args.steps + 8;
    const context = await model.createContext({
      contextSize: Math.ceil((batch * perSequence) / 256) * 256,
      batchSize: batch * args.prompt,
      sequences: batch,
      threads,
      flashAttention: false,
      experimentalKvCacheKeyType: "F32",
      experimentalKvCacheValueType: "F32",
    });
    const sequences = Array.from({ length: batch }, () => context.getSequence());
    const prompts = sequences.map((_, b) => tokens(args.prompt, config.vocab_size, b));
    const reset = async () => {
      for (const s of sequences) await s.clearHistory();
    };
    // Every position's logits are not needed in prefill; the last one is, as in the engine.
    const prefill = () =>
      Promise.all(sequences.map((s, b) => s.controlledEvaluate([...prompts[b].slice(0, -1), [prompts[b].at(-1), { generateNext: { token: true } }]])));
    const decodeStep = () => Promise.all(sequences.map((s) => s.controlledEvaluate([[7, { generateNext: { token: true } }]])));

    await reset();
    await prefill();  // warm-up
    const prefillMs = [];
    for (let r = 0; r < args.repeats; ++r) {
      await reset();
      const t0 = now();
      await prefill();
      prefillMs.push(now() - t0);
    }
    rows.push({ phase: "prefill", batch, tokens: batch * args.prompt, ms: median(prefillMs) });

    const stepMs = [];
    for (let r = 0; r < args.repeats; ++r) {
      await reset();
      await prefill();
      const t0 = now();
      for (let i = 0; i < args.steps; ++i) await decodeStep();
      stepMs.push((now() - t0) / args.steps);
    }
    rows.push({ phase: "decode", batch, tokens: batch, ms: median(stepMs) });
    await context.dispose();
  }
  await model.dispose();

  const release = JSON.parse(fs.readFileSync(path.join(tool, "node_modules/node-llama-cpp/llama/binariesGithubRelease.json"), "utf8")).release;
  console.log(`\nllama.cpp ${release} (node-llama-cpp's CPU build), same model as GGUF float32, float32 KV cache, ${threads} threads\n`);
  console.log("| phase | batch | llama.cpp ms/step | llama.cpp tok/s | agora ms/step | agora tok/s | agora / llama.cpp (time) |");
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const r of rows) {
    const a = agoraMs.get(`${r.phase}/${r.batch}`);
    const fmt = (x, d) => (x === undefined || Number.isNaN(x) ? "n/a" : x.toFixed(d));
    console.log(
      `| ${r.phase} | ${r.batch} | ${fmt(r.ms, 2)} | ${fmt((r.tokens * 1000) / r.ms, 0)} | ${fmt(a, 2)} | ${fmt(a ? (r.tokens * 1000) / a : undefined, 0)} | ${fmt(a ? a / r.ms : undefined, 2)} |`,
    );
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
