#include "service/http_api.hpp"

#include "service/openai.hpp"

#include <inference/api.hpp>

#include <agora/ids.hpp>
#include <agora/rest.hpp>

#include <boost/beast/http/field.hpp>

#include <algorithm>

namespace agora::inference::http_api {

namespace {

namespace bhttp = boost::beast::http;
using std::chrono::milliseconds;

// How long a streamed generation may run; a whole (non-streamed) one is bounded by the
// server's handler timeout as well.
constexpr auto longest_generation = std::chrono::minutes(10);

http::response openai_response(int status, const nlohmann::json& body) {
  http::response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = openai::dump(body);
  return res;
}

http::response error_response(const openai::api_error& e) {
  auto res = openai_response(e.status, openai::to_json(e));
  if (e.status == 429 || e.status == 503)
    res.set(bhttp::field::retry_after, std::to_string(e.retry_after_s > 0 ? e.retry_after_s : 1));
  return res;
}

openai::api_error from_bus(const error& e, std::string_view model) {
  if (e.code == errc::not_found && e.fields.empty() && !model.empty()) return openai::model_not_found(model);
  return openai::to_api_error(e);
}

generate_request to_generate(const openai::request_options& o) {
  generate_request g;
  g.model = o.model;
  g.max_tokens = o.max_tokens;
  g.temperature = o.sampling.temperature;
  g.top_p = o.sampling.top_p;
  g.top_k = o.sampling.top_k;
  g.repetition_penalty = o.sampling.repetition_penalty;
  g.presence_penalty = o.sampling.presence_penalty;
  g.frequency_penalty = o.sampling.frequency_penalty;
  g.seed = o.sampling.seed;
  g.logit_bias = o.sampling.logit_bias;
  g.stop = o.stop;
  g.time_limit_ms = std::chrono::duration_cast<milliseconds>(longest_generation).count();
  return g;
}

std::string response_id(bool chat) {
  std::string ulid = new_id("x").substr(2);
  return (chat ? "chatcmpl-" : "cmpl-") + ulid;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Cancels the generation unless it was read to its end (the client left, the handler
// timed out, or an exception unwound the handler).
struct cancel_unless_finished {
  std::shared_ptr<generation_stream> stream;
  bool finished = false;
  ~cancel_unless_finished() {
    if (!finished && stream) stream->cancel();
  }
};

std::optional<openai::finish_reason> openai_finish(const std::string& finish) {
  return openai::finish_reason_from_string(finish);
}

openai::api_error failed_generation(const generation_piece& last) {
  if (*last.finish == "deadline" || *last.finish == "cancelled")
    return {504, "the generation did not finish in time", "server_error", "", "timeout"};
  return {500, "the generation failed", "server_error", "", ""};
}

// The server reached its shutdown deadline with the stream still open.
openai::api_error shutting_down() { return {503, "the server is shutting down", "server_error", "", "shutting_down"}; }

asio::awaitable<http::response> whole(std::shared_ptr<generation_stream> stream, openai::response_meta meta, bool chat,
                                      std::int64_t prompt_tokens, bool cached) {
  cancel_unless_finished guard{stream};
  std::string text;
  for (;;) {
    generation_piece piece = co_await stream->next();
    text += piece.text;
    if (!piece.finish) continue;
    guard.finished = true;
    auto finish = openai_finish(*piece.finish);
    if (!finish) co_return error_response(failed_generation(piece));
    openai::usage u{prompt_tokens, piece.completion_tokens};
    auto body = chat ? openai::chat_completion(meta, text, *finish, u) : openai::text_completion(meta, text, *finish, u);
    auto res = openai_response(200, body);
    res.set("X-Cache", cached ? "HIT" : "MISS");
    co_return res;
  }
}

// Writes one SSE event; false when the client is gone.
asio::awaitable<bool> send(http::body_writer& w, const nlohmann::json& chunk) {
  std::string bytes = openai::sse(chunk);
  co_return co_await w.write(bytes);
}

asio::awaitable<void> stream_events(std::shared_ptr<generation_stream> stream, openai::stream_meta meta, bool chat,
                                    std::int64_t prompt_tokens, http::body_writer& w) {
  cancel_unless_finished guard{stream};
  w.on_client_gone([stream] { stream->cancel(); });
  w.on_stopping([stream] { stream->cancel(); });
  if (chat && !co_await send(w, openai::chat_chunk_start(meta))) co_return;
  for (;;) {
    generation_piece piece = co_await stream->next();
    if (!piece.text.empty()) {
      auto chunk = chat ? openai::chat_chunk_content(meta, piece.text) : openai::completion_chunk_text(meta, piece.text);
      if (!co_await send(w, chunk)) co_return;
    }
    if (!piece.finish) continue;
    guard.finished = true;
    if (auto finish = openai_finish(*piece.finish)) {
      auto last = chat ? openai::chat_chunk_finish(meta, *finish) : openai::completion_chunk_finish(meta, *finish);
      if (!co_await send(w, last)) co_return;
      if (meta.include_usage) {
        openai::usage u{prompt_tokens, piece.completion_tokens};
        auto usage = chat ? openai::chat_chunk_usage(meta, u) : openai::completion_chunk_usage(meta, u);
        if (!co_await send(w, usage)) co_return;
      }
    } else {
      // The head (200) is gone already: the error travels as an event.
      openai::api_error error = w.stopping() ? shutting_down() : failed_generation(piece);
      if (!co_await send(w, openai::to_json(error))) co_return;
    }
    std::string done = openai::sse_done();
    co_await w.write(done);
    co_return;
  }
}

asio::awaitable<http::response> run(const route_env& env, http::request_context& ctx, generate_request g,
                                    const openai::request_options& o, bool chat) {
  auto opts = env.options(ctx);
  auto started = co_await env.bus.call<inference::generate>(std::move(g), std::move(opts));
  if (!started) co_return error_response(from_bus(started.err(), o.model));

  openai::stream_meta meta;
  meta.id = response_id(chat);
  meta.created = unix_now();
  meta.model = started->model;
  meta.include_usage = o.include_usage;
  const char* cache = started->cached ? "HIT" : "MISS";
  // Another model answered (the asked one's queue was full): say so plainly; the body's
  // `model` names the one that did.
  const std::string fallback_from = started->fallback_from;
  // Grounding: which products went into the context, or that the catalog was not there.
  std::string grounding;
  if (o.grounding > 0) {
    for (const auto& id : started->grounded) grounding += (grounding.empty() ? "" : ",") + id;
    if (grounding.empty()) grounding = started->grounding_unavailable ? "unavailable" : "none";
  }
  const bool grounding_degraded = started->grounding_unavailable;
  // What the answer rests on: grounding and fallback headers, on whole and streamed answers.
  auto mark_sources = [&fallback_from, &grounding, grounding_degraded](http::response& res) {
    if (!grounding.empty()) res.set("X-Grounding", grounding);
    if (grounding_degraded) http::add_degraded(res, "grounding-unavailable");
    if (!fallback_from.empty()) {
      res.set("X-Fallback-From", fallback_from);
      http::add_degraded(res, "fallback-model");
    }
  };
  if (!o.stream) {
    // A client that leaves stops the generation at once, whatever the handler awaits.
    std::shared_ptr<generation_stream> watched = started->stream;
    ctx.on_client_gone([watched] { watched->cancel(); });
    openai::response_meta plain = meta;
    http::response res =
        co_await whole(std::move(started->stream), plain, chat, started->prompt_tokens, started->cached);
    mark_sources(res);
    co_return res;
  }
  ctx.stream = [stream = std::move(started->stream), meta, chat,
                prompt_tokens = started->prompt_tokens](http::body_writer& w) -> asio::awaitable<void> {
    co_await stream_events(stream, meta, chat, prompt_tokens, w);
  };
  http::response res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, "text/event-stream");
  res.set("X-Cache", cache);
  mark_sources(res);
  co_return res;
}

}  // namespace

asio::awaitable<http::response> chat_completions(const route_env& env, http::request_context& ctx) {
  auto body = openai::parse_body(ctx.req.body());
  if (!body) co_return error_response(body.err());
  auto req = openai::parse_chat_request(*body);
  if (!req) co_return error_response(req.err());
  generate_request g = to_generate(*req);
  auto messages = openai::to_template_messages(req->messages);
  for (const auto& m : messages) g.messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  g.conversation_id = req->conversation_id;
  g.grounding = req->grounding;
  co_return co_await run(env, ctx, std::move(g), *req, true);
}

asio::awaitable<http::response> completions(const route_env& env, http::request_context& ctx) {
  auto body = openai::parse_body(ctx.req.body());
  if (!body) co_return error_response(body.err());
  auto req = openai::parse_completion_request(*body);
  if (!req) co_return error_response(req.err());
  generate_request g = to_generate(*req);
  g.prompt = req->prompt;
  co_return co_await run(env, ctx, std::move(g), *req, false);
}

namespace {
asio::awaitable<result<model_list>> fetch_models(const route_env& env, http::request_context& ctx) {
  list_models_request req;
  co_return co_await env.call<inference::list_models>(std::move(req), ctx);
}
}  // namespace

namespace {
// The "fallback" of a model body: a loaded model's id, or null / absent for none ("").
openai::parsed<std::string> fallback_field(const nlohmann::json& j) {
  if (!j.contains("fallback") || j["fallback"].is_null()) return std::string();
  if (!j["fallback"].is_string() || j["fallback"].get<std::string>().empty())
    return openai::invalid_request("fallback", "expected a loaded model's id or null", "invalid_value");
  return j["fallback"].get<std::string>();
}

// OpenAI's model object plus agora's fields (OpenAI clients ignore unknown keys); never
// the folder's path.
nlohmann::json model_json(const model_info& m) {
  openai::model_card card{m.id, m.created};
  auto j = openai::to_json(card);
  j["context"] = m.context;
  j["default"] = m.is_default;
  j["checksum"] = m.checksum;
  j["weight_bytes"] = m.weight_bytes;
  j["fallback"] = m.fallback.empty() ? nlohmann::json(nullptr) : nlohmann::json(m.fallback);
  return j;
}
}  // namespace

asio::awaitable<http::response> models(const route_env& env, http::request_context& ctx) {
  auto list = co_await fetch_models(env, ctx);
  if (!list) co_return error_response(openai::to_api_error(list.err()));
  nlohmann::json data = nlohmann::json::array();
  for (const auto& m : list->data) data.push_back(model_json(m));
  co_return openai_response(200, {{"object", "list"}, {"data", data}});
}

asio::awaitable<http::response> register_model(const route_env& env, http::request_context& ctx) {
  auto body = openai::parse_body(ctx.req.body());
  if (!body) co_return error_response(body.err());
  register_model_request req;
  const auto& j = *body;
  if (!j.contains("path") || !j["path"].is_string() || j["path"].get<std::string>().empty())
    co_return error_response(openai::invalid_request("path", "required: a model folder on this machine", "invalid_value"));
  req.path = j["path"].get<std::string>();
  const auto control = [](std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
  };
  if (control(req.path))
    co_return error_response(openai::invalid_request("path", "must not hold control characters", "invalid_value"));
  if (j.contains("name") && !j["name"].is_null()) {
    if (!j["name"].is_string() || !valid_model_name(j["name"].get<std::string>()))
      co_return error_response(openai::invalid_request(
          "name", "expected 1 to 64 of A-Z a-z 0-9 . _ - :, starting with a letter or digit", "invalid_value"));
    req.name = j["name"].get<std::string>();
  }
  if (j.contains("default") && !j["default"].is_null()) {
    if (!j["default"].is_boolean())
      co_return error_response(openai::invalid_request("default", "expected a boolean", "invalid_type"));
    req.make_default = j["default"].get<bool>();
  }
  auto fallback = fallback_field(j);
  if (!fallback) co_return error_response(fallback.err());
  req.fallback = std::move(fallback).value();
  // Loading reads every weight: allow it far longer than an ordinary bus call. The
  // service answers by modules.inference.load_timeout_ms, abandoning a slower load.
  auto opts = env.options(ctx);
  opts.timeout = std::max(env.timeout, milliseconds(600'000));
  auto loaded = co_await env.bus.call<inference::register_model>(std::move(req), std::move(opts));
  if (!loaded) co_return error_response(openai::to_api_error(loaded.err()));
  co_return openai_response(201, model_json(*loaded));
}

asio::awaitable<http::response> unload_model(const route_env& env, http::request_context& ctx) {
  std::string id(ctx.param("id").value_or(""));
  model_ref ref{id};
  auto r = co_await env.call<inference::unload_model>(std::move(ref), ctx);
  if (!r) co_return error_response(from_bus(r.err(), id));
  co_return openai_response(200, {{"id", id}, {"object", "model"}, {"deleted", true}});
}

asio::awaitable<http::response> set_default_model(const route_env& env, http::request_context& ctx) {
  std::string id(ctx.param("id").value_or(""));
  model_ref ref{id};
  auto r = co_await env.call<inference::set_default_model>(std::move(ref), ctx);
  if (!r) co_return error_response(from_bus(r.err(), id));
  co_return openai_response(200, model_json(*r));
}

asio::awaitable<http::response> set_fallback_model(const route_env& env, http::request_context& ctx) {
  auto body = openai::parse_body(ctx.req.body());
  if (!body) co_return error_response(body.err());
  const auto& j = *body;
  set_fallback_request req;
  req.id = std::string(ctx.param("id").value_or(""));
  if (!j.contains("fallback"))
    co_return error_response(openai::invalid_request("fallback", "required: a loaded model's id, or null to clear", "missing"));
  auto fallback = fallback_field(j);
  if (!fallback) co_return error_response(fallback.err());
  req.fallback = std::move(fallback).value();
  const std::string id = req.id;
  auto r = co_await env.call<inference::set_fallback_model>(std::move(req), ctx);
  if (!r) co_return error_response(from_bus(r.err(), id));
  co_return openai_response(200, model_json(*r));
}

asio::awaitable<http::response> model(const route_env& env, http::request_context& ctx) {
  std::string id(ctx.param("id").value_or(""));
  auto list = co_await fetch_models(env, ctx);
  if (!list) co_return error_response(openai::to_api_error(list.err()));
  for (const auto& m : list->data) {
    if (m.id == id) {
      openai::model_card card{m.id, m.created};
      co_return openai_response(200, openai::to_json(card));
    }
  }
  co_return error_response(openai::model_not_found(id));
}

}  // namespace agora::inference::http_api
