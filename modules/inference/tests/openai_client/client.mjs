// node client.mjs BASE_URL MODEL API_KEY: the official openai client, whole and streamed,
// chat and completions, and errors (a bad key among them), against a running agora.
// Exits non-zero on any miss.
import OpenAI from "openai";
import assert from "node:assert/strict";

const [baseURL, model, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });

// A key agora never made is refused in OpenAI's shape, which the client maps to its own error.
const stranger = new OpenAI({ baseURL, apiKey: "agk_0000000000_notakeyatall", maxRetries: 0 });
await assert.rejects(stranger.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);

const models = await client.models.list();
assert.ok(models.data.some((m) => m.id === model), `model ${model} listed`);

const messages = [{ role: "user", content: "Say something." }];
const whole = await client.chat.completions.create({ model, messages, max_tokens: 8, temperature: 0 });
assert.equal(whole.object, "chat.completion");
assert.equal(whole.choices[0].message.role, "assistant");
assert.equal(typeof whole.choices[0].message.content, "string");
assert.ok(["stop", "length"].includes(whole.choices[0].finish_reason));
assert.ok(whole.usage.prompt_tokens > 0);
assert.equal(whole.usage.total_tokens, whole.usage.prompt_tokens + whole.usage.completion_tokens);

const stream = await client.chat.completions.create({
  model, messages, max_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true },
});
let text = "";
let role = null;
let finish = null;
let usage = null;
for await (const chunk of stream) {
  assert.equal(chunk.object, "chat.completion.chunk");
  if (chunk.usage) usage = chunk.usage;
  for (const choice of chunk.choices) {
    if (choice.delta.role) role = choice.delta.role;
    if (choice.delta.content) text += choice.delta.content;
    if (choice.finish_reason) finish = choice.finish_reason;
  }
}
assert.equal(role, "assistant");
assert.equal(text, whole.choices[0].message.content, "streamed text equals the whole answer (greedy)");
assert.equal(finish, whole.choices[0].finish_reason);
assert.deepEqual(usage, whole.usage);

const completion = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 5, temperature: 0 });
assert.equal(completion.object, "text_completion");
assert.equal(typeof completion.choices[0].text, "string");

let streamedText = "";
for await (const chunk of await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 5, temperature: 0, stream: true }))
  streamedText += chunk.choices[0]?.text ?? "";
assert.equal(streamedText, completion.choices[0].text);

await assert.rejects(
  client.chat.completions.create({ model: "no-such-model", messages }),
  (e) => e instanceof OpenAI.NotFoundError && e.code === "model_not_found",
);
await assert.rejects(
  client.chat.completions.create({ model, messages, temperature: 5 }),
  (e) => e instanceof OpenAI.BadRequestError && e.param === "temperature",
);
console.log("openai client ok:", JSON.stringify({ whole: whole.choices[0].message.content, streamed: text }));
