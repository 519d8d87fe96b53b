#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <agora/result.hpp>

#include "engine/sampler.hpp"

// The OpenAI-compatible wire format of the inference module: parsing and validating
// POST /v1/chat/completions and /v1/completions bodies, building the response objects,
// the streaming chunks and their server-sent-event framing, the model list, and
// OpenAI-shaped errors. Pure JSON work: no engine, no scheduler, no I/O.
namespace agora::inference::openai {

// An error as OpenAI clients expect it: an HTTP status and
// {"error": {"message", "type", "param", "code"}}.
struct api_error {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the offending field ("messages[0].content"); empty: null
  std::string code;   // machine-readable detail ("invalid_type"); empty: null
  std::int64_t retry_after_s = 0;  // Retry-After on 429 and 503 (1 when 0)
};

// {"error": {"message", "type", "param", "code"}}, param and code null when empty.
nlohmann::json to_json(const api_error& e);

// A 400 invalid_request_error whose message reads "<param>: <what>" (just <what>
// when param is empty).
api_error invalid_request(std::string param, std::string_view what, std::string code = {});

// 404 for a model this server does not serve; param "model", code "model_not_found".
api_error model_not_found(std::string_view model);

// Maps a typed agora error onto OpenAI's shape:
//   invalid_argument, bad_request        -> 400 invalid_request_error
//   unauthenticated                      -> 401 authentication_error
//   permission_denied                    -> 403 permission_error
//   not_found                            -> 404 not_found_error
//   conflict, failed_precondition        -> 409 / 412 invalid_request_error
//   resource_exhausted                   -> 429 rate_limit_exceeded
//   cancelled                            -> 499 invalid_request_error
//   internal                             -> 500 server_error
//   unavailable                          -> 503 server_error, code "overloaded"
//   deadline_exceeded                    -> 504 server_error, code "timeout"
// With field errors, param is the first field and the message lists every field as
// "field: message", joined by "; ".
api_error to_api_error(const agora::error& e);

// A parse outcome: the value, or the api_error to answer with.
template <class T>
using parsed = agora::result<T, api_error>;

// The bytes of a request body as JSON; a 400 when they are not JSON or not an object.
parsed<nlohmann::json> parse_body(std::string_view body);

enum class message_role { system, user, assistant, tool, developer };
std::string_view to_string(message_role r) noexcept;
std::optional<message_role> message_role_from_string(std::string_view name) noexcept;

struct chat_message {
  message_role role = message_role::user;
  // A string, or the text parts of an array of content parts joined with "\n".
  std::string content;
  std::optional<std::string> name;
};

// The fields both endpoints share. Unknown fields in a body are ignored; a null
// value counts as absent.
struct request_options {
  std::string model;  // required, non-empty
  // max_completion_tokens when given, else max_tokens; unset: as many as the
  // context leaves. Positive.
  std::optional<std::int64_t> max_tokens;
  // temperature [0, 2], top_p (0, 1], top_k >= -1 (extension; 0 and -1 keep all),
  // repetition_penalty (0, 2] (extension), presence_penalty and frequency_penalty
  // [-2, 2], seed any integer (a negative seed keeps its two's-complement bits),
  // logit_bias {"token id": bias in [-100, 100]} (-100 bans the token; at most 1024).
  sampling_params sampling;
  std::vector<std::string> stop;  // a string or up to 4 strings; none empty
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage; only with stream
  std::optional<std::string> user;
  std::optional<std::string> conversation_id;  // extension: continue a stored conversation
  // Extension (chat): put up to this many of the store's products that match the last
  // user message into the context. "grounding": true is 5, {"products": n} is n in
  // [1, 20], false or absent is none.
  std::int64_t grounding = 0;
};

struct chat_request : request_options {
  std::vector<chat_message> messages;  // required, non-empty
};

struct completion_request : request_options {
  std::string prompt;  // a string, or an array holding one string
};

// Parse and validate a body. Every failure is a 400 naming the field in param and in
// the message ("top_p: must be a number in (0, 1], got 1.5"); codes are
// missing_required_parameter, invalid_type, invalid_value and unsupported_value
// (n other than 1, logprobs, non-text content parts, token-id or several prompts).
parsed<chat_request> parse_chat_request(const nlohmann::json& body);
parsed<completion_request> parse_completion_request(const nlohmann::json& body);

// Messages as a chat template reads them: [{role, content[, name]}]. "developer" is
// passed as "system", which is what templates know.
nlohmann::ordered_json to_template_messages(std::span<const chat_message> messages);

enum class finish_reason { stop, length };
std::string_view to_string(finish_reason r) noexcept;
std::optional<finish_reason> finish_reason_from_string(std::string_view name) noexcept;

struct usage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
};
// {prompt_tokens, completion_tokens, total_tokens}
nlohmann::json to_json(const usage& u);

// What every response object repeats. The caller makes the id ("chatcmpl-…" for
// chat, "cmpl-…" for completions) and reads the clock (unix seconds).
struct response_meta {
  std::string id;
  std::int64_t created = 0;
  std::string model;
};

// {id, object "chat.completion", created, model,
//  choices [{index 0, message {role "assistant", content}, logprobs null, finish_reason}],
//  usage}
nlohmann::json chat_completion(const response_meta& meta, std::string_view content, finish_reason finish,
                               const usage& u);
// {id, object "text_completion", created, model,
//  choices [{text, index 0, logprobs null, finish_reason}], usage}
nlohmann::json text_completion(const response_meta& meta, std::string_view text, finish_reason finish,
                               const usage& u);

// Streaming. A chat stream is: chat_chunk_start, any number of chat_chunk_content,
// chat_chunk_finish, then chat_chunk_usage when include_usage, each framed by sse(),
// then sse_done(). With include_usage every chunk but the last carries "usage": null,
// as OpenAI's do. A completion stream is the same without the start chunk.
struct stream_meta : response_meta {
  bool include_usage = false;
};

// object "chat.completion.chunk"; choices [{index 0, delta, logprobs null, finish_reason}].
nlohmann::json chat_chunk_start(const stream_meta& meta);  // delta {role "assistant", content ""}
nlohmann::json chat_chunk_content(const stream_meta& meta, std::string_view text);  // delta {content}
nlohmann::json chat_chunk_finish(const stream_meta& meta, finish_reason finish);     // delta {}
nlohmann::json chat_chunk_usage(const stream_meta& meta, const usage& u);            // choices [], usage

// object "text_completion"; choices [{text, index 0, logprobs null, finish_reason}].
nlohmann::json completion_chunk_text(const stream_meta& meta, std::string_view text);
nlohmann::json completion_chunk_finish(const stream_meta& meta, finish_reason finish);  // text ""
nlohmann::json completion_chunk_usage(const stream_meta& meta, const usage& u);       // choices [], usage

// Compact JSON; invalid UTF-8 in strings becomes U+FFFD instead of throwing.
std::string dump(const nlohmann::json& j);
// "data: <compact json>\n\n"
std::string sse(const nlohmann::json& j);
// "data: [DONE]\n\n"
std::string sse_done();

struct model_card {
  std::string id;
  std::int64_t created = 0;  // unix seconds
};
// {id, object "model", created, owned_by "agora"}: GET /v1/models/{id}
nlohmann::json to_json(const model_card& m);
// {object "list", data [model...]}: GET /v1/models
nlohmann::json model_list(std::span<const model_card> models);

}  // namespace agora::inference::openai
