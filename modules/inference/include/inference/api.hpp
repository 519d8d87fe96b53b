#pragma once

// The inference module's one door: the messages other modules (and its own HTTP
// routes) send it over the bus. Nothing here depends on libtorch.

#include <agora/module.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agora::inference {

struct chat_turn {
  std::string role;  // system, user, assistant, tool
  std::string content;
};

// Starts one generation. `messages` (rendered with the model's chat template) or
// `prompt` (raw text, BOS added) — chat when messages is not empty.
struct generate_request {
  std::string model;  // empty: the default model
  std::vector<chat_turn> messages;
  std::string prompt;
  std::optional<std::int64_t> max_tokens;
  double temperature = 1.0;
  double top_p = 1.0;
  std::int64_t top_k = 0;
  double repetition_penalty = 1.0;
  double presence_penalty = 0.0;
  double frequency_penalty = 0.0;
  std::optional<std::uint64_t> seed;
  // OpenAI's logit_bias: (token id, bias in [-100, 100]); -100 bans the token.
  std::vector<std::pair<std::int32_t, float>> logit_bias;
  std::vector<std::string> stop;
  std::string caller = "anonymous";  // whose usage this is
  // Continue a stored conversation: its messages come before `messages`, and this
  // exchange is appended to it when the generation finishes (stop or length).
  std::optional<std::string> conversation_id;
  // > 0 (chat only): search the store's catalog for the last user message and put up to
  // this many matching products into the context, as a system message.
  std::int64_t grounding = 0;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

// One delivery of a running generation; the last has `finish` set: "stop", "length",
// "cancelled", "deadline" or "error" (then `error` says why).
struct generation_piece {
  std::string text;
  std::int64_t completion_tokens = 0;  // so far
  std::optional<std::string> finish;
  std::string error;
};

// The pieces of one generation, in order. In one process this is a shared in-memory
// queue; a networked bus carries it as a reply subject.
class generation_stream {
 public:
  virtual ~generation_stream() = default;
  // The next piece; do not call again after the one with `finish`.
  virtual boost::asio::awaitable<generation_piece> next() = 0;
  // Stops the generation: the sequence leaves the batch at the next step.
  virtual void cancel() = 0;
};

struct generation_started {
  std::string model;          // the model that runs it (the default resolved)
  std::int64_t prompt_tokens = 0;
  bool cached = false;        // answered from the response cache
  // The model asked for, when its queue was full and its fallback (model_info::fallback)
  // took the request instead; empty otherwise.
  std::string fallback_from;
  // With grounding asked for: the ids of the products put into the context (empty: none
  // matched), or grounding_unavailable when the catalog could not be asked.
  std::vector<std::string> grounded;
  bool grounding_unavailable = false;
  std::shared_ptr<generation_stream> stream;
};

struct generate {
  static constexpr std::string_view name = "inference.generate";
  using request = generate_request;
  using reply = generation_started;
};

struct model_info {
  std::string id;
  std::int64_t created = 0;  // unix seconds, when it was loaded
  std::int64_t context = 0;
  bool is_default = false;
  std::string path;  // the folder as registered; never shown over HTTP (no admin role yet)
  std::string checksum;          // "fnv1a64:<hex>" over the folder's model files
  std::int64_t weight_bytes = 0;  // of the *.safetensors files
  // The model that takes this one's requests when its queue is full (a chain is
  // followed, never round a cycle); empty: none. Cleared when that model is unloaded.
  std::string fallback;
};
struct list_models_request {};
struct model_list {
  std::vector<model_info> data;
};
struct list_models {
  static constexpr std::string_view name = "inference.list_models";
  using request = list_models_request;
  using reply = model_list;
};

// Model names (given, or a folder's name): 1 to 64 characters of A-Z a-z 0-9 . _ - :,
// the first a letter or a digit. They appear in URLs, metric labels and logs.
bool valid_model_name(std::string_view name);

// The run-time registry: load a local model folder, unload one, choose the default.
struct register_model_request {
  std::string path;
  std::string name;  // empty: the folder's name
  bool make_default = false;
  std::string fallback;  // a loaded model; empty: none
};
struct model_ref {
  std::string id;
};
struct model_unloaded {
  std::string id;
};
struct register_model {
  static constexpr std::string_view name = "inference.register_model";
  using request = register_model_request;
  using reply = model_info;
};
struct unload_model {
  static constexpr std::string_view name = "inference.unload_model";
  using request = model_ref;
  using reply = model_unloaded;
};
struct set_default_model {
  static constexpr std::string_view name = "inference.set_default_model";
  using request = model_ref;
  using reply = model_info;
};

// Sets or clears (empty `fallback`) a model's fallback. Refused if the fallback is not
// loaded, is the model itself, or would close a cycle.
struct set_fallback_request {
  std::string id;
  std::string fallback;
};

struct set_fallback_model {
  static constexpr std::string_view name = "inference.set_fallback_model";
  using request = set_fallback_request;
  using reply = model_info;
};

// Conversations: stored chat histories a chat request can continue by id.
struct conversation_message {
  std::string role;
  std::string content;
  std::string created_at;
};
struct conversation {
  std::string id;  // conv_…
  std::string model;
  std::string title;
  std::string created_at;
  std::string updated_at;
  std::vector<conversation_message> messages;  // filled by get, empty in lists
};
struct create_conversation_request {
  std::string model;
  std::string title;
  std::string caller = "anonymous";
};
struct conversation_ref {
  std::string id;
  std::string caller = "anonymous";
};
struct list_conversations_request {
  std::optional<std::int64_t> limit;
  std::string cursor;
  std::string caller = "anonymous";
};
struct conversation_page {
  std::vector<conversation> data;
  std::optional<std::string> next_cursor;
};
struct conversation_deleted {
  std::string id;
};

struct create_conversation {
  static constexpr std::string_view name = "inference.create_conversation";
  using request = create_conversation_request;
  using reply = conversation;
};
struct get_conversation {
  static constexpr std::string_view name = "inference.get_conversation";
  using request = conversation_ref;
  using reply = conversation;
};
struct list_conversations {
  static constexpr std::string_view name = "inference.list_conversations";
  using request = list_conversations_request;
  using reply = conversation_page;
};
struct delete_conversation {
  static constexpr std::string_view name = "inference.delete_conversation";
  using request = conversation_ref;
  using reply = conversation_deleted;
};

// The module declaration (modules/registry.cpp lists it).
module_definition module();

}  // namespace agora::inference
