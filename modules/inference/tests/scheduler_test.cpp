// torch first: Catch's CHECK must be the definition that stays.
#include "engine/scheduler.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <agora/metrics.hpp>
#include <nlohmann/json.hpp>

#include "engine/model.hpp"
#include "engine/model_config.hpp"
#include "model_fixture.hpp"
#include "text/tokenizer.hpp"

using namespace agora::inference;
using namespace agora::inference::testing;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using tokens = std::vector<std::int32_t>;

namespace {

// Generous: a slow, busy machine must never fail a test by waiting too little.
constexpr auto patience = 120s;

fixture_spec tiny_spec() {
  fixture_spec s;
  s.vocab = 300;
  s.max_positions = 512;
  return s;
}

// Pseudo-random byte tokens: text-like for the byte tokenizer, fixed per salt.
tokens prompt_of(std::size_t n, std::uint32_t salt) {
  tokens out;
  std::uint32_t x = 12345u + salt * 7919u;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    out.push_back(static_cast<std::int32_t>((x >> 8) % 256u));
  }
  return out;
}

generation_request greedy(tokens prompt, std::int64_t max_tokens) {
  generation_request r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 0.0;
  r.max_tokens = max_tokens;
  return r;
}

struct engine_options {
  scheduler_options scheduling;
  int slots = 4;
  std::int64_t context = 256;
};

// A tiny random-weight model and the byte tokenizer in a temp folder, and a scheduler
// over them.
class engine {
 public:
  explicit engine(engine_options o = {})
      : tok_(prepare(dir_.path())), sched_(std::make_unique<scheduler>(load(o), tok_, o.scheduling, metrics_)) {}

  scheduler& sched() { return *sched_; }
  const tokenizer& tok() const { return tok_; }
  agora::metrics::registry& metrics() { return metrics_; }
  void destroy_scheduler() { sched_.reset(); }

 private:
  static tokenizer prepare(const std::filesystem::path& dir) {
    write_model(dir, tiny_spec());
    write_byte_tokenizer(dir);
    return tokenizer::from_files(dir / "tokenizer.json", dir / "tokenizer_config.json");
  }

  std::unique_ptr<model> load(const engine_options& o) const {
    model_options m;
    m.device = device_choice::cpu;
    m.max_sequences = o.slots;
    m.max_context = o.context;
    return model::load(dir_.path(), m);
  }

  temp_dir dir_;
  tokenizer tok_;
  agora::metrics::registry metrics_;
  std::unique_ptr<scheduler> sched_;
};

// Records one sequence's events and lets the test wait for them. Declare collectors
// before the engine whose scheduler calls them, so they outlive it.
class collector {
 public:
  // Runs on the engine thread with every event, before it is recorded.
  std::function<void(const generation_event&)> hook;

  scheduler::callback callback() {
    return [this](generation_event e) {
      if (hook) hook(e);
      std::lock_guard lock(mutex_);
      if (finals_ > 0) ++after_final_;
      if (e.finished) ++finals_;
      events_.push_back(std::move(e));
      changed_.notify_all();
    };
  }

  bool wait_final() {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, patience, [&] { return finals_ > 0; });
  }

  bool wait_events(std::size_t n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, patience, [&] { return events_.size() >= n; });
  }

  int finals() const {
    std::lock_guard lock(mutex_);
    return finals_;
  }
  int events_after_final() const {
    std::lock_guard lock(mutex_);
    return after_final_;
  }
  tokens all_tokens() const {
    std::lock_guard lock(mutex_);
    tokens out;
    for (const auto& e : events_) out.insert(out.end(), e.tokens.begin(), e.tokens.end());
    return out;
  }
  std::string text() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& e : events_) out += e.text;
    return out;
  }
  std::vector<generation_event> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
  generation_event last() const {
    std::lock_guard lock(mutex_);
    return events_.empty() ? generation_event{} : events_.back();
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<generation_event> events_;
  int finals_ = 0;
  int after_final_ = 0;
};

// Submits and waits for the final event; the sequence's tokens.
tokens run(scheduler& s, generation_request req) {
  collector c;
  auto handle = s.submit(std::move(req), c.callback());
  REQUIRE(handle.has_value());
  REQUIRE(c.wait_final());
  return c.all_tokens();
}

// Lets a test hold the engine thread inside a callback: the test learns when the
// engine got there, does its work, then opens the gate.
class gate {
 public:
  void block() {
    entered_.set_value();
    opened_.wait();
  }
  bool wait_entered() { return entered_future_.wait_for(patience) == std::future_status::ready; }
  void open() { open_.set_value(); }

 private:
  std::promise<void> entered_;
  std::future<void> entered_future_ = entered_.get_future();
  std::promise<void> open_;
  std::shared_future<void> opened_ = open_.get_future().share();
};

std::vector<std::string> utf8_characters(const std::string& text) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t n = 1;
    while (i + n < text.size() && (static_cast<unsigned char>(text[i + n]) & 0xC0) == 0x80) ++n;
    out.push_back(text.substr(i, n));
    i += n;
  }
  return out;
}

void check_one_final_last(const collector& c) {
  CHECK(c.finals() == 1);
  CHECK(c.events_after_final() == 0);
}

}  // namespace

TEST_CASE("the byte tokenizer fixture loads, round-trips text and knows its special tokens", "[inference][scheduler]") {
  temp_dir dir;
  write_byte_tokenizer(dir.path());
  const auto tok = tokenizer::from_files(dir.path() / "tokenizer.json", dir.path() / "tokenizer_config.json");

  CHECK(tok.vocab_size() == static_cast<std::size_t>(byte_tokenizer_vocab));
  CHECK(tok.bos_id() == byte_tokenizer_begin);
  CHECK(tok.eos_id() == byte_tokenizer_end);
  CHECK(tok.token_id("<|user|>") == byte_tokenizer_user);
  CHECK(tok.token_id("<|assistant|>") == byte_tokenizer_assistant);
  CHECK(tok.token_id("<|system|>") == byte_tokenizer_system);
  CHECK(tok.is_special(byte_tokenizer_assistant));

  // Paired with a model, the model stops where the tokenizer says: at "<|end|>" only.
  temp_dir with_model;
  write_model(with_model.path(), tiny_spec());
  write_byte_tokenizer(with_model.path());
  const auto paired = model_config::from_folder(with_model.path());
  CHECK(paired.eos_token_ids == std::vector<std::int32_t>{byte_tokenizer_end});
  CHECK(paired.bos_token_id == byte_tokenizer_begin);

  const std::string text = "Hello, wörld!\n\ttabs  and 🙂 emoji, \x01 control";
  const auto ids = tok.encode(text);
  CHECK(ids.size() == text.size());
  for (std::size_t i = 0; i < text.size(); ++i) CHECK(ids[i] == static_cast<unsigned char>(text[i]));
  CHECK(tok.decode(ids) == text);

  const auto chat = tok.encode("<|begin|><|user|>hi<|end|><|assistant|>");
  CHECK(chat == tokens{byte_tokenizer_begin, byte_tokenizer_user, 'h', 'i', byte_tokenizer_end,
                       byte_tokenizer_assistant});
  CHECK(tok.decode(chat, true) == "hi");

  const auto config = nlohmann::json::parse(std::ifstream(dir.path() / "tokenizer_config.json"));
  CHECK_THAT(config.at("chat_template").get<std::string>(), Contains("add_generation_prompt"));
}

TEST_CASE("greedy tokens match the float64 reference model", "[inference][scheduler]") {
  collector c;
  engine e;
  const auto prompt = prompt_of(30, 1);
  const auto got = run(e.sched(), greedy(prompt, 8));
  REQUIRE(got.size() == 8);

  const auto weights = make_weights(tiny_spec());
  auto sequence = prompt;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const auto logits = reference_logits(tiny_spec(), weights, sequence);
    const auto expected = logits[logits.size(0) - 1].argmax().item<std::int64_t>();
    INFO("token " << i);
    CHECK(got[i] == expected);
    sequence.push_back(got[i]);
  }
}

TEST_CASE("a greedy sequence gives the same tokens alone and while others join and leave", "[inference][scheduler]") {
  collector a, b, c;
  engine e({.scheduling = {.max_running = 4, .token_budget = 16}});
  auto& s = e.sched();
  const auto a_req = greedy(prompt_of(20, 2), 40);
  const auto b_req = greedy(prompt_of(12, 3), 6);
  const auto c_req = greedy(prompt_of(60, 4), 10);
  const auto a_alone = run(s, a_req);
  const auto b_alone = run(s, b_req);
  const auto c_alone = run(s, c_req);
  REQUIRE(a_alone.size() == 40);

  // b joins at a's 3rd token and leaves after 6; c, with a prompt prefilled in chunks
  // of the budget, joins at a's 10th.
  std::atomic<bool> b_queued{false}, c_queued{false};
  std::size_t a_tokens = 0;
  a.hook = [&](const generation_event& ev) {
    a_tokens += ev.tokens.size();
    if (a_tokens == 3 && !ev.tokens.empty()) b_queued = s.submit(b_req, b.callback()).has_value();
    if (a_tokens == 10 && !ev.tokens.empty()) c_queued = s.submit(c_req, c.callback()).has_value();
  };
  REQUIRE(s.submit(a_req, a.callback()).has_value());
  REQUIRE(a.wait_final());
  REQUIRE(b_queued);
  REQUIRE(c_queued);
  REQUIRE(b.wait_final());
  REQUIRE(c.wait_final());

  CHECK(a.all_tokens() == a_alone);
  CHECK(b.all_tokens() == b_alone);
  CHECK(c.all_tokens() == c_alone);
  for (const auto* x : {&a, &b, &c}) {
    check_one_final_last(*x);
    CHECK(x->last().finished == finish_reason::length);
  }
  CHECK(s.running() == 0);
  CHECK(s.waiting() == 0);
}

TEST_CASE("a prompt longer than the token budget is prefilled in chunks with the same result", "[inference][scheduler]") {
  const auto prompt = prompt_of(100, 5);
  tokens one_shot;
  {
    engine e;
    one_shot = run(e.sched(), greedy(prompt, 8));
  }
  engine e({.scheduling = {.max_running = 4, .token_budget = 8}});
  CHECK(run(e.sched(), greedy(prompt, 8)) == one_shot);

  auto& steps = e.metrics().histogram_of("agora_inference_step_tokens", "", {{"model", "default"}});
  const auto& bounds = steps.bounds();
  const auto at_eight = std::find(bounds.begin(), bounds.end(), 8.0) - bounds.begin();
  REQUIRE(at_eight < static_cast<std::ptrdiff_t>(bounds.size()));
  CHECK(steps.count() >= 100 / 8 + 7);  // 13 prefill steps, then 7 decodes
  CHECK(steps.cumulative()[static_cast<std::size_t>(at_eight)] == steps.count());
}

TEST_CASE("max_tokens ends the sequence with length after that many tokens", "[inference][scheduler]") {
  collector c;
  engine e;
  const auto prompt = prompt_of(10, 6);
  REQUIRE(e.sched().submit(greedy(prompt, 5), c.callback()).has_value());
  REQUIRE(c.wait_final());
  check_one_final_last(c);
  const auto last = c.last();
  CHECK(last.finished == finish_reason::length);
  CHECK(c.all_tokens().size() == 5);
  CHECK(last.completion_tokens == 5);
  CHECK(last.prompt_tokens == 10);
  CHECK(c.text() == e.tok().decode(c.all_tokens(), true));
}

TEST_CASE("max_tokens beyond the context is clamped: the sequence ends with length when the context is full",
          "[inference][scheduler]") {
  collector over, unlimited;
  engine e({.context = 64});
  REQUIRE(e.sched().submit(greedy(prompt_of(60, 7), 100), over.callback()).has_value());
  REQUIRE(e.sched().submit(greedy(prompt_of(60, 7), 0), unlimited.callback()).has_value());
  REQUIRE(over.wait_final());
  REQUIRE(unlimited.wait_final());
  for (const auto* c : {&over, &unlimited}) {
    check_one_final_last(*c);
    CHECK(c->last().finished == finish_reason::length);
    CHECK(c->all_tokens().size() == 4);
  }
  CHECK(over.all_tokens() == unlimited.all_tokens());
}

TEST_CASE("a stop token ends the sequence and is not emitted", "[inference][scheduler]") {
  collector c;
  engine e;
  const auto prompt = prompt_of(16, 8);
  const auto free_run = run(e.sched(), greedy(prompt, 20));
  REQUIRE(free_run.size() == 20);
  const auto stop = free_run[5];
  const auto first = static_cast<std::size_t>(std::find(free_run.begin(), free_run.end(), stop) - free_run.begin());
  const tokens expected(free_run.begin(), free_run.begin() + static_cast<std::ptrdiff_t>(first));

  auto req = greedy(prompt, 20);
  req.stop_tokens = {9999, stop};
  REQUIRE(e.sched().submit(req, c.callback()).has_value());
  REQUIRE(c.wait_final());
  check_one_final_last(c);
  CHECK(c.last().finished == finish_reason::stop);
  CHECK(c.all_tokens() == expected);
  CHECK(c.last().completion_tokens == static_cast<std::int64_t>(first));
  CHECK(c.text() == e.tok().decode(expected, true));
}

TEST_CASE("a stop string is cut from the text and never emitted in part", "[inference][scheduler]") {
  engine e;
  const auto prompt = prompt_of(16, 9);
  collector free_run;
  REQUIRE(e.sched().submit(greedy(prompt, 40), free_run.callback()).has_value());
  REQUIRE(free_run.wait_final());
  const auto full_text = free_run.text();
  CHECK(full_text == e.tok().decode(free_run.all_tokens(), true));
  const auto chars = utf8_characters(full_text);
  REQUIRE(chars.size() >= 8);

  SECTION("a stop string in the text") {
    const auto stop = chars[chars.size() / 2] + chars[chars.size() / 2 + 1];
    const auto expected = full_text.substr(0, full_text.find(stop));
    collector c;
    auto req = greedy(prompt, 40);
    req.stop_strings = {"never appears \x7f", stop};
    REQUIRE(e.sched().submit(req, c.callback()).has_value());
    REQUIRE(c.wait_final());
    check_one_final_last(c);
    CHECK(c.last().finished == finish_reason::stop);
    CHECK(c.text() == expected);
    for (const auto& ev : c.events()) CHECK(ev.text.find(stop) == std::string::npos);
    CHECK(c.all_tokens().size() < 40);
  }

  SECTION("text that only starts a stop string is held back, then emitted at the end") {
    // The last character could begin the stop string until the sequence ends.
    const auto stop = chars.back() + "\x7f\x7f\x7f";
    collector c;
    auto req = greedy(prompt, 40);
    req.stop_strings = {stop};
    REQUIRE(e.sched().submit(req, c.callback()).has_value());
    REQUIRE(c.wait_final());
    check_one_final_last(c);
    CHECK(c.last().finished == finish_reason::length);
    CHECK(c.text() == full_text);
    CHECK(c.last().text.size() >= chars.back().size());
  }
}

TEST_CASE("the same seed gives the same tokens, alone and batched", "[inference][scheduler]") {
  collector first, second;
  engine e;
  generation_request req;
  req.prompt = prompt_of(12, 10);
  req.sampling.temperature = 1.0;
  req.sampling.top_k = 50;
  req.sampling.seed = 1234;
  req.max_tokens = 24;
  const auto alone = run(e.sched(), req);
  REQUIRE(alone.size() == 24);
  CHECK(run(e.sched(), req) == alone);

  REQUIRE(e.sched().submit(req, first.callback()).has_value());
  REQUIRE(e.sched().submit(req, second.callback()).has_value());
  REQUIRE(first.wait_final());
  REQUIRE(second.wait_final());
  CHECK(first.all_tokens() == alone);
  CHECK(second.all_tokens() == alone);
}

TEST_CASE("cancelling frees the slot and the waiting queue for the next request", "[inference][scheduler]") {
  collector running, queued, next;
  gate hold;
  running.hook = [&](const generation_event& ev) {
    if (!ev.finished && running.all_tokens().empty()) hold.block();
  };
  engine e({.scheduling = {.max_running = 1, .token_budget = 64}, .slots = 1});
  auto& s = e.sched();
  auto a = s.submit(greedy(prompt_of(10, 11), 0), running.callback());
  REQUIRE(a.has_value());
  REQUIRE(hold.wait_entered());
  auto b = s.submit(greedy(prompt_of(10, 12), 0), queued.callback());
  REQUIRE(b.has_value());
  CHECK(s.running() == 1);
  CHECK(s.waiting() == 1);

  (*b)->cancel();
  (*a)->cancel();
  hold.open();
  REQUIRE(queued.wait_final());
  REQUIRE(running.wait_final());
  check_one_final_last(running);
  check_one_final_last(queued);
  CHECK(running.last().finished == finish_reason::cancelled);
  CHECK(queued.last().finished == finish_reason::cancelled);
  CHECK(queued.all_tokens().empty());
  CHECK(s.running() == 0);
  CHECK(s.waiting() == 0);

  REQUIRE(s.submit(greedy(prompt_of(10, 13), 3), next.callback()).has_value());
  REQUIRE(next.wait_final());
  CHECK(next.last().finished == finish_reason::length);
  CHECK(next.all_tokens().size() == 3);
}

TEST_CASE("a sequence past its deadline leaves, running or waiting", "[inference][scheduler]") {
  collector running, queued;
  const auto deadline = std::chrono::steady_clock::now() + 300ms;
  running.hook = [&](const generation_event& ev) {
    if (!ev.finished) std::this_thread::sleep_until(deadline + 10ms);
  };
  engine e({.scheduling = {.max_running = 1, .token_budget = 64}, .slots = 1});
  auto& s = e.sched();
  auto req = greedy(prompt_of(10, 14), 0);
  req.deadline = deadline;
  REQUIRE(s.submit(req, running.callback()).has_value());
  auto late = greedy(prompt_of(10, 15), 0);
  late.deadline = std::chrono::steady_clock::now() - 1s;
  REQUIRE(s.submit(late, queued.callback()).has_value());

  REQUIRE(running.wait_final());
  REQUIRE(queued.wait_final());
  check_one_final_last(running);
  check_one_final_last(queued);
  CHECK(running.last().finished == finish_reason::deadline);
  CHECK(queued.last().finished == finish_reason::deadline);
  CHECK(queued.all_tokens().empty());
  CHECK(s.running() == 0);
}

TEST_CASE("submit answers resource_exhausted when max_waiting sequences wait", "[inference][scheduler]") {
  collector running, w1, w2, refused;
  gate hold;
  running.hook = [&](const generation_event& ev) {
    if (!ev.finished && running.all_tokens().empty()) hold.block();
  };
  engine e({.scheduling = {.max_running = 1, .token_budget = 64, .max_waiting = 2}, .slots = 1});
  auto& s = e.sched();
  auto a = s.submit(greedy(prompt_of(10, 16), 0), running.callback());
  REQUIRE(a.has_value());
  REQUIRE(hold.wait_entered());
  auto b = s.submit(greedy(prompt_of(10, 17), 2), w1.callback());
  auto c = s.submit(greedy(prompt_of(10, 18), 2), w2.callback());
  REQUIRE(b.has_value());
  REQUIRE(c.has_value());
  CHECK(s.waiting() == 2);
  const auto d = s.submit(greedy(prompt_of(10, 19), 2), refused.callback());
  REQUIRE_FALSE(d.has_value());
  CHECK(d.err().code == agora::errc::resource_exhausted);
  CHECK_THAT(e.metrics().expose(),
             Contains("agora_inference_rejected_total{model=\"default\",reason=\"resource_exhausted\"} 1"));

  (*a)->cancel();
  hold.open();
  REQUIRE(running.wait_final());
  REQUIRE(w1.wait_final());
  REQUIRE(w2.wait_final());
  CHECK(w1.last().finished == finish_reason::length);
  CHECK(w2.last().finished == finish_reason::length);
  CHECK(refused.finals() == 0);
}

TEST_CASE("submit refuses bad requests with invalid_argument naming the field", "[inference][scheduler]") {
  collector never;
  engine e({.context = 64});
  auto& s = e.sched();
  auto refuse = [&](generation_request req, const std::string& field, const std::string& text) {
    const auto r = s.submit(std::move(req), never.callback());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.err().code == agora::errc::invalid_argument);
    CHECK_THAT(r.err().message, Contains(text));
    REQUIRE(r.err().fields.size() == 1);
    CHECK(r.err().fields[0].field == field);
  };

  refuse(greedy(prompt_of(80, 20), 4), "prompt", "prompt has 80 tokens; this model's context is 64");
  refuse(greedy(prompt_of(64, 20), 4), "prompt", "prompt has 64 tokens; this model's context is 64");
  refuse(greedy({}, 4), "prompt", "must not be empty");
  refuse(greedy({1, 2, 300}, 4), "prompt", "token 300 is outside the vocabulary");
  refuse(greedy({1, 2, 3}, -1), "max_tokens", "must not be negative");

  auto bad_top_p = greedy({1, 2, 3}, 4);
  bad_top_p.sampling.top_p = 1.5;
  refuse(bad_top_p, "top_p", "top_p: must be in (0, 1], got 1.5");
  auto bad_temperature = greedy({1, 2, 3}, 4);
  bad_temperature.sampling.temperature = 3.0;
  refuse(bad_temperature, "temperature", "temperature");
  auto empty_stop = greedy({1, 2, 3}, 4);
  empty_stop.stop_strings = {"ok", ""};
  refuse(empty_stop, "stop_strings", "empty");

  CHECK(s.waiting() == 0);
  CHECK(never.finals() == 0);
  collector fits;
  REQUIRE(s.submit(greedy(prompt_of(63, 20), 4), fits.callback()).has_value());
  REQUIRE(fits.wait_final());
  CHECK(fits.last().finished == finish_reason::length);
  CHECK(fits.all_tokens().size() == 1);
}

TEST_CASE("after stop() submit answers unavailable and what ran got its final event", "[inference][scheduler]") {
  collector in_flight, late;
  engine e({.scheduling = {.max_running = 2, .token_budget = 64}, .slots = 2});
  auto& s = e.sched();
  REQUIRE(s.submit(greedy(prompt_of(10, 21), 0), in_flight.callback()).has_value());
  REQUIRE(in_flight.wait_events(1));
  s.stop();
  check_one_final_last(in_flight);
  CHECK((in_flight.last().finished == finish_reason::cancelled || in_flight.last().finished == finish_reason::length));
  const auto r = s.submit(greedy(prompt_of(10, 22), 2), late.callback());
  REQUIRE_FALSE(r.has_value());
  CHECK(r.err().code == agora::errc::unavailable);
  s.stop();
  CHECK(late.finals() == 0);
}

TEST_CASE("many threads submitting at once each get exactly one final event", "[inference][scheduler]") {
  constexpr int threads = 8;
  constexpr int per_thread = 8;
  std::deque<collector> collectors(threads * per_thread);
  engine e({.scheduling = {.max_running = 4, .token_budget = 64, .max_waiting = threads * per_thread}});
  auto& s = e.sched();
  std::atomic<int> accepted{0};
  std::vector<std::thread> submitters;
  for (int t = 0; t < threads; ++t) {
    submitters.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        const auto n = t * per_thread + i;
        auto req = greedy(prompt_of(4 + static_cast<std::size_t>(n % 7), static_cast<std::uint32_t>(n)), 3);
        if (s.submit(std::move(req), collectors[static_cast<std::size_t>(n)].callback())) ++accepted;
      }
    });
  }
  for (auto& t : submitters) t.join();
  CHECK(accepted == threads * per_thread);
  for (auto& c : collectors) {
    REQUIRE(c.wait_final());
    check_one_final_last(c);
    CHECK(c.last().finished == finish_reason::length);
    CHECK(c.all_tokens().size() == 3);
  }
  CHECK(s.running() == 0);
  CHECK(s.waiting() == 0);
  CHECK_THAT(e.metrics().expose(), Contains("agora_inference_finished_total{model=\"default\",reason=\"length\"} 64"));
  CHECK_THAT(e.metrics().expose(), Contains("agora_inference_completion_tokens_total{model=\"default\"} 192"));
}

TEST_CASE("destroying the scheduler with work in flight gives every sequence its final event",
          "[inference][scheduler]") {
  std::deque<collector> collectors(6);
  engine e({.scheduling = {.max_running = 2, .token_budget = 64}, .slots = 2});
  for (std::size_t i = 0; i < collectors.size(); ++i)
    REQUIRE(e.sched()
                .submit(greedy(prompt_of(10, 30 + static_cast<std::uint32_t>(i)), 0), collectors[i].callback())
                .has_value());
  REQUIRE(collectors[0].wait_events(1));
  e.destroy_scheduler();
  for (const auto& c : collectors) {
    check_one_final_last(c);
    const auto reason = c.last().finished;
    CHECK((reason == finish_reason::cancelled || reason == finish_reason::length));
  }
}

TEST_CASE("a callback that throws does not stop the engine", "[inference][scheduler]") {
  collector after;
  engine e;
  auto thrower = [](generation_event) { throw std::runtime_error("callback failure"); };
  REQUIRE(e.sched().submit(greedy(prompt_of(8, 40), 3), thrower).has_value());
  REQUIRE(e.sched().submit(greedy(prompt_of(8, 41), 3), after.callback()).has_value());
  REQUIRE(after.wait_final());
  CHECK(after.last().finished == finish_reason::length);
}

TEST_CASE("the scheduler refuses options out of range", "[inference][scheduler]") {
  temp_dir dir;
  write_model(dir.path(), tiny_spec());
  write_byte_tokenizer(dir.path());
  const auto tok = tokenizer::from_files(dir.path() / "tokenizer.json");
  agora::metrics::registry metrics;
  auto make = [&](scheduler_options o) {
    model_options m;
    m.device = device_choice::cpu;
    m.max_sequences = 2;
    m.max_context = 64;
    scheduler s(model::load(dir.path(), m), tok, o, metrics);
  };
  CHECK_THROWS_WITH(make({.max_running = 0}), Contains("max_running"));
  CHECK_THROWS_WITH(make({.max_running = 2, .token_budget = 1}), Contains("token_budget"));
  CHECK_THROWS_WITH(make({.max_waiting = 0}), Contains("max_waiting"));
  CHECK_NOTHROW(make({.max_running = 16, .token_budget = 2}));  // max_running is lowered to the 2 slots
}
