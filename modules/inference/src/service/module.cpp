#include "service/conversations.hpp"
#include "service/http_api.hpp"
#include "service/service.hpp"
#include "service/settings.hpp"

#include <inference/api.hpp>

#include "agora_inference_migrations.hpp"

namespace agora::inference {

namespace {

// The OpenAI-shaped routes: any signed-in principal (a key with scope inference) reads
// and generates; loading, unloading and choosing models is for admins.
http::route doc(http::verb method, std::string pattern, std::string operation_id, std::string summary,
                access who = access::signed_in("inference")) {
  auto r = http::describe(method, std::move(pattern), std::move(operation_id), std::move(summary));
  r.responses = {{200, {{"type", "object"}}}, {400, nullptr}, {404, nullptr}};
  r.errors = http::error_shape::openai;
  r.who = std::move(who);
  return r;
}

access admin_only() { return access::any_role({std::string(roles::admin)}, "admin"); }

// The OpenAI bodies as documentation; the routes parse them themselves, so that a bad
// body is answered in OpenAI's error shape.
http::route openai_post(std::string pattern, std::string operation_id, std::string summary, const char* input) {
  auto r = doc(http::verb::post, std::move(pattern), std::move(operation_id), std::move(summary));
  r.cancel_on_disconnect = true;  // a client that leaves frees its sequence, streamed or not
  nlohmann::json props = {{"model", {{"type", "string"}}},
                          {"max_tokens", {{"type", "integer"}}},
                          {"max_completion_tokens", {{"type", "integer"}}},
                          {"temperature", {{"type", "number"}}},
                          {"top_p", {{"type", "number"}}},
                          {"top_k", {{"type", "integer"}}},
                          {"seed", {{"type", "integer"}}},
                          {"stop", {{"type", {"string", "array"}}}},
                          {"stream", {{"type", "boolean"}}},
                          {"stream_options", {{"type", "object"}}},
                          {"presence_penalty", {{"type", "number"}}},
                          {"frequency_penalty", {{"type", "number"}}},
                          {"repetition_penalty", {{"type", "number"}}},
                          {"conversation_id", {{"type", "string"}}}};
  if (std::string_view(input) == "messages")
    props["messages"] = {{"type", "array"}, {"items", {{"type", "object"}}}};
  else
    props["prompt"] = {{"type", {"string", "array"}}};
  r.request_schema = {{"type", "object"}, {"required", {"model", input}}, {"properties", props}};
  r.parse_body = false;
  r.responses[429] = nullptr;
  r.responses[503] = nullptr;
  return r;
}

}  // namespace

module_definition module() {
  module_decl<service> decl("inference");
  decl.replicas(1)
      .depends_on("catalog")
      .depends_on("customers")  // the daily token allowance (optional: none without it)
      .migrations(db::migrations())
      .setting(settings::models)
      .setting(settings::device)
      .setting(settings::max_running)
      .setting(settings::max_waiting)
      .setting(settings::token_budget)
      .setting(settings::max_context)
      .setting(settings::cache_entries)
      .setting(settings::memory_budget_mb)
      .setting(settings::load_timeout_ms)
      .setting(settings::tokenizer_limit_mb)
      .setting(settings::weight_file_limit_mb)
      .handle<generate>(&service::generate)
      .handle<list_models>(&service::list_models)
      .handle<register_model>(&service::register_model)
      .handle<unload_model>(&service::unload_model)
      .handle<set_default_model>(&service::set_default_model)
      .handle<set_fallback_model>(&service::set_fallback_model)
      .handle<create_conversation>(&service::create_conversation)
      .handle<get_conversation>(&service::get_conversation)
      .handle<list_conversations>(&service::list_conversations)
      .handle<delete_conversation>(&service::delete_conversation)
      .route<create_conversation>(conversations::create_route(), conversations::decode_create,
                                  conversations::encode_created)
      .route<get_conversation>(conversations::get_route(), conversations::decode_ref, conversations::encode)
      .route<list_conversations>(conversations::list_route(), conversations::decode_list, conversations::encode_page)
      .route<delete_conversation>(conversations::delete_route(), conversations::decode_ref,
                                  conversations::encode_deleted)
      .http_route(openai_post("/v1/chat/completions", "createChatCompletion",
                              "OpenAI-compatible chat completion, whole or streamed as server-sent events", "messages"),
                  http_api::chat_completions)
      .http_route(openai_post("/v1/completions", "createCompletion",
                              "OpenAI-compatible text completion, whole or streamed as server-sent events", "prompt"),
                  http_api::completions)
      .http_route(doc(http::verb::get, "/v1/models", "listModels", "Models this server has loaded"), http_api::models)
      .http_route(doc(http::verb::get, "/v1/models/{id}", "retrieveModel", "One loaded model"), http_api::model)
      .http_route(doc(http::verb::post, "/v1/models", "registerModel",
                      "Load a local model folder {path, name?, default?, fallback?} (agora extension; admins only)",
                      admin_only()),
                  http_api::register_model)
      .http_route(doc(http::verb::delete_, "/v1/models/{id}", "unloadModel",
                      "Unload a model; its running requests end (agora extension)", admin_only()),
                  http_api::unload_model)
      .http_route(doc(http::verb::post, "/v1/models/{id}/default", "setDefaultModel",
                      "Make a loaded model the default (agora extension)", admin_only()),
                  http_api::set_default_model)
      .http_route(doc(http::verb::put, "/v1/models/{id}/fallback", "setModelFallback",
                      "Set {fallback: model} or clear {fallback: null} the model that takes this one's requests when "
                      "its queue is full (agora extension)",
                      admin_only()),
                  http_api::set_fallback_model);
  return decl.build();
}

}  // namespace agora::inference
