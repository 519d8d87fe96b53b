#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <agora/metrics.hpp>
#include <agora/result.hpp>

#include "engine/model.hpp"
#include "engine/sampler.hpp"
#include "text/tokenizer.hpp"

namespace agora::inference {

// What one sequence asks of the engine.
struct generation_request {
  // Rendered and tokenized by the caller; not empty, every id inside the vocabulary,
  // fewer tokens than the model's context.
  std::vector<std::int32_t> prompt;
  sampling_params sampling;
  // Most tokens to generate; 0: as many as the context leaves. More than the context
  // leaves is not an error: generation ends with finish length when the context is full.
  std::int64_t max_tokens = 0;
  // Generation ends (finish stop) when one of these is sampled; it is not emitted as text.
  std::vector<std::int32_t> stop_tokens;
  // Generation ends (finish stop) when the text contains one; the text is cut before
  // it. Text that could still become a stop string is held back until it cannot. Not
  // empty strings.
  std::vector<std::string> stop_strings;
  // Past it the sequence leaves the batch at the next step (finish deadline).
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  bool skip_special_tokens = true;
};

enum class finish_reason { stop, length, cancelled, deadline, error };
std::string_view to_string(finish_reason r);

// One delivery to a sequence's callback, in order: one per step that sampled a token
// for the sequence (its text may be empty while bytes or a possible stop string are
// held back), and exactly one with `finished` set, which is the last. The final event
// may carry the last text and token too; when cancelled, past the deadline or failed,
// held-back text is dropped.
struct generation_event {
  std::string text;                   // new text: whole UTF-8 characters only
  std::vector<std::int32_t> tokens;   // new tokens (stop tokens excluded)
  std::optional<finish_reason> finished;
  std::string error;                  // with finish_reason::error
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;  // so far
};

// A submitted sequence. cancel() is thread-safe; the sequence leaves the batch at the
// next step and its last event says cancelled.
class generation {
 public:
  void cancel() noexcept { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const noexcept { return cancelled_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> cancelled_{false};
};

struct scheduler_options {
  // Sequences in the running batch at once (each holds a KV slot); at least 1, and
  // lowered to the model's KV slots when above.
  int max_running = 8;
  // Tokens one forward step may process (decode tokens plus prefill chunks): long
  // prompts are prefilled in chunks so running sequences keep decoding. At least
  // max_running, so that every running sequence can always take its step.
  std::int64_t token_budget = 512;
  // Sequences that may wait for a slot (every submitted sequence waits, if only until
  // the next step); beyond it submit() answers resource_exhausted. At least 1.
  std::size_t max_waiting = 64;
  // Label for metrics.
  std::string model_name = "default";
};

// Continuous batching over one model on the scheduler's own engine thread (never an
// io thread): between decode steps waiting sequences join the batch as slots free up,
// prefills are chunked under the token budget, finished, cancelled and expired
// sequences leave and release their KV slots.
//
// Waiting sequences are admitted first come, first served; in each step every running
// sequence decodes one token and the token budget left goes to prefill chunks, oldest
// sequence first. Only the step that completes a prompt samples its first token.
//
// Metrics (label model): agora_inference_queue_seconds (submit to admission),
// _time_to_first_token_seconds (submit to first token), _inter_token_seconds,
// _request_seconds (submit to final event), _step_tokens (tokens per forward step)
// histograms; _waiting, _running, _kv_slots_used gauges; _prompt_tokens_total (prompt
// tokens prefilled), _completion_tokens_total, _rejected_total{reason} (the errc of a
// refused submit; not counted once stopping), _finished_total{reason} (the
// finish_reason) counters. It holds handles to its series (metrics::registry), so the
// owner may remove the series labelled with its model while it still exists; remove
// them after stop(), so that no rejection brings one back.
class scheduler {
 public:
  using callback = std::function<void(generation_event)>;

  // Takes the model; borrows the tokenizer (it must outlive the scheduler) for text
  // and stop strings; registers its metrics in `metrics`, which must outlive it too.
  // Starts the engine thread. Throws std::invalid_argument for options out of range.
  scheduler(std::unique_ptr<model> m, const tokenizer& tok, scheduler_options options, metrics::registry& metrics);
  // Cancels everything (each gets its final event) and joins the engine thread.
  ~scheduler();
  scheduler(const scheduler&) = delete;
  scheduler& operator=(const scheduler&) = delete;

  // Thread-safe. Queues the request; `on_event` is then called on the engine thread
  // (keep it short: post the event elsewhere; it may call submit(), cancel() and stop(),
  // which then returns without waiting). An exception from it is logged and swallowed.
  // Errors, nothing queued:
  //   invalid_argument naming the field (empty prompt, a token outside the vocabulary,
  //   negative max_tokens, an empty stop string, bad sampling values,
  //   "prompt has N tokens; this model's context is M");
  //   resource_exhausted when max_waiting sequences already wait;
  //   unavailable after stop().
  result<std::shared_ptr<generation>> submit(generation_request req, callback on_event);

  // Cancels what waits and runs and refuses new work; returns once every sequence has
  // had its final event and the engine thread has ended (at once when called from a
  // callback: the engine then ends after its current step). Idempotent.
  void stop();

  const model_config& config() const;
  std::int64_t max_context() const;
  // Sequences queued for a slot, and sequences holding one (prefilling or decoding).
  std::size_t waiting() const;
  std::size_t running() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace agora::inference
