// Hugging Face folder (float32 safetensors) -> GGUF, the way llama.cpp's
// convert_hf_to_gguf.py lays out the Llama / Mistral / Qwen2 / Qwen3 architectures:
// tensor names, Q/K rows permuted from Hugging Face's rotate-half order to llama.cpp's
// interleaved order for the "llama" architecture (qwen2/qwen3 use NEOX rope and are not
// permuted), llama 3 rope scaling as the `rope_freqs` factors tensor, linear scaling as
// rope.scaling.*, and a vocabulary without merges (callers feed token ids, so the
// tokenizer plays no part). Used by make_reference.mjs and benchmarks/inference/llamacpp.mjs.
import fs from "node:fs";
import path from "node:path";

// FNV-1a, 64 bit, over a file's bytes: the test computes the same over the file it writes.
export function fnv1a64(bytes) {
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  const mask = (1n << 64n) - 1n;
  for (const b of bytes) h = ((h ^ BigInt(b)) * prime) & mask;
  return h.toString(16).padStart(16, "0");
}

function readSafetensors(file, withHash) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
  const base = 8 + n;
  const tensors = new Map();
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    if (info.dtype !== "F32") throw new Error(`${file}: ${name} is ${info.dtype}; the reference models are float32`);
    const [b, e] = info.data_offsets;
    const copy = Uint8Array.prototype.slice.call(buf, base + b, base + e);
    tensors.set(name, { shape: info.shape, data: new Float32Array(copy.buffer) });
  }
  return { tensors, hash: withHash ? fnv1a64(buf) : null };
}

// Hugging Face stores each head's rotary pairs as (first half, second half); llama.cpp's
// "llama" graph rotates adjacent pairs. Row (h, half, j) moves to (h, j, half).
function permuteRows(t, heads) {
  const rows = t.shape[0];
  const cols = t.shape.length > 1 ? t.shape[1] : 1;
  const per = rows / heads;
  const half = per / 2;
  const out = new Float32Array(t.data.length);
  for (let h = 0; h < heads; ++h)
    for (let s = 0; s < 2; ++s)
      for (let j = 0; j < half; ++j) {
        const from = h * per + s * half + j;
        const to = h * per + j * 2 + s;
        out.set(t.data.subarray(from * cols, (from + 1) * cols), to * cols);
      }
  return { shape: t.shape, data: out };
}

function llama3RopeFactors(rope, theta, dim) {
  const factor = rope.factor ?? 8.0;
  const low = rope.low_freq_factor ?? 1.0;
  const high = rope.high_freq_factor ?? 4.0;
  const old = rope.original_max_position_embeddings ?? 8192;
  const lowWavelen = old / low;
  const highWavelen = old / high;
  const out = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; ++i) {
    const freq = Math.fround(1 / Math.fround(theta ** Math.fround((2 * i) / dim)));
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = factor;
    else {
      const smooth = (old / wavelen - low) / (high - low);
      out[i] = 1 / ((1 - smooth) / factor + smooth);
    }
  }
  return out;
}

const GGUF = { u32: 4, i32: 5, f32: 6, string: 8, array: 9 };

// GPT-2's byte-to-unicode map: printable Latin-1 bytes stand for themselves, the others
// take code points from U+0100 on. Token i of the reference vocabulary is byte i.
function byteCharacter(byte) {
  if (byte >= 256) return `<|t${byte}|>`;
  const printable = (b) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
  if (printable(byte)) return String.fromCodePoint(byte);
  let code = 0x100;
  for (let b = 0; b < byte; ++b) if (!printable(b)) ++code;
  return String.fromCodePoint(code);
}

class GgufWriter {
  constructor() {
    this.kv = [];
    this.tensors = [];
  }
  add(key, type, value) {
    this.kv.push({ key, type, value });
  }
  tensor(name, shape, data) {
    this.tensors.push({ name, shape, data });
  }
  write(file) {
    const parts = [];
    const u32 = (v) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(v);
      parts.push(b);
    };
    const u64 = (v) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(BigInt(v));
      parts.push(b);
    };
    const str = (s) => {
      const bytes = Buffer.from(s, "utf8");
      u64(bytes.length);
      parts.push(bytes);
    };
    parts.push(Buffer.from("GGUF", "ascii"));
    u32(3);
    u64(this.tensors.length);
    u64(this.kv.length);
    for (const { key, type, value } of this.kv) {
      str(key);
      u32(type);
      if (type === GGUF.array) {
        u32(value.type);
        u64(value.items.length);
        for (const item of value.items) {
          if (value.type === GGUF.string) str(item);
          else if (value.type === GGUF.i32) {
            const b = Buffer.alloc(4);
            b.writeInt32LE(item);
            parts.push(b);
          } else throw new Error(`unsupported GGUF array type ${value.type}`);
        }
      } else if (type === GGUF.u32) u32(value);
      else if (type === GGUF.string) str(value);
      else if (type === GGUF.f32) {
        const b = Buffer.alloc(4);
        b.writeFloatLE(value);
        parts.push(b);
      } else throw new Error(`unsupported GGUF value type ${type}`);
    }
    const align = 32;
    let offset = 0;
    const offsets = [];
    for (const t of this.tensors) {
      offsets.push(offset);
      offset += t.data.byteLength;
      offset = Math.ceil(offset / align) * align;
    }
    this.tensors.forEach((t, i) => {
      str(t.name);
      u32(t.shape.length);
      for (const d of [...t.shape].reverse()) u64(d); // GGUF lists the innermost dimension first
      u32(0); // GGML_TYPE_F32
      u64(offsets[i]);
    });
    let size = parts.reduce((n, p) => n + p.length, 0);
    parts.push(Buffer.alloc(Math.ceil(size / align) * align - size));
    this.tensors.forEach((t, i) => {
      const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      parts.push(bytes);
      const end = offsets[i] + bytes.length;
      const next = i + 1 < this.tensors.length ? offsets[i + 1] : Math.ceil(end / align) * align;
      parts.push(Buffer.alloc(next - end));
    });
    fs.writeFileSync(file, Buffer.concat(parts));
  }
}

const ARCHS = {
  LlamaForCausalLM: { gguf: "llama", permute: true },
  MistralForCausalLM: { gguf: "llama", permute: true },
  Qwen2ForCausalLM: { gguf: "qwen2", permute: false },
  Qwen3ForCausalLM: { gguf: "qwen3", permute: false },
};

const LAYER_TENSORS = {
  "input_layernorm.weight": "attn_norm.weight",
  "post_attention_layernorm.weight": "ffn_norm.weight",
  "self_attn.q_proj.weight": "attn_q.weight",
  "self_attn.q_proj.bias": "attn_q.bias",
  "self_attn.k_proj.weight": "attn_k.weight",
  "self_attn.k_proj.bias": "attn_k.bias",
  "self_attn.v_proj.weight": "attn_v.weight",
  "self_attn.v_proj.bias": "attn_v.bias",
  "self_attn.o_proj.weight": "attn_output.weight",
  "self_attn.o_proj.bias": "attn_output.bias",
  "self_attn.q_norm.weight": "attn_q_norm.weight",
  "self_attn.k_norm.weight": "attn_k_norm.weight",
  "mlp.gate_proj.weight": "ffn_gate.weight",
  "mlp.up_proj.weight": "ffn_up.weight",
  "mlp.down_proj.weight": "ffn_down.weight",
};

// Returns the folder's config and, with { hash: true }, the FNV-1a of its weights file.
export function convert(folder, ggufFile, { hash: withHash = false } = {}) {
  const config = JSON.parse(fs.readFileSync(path.join(folder, "config.json"), "utf8"));
  const archName = config.architectures[0];
  const arch = ARCHS[archName];
  if (!arch) throw new Error(`${folder}: no GGUF mapping for ${archName}`);
  const { tensors, hash } = readSafetensors(path.join(folder, "model.safetensors"), withHash);
  const a = arch.gguf;
  const heads = config.num_attention_heads;
  const kvHeads = config.num_key_value_heads ?? heads;
  const headDim = config.head_dim ?? config.hidden_size / heads;
  const rope = config.rope_parameters ?? config.rope_scaling ?? {};
  const theta = config.rope_parameters?.rope_theta ?? config.rope_theta ?? 10000;
  const ropeType = rope.rope_type ?? rope.type ?? "default";

  const w = new GgufWriter();
  w.add("general.architecture", GGUF.string, a);
  w.add("general.name", GGUF.string, path.basename(folder));
  w.add("general.file_type", GGUF.u32, 0);
  w.add(`${a}.vocab_size`, GGUF.u32, config.vocab_size);
  w.add(`${a}.context_length`, GGUF.u32, config.max_position_embeddings);
  w.add(`${a}.embedding_length`, GGUF.u32, config.hidden_size);
  w.add(`${a}.block_count`, GGUF.u32, config.num_hidden_layers);
  w.add(`${a}.feed_forward_length`, GGUF.u32, config.intermediate_size);
  w.add(`${a}.attention.head_count`, GGUF.u32, heads);
  w.add(`${a}.attention.head_count_kv`, GGUF.u32, kvHeads);
  if (config.head_dim !== undefined) {
    w.add(`${a}.attention.key_length`, GGUF.u32, headDim);
    w.add(`${a}.attention.value_length`, GGUF.u32, headDim);
  }
  w.add(`${a}.attention.layer_norm_rms_epsilon`, GGUF.f32, config.rms_norm_eps);
  w.add(`${a}.rope.freq_base`, GGUF.f32, theta);
  w.add(`${a}.rope.dimension_count`, GGUF.u32, headDim);
  if (ropeType === "linear") {
    w.add(`${a}.rope.scaling.type`, GGUF.string, "linear");
    w.add(`${a}.rope.scaling.factor`, GGUF.f32, rope.factor);
  } else if (ropeType !== "default" && ropeType !== "llama3") {
    throw new Error(`${folder}: rope type ${ropeType} is not converted`);
  }
  // A vocabulary without merges: llama.cpp needs one to load, and callers feed token
  // ids, so only its size matters. Ids below 256 are the bytes, the rest placeholders.
  const ids = Array.from({ length: config.vocab_size }, (_, i) => i);
  w.add("tokenizer.ggml.model", GGUF.string, "gpt2");
  w.add("tokenizer.ggml.pre", GGUF.string, "default");
  w.add("tokenizer.ggml.tokens", GGUF.array, { type: GGUF.string, items: ids.map(byteCharacter) });
  w.add("tokenizer.ggml.token_type", GGUF.array, { type: GGUF.i32, items: ids.map(() => 1) });
  w.add("tokenizer.ggml.merges", GGUF.array, { type: GGUF.string, items: [] });
  w.add("tokenizer.ggml.bos_token_id", GGUF.u32, config.bos_token_id);
  w.add("tokenizer.ggml.eos_token_id", GGUF.u32, config.eos_token_id);

  const names = [...tensors.keys()].sort();
  for (const name of names) {
    let t = tensors.get(name);
    let out;
    if (name === "model.embed_tokens.weight") out = "token_embd.weight";
    else if (name === "model.norm.weight") out = "output_norm.weight";
    else if (name === "lm_head.weight") out = "output.weight";
    else {
      const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
      const suffix = m && LAYER_TENSORS[m[2]];
      if (!suffix) throw new Error(`${folder}: no GGUF name for tensor ${name}`);
      out = `blk.${m[1]}.${suffix}`;
      if (arch.permute && m[2].startsWith("self_attn.q_proj.")) t = permuteRows(t, heads);
      if (arch.permute && m[2].startsWith("self_attn.k_proj.")) t = permuteRows(t, kvHeads);
    }
    w.tensor(out, t.shape, t.data);
  }
  if (ropeType === "llama3") {
    const factors = llama3RopeFactors(rope, theta, headDim);
    w.tensor("rope_freqs.weight", [factors.length], factors);
  }
  w.write(ggufFile);
  return { config, hash };
}

