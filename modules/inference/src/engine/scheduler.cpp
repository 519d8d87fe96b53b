#include "engine/scheduler.hpp"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <utility>

#include <ATen/core/Tensor.h>
#include <fmt/format.h>

#include <agora/log.hpp>

namespace agora::inference {

std::string_view to_string(finish_reason r) {
  switch (r) {
    case finish_reason::stop: return "stop";
    case finish_reason::length: return "length";
    case finish_reason::cancelled: return "cancelled";
    case finish_reason::deadline: return "deadline";
    case finish_reason::error: return "error";
  }
  return "error";
}

namespace {

using clock = std::chrono::steady_clock;

constexpr std::array all_reasons = {finish_reason::stop, finish_reason::length, finish_reason::cancelled,
                                    finish_reason::deadline, finish_reason::error};

double seconds(clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Waits and whole requests: milliseconds to minutes.
std::vector<double> request_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0};
}

// One decode step: sub-millisecond on a GPU with a small model, a second on a busy CPU.
std::vector<double> token_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};
}

std::vector<double> step_token_buckets() {
  return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192};
}

// The length of the longest tail of text that is a proper prefix of a stop string:
// text that may still turn into one, so it must not be emitted yet.
std::size_t undecided_tail(std::string_view text, const std::vector<std::string>& stops) {
  std::size_t longest = 0;
  for (const auto& stop : stops) {
    for (auto n = std::min(text.size(), stop.size() - 1); n > longest; --n) {
      if (text.substr(text.size() - n) == std::string_view(stop).substr(0, n)) {
        longest = n;
        break;
      }
    }
  }
  return longest;
}

error invalid(std::string field, std::string message) {
  return error{errc::invalid_argument, message, {{std::move(field), message}}};
}

// One submitted sequence, owned by the waiting queue and then by the running batch.
struct sequence {
  sequence(generation_request r, scheduler::callback cb, const tokenizer& tok, std::int64_t completion_limit)
      : req(std::move(r)),
        on_event(std::move(cb)),
        handle(std::make_shared<generation>()),
        pick(req.sampling, req.prompt),
        decoder(tok, req.skip_special_tokens),
        limit(completion_limit),
        submitted(clock::now()) {}

  bool decoding() const { return prefilled == req.prompt.size(); }
  bool is_stop_token(std::int32_t t) const {
    return std::find(req.stop_tokens.begin(), req.stop_tokens.end(), t) != req.stop_tokens.end();
  }

  // Takes new text and returns what may be emitted now: everything, unless it ends in
  // what could become a stop string (held back) or contains one (cut there; `stopped`).
  // With `last` nothing is held back.
  std::string release(std::string_view fresh, bool last, bool& stopped) {
    held.append(fresh);
    auto cut = std::string::npos;
    for (const auto& stop : req.stop_strings) cut = std::min(cut, held.find(stop));
    if (cut != std::string::npos) {
      stopped = true;
      held.resize(cut);
      return std::exchange(held, {});
    }
    const auto keep = last ? 0 : undecided_tail(held, req.stop_strings);
    auto out = held.substr(0, held.size() - keep);
    held.erase(0, held.size() - keep);
    return out;
  }

  generation_request req;
  scheduler::callback on_event;
  std::shared_ptr<generation> handle;
  sampler pick;
  tokenizer::stream_decoder decoder;
  std::int64_t limit;  // completion tokens allowed: max_tokens within the context

  int slot = -1;
  std::size_t prefilled = 0;  // prompt tokens already in the slot's cache
  std::int32_t next_input = 0;  // the last sampled token, fed at the next step
  std::int64_t completion = 0;
  std::string held;  // decoded text not emitted yet: it may begin a stop string

  clock::time_point submitted;
  std::optional<clock::time_point> last_token_at;
};

}  // namespace

struct scheduler::impl {
  impl(std::unique_ptr<model> m, const tokenizer& t, scheduler_options o, metrics::registry& r);

  std::optional<error> check(const generation_request& req, const callback& on_event) const;
  result<std::shared_ptr<generation>> enqueue(generation_request req, callback on_event);
  void reject(const error& e);

  void run();
  void admit();
  void step();
  void sample(sequence& s, std::span<const float> logits, generation_event& ev);
  void finish(sequence& s, generation_event& ev, finish_reason reason);
  void deliver(sequence& s, generation_event ev);
  void publish_sizes();

  std::unique_ptr<model> llm;  // engine thread only
  const tokenizer& tok;
  scheduler_options options;
  const model_config config;
  const std::int64_t max_context;
  const metrics::labels model_label;

  // Handles, not references: the service removes a model's series once its engine has
  // stopped, and a scheduler kept alive a little longer must still count safely.
  std::shared_ptr<metrics::histogram> queue_seconds;
  std::shared_ptr<metrics::histogram> first_token_seconds;
  std::shared_ptr<metrics::histogram> inter_token_seconds;
  std::shared_ptr<metrics::histogram> request_seconds;
  std::shared_ptr<metrics::histogram> step_tokens;
  std::shared_ptr<metrics::gauge> waiting_gauge;
  std::shared_ptr<metrics::gauge> running_gauge;
  std::shared_ptr<metrics::gauge> slots_gauge;
  std::shared_ptr<metrics::counter> prompt_tokens;
  std::shared_ptr<metrics::counter> completion_tokens;
  metrics::registry& registry;  // for the rejection counters, made when first needed
  std::array<std::shared_ptr<metrics::counter>, all_reasons.size()> finished{};  // by finish_reason

  mutable std::mutex mutex;
  std::condition_variable work;
  std::deque<std::unique_ptr<sequence>> waiting;  // guarded by mutex
  bool stopping = false;                          // guarded by mutex
  std::atomic<std::size_t> running_count{0};

  std::vector<std::unique_ptr<sequence>> running;  // engine thread only; admission order
  std::mutex join_mutex;
  std::thread engine;
  std::thread::id engine_id;  // set once at start, so stop() can read it while another stop() joins
};

scheduler::impl::impl(std::unique_ptr<model> m, const tokenizer& t, scheduler_options o, metrics::registry& r)
    : llm(std::move(m)),
      tok(t),
      options(std::move(o)),
      config(llm->config()),
      max_context(llm->max_context()),
      model_label{{"model", options.model_name}},
      queue_seconds(r.histogram_handle("agora_inference_queue_seconds", "Time from submit to a KV slot", model_label,
                                       request_buckets())),
      first_token_seconds(r.histogram_handle("agora_inference_time_to_first_token_seconds",
                                             "Time from submit to the first generated token", model_label,
                                             request_buckets())),
      inter_token_seconds(r.histogram_handle("agora_inference_inter_token_seconds",
                                             "Time between consecutive tokens of one sequence", model_label,
                                             token_buckets())),
      request_seconds(r.histogram_handle("agora_inference_request_seconds", "Time from submit to the final event",
                                         model_label, request_buckets())),
      step_tokens(r.histogram_handle("agora_inference_step_tokens", "Tokens processed by one forward step",
                                     model_label, step_token_buckets())),
      waiting_gauge(r.gauge_handle("agora_inference_waiting", "Sequences waiting for a KV slot", model_label)),
      running_gauge(r.gauge_handle("agora_inference_running", "Sequences holding a KV slot", model_label)),
      slots_gauge(r.gauge_handle("agora_inference_kv_slots_used", "KV-cache slots in use", model_label)),
      prompt_tokens(r.counter_handle("agora_inference_prompt_tokens_total", "Prompt tokens prefilled", model_label)),
      completion_tokens(r.counter_handle("agora_inference_completion_tokens_total", "Tokens generated", model_label)),
      registry(r) {
  for (const auto reason : all_reasons) {
    finished[static_cast<std::size_t>(reason)] =
        r.counter_handle("agora_inference_finished_total", "Sequences finished, by finish reason",
                         {{"model", options.model_name}, {"reason", std::string(to_string(reason))}});
  }
}

void scheduler::impl::reject(const error& e) {
  // Not once stopping: the service removes this model's series after stop(), and a
  // rejection counted later would bring one back.
  std::lock_guard lock(mutex);
  if (stopping) return;
  registry
      .counter_of("agora_inference_rejected_total", "Requests refused by the scheduler",
                  {{"model", options.model_name}, {"reason", std::string(agora::to_string(e.code))}})
      .inc();
}

std::optional<error> scheduler::impl::check(const generation_request& req, const callback& on_event) const {
  if (!on_event) return invalid("on_event", "on_event: must be set");
  if (req.prompt.empty()) return invalid("prompt", "prompt: must not be empty");
  const auto prompt_size = static_cast<std::int64_t>(req.prompt.size());
  if (prompt_size >= max_context) {
    return invalid("prompt", fmt::format("prompt has {} tokens; this model's context is {}", prompt_size, max_context));
  }
  for (const auto t : req.prompt) {
    if (t < 0 || t >= config.vocab_size)
      return invalid("prompt", fmt::format("prompt: token {} is outside the vocabulary (size {})", t, config.vocab_size));
  }
  std::size_t banned = 0;
  for (const auto& [t, bias] : req.sampling.logit_bias) {
    if (t >= config.vocab_size)
      return invalid("logit_bias",
                     fmt::format("logit_bias: token {} is outside the vocabulary (size {})", t, config.vocab_size));
    if (bias <= -100.0f) ++banned;
  }
  if (static_cast<std::int64_t>(banned) >= config.vocab_size)
    return invalid("logit_bias", "logit_bias: every token is banned");
  if (req.max_tokens < 0)
    return invalid("max_tokens", fmt::format("max_tokens: must not be negative, got {}", req.max_tokens));
  for (const auto& s : req.stop_strings)
    if (s.empty()) return invalid("stop_strings", "stop_strings: must not contain an empty string");
  try {
    validate(req.sampling);
  } catch (const std::invalid_argument& e) {
    const std::string_view what = e.what();
    return invalid(std::string(what.substr(0, what.find(':'))), std::string(what));
  }
  return std::nullopt;
}

result<std::shared_ptr<generation>> scheduler::impl::enqueue(generation_request req, callback on_event) {
  if (auto bad = check(req, on_event)) {
    reject(*bad);
    return std::move(*bad);
  }
  const auto room = max_context - static_cast<std::int64_t>(req.prompt.size());
  const auto limit = req.max_tokens > 0 ? std::min(req.max_tokens, room) : room;
  auto seq = std::make_unique<sequence>(std::move(req), std::move(on_event), tok, limit);
  auto handle = seq->handle;
  std::optional<error> refused;
  {
    std::lock_guard lock(mutex);
    if (stopping) {
      refused = error::unavailable("the inference engine is stopping");
    } else if (waiting.size() >= options.max_waiting) {
      refused = error{errc::resource_exhausted,
                      fmt::format("{} requests are already waiting for model {}", waiting.size(), options.model_name),
                      {}};
    } else {
      waiting.push_back(std::move(seq));
      waiting_gauge->set(static_cast<double>(waiting.size()));
    }
  }
  if (refused) {
    reject(*refused);
    return std::move(*refused);
  }
  work.notify_one();
  return handle;
}

void scheduler::impl::run() {
  for (;;) {
    std::vector<std::pair<std::unique_ptr<sequence>, finish_reason>> leaving;
    bool stop_now = false;
    {
      std::unique_lock lock(mutex);
      work.wait(lock, [&] { return stopping || !waiting.empty() || !running.empty(); });
      stop_now = stopping;
      const auto now = clock::now();
      const auto why_leave = [&](const sequence& s) -> std::optional<finish_reason> {
        if (stop_now || s.handle->cancelled()) return finish_reason::cancelled;
        if (now >= s.req.deadline) return finish_reason::deadline;
        return std::nullopt;
      };
      for (auto& s : running) {
        if (const auto reason = why_leave(*s)) leaving.emplace_back(std::move(s), *reason);
      }
      std::erase(running, nullptr);
      for (auto& s : waiting) {
        if (const auto reason = why_leave(*s)) leaving.emplace_back(std::move(s), *reason);
      }
      std::erase(waiting, nullptr);
      for (auto& [s, reason] : leaving) {
        if (s->slot >= 0) llm->release(std::exchange(s->slot, -1));
      }
      if (!stop_now) admit();
      waiting_gauge->set(static_cast<double>(waiting.size()));
      publish_sizes();
    }
    for (auto& [s, reason] : leaving) {
      generation_event ev;
      finish(*s, ev, reason);
      deliver(*s, std::move(ev));
    }
    if (stop_now) return;
    if (!running.empty()) step();
  }
}

// Moves waiting sequences into the batch while a KV slot and max_running allow.
// Called with the mutex held.
void scheduler::impl::admit() {
  const auto now = clock::now();
  while (!waiting.empty() && running.size() < static_cast<std::size_t>(options.max_running)) {
    const auto slot = llm->acquire();
    if (!slot) break;
    auto s = std::move(waiting.front());
    waiting.pop_front();
    s->slot = *slot;
    queue_seconds->observe(seconds(now - s->submitted));
    running.push_back(std::move(s));
  }
}

void scheduler::impl::publish_sizes() {
  running_count.store(running.size());
  running_gauge->set(static_cast<double>(running.size()));
  slots_gauge->set(static_cast<double>(running.size()));
}

// One forward call for the whole batch: a decode token from every sequence past its
// prompt, then prefill chunks, oldest first, while the token budget lasts.
void scheduler::impl::step() {
  step_input input;
  std::vector<sequence*> batch;
  std::int64_t budget = options.token_budget;
  for (auto& s : running) {
    if (!s->decoding()) continue;
    input.slot.push_back(s->slot);
    input.tokens.push_back({s->next_input});
    batch.push_back(s.get());
    --budget;
  }
  for (auto& s : running) {
    if (s->decoding() || budget <= 0) continue;
    const auto n = std::min<std::size_t>(s->req.prompt.size() - s->prefilled, static_cast<std::size_t>(budget));
    const auto chunk = std::span(s->req.prompt).subspan(s->prefilled, n);
    input.slot.push_back(s->slot);
    input.tokens.emplace_back(chunk.begin(), chunk.end());
    batch.push_back(s.get());
    budget -= static_cast<std::int64_t>(n);
  }
  if (batch.empty()) return;
  step_tokens->observe(static_cast<double>(options.token_budget - budget));

  std::vector<generation_event> events(batch.size());
  std::vector<bool> done(batch.size(), false);
  try {
    const auto logits = llm->forward(input);
    const auto vocab = static_cast<std::size_t>(logits.size(1));
    const auto* data = logits.data_ptr<float>();
    for (std::size_t b = 0; b < batch.size(); ++b) {
      auto& s = *batch[b];
      if (!s.decoding()) {
        s.prefilled += input.tokens[b].size();
        prompt_tokens->inc(input.tokens[b].size());
        if (!s.decoding()) continue;
      }
      try {
        sample(s, std::span(data + b * vocab, vocab), events[b]);
      } catch (const std::exception& e) {
        log::error("inference.scheduler", "sampling failed", {{"model", options.model_name}, {"error", e.what()}});
        events[b] = {};
        events[b].error = e.what();
        finish(s, events[b], finish_reason::error);
      }
      done[b] = events[b].finished.has_value();
    }
  } catch (const std::exception& e) {
    log::error("inference.scheduler", "forward step failed",
               {{"model", options.model_name}, {"sequences", batch.size()}, {"error", e.what()}});
    for (std::size_t b = 0; b < batch.size(); ++b) {
      events[b] = {};
      events[b].error = fmt::format("the inference engine failed: {}", e.what());
      finish(*batch[b], events[b], finish_reason::error);
      done[b] = true;
    }
  }

  // Finished sequences leave before any callback runs, so a final event sees their
  // slot free; `retired` keeps them alive until their events are delivered.
  std::vector<std::unique_ptr<sequence>> retired;
  for (std::size_t b = 0; b < batch.size(); ++b) {
    if (!done[b]) continue;
    llm->release(std::exchange(batch[b]->slot, -1));
    auto it = std::find_if(running.begin(), running.end(), [&](const auto& s) { return s.get() == batch[b]; });
    retired.push_back(std::move(*it));
    running.erase(it);
  }
  publish_sizes();
  for (std::size_t b = 0; b < batch.size(); ++b) {
    const bool sampled = events[b].finished || !events[b].tokens.empty();
    if (sampled) deliver(*batch[b], std::move(events[b]));
  }
}

// Samples the sequence's next token from its logits and fills its event for this step.
void scheduler::impl::sample(sequence& s, std::span<const float> logits, generation_event& ev) {
  const auto now = clock::now();
  const auto token = s.pick.next(logits);
  if (s.last_token_at) {
    inter_token_seconds->observe(seconds(now - *s.last_token_at));
  } else {
    first_token_seconds->observe(seconds(now - s.submitted));
  }
  s.last_token_at = now;

  bool stopped = false;
  if (s.is_stop_token(token)) {
    ev.text = s.release(s.decoder.finish(), true, stopped);
    finish(s, ev, finish_reason::stop);
    return;
  }
  ++s.completion;
  completion_tokens->inc();
  ev.tokens.push_back(token);
  s.next_input = token;
  const bool full = s.completion >= s.limit;
  auto text = s.decoder.push(token);
  if (full) text += s.decoder.finish();
  ev.text = s.release(text, full, stopped);
  if (stopped) {
    finish(s, ev, finish_reason::stop);
  } else if (full) {
    finish(s, ev, finish_reason::length);
  }
}

// Marks ev as the sequence's final event and counts it. The caller releases the slot.
void scheduler::impl::finish(sequence& s, generation_event& ev, finish_reason reason) {
  ev.finished = reason;
  finished[static_cast<std::size_t>(reason)]->inc();
  request_seconds->observe(seconds(clock::now() - s.submitted));
}

void scheduler::impl::deliver(sequence& s, generation_event ev) {
  ev.prompt_tokens = static_cast<std::int64_t>(s.req.prompt.size());
  ev.completion_tokens = s.completion;
  try {
    s.on_event(std::move(ev));
  } catch (const std::exception& e) {
    log::error("inference.scheduler", "an event callback threw", {{"model", options.model_name}, {"error", e.what()}});
  } catch (...) {
    log::error("inference.scheduler", "an event callback threw", {{"model", options.model_name}});
  }
}

scheduler::scheduler(std::unique_ptr<model> m, const tokenizer& tok, scheduler_options options,
                     metrics::registry& metrics) {
  if (!m) throw std::invalid_argument("scheduler: no model");
  if (options.max_running < 1)
    throw std::invalid_argument(fmt::format("max_running: must be at least 1, got {}", options.max_running));
  options.max_running = std::min(options.max_running, m->max_sequences());
  if (options.token_budget < options.max_running) {
    throw std::invalid_argument(fmt::format("token_budget: must be at least max_running ({}), got {}",
                                            options.max_running, options.token_budget));
  }
  if (options.max_waiting < 1) throw std::invalid_argument("max_waiting: must be at least 1");
  impl_ = std::make_unique<impl>(std::move(m), tok, std::move(options), metrics);
  impl_->engine = std::thread([p = impl_.get()] { p->run(); });
  impl_->engine_id = impl_->engine.get_id();
}

scheduler::~scheduler() { stop(); }

result<std::shared_ptr<generation>> scheduler::submit(generation_request req, callback on_event) {
  return impl_->enqueue(std::move(req), std::move(on_event));
}

void scheduler::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->work.notify_all();
  if (std::this_thread::get_id() == impl_->engine_id) return;
  std::lock_guard lock(impl_->join_mutex);
  if (impl_->engine.joinable()) impl_->engine.join();
}

const model_config& scheduler::config() const { return impl_->config; }
std::int64_t scheduler::max_context() const { return impl_->max_context; }

std::size_t scheduler::waiting() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->waiting.size();
}

std::size_t scheduler::running() const { return impl_->running_count.load(); }

}  // namespace agora::inference
