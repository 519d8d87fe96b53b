#pragma once

#include <inference/api.hpp>

#include "text/chat_template.hpp"
#include "engine/model_config.hpp"
#include "service/response_cache.hpp"
#include "engine/scheduler.hpp"
#include "text/tokenizer.hpp"

#include <agora/module.hpp>
#include <agora/task_group.hpp>

#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace agora::inference {

// One loaded model: its files' tokenizer and chat template, and the scheduler that
// owns the weights and runs them on its engine thread.
struct loaded_model {
  std::string name;  // the folder's name
  std::filesystem::path dir;
  std::int64_t created = 0;
  std::unique_ptr<tokenizer> tok;
  std::optional<chat_template> tmpl;
  std::string bos_token;
  std::string eos_token;
  std::vector<std::int32_t> stop_tokens;
  std::string checksum;
  std::int64_t weight_bytes = 0;
  std::string fallback;  // takes the requests this model's full queue refuses; empty: none
  std::unique_ptr<scheduler> sched;
};

// The inference module: the models named by modules.inference.models loaded at start,
// the first the default; generation with a response cache for deterministic requests;
// token usage recorded per caller and day.
class service {
 public:
  explicit service(module_context& ctx);
  ~service();

  asio::awaitable<void> start();
  asio::awaitable<void> stop();

  asio::awaitable<result<generation_started>> generate(generate_request req, const bus::call_context& c);
  asio::awaitable<result<model_list>> list_models(list_models_request req, const bus::call_context& c);
  asio::awaitable<result<model_info>> register_model(register_model_request req, const bus::call_context& c);
  asio::awaitable<result<model_unloaded>> unload_model(model_ref req, const bus::call_context& c);
  asio::awaitable<result<model_info>> set_default_model(model_ref req, const bus::call_context& c);
  asio::awaitable<result<model_info>> set_fallback_model(set_fallback_request req, const bus::call_context& c);

  asio::awaitable<result<conversation>> create_conversation(create_conversation_request req,
                                                            const bus::call_context& c);
  asio::awaitable<result<conversation>> get_conversation(conversation_ref req, const bus::call_context& c);
  asio::awaitable<result<conversation_page>> list_conversations(list_conversations_request req,
                                                                const bus::call_context& c);
  asio::awaitable<result<conversation_deleted>> delete_conversation(conversation_ref req, const bus::call_context& c);

 private:
  // By name; the default (the first) for an empty name.
  std::shared_ptr<loaded_model> find(std::string_view name);
  model_info info(const loaded_model& m) const;
  result<std::vector<std::int32_t>> render(const loaded_model& m, const generate_request& req) const;
  // Why `fallback` cannot be `model`'s fallback (not loaded, itself, a cycle); nullopt if it can.
  std::optional<error> check_fallback(std::string_view model, std::string_view fallback);
  // The store's products matching the last user message, as a system message's text.
  struct grounding {
    std::string context;            // empty: nothing to add
    std::vector<std::string> ids;   // the products in it
    bool unavailable = false;       // the catalog could not be asked
  };
  asio::awaitable<grounding> ground(const generate_request& req, const bus::call_context& c);
  // One try at starting req on m: render, the response cache, the scheduler's queue.
  asio::awaitable<result<generation_started>> start_on(const std::shared_ptr<loaded_model>& m, const generate_request& req,
                                                       const std::vector<chat_turn>& new_turns);
  // Runs job on the store thread without waiting for it (from any thread); stop()
  // waits for these. `what` names it in the warning logged if it fails.
  template <class F>
  void write_later(F job, std::string_view what);
  // Stops m's engine (its running sequences end, cancelled) and frees its weights on the
  // loader thread, off this strand; with `forget`, then removes its metric series and
  // cached responses (not when another model holds its name).
  void drop_later(std::shared_ptr<loaded_model> m, bool forget);
  void append_to_conversation(std::string id, std::vector<chat_turn> turns);
  // The account whose conversations a call reaches ("anonymous" without one).
  static std::string owner_of(const bus::call_context& c);
  // resource_exhausted (retry after the next UTC midnight) when `subject` has used its
  // daily token allowance (customers.get_quota); ok without the customers module.
  asio::awaitable<result<void>> allowance_left(const std::string& subject, const bus::call_context& c);
  void record_usage(std::string caller, std::string model, std::int64_t prompt_tokens, std::int64_t completion_tokens);

  module_context& ctx_;
  std::vector<std::shared_ptr<loaded_model>> models_;  // the first is the default
  scheduler_options scheduler_options_;
  model_options model_options_;
  std::int64_t memory_budget_ = 0;  // bytes of weight files; 0: no limit
  std::chrono::milliseconds load_timeout_{25000};
  // Names whose load is under way: a second load of one waits for nothing and is
  // refused, so two engines never share a name's metric series. Guarded by the mutex:
  // an abandoned load frees its name from the loader thread.
  std::mutex loading_mutex_;
  std::set<std::string, std::less<>> loading_;
  asio::thread_pool loader_{1};
  std::shared_ptr<response_cache> cache_;
  metrics::counter& cache_hits_;
  metrics::counter& cache_misses_;
  metrics::counter& fallbacks_;
  task_group writes_;  // write_later jobs not yet landed
};

// Loads one model folder, named `name` (empty: the folder's name). Every file is read
// through model_file (regular files only, within model_opts.files' limits); the load
// gives up once `deadline` has passed. Throws model_error, tokenizer_error or
// model_file_error naming the file relative to the folder, never its contents nor an
// absolute path.
std::unique_ptr<loaded_model> load_model(
    const std::filesystem::path& dir, std::string name, const scheduler_options& options,
    const model_options& model_opts, metrics::registry& metrics,
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max());

}  // namespace agora::inference
