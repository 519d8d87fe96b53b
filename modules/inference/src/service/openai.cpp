#include "service/openai.hpp"

#include <array>
#include <charconv>
#include <limits>

#include <fmt/format.h>

namespace agora::inference::openai {

using json = nlohmann::json;

namespace {

constexpr std::size_t max_stop_sequences = 4;
constexpr std::size_t max_logit_bias_entries = 1024;

// Thrown by the field readers below and caught at the parse entry points, so that a
// failure deep in a message part unwinds in one step. Never leaves this file.
struct bad_field {
  api_error error;
};

[[noreturn]] void fail(std::string param, std::string_view what, const char* code) {
  throw bad_field{invalid_request(std::move(param), what, code)};
}

[[noreturn]] void wrong_type(std::string param, std::string_view expected, const json& got) {
  fail(std::move(param), fmt::format("must be {}, got {}", expected, got.type_name()), "invalid_type");
}

// The value of key, or nullptr when it is absent or null.
const json* member(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<double> number_field(const json& body, const char* key) {
  const json* v = member(body, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) wrong_type(key, "a number", *v);
  return v->get<double>();
}

// Signed 64-bit integers only; 2.0 is not an integer here, as it is not in OpenAI's schema.
std::optional<std::int64_t> integer_field(const json& body, const char* key) {
  const json* v = member(body, key);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) wrong_type(key, "an integer", *v);
  if (v->is_number_unsigned() &&
      v->get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    fail(key, fmt::format("must be at most {}, got {}", std::numeric_limits<std::int64_t>::max(), v->dump()),
         "invalid_value");
  return v->get<std::int64_t>();
}

std::optional<bool> bool_field(const json& body, const char* key) {
  const json* v = member(body, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) wrong_type(key, "a boolean", *v);
  return v->get<bool>();
}

std::optional<std::string> string_field(const json& body, const char* key) {
  const json* v = member(body, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) wrong_type(key, "a string", *v);
  return v->get<std::string>();
}

double number_between(const json& body, const char* key, double def, double lo, bool lo_open, double hi) {
  auto v = number_field(body, key);
  if (!v) return def;
  bool ok = (lo_open ? *v > lo : *v >= lo) && *v <= hi;
  if (!ok) {
    auto range = lo_open ? fmt::format("in ({}, {}]", lo, hi) : fmt::format("between {} and {}", lo, hi);
    fail(key, fmt::format("must be a number {}, got {}", range, *v), "invalid_value");
  }
  return *v;
}

std::string required_model(const json& body) {
  const json* v = member(body, "model");
  if (!v) fail("model", "is required", "missing_required_parameter");
  if (!v->is_string()) wrong_type("model", "a string", *v);
  auto model = v->get<std::string>();
  if (model.empty()) fail("model", "must not be empty", "invalid_value");
  return model;
}

std::vector<std::string> stop_field(const json& body) {
  const json* v = member(body, "stop");
  if (!v) return {};
  if (v->is_string()) {
    auto s = v->get<std::string>();
    if (s.empty()) fail("stop", "must not be empty", "invalid_value");
    return {std::move(s)};
  }
  if (!v->is_array()) wrong_type("stop", "a string or an array of strings", *v);
  if (v->size() > max_stop_sequences)
    fail("stop", fmt::format("at most {} sequences are allowed, got {}", max_stop_sequences, v->size()),
         "invalid_value");
  std::vector<std::string> stops;
  for (std::size_t i = 0; i < v->size(); ++i) {
    const json& s = (*v)[i];
    auto param = fmt::format("stop[{}]", i);
    if (!s.is_string()) wrong_type(param, "a string", s);
    if (s.get_ref<const std::string&>().empty()) fail(param, "must not be empty", "invalid_value");
    stops.push_back(s.get<std::string>());
  }
  return stops;
}

request_options common_fields(const json& body) {
  request_options o;
  o.model = required_model(body);

  auto positive = [&](const char* key) {
    auto v = integer_field(body, key);
    if (v && *v < 1) fail(key, fmt::format("must be a positive integer, got {}", *v), "invalid_value");
    return v;
  };
  auto max_tokens = positive("max_tokens");
  auto max_completion_tokens = positive("max_completion_tokens");
  o.max_tokens = max_completion_tokens ? max_completion_tokens : max_tokens;

  auto& s = o.sampling;
  s.temperature = number_between(body, "temperature", 1.0, 0.0, false, 2.0);
  s.top_p = number_between(body, "top_p", 1.0, 0.0, true, 1.0);
  if (auto k = integer_field(body, "top_k")) {
    if (*k < -1) fail("top_k", fmt::format("must be an integer >= -1, got {}", *k), "invalid_value");
    s.top_k = *k;
  }
  s.repetition_penalty = number_between(body, "repetition_penalty", 1.0, 0.0, true, 2.0);
  s.presence_penalty = number_between(body, "presence_penalty", 0.0, -2.0, false, 2.0);
  s.frequency_penalty = number_between(body, "frequency_penalty", 0.0, -2.0, false, 2.0);
  if (const json* seed = member(body, "seed")) {
    if (!seed->is_number_integer()) wrong_type("seed", "an integer", *seed);
    s.seed = seed->is_number_unsigned() ? seed->get<std::uint64_t>()
                                        : static_cast<std::uint64_t>(seed->get<std::int64_t>());
  }

  if (const json* bias = member(body, "logit_bias")) {
    if (!bias->is_object()) wrong_type("logit_bias", "an object of token ids to numbers", *bias);
    if (bias->size() > max_logit_bias_entries)
      fail("logit_bias", fmt::format("at most {} tokens may be biased, got {}", max_logit_bias_entries, bias->size()),
           "invalid_value");
    for (const auto& [key, value] : bias->items()) {
      auto param = fmt::format("logit_bias.{}", key);
      std::int32_t token = -1;
      auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), token);
      if (ec != std::errc{} || end != key.data() + key.size() || token < 0)
        fail(param, "keys must be token ids (non-negative integers)", "invalid_value");
      if (!value.is_number()) wrong_type(param, "a number", value);
      const double b = value.get<double>();
      if (!(b >= -100.0 && b <= 100.0))
        fail(param, fmt::format("must be between -100 and 100, got {}", b), "invalid_value");
      s.logit_bias.emplace_back(token, static_cast<float>(b));
    }
  }

  o.stop = stop_field(body);
  o.stream = bool_field(body, "stream").value_or(false);
  if (const json* so = member(body, "stream_options")) {
    if (!so->is_object()) wrong_type("stream_options", "an object", *so);
    if (!o.stream) fail("stream_options", "is only allowed when stream is true", "invalid_value");
    if (const json* iu = member(*so, "include_usage")) {
      if (!iu->is_boolean()) wrong_type("stream_options.include_usage", "a boolean", *iu);
      o.include_usage = iu->get<bool>();
    }
  }

  if (auto n = integer_field(body, "n"); n && *n != 1) fail("n", "only 1 is supported", "unsupported_value");
  o.user = string_field(body, "user");
  if (const json* g = member(body, "grounding")) {
    if (g->is_boolean()) {
      o.grounding = g->get<bool>() ? 5 : 0;
    } else if (g->is_object()) {
      const json* n = member(*g, "products");
      if (!n) fail("grounding.products", "is required in a grounding object", "missing_required_parameter");
      if (!n->is_number_integer()) wrong_type("grounding.products", "an integer", *n);
      const auto count = n->get<std::int64_t>();
      if (count < 1 || count > 20)
        fail("grounding.products", fmt::format("must be between 1 and 20, got {}", count), "invalid_value");
      o.grounding = count;
    } else {
      wrong_type("grounding", "a boolean or an object {\"products\": n}", *g);
    }
  }
  o.conversation_id = string_field(body, "conversation_id");
  if (o.conversation_id && o.conversation_id->empty())
    fail("conversation_id", "must not be empty", "invalid_value");
  return o;
}

std::string message_content(const json& content, const std::string& param) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) wrong_type(param, "a string or an array of content parts", content);
  std::string text;
  for (std::size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    auto part_param = fmt::format("{}[{}]", param, i);
    if (!part.is_object()) wrong_type(part_param, "an object", part);
    const json* type = member(part, "type");
    if (!type) fail(part_param + ".type", "is required", "missing_required_parameter");
    if (!type->is_string()) wrong_type(part_param + ".type", "a string", *type);
    const auto& kind = type->get_ref<const std::string&>();
    if (kind != "text")
      fail(part_param + ".type", fmt::format("only text parts are supported, got \"{}\"", kind), "unsupported_value");
    const json* t = member(part, "text");
    if (!t) fail(part_param + ".text", "is required", "missing_required_parameter");
    if (!t->is_string()) wrong_type(part_param + ".text", "a string", *t);
    if (i > 0) text += '\n';
    text += t->get_ref<const std::string&>();
  }
  return text;
}

chat_message parse_message(const json& m, std::size_t index) {
  auto param = fmt::format("messages[{}]", index);
  if (!m.is_object()) wrong_type(param, "an object", m);
  chat_message out;

  const json* role = member(m, "role");
  if (!role) fail(param + ".role", "is required", "missing_required_parameter");
  if (!role->is_string()) wrong_type(param + ".role", "a string", *role);
  auto r = message_role_from_string(role->get_ref<const std::string&>());
  if (!r)
    fail(param + ".role",
         fmt::format("must be one of system, user, assistant, tool, developer, got \"{}\"",
                     role->get_ref<const std::string&>()),
         "invalid_value");
  out.role = *r;

  // An assistant turn that only carried tool calls has null content.
  const json* content = member(m, "content");
  if (content)
    out.content = message_content(*content, param + ".content");
  else if (out.role != message_role::assistant)
    fail(param + ".content", "is required", "missing_required_parameter");

  if (const json* name = member(m, "name")) {
    if (!name->is_string()) wrong_type(param + ".name", "a string", *name);
    out.name = name->get<std::string>();
  }
  return out;
}

void refuse_logprobs(const json& body) {
  const json* lp = member(body, "logprobs");
  if (!lp) return;
  if (lp->is_boolean() && !lp->get<bool>()) return;
  if (!lp->is_boolean() && !lp->is_number_integer()) wrong_type("logprobs", "a boolean", *lp);
  fail("logprobs", "is not supported", "unsupported_value");
}

template <class F>
auto guarded(const json& body, F&& parse) -> parsed<decltype(parse())> {
  if (!body.is_object()) return invalid_request("", "the request body must be a JSON object", "invalid_type");
  try {
    return parse();
  } catch (bad_field& f) {
    return std::move(f.error);
  }
}

json chunk_base(const stream_meta& meta, const char* object) {
  json j = {{"id", meta.id}, {"object", object}, {"created", meta.created}, {"model", meta.model}};
  if (meta.include_usage) j["usage"] = nullptr;
  return j;
}

json chat_chunk(const stream_meta& meta, json delta, std::optional<finish_reason> finish) {
  json j = chunk_base(meta, "chat.completion.chunk");
  json choice = {{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
  if (finish) choice["finish_reason"] = to_string(*finish);
  j["choices"] = json::array({std::move(choice)});
  return j;
}

json completion_chunk(const stream_meta& meta, std::string_view text, std::optional<finish_reason> finish) {
  json j = chunk_base(meta, "text_completion");
  json choice = {{"text", text}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
  if (finish) choice["finish_reason"] = to_string(*finish);
  j["choices"] = json::array({std::move(choice)});
  return j;
}

json usage_chunk(const stream_meta& meta, const char* object, const usage& u) {
  json j = chunk_base(meta, object);
  j["choices"] = json::array();
  j["usage"] = to_json(u);
  return j;
}

}  // namespace

json to_json(const api_error& e) {
  auto or_null = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
  return {{"error",
           {{"message", e.message}, {"type", e.type}, {"param", or_null(e.param)}, {"code", or_null(e.code)}}}};
}

api_error invalid_request(std::string param, std::string_view what, std::string code) {
  api_error e;
  e.status = 400;
  e.type = "invalid_request_error";
  e.message = param.empty() ? std::string(what) : fmt::format("{}: {}", param, what);
  e.param = std::move(param);
  e.code = std::move(code);
  return e;
}

api_error model_not_found(std::string_view model) {
  return {404, fmt::format("model: \"{}\" does not exist", model), "not_found_error", "model", "model_not_found"};
}

api_error to_api_error(const agora::error& e) {
  api_error out;
  out.message = e.message;
  if (!e.fields.empty()) {
    out.param = e.fields.front().field;
    out.message.clear();
    for (const auto& f : e.fields) {
      if (!out.message.empty()) out.message += "; ";
      out.message += f.field.empty() ? f.message : fmt::format("{}: {}", f.field, f.message);
    }
  }
  switch (e.code) {
    case errc::invalid_argument:
    case errc::bad_request: out.status = 400; out.type = "invalid_request_error"; break;
    case errc::unauthenticated: out.status = 401; out.type = "authentication_error"; break;
    case errc::permission_denied: out.status = 403; out.type = "permission_error"; break;
    case errc::not_found: out.status = 404; out.type = "not_found_error"; break;
    case errc::conflict: out.status = 409; out.type = "invalid_request_error"; out.code = "conflict"; break;
    case errc::failed_precondition:
      out.status = 412; out.type = "invalid_request_error"; out.code = "failed_precondition"; break;
    case errc::resource_exhausted:
      out.status = 429; out.type = "rate_limit_exceeded"; out.code = "rate_limit_exceeded";
      out.retry_after_s = e.retry_after_s;
      break;
    case errc::cancelled: out.status = 499; out.type = "invalid_request_error"; out.code = "cancelled"; break;
    case errc::internal: out.status = 500; out.type = "server_error"; break;
    case errc::unavailable: out.status = 503; out.type = "server_error"; out.code = "overloaded"; break;
    case errc::deadline_exceeded: out.status = 504; out.type = "server_error"; out.code = "timeout"; break;
  }
  if (out.message.empty()) out.message = "request failed";
  return out;
}

parsed<json> parse_body(std::string_view body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return invalid_request("", "the request body is not valid JSON", "invalid_json");
  if (!j.is_object()) return invalid_request("", "the request body must be a JSON object", "invalid_type");
  return j;
}

std::string_view to_string(message_role r) noexcept {
  switch (r) {
    case message_role::system: return "system";
    case message_role::user: return "user";
    case message_role::assistant: return "assistant";
    case message_role::tool: return "tool";
    case message_role::developer: return "developer";
  }
  return "user";
}

std::optional<message_role> message_role_from_string(std::string_view name) noexcept {
  for (auto r : {message_role::system, message_role::user, message_role::assistant, message_role::tool,
                 message_role::developer})
    if (to_string(r) == name) return r;
  return std::nullopt;
}

parsed<chat_request> parse_chat_request(const json& body) {
  return guarded(body, [&] {
    chat_request req;
    static_cast<request_options&>(req) = common_fields(body);
    refuse_logprobs(body);
    if (auto top = integer_field(body, "top_logprobs"); top && *top != 0)
      fail("top_logprobs", "is not supported", "unsupported_value");

    const json* messages = member(body, "messages");
    if (!messages) fail("messages", "is required", "missing_required_parameter");
    if (!messages->is_array()) wrong_type("messages", "an array", *messages);
    if (messages->empty()) fail("messages", "must not be empty", "invalid_value");
    req.messages.reserve(messages->size());
    for (std::size_t i = 0; i < messages->size(); ++i) req.messages.push_back(parse_message((*messages)[i], i));
    return req;
  });
}

parsed<completion_request> parse_completion_request(const json& body) {
  return guarded(body, [&] {
    completion_request req;
    static_cast<request_options&>(req) = common_fields(body);
    refuse_logprobs(body);
    if (auto echo = bool_field(body, "echo"); echo && *echo) fail("echo", "is not supported", "unsupported_value");
    if (auto best_of = integer_field(body, "best_of"); best_of && *best_of != 1)
      fail("best_of", "only 1 is supported", "unsupported_value");

    const json* prompt = member(body, "prompt");
    if (!prompt) fail("prompt", "is required", "missing_required_parameter");
    if (prompt->is_string()) {
      req.prompt = prompt->get<std::string>();
    } else if (prompt->is_array()) {
      if (prompt->empty()) fail("prompt", "must not be empty", "invalid_value");
      const json& first = prompt->front();
      if (first.is_number_integer() || first.is_array())
        fail("prompt", "token id prompts are not supported; send text", "unsupported_value");
      if (!first.is_string()) wrong_type("prompt[0]", "a string", first);
      if (prompt->size() > 1)
        fail("prompt", fmt::format("only one prompt per request is supported, got {}", prompt->size()),
             "unsupported_value");
      req.prompt = first.get<std::string>();
    } else {
      wrong_type("prompt", "a string or an array of one string", *prompt);
    }
    return req;
  });
}

nlohmann::ordered_json to_template_messages(std::span<const chat_message> messages) {
  auto out = nlohmann::ordered_json::array();
  for (const auto& m : messages) {
    auto role = m.role == message_role::developer ? message_role::system : m.role;
    nlohmann::ordered_json j = {{"role", to_string(role)}, {"content", m.content}};
    if (m.name) j["name"] = *m.name;
    out.push_back(std::move(j));
  }
  return out;
}

std::string_view to_string(finish_reason r) noexcept {
  switch (r) {
    case finish_reason::stop: return "stop";
    case finish_reason::length: return "length";
  }
  return "stop";
}

std::optional<finish_reason> finish_reason_from_string(std::string_view name) noexcept {
  if (name == "stop") return finish_reason::stop;
  if (name == "length") return finish_reason::length;
  return std::nullopt;
}

json to_json(const usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

json chat_completion(const response_meta& meta, std::string_view content, finish_reason finish, const usage& u) {
  json message = {{"role", "assistant"}, {"content", content}};
  json choice = {{"index", 0}, {"message", std::move(message)}, {"logprobs", nullptr},
                 {"finish_reason", to_string(finish)}};
  return {{"id", meta.id},
          {"object", "chat.completion"},
          {"created", meta.created},
          {"model", meta.model},
          {"choices", json::array({std::move(choice)})},
          {"usage", to_json(u)}};
}

json text_completion(const response_meta& meta, std::string_view text, finish_reason finish, const usage& u) {
  json choice = {{"text", text}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", to_string(finish)}};
  return {{"id", meta.id},
          {"object", "text_completion"},
          {"created", meta.created},
          {"model", meta.model},
          {"choices", json::array({std::move(choice)})},
          {"usage", to_json(u)}};
}

json chat_chunk_start(const stream_meta& meta) {
  return chat_chunk(meta, {{"role", "assistant"}, {"content", ""}}, std::nullopt);
}

json chat_chunk_content(const stream_meta& meta, std::string_view text) {
  return chat_chunk(meta, {{"content", text}}, std::nullopt);
}

json chat_chunk_finish(const stream_meta& meta, finish_reason finish) {
  return chat_chunk(meta, json::object(), finish);
}

json chat_chunk_usage(const stream_meta& meta, const usage& u) {
  return usage_chunk(meta, "chat.completion.chunk", u);
}

json completion_chunk_text(const stream_meta& meta, std::string_view text) {
  return completion_chunk(meta, text, std::nullopt);
}

json completion_chunk_finish(const stream_meta& meta, finish_reason finish) {
  return completion_chunk(meta, "", finish);
}

json completion_chunk_usage(const stream_meta& meta, const usage& u) {
  return usage_chunk(meta, "text_completion", u);
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string sse(const json& j) {
  std::string out = "data: ";
  out += dump(j);
  out += "\n\n";
  return out;
}

std::string sse_done() { return "data: [DONE]\n\n"; }

json to_json(const model_card& m) {
  return {{"id", m.id}, {"object", "model"}, {"created", m.created}, {"owned_by", "agora"}};
}

json model_list(std::span<const model_card> models) {
  json data = json::array();
  for (const auto& m : models) data.push_back(to_json(m));
  return {{"object", "list"}, {"data", std::move(data)}};
}

}  // namespace agora::inference::openai
