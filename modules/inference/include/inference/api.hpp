#pragma once

// The inference module's one door: the messages other modules (and its own HTTP
// routes) send it over the bus. Nothing here depends on libtorch, nor on the runtime
// (no <agora/module.hpp>, Beast or store): only the wiring that calls module() needs
// module_definition whole.

#include <agora/values.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace agora {
struct module_definition;
}

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
  // How long the generation may run, from when the module takes it (a whole answer is
  // also bounded by its HTTP request's deadline); 0: no limit of its own. A duration, not
  // a time point, so it means the same in another process.
  std::int64_t time_limit_ms = 0;
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
  // 1 + the number of stored messages: it grows with every exchange appended (nothing
  // else about a conversation changes). The HTTP ETag is this, quoted.
  std::int64_t version = 1;
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
  std::optional<version_match> expected_version;  // delete: If-Match
};
struct list_conversations_request {
  std::optional<std::int64_t> limit;
  std::string cursor;
  std::string caller = "anonymous";
};
using conversation_page = page<conversation>;
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

// JSON forms (field lists; see agora/json_fields.hpp), so every method can cross a
// networked bus. A generation's pieces are not part of generation_started's JSON: a
// networked bus carries them on a reply subject of their own and attaches the stream.
constexpr auto json_fields(const chat_turn*) {
  return std::tuple{json_field("role", &chat_turn::role), json_field("content", &chat_turn::content)};
}
constexpr auto json_fields(const generate_request*) {
  using r = generate_request;
  return std::tuple{json_field("model", &r::model, json_default),
                    json_field("messages", &r::messages, json_default),
                    json_field("prompt", &r::prompt, json_default),
                    json_field("max_tokens", &r::max_tokens),
                    json_field("temperature", &r::temperature, json_default),
                    json_field("top_p", &r::top_p, json_default),
                    json_field("top_k", &r::top_k, json_default),
                    json_field("repetition_penalty", &r::repetition_penalty, json_default),
                    json_field("presence_penalty", &r::presence_penalty, json_default),
                    json_field("frequency_penalty", &r::frequency_penalty, json_default),
                    json_field("seed", &r::seed),
                    json_field("logit_bias", &r::logit_bias, json_default),
                    json_field("stop", &r::stop, json_default),
                    json_field("caller", &r::caller, json_default),
                    json_field("conversation_id", &r::conversation_id),
                    json_field("grounding", &r::grounding, json_default),
                    json_field("time_limit_ms", &r::time_limit_ms, json_default)};
}
constexpr auto json_fields(const generation_piece*) {
  using r = generation_piece;
  return std::tuple{json_field("text", &r::text, json_default),
                    json_field("completion_tokens", &r::completion_tokens, json_default),
                    json_field("finish", &r::finish), json_field("error", &r::error, json_default)};
}
constexpr auto json_fields(const generation_started*) {
  using r = generation_started;
  return std::tuple{json_field("model", &r::model), json_field("prompt_tokens", &r::prompt_tokens),
                    json_field("cached", &r::cached, json_default),
                    json_field("fallback_from", &r::fallback_from, json_default),
                    json_field("grounded", &r::grounded, json_default),
                    json_field("grounding_unavailable", &r::grounding_unavailable, json_default)};
}
constexpr auto json_fields(const model_info*) {
  using r = model_info;
  return std::tuple{json_field("id", &r::id),
                    json_field("created", &r::created, json_default),
                    json_field("context", &r::context, json_default),
                    json_field("is_default", &r::is_default, json_default),
                    json_field("path", &r::path, json_default),
                    json_field("checksum", &r::checksum, json_default),
                    json_field("weight_bytes", &r::weight_bytes, json_default),
                    json_field("fallback", &r::fallback, json_default)};
}
constexpr auto json_fields(const list_models_request*) { return std::tuple{}; }
constexpr auto json_fields(const model_list*) { return std::tuple{json_field("data", &model_list::data)}; }
constexpr auto json_fields(const register_model_request*) {
  using r = register_model_request;
  return std::tuple{json_field("path", &r::path), json_field("name", &r::name, json_default),
                    json_field("make_default", &r::make_default, json_default),
                    json_field("fallback", &r::fallback, json_default)};
}
constexpr auto json_fields(const model_ref*) { return std::tuple{json_field("id", &model_ref::id)}; }
constexpr auto json_fields(const model_unloaded*) { return std::tuple{json_field("id", &model_unloaded::id)}; }
constexpr auto json_fields(const set_fallback_request*) {
  return std::tuple{json_field("id", &set_fallback_request::id),
                    json_field("fallback", &set_fallback_request::fallback, json_default)};
}
constexpr auto json_fields(const conversation_message*) {
  using r = conversation_message;
  return std::tuple{json_field("role", &r::role), json_field("content", &r::content),
                    json_field("created_at", &r::created_at)};
}
constexpr auto json_fields(const conversation*) {
  using r = conversation;
  return std::tuple{json_field("id", &r::id),
                    json_field("model", &r::model),
                    json_field("title", &r::title, json_default),
                    json_field("created_at", &r::created_at),
                    json_field("updated_at", &r::updated_at),
                    json_field("version", &r::version, json_default),
                    json_field("messages", &r::messages, json_default)};
}
constexpr auto json_fields(const create_conversation_request*) {
  using r = create_conversation_request;
  return std::tuple{json_field("model", &r::model), json_field("title", &r::title, json_default),
                    json_field("caller", &r::caller, json_default)};
}
constexpr auto json_fields(const conversation_ref*) {
  using r = conversation_ref;
  return std::tuple{json_field("id", &r::id), json_field("caller", &r::caller, json_default),
                    json_field("expected_version", &r::expected_version)};
}
constexpr auto json_fields(const list_conversations_request*) {
  using r = list_conversations_request;
  return std::tuple{json_field("limit", &r::limit), json_field("cursor", &r::cursor, json_default),
                    json_field("caller", &r::caller, json_default)};
}
constexpr auto json_fields(const conversation_deleted*) {
  return std::tuple{json_field("id", &conversation_deleted::id)};
}

// The module declaration (modules/registry.cpp lists it).
module_definition module();

}  // namespace agora::inference
