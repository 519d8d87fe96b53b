#include "service/openai.hpp"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace oa = agora::inference::openai;
using nlohmann::json;

namespace {

json chat_body() {
  return {{"model", "smol"}, {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}};
}

json completion_body() { return {{"model", "smol"}, {"prompt", "Once upon a time"}}; }

std::set<std::string> keys(const json& j) {
  std::set<std::string> out;
  for (auto it = j.begin(); it != j.end(); ++it) out.insert(it.key());
  return out;
}

// Expects the chat body with `field` set to `value` to be refused with a 400 whose param
// is `param` and whose message names it.
void expect_chat_refused(const std::string& field, const json& value, const std::string& param,
                         const std::string& code) {
  auto body = chat_body();
  body[field] = value;
  auto r = oa::parse_chat_request(body);
  INFO(field << " = " << value.dump());
  REQUIRE_FALSE(r);
  CHECK(r.err().status == 400);
  CHECK(r.err().type == "invalid_request_error");
  CHECK(r.err().param == param);
  CHECK(r.err().code == code);
  CHECK(r.err().message.rfind(param + ": ", 0) == 0);
}

void expect_completion_refused(const json& body, const std::string& param, const std::string& code) {
  auto r = oa::parse_completion_request(body);
  INFO(body.dump());
  REQUIRE_FALSE(r);
  CHECK(r.err().status == 400);
  CHECK(r.err().param == param);
  CHECK(r.err().code == code);
  CHECK(r.err().message.rfind(param + ": ", 0) == 0);
}

}  // namespace

TEST_CASE("a minimal chat request parses with OpenAI's defaults", "[inference][openai]") {
  auto r = oa::parse_chat_request(chat_body());
  REQUIRE(r);
  CHECK(r->model == "smol");
  REQUIRE(r->messages.size() == 1);
  CHECK(r->messages[0].role == oa::message_role::user);
  CHECK(r->messages[0].content == "hi");
  CHECK_FALSE(r->messages[0].name);
  CHECK_FALSE(r->max_tokens);
  CHECK(r->sampling.temperature == 1.0);
  CHECK(r->sampling.top_p == 1.0);
  CHECK(r->sampling.top_k == 0);
  CHECK(r->sampling.repetition_penalty == 1.0);
  CHECK(r->sampling.presence_penalty == 0.0);
  CHECK(r->sampling.frequency_penalty == 0.0);
  CHECK_FALSE(r->sampling.seed);
  CHECK(r->stop.empty());
  CHECK_FALSE(r->stream);
  CHECK_FALSE(r->include_usage);
  CHECK_FALSE(r->user);
  CHECK_FALSE(r->conversation_id);
}

TEST_CASE("every field of a chat request is read", "[inference][openai]") {
  auto body = json::parse(R"({
    "model": "smol",
    "messages": [
      {"role": "developer", "content": "be brief"},
      {"role": "system", "content": "you sell shoes"},
      {"role": "user", "content": "hi", "name": "ann"},
      {"role": "assistant", "content": "hello"},
      {"role": "tool", "content": "{\"stock\": 3}"}
    ],
    "max_tokens": 64, "temperature": 0, "top_p": 0.9, "top_k": 40,
    "repetition_penalty": 1.1, "presence_penalty": -2, "frequency_penalty": 2,
    "seed": 42, "stop": ["\n\n", "END"], "stream": true,
    "stream_options": {"include_usage": true}, "n": 1, "user": "u-1",
    "conversation_id": "conv_1", "logprobs": false
  })");
  auto r = oa::parse_chat_request(body);
  REQUIRE(r);
  REQUIRE(r->messages.size() == 5);
  CHECK(r->messages[0].role == oa::message_role::developer);
  CHECK(r->messages[1].role == oa::message_role::system);
  CHECK(r->messages[2].role == oa::message_role::user);
  CHECK(r->messages[2].name == std::optional<std::string>("ann"));
  CHECK(r->messages[3].role == oa::message_role::assistant);
  CHECK(r->messages[4].role == oa::message_role::tool);
  CHECK(r->messages[4].content == R"({"stock": 3})");
  CHECK(r->max_tokens == std::optional<std::int64_t>(64));
  CHECK(r->sampling.temperature == 0.0);
  CHECK(r->sampling.top_p == Approx(0.9));
  CHECK(r->sampling.top_k == 40);
  CHECK(r->sampling.repetition_penalty == Approx(1.1));
  CHECK(r->sampling.presence_penalty == -2.0);
  CHECK(r->sampling.frequency_penalty == 2.0);
  CHECK(r->sampling.seed == std::optional<std::uint64_t>(42));
  CHECK(r->stop == std::vector<std::string>{"\n\n", "END"});
  CHECK(r->stream);
  CHECK(r->include_usage);
  CHECK(r->user == std::optional<std::string>("u-1"));
  CHECK(r->conversation_id == std::optional<std::string>("conv_1"));
}

TEST_CASE("unknown fields and null values are ignored", "[inference][openai]") {
  auto body = chat_body();
  body["tools_please"] = {{"a", 1}};
  body["metadata"] = {{"k", "v"}};
  body["temperature"] = nullptr;
  body["stop"] = nullptr;
  body["seed"] = nullptr;
  body["messages"][0]["x_unknown"] = true;
  auto r = oa::parse_chat_request(body);
  REQUIRE(r);
  CHECK(r->sampling.temperature == 1.0);
  CHECK(r->stop.empty());
  CHECK_FALSE(r->sampling.seed);
}

TEST_CASE("text content parts are joined with newlines", "[inference][openai]") {
  auto body = chat_body();
  body["messages"][0]["content"] = json::parse(R"([{"type":"text","text":"first"},{"type":"text","text":"second"}])");
  auto r = oa::parse_chat_request(body);
  REQUIRE(r);
  CHECK(r->messages[0].content == "first\nsecond");

  body["messages"][0]["content"] = json::array();
  r = oa::parse_chat_request(body);
  REQUIRE(r);
  CHECK(r->messages[0].content.empty());
}

TEST_CASE("non-text content parts are refused naming the part", "[inference][openai]") {
  auto body = chat_body();
  body["messages"][0]["content"] =
      json::parse(R"([{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"x"}}])");
  auto r = oa::parse_chat_request(body);
  REQUIRE_FALSE(r);
  CHECK(r.err().param == "messages[0].content[1].type");
  CHECK(r.err().code == "unsupported_value");
  CHECK(r.err().message == "messages[0].content[1].type: only text parts are supported, got \"image_url\"");

  body["messages"][0]["content"] = json::parse(R"([{"type":"text","text":7}])");
  r = oa::parse_chat_request(body);
  REQUIRE_FALSE(r);
  CHECK(r.err().param == "messages[0].content[0].text");
  CHECK(r.err().code == "invalid_type");

  body["messages"][0]["content"] = json::parse(R"([{"text":"no type"}])");
  r = oa::parse_chat_request(body);
  REQUIRE_FALSE(r);
  CHECK(r.err().param == "messages[0].content[0].type");
  CHECK(r.err().code == "missing_required_parameter");

  body["messages"][0]["content"] = json::parse(R"(["bare string"])");
  r = oa::parse_chat_request(body);
  REQUIRE_FALSE(r);
  CHECK(r.err().param == "messages[0].content[0]");
}

TEST_CASE("messages are required, non-empty and well formed", "[inference][openai]") {
  auto body = chat_body();
  body.erase("messages");
  auto r = oa::parse_chat_request(body);
  REQUIRE_FALSE(r);
  CHECK(r.err().param == "messages");
  CHECK(r.err().code == "missing_required_parameter");
  CHECK(r.err().message == "messages: is required");

  expect_chat_refused("messages", json::array(), "messages", "invalid_value");
  expect_chat_refused("messages", "hi", "messages", "invalid_type");
  expect_chat_refused("messages", json::array({"hi"}), "messages[0]", "invalid_type");
  expect_chat_refused("messages", json::parse(R"([{"role":"user","content":"a"},{"content":"b"}])"),
                      "messages[1].role", "missing_required_parameter");
  expect_chat_refused("messages", json::parse(R"([{"role":"function","content":"a"}])"), "messages[0].role",
                      "invalid_value");
  expect_chat_refused("messages", json::parse(R"([{"role":1,"content":"a"}])"), "messages[0].role",
                      "invalid_type");
  expect_chat_refused("messages", json::parse(R"([{"role":"user"}])"), "messages[0].content",
                      "missing_required_parameter");
  expect_chat_refused("messages", json::parse(R"([{"role":"user","content":{"text":"a"}}])"),
                      "messages[0].content", "invalid_type");
  expect_chat_refused("messages", json::parse(R"([{"role":"user","content":"a","name":5}])"),
                      "messages[0].name", "invalid_type");

  body = chat_body();
  body["messages"].push_back({{"role", "assistant"}, {"content", nullptr}});
  r = oa::parse_chat_request(body);
  REQUIRE(r);
  CHECK(r->messages[1].content.empty());
}

TEST_CASE("model is a required non-empty string", "[inference][openai]") {
  auto body = chat_body();
  body.erase("model");
  auto r = oa::parse_chat_request(body);
  REQUIRE_FALSE(r);
  CHECK(r.err().param == "model");
  CHECK(r.err().code == "missing_required_parameter");
  expect_chat_refused("model", nullptr, "model", "missing_required_parameter");
  expect_chat_refused("model", 3, "model", "invalid_type");
  expect_chat_refused("model", "", "model", "invalid_value");
}

TEST_CASE("number fields refuse wrong types and out-of-range values, naming the field", "[inference][openai]") {
  struct number_case {
    const char* field;
    std::vector<double> good;
    std::vector<double> bad;
  };
  std::vector<number_case> cases = {
      {"temperature", {0.0, 0.7, 2.0}, {-0.01, 2.01, 100.0}},
      {"top_p", {0.01, 1.0}, {0.0, -0.5, 1.01}},
      {"repetition_penalty", {0.5, 1.0, 2.0}, {0.0, -1.0, 2.5}},
      {"presence_penalty", {-2.0, 0.0, 2.0}, {-2.01, 2.01}},
      {"frequency_penalty", {-2.0, 0.0, 2.0}, {-2.01, 2.01}},
  };
  for (const auto& c : cases) {
    for (double v : c.good) {
      auto body = chat_body();
      body[c.field] = v;
      INFO(c.field << " = " << v);
      CHECK(oa::parse_chat_request(body));
    }
    for (double v : c.bad) expect_chat_refused(c.field, v, c.field, "invalid_value");
    for (const json& wrong : {json("1"), json(true), json::array({1}), json::object()})
      expect_chat_refused(c.field, wrong, c.field, "invalid_type");
  }

  auto body = chat_body();
  body["temperature"] = 2.5;
  auto r = oa::parse_chat_request(body);
  REQUIRE_FALSE(r);
  CHECK(r.err().message == "temperature: must be a number between 0 and 2, got 2.5");
  body = chat_body();
  body["top_p"] = 1.5;
  r = oa::parse_chat_request(body);
  REQUIRE_FALSE(r);
  CHECK(r.err().message == "top_p: must be a number in (0, 1], got 1.5");

  body = chat_body();
  body["temperature"] = 1;  // an integer is a number
  r = oa::parse_chat_request(body);
  REQUIRE(r);
  CHECK(r->sampling.temperature == 1.0);
}

TEST_CASE("integer fields refuse wrong types and out-of-range values, naming the field", "[inference][openai]") {
  for (const char* field : {"max_tokens", "max_completion_tokens"}) {
    expect_chat_refused(field, 0, field, "invalid_value");
    expect_chat_refused(field, -5, field, "invalid_value");
    expect_chat_refused(field, 1.5, field, "invalid_type");
    expect_chat_refused(field, 16.0, field, "invalid_type");
    expect_chat_refused(field, "16", field, "invalid_type");
    expect_chat_refused(field, json(18446744073709551615ull), field, "invalid_value");
  }
  expect_chat_refused("top_k", -2, "top_k", "invalid_value");
  expect_chat_refused("top_k", 4.5, "top_k", "invalid_type");
  expect_chat_refused("top_k", "4", "top_k", "invalid_type");
  for (int k : {-1, 0, 1, 50}) {
    auto body = chat_body();
    body["top_k"] = k;
    auto r = oa::parse_chat_request(body);
    REQUIRE(r);
    CHECK(r->sampling.top_k == k);
  }

  expect_chat_refused("seed", 1.5, "seed", "invalid_type");
  expect_chat_refused("seed", "42", "seed", "invalid_type");
  auto body = chat_body();
  body["seed"] = -1;
  auto r = oa::parse_chat_request(body);
  REQUIRE(r);
  CHECK(r->sampling.seed == std::optional<std::uint64_t>(~std::uint64_t{0}));
  body["seed"] = 18446744073709551615ull;
  r = oa::parse_chat_request(body);
  REQUIRE(r);
  CHECK(r->sampling.seed == std::optional<std::uint64_t>(18446744073709551615ull));

  auto max = chat_body();
  max["max_tokens"] = 0;
  auto refused = oa::parse_chat_request(max);
  REQUIRE_FALSE(refused);
  CHECK(refused.err().message == "max_tokens: must be a positive integer, got 0");
}

TEST_CASE("max_completion_tokens wins over max_tokens", "[inference][openai]") {
  auto body = chat_body();
  body["max_tokens"] = 100;
  body["max_completion_tokens"] = 20;
  auto r = oa::parse_chat_request(body);
  REQUIRE(r);
  CHECK(r->max_tokens == std::optional<std::int64_t>(20));

  body.erase("max_tokens");
  r = oa::parse_chat_request(body);
  REQUIRE(r);
  CHECK(r->max_tokens == std::optional<std::int64_t>(20));

  body = chat_body();
  body["max_tokens"] = 100;
  body["max_completion_tokens"] = nullptr;
  r = oa::parse_chat_request(body);
  REQUIRE(r);
  CHECK(r->max_tokens == std::optional<std::int64_t>(100));
}

TEST_CASE("stop is a string or up to four non-empty strings", "[inference][openai]") {
  auto body = chat_body();
  body["stop"] = "END";
  auto r = oa::parse_chat_request(body);
  REQUIRE(r);
  CHECK(r->stop == std::vector<std::string>{"END"});

  body["stop"] = json::array({"a", "b", "c", "d"});
  r = oa::parse_chat_request(body);
  REQUIRE(r);
  CHECK(r->stop == std::vector<std::string>{"a", "b", "c", "d"});

  body["stop"] = json::array();
  r = oa::parse_chat_request(body);
  REQUIRE(r);
  CHECK(r->stop.empty());

  expect_chat_refused("stop", json::array({"a", "b", "c", "d", "e"}), "stop", "invalid_value");
  expect_chat_refused("stop", "", "stop", "invalid_value");
  expect_chat_refused("stop", json::array({"a", ""}), "stop[1]", "invalid_value");
  expect_chat_refused("stop", json::array({"a", 3}), "stop[1]", "invalid_type");
  expect_chat_refused("stop", 3, "stop", "invalid_type");
  expect_chat_refused("stop", json::object(), "stop", "invalid_type");

  body["stop"] = json::array({"a", "b", "c", "d", "e"});
  r = oa::parse_chat_request(body);
  REQUIRE_FALSE(r);
  CHECK(r.err().message == "stop: at most 4 sequences are allowed, got 5");
}

TEST_CASE("logit_bias maps token ids to biases in [-100, 100]", "[inference][openai]") {
  auto body = chat_body();
  body["logit_bias"] = {{"257", -100}, {"7", 2.5}, {"0", 100}};
  auto r = oa::parse_chat_request(body);
  REQUIRE(r);
  auto bias = r->sampling.logit_bias;
  std::sort(bias.begin(), bias.end());
  REQUIRE(bias.size() == 3);
  CHECK(bias[0] == std::pair<std::int32_t, float>{0, 100.0f});
  CHECK(bias[1] == std::pair<std::int32_t, float>{7, 2.5f});
  CHECK(bias[2] == std::pair<std::int32_t, float>{257, -100.0f});

  expect_chat_refused("logit_bias", json::array({1, 2}), "logit_bias", "invalid_type");
  expect_chat_refused("logit_bias", "50256", "logit_bias", "invalid_type");
  expect_chat_refused("logit_bias", {{"abc", 1}}, "logit_bias.abc", "invalid_value");
  expect_chat_refused("logit_bias", {{"-3", 1}}, "logit_bias.-3", "invalid_value");
  expect_chat_refused("logit_bias", {{"12x", 1}}, "logit_bias.12x", "invalid_value");
  expect_chat_refused("logit_bias", {{"99999999999", 1}}, "logit_bias.99999999999", "invalid_value");
  expect_chat_refused("logit_bias", {{"5", 101}}, "logit_bias.5", "invalid_value");
  expect_chat_refused("logit_bias", {{"5", -100.5}}, "logit_bias.5", "invalid_value");
  expect_chat_refused("logit_bias", {{"5", "1"}}, "logit_bias.5", "invalid_type");
  json many = json::object();
  for (int i = 0; i < 1025; ++i) many[std::to_string(i)] = 1;
  expect_chat_refused("logit_bias", many, "logit_bias", "invalid_value");
}

TEST_CASE("n other than 1 is refused", "[inference][openai]") {
  auto body = chat_body();
  body["n"] = 2;
  auto r = oa::parse_chat_request(body);
  REQUIRE_FALSE(r);
  CHECK(r.err().status == 400);
  CHECK(r.err().param == "n");
  CHECK(r.err().code == "unsupported_value");
  CHECK(r.err().message == "n: only 1 is supported");
  expect_chat_refused("n", 0, "n", "unsupported_value");
  expect_chat_refused("n", "2", "n", "invalid_type");
  body["n"] = 1;
  CHECK(oa::parse_chat_request(body));
}

TEST_CASE("stream, stream_options, user and conversation_id are typed", "[inference][openai]") {
  expect_chat_refused("stream", "true", "stream", "invalid_type");
  expect_chat_refused("stream", 1, "stream", "invalid_type");
  expect_chat_refused("user", 7, "user", "invalid_type");
  expect_chat_refused("conversation_id", 7, "conversation_id", "invalid_type");
  expect_chat_refused("conversation_id", "", "conversation_id", "invalid_value");

  auto body = chat_body();
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", "yes"}};
  auto r = oa::parse_chat_request(body);
  REQUIRE_FALSE(r);
  CHECK(r.err().param == "stream_options.include_usage");
  CHECK(r.err().code == "invalid_type");
  CHECK(r.err().message.rfind("stream_options.include_usage: ", 0) == 0);

  body["stream_options"] = true;
  r = oa::parse_chat_request(body);
  REQUIRE_FALSE(r);
  CHECK(r.err().param == "stream_options");

  body["stream_options"] = json::object();
  r = oa::parse_chat_request(body);
  REQUIRE(r);
  CHECK_FALSE(r->include_usage);

  body = chat_body();
  body["stream_options"] = {{"include_usage", true}};
  r = oa::parse_chat_request(body);
  REQUIRE_FALSE(r);
  CHECK(r.err().param == "stream_options");
  CHECK(r.err().message == "stream_options: is only allowed when stream is true");
}

TEST_CASE("logprobs is refused as unsupported", "[inference][openai]") {
  expect_chat_refused("logprobs", true, "logprobs", "unsupported_value");
  expect_chat_refused("logprobs", "yes", "logprobs", "invalid_type");
  expect_chat_refused("top_logprobs", 3, "top_logprobs", "unsupported_value");
  auto body = chat_body();
  body["logprobs"] = false;
  body["top_logprobs"] = 0;
  CHECK(oa::parse_chat_request(body));

  auto completion = completion_body();
  completion["logprobs"] = 2;
  expect_completion_refused(completion, "logprobs", "unsupported_value");
}

TEST_CASE("a body that is not an object is refused", "[inference][openai]") {
  for (const json& body : {json::array(), json("x"), json(nullptr), json(3)}) {
    auto r = oa::parse_chat_request(body);
    REQUIRE_FALSE(r);
    CHECK(r.err().status == 400);
    CHECK(r.err().param.empty());
    auto c = oa::parse_completion_request(body);
    REQUIRE_FALSE(c);
    CHECK(c.err().status == 400);
  }
}

TEST_CASE("parse_body reads JSON objects and refuses anything else", "[inference][openai]") {
  auto ok = oa::parse_body(R"({"model":"m"})");
  REQUIRE(ok);
  CHECK((*ok)["model"] == "m");

  for (std::string_view bad : {"", "{", "{\"a\":}", "nul", "{\"a\":1} trailing"}) {
    auto r = oa::parse_body(bad);
    INFO(bad);
    REQUIRE_FALSE(r);
    CHECK(r.err().status == 400);
    CHECK(r.err().type == "invalid_request_error");
    CHECK(r.err().code == "invalid_json");
  }
  auto array = oa::parse_body("[1,2]");
  REQUIRE_FALSE(array);
  CHECK(array.err().code == "invalid_type");
}

TEST_CASE("a completion prompt is a string or an array of one string", "[inference][openai]") {
  auto r = oa::parse_completion_request(completion_body());
  REQUIRE(r);
  CHECK(r->model == "smol");
  CHECK(r->prompt == "Once upon a time");

  auto body = completion_body();
  body["prompt"] = json::array({"only one"});
  r = oa::parse_completion_request(body);
  REQUIRE(r);
  CHECK(r->prompt == "only one");

  body["max_tokens"] = 8;
  body["stop"] = "\n";
  body["temperature"] = 0.2;
  body["echo"] = false;
  body["best_of"] = 1;
  body["suffix_unknown"] = "x";
  r = oa::parse_completion_request(body);
  REQUIRE(r);
  CHECK(r->max_tokens == std::optional<std::int64_t>(8));
  CHECK(r->stop == std::vector<std::string>{"\n"});
  CHECK(r->sampling.temperature == Approx(0.2));

  body = completion_body();
  body["prompt"] = json::array({"one", "two"});
  expect_completion_refused(body, "prompt", "unsupported_value");
  body["prompt"] = json::array({1, 2, 3});
  expect_completion_refused(body, "prompt", "unsupported_value");
  body["prompt"] = json::array({json::array({1, 2})});
  expect_completion_refused(body, "prompt", "unsupported_value");
  body["prompt"] = json::array();
  expect_completion_refused(body, "prompt", "invalid_value");
  body["prompt"] = json::array({true});
  expect_completion_refused(body, "prompt[0]", "invalid_type");
  body["prompt"] = 5;
  expect_completion_refused(body, "prompt", "invalid_type");
  body.erase("prompt");
  expect_completion_refused(body, "prompt", "missing_required_parameter");

  body = completion_body();
  body["prompt"] = json::array({1, 2, 3});
  auto tokens = oa::parse_completion_request(body);
  REQUIRE_FALSE(tokens);
  CHECK(tokens.err().message == "prompt: token id prompts are not supported; send text");

  body = completion_body();
  body["n"] = 2;
  expect_completion_refused(body, "n", "unsupported_value");
  body = completion_body();
  body["echo"] = true;
  expect_completion_refused(body, "echo", "unsupported_value");
  body = completion_body();
  body["best_of"] = 3;
  expect_completion_refused(body, "best_of", "unsupported_value");
  body = completion_body();
  body["top_p"] = 0;
  expect_completion_refused(body, "top_p", "invalid_value");
  body = completion_body();
  body["max_tokens"] = 10;
  body["max_completion_tokens"] = 5;
  auto both = oa::parse_completion_request(body);
  REQUIRE(both);
  CHECK(both->max_tokens == std::optional<std::int64_t>(5));
}

TEST_CASE("template messages carry role, content and name, and developer reads as system", "[inference][openai]") {
  std::vector<oa::chat_message> messages = {
      {oa::message_role::developer, "rules", std::nullopt},
      {oa::message_role::user, "hi", std::string("ann")},
  };
  auto j = oa::to_template_messages(messages);
  CHECK(j.dump() == R"([{"role":"system","content":"rules"},{"role":"user","content":"hi","name":"ann"}])");
}

TEST_CASE("api errors serialise with null param and code when empty", "[inference][openai]") {
  oa::api_error e{400, "n: only 1 is supported", "invalid_request_error", "n", "unsupported_value"};
  CHECK(oa::to_json(e) == json::parse(R"({"error":{"message":"n: only 1 is supported",
      "type":"invalid_request_error","param":"n","code":"unsupported_value"}})"));

  oa::api_error bare{500, "boom", "server_error", "", ""};
  auto j = oa::to_json(bare);
  CHECK(keys(j) == std::set<std::string>{"error"});
  CHECK(keys(j["error"]) == std::set<std::string>{"message", "type", "param", "code"});
  CHECK(j["error"]["param"].is_null());
  CHECK(j["error"]["code"].is_null());

  auto nf = oa::model_not_found("gpt-9");
  CHECK(nf.status == 404);
  CHECK(nf.type == "not_found_error");
  CHECK(nf.param == "model");
  CHECK(nf.code == "model_not_found");
  CHECK(nf.message.find("gpt-9") != std::string::npos);

  auto ir = oa::invalid_request("", "plain");
  CHECK(ir.message == "plain");
  CHECK(ir.status == 400);
}

TEST_CASE("agora errors map onto OpenAI statuses and types", "[inference][openai]") {
  using agora::errc;
  struct row {
    errc code;
    int status;
    const char* type;
    const char* error_code;
  };
  for (const row& r : std::vector<row>{
           {errc::invalid_argument, 400, "invalid_request_error", ""},
           {errc::bad_request, 400, "invalid_request_error", ""},
           {errc::unauthenticated, 401, "authentication_error", ""},
           {errc::permission_denied, 403, "permission_error", ""},
           {errc::not_found, 404, "not_found_error", ""},
           {errc::conflict, 409, "invalid_request_error", "conflict"},
           {errc::failed_precondition, 412, "invalid_request_error", "failed_precondition"},
           {errc::resource_exhausted, 429, "rate_limit_exceeded", "rate_limit_exceeded"},
           {errc::cancelled, 499, "invalid_request_error", "cancelled"},
           {errc::internal, 500, "server_error", ""},
           {errc::unavailable, 503, "server_error", "overloaded"},
           {errc::deadline_exceeded, 504, "server_error", "timeout"},
       }) {
    auto e = oa::to_api_error(agora::error{r.code, "why", {}});
    INFO(agora::to_string(r.code));
    CHECK(e.status == r.status);
    CHECK(e.type == r.type);
    CHECK(e.code == r.error_code);
    CHECK(e.message == "why");
    CHECK(e.param.empty());
  }

  auto fields = oa::to_api_error(agora::error::invalid({{"max_tokens", "too many"}, {"stop", "bad"}}));
  CHECK(fields.status == 400);
  CHECK(fields.param == "max_tokens");
  CHECK(fields.message == "max_tokens: too many; stop: bad");
}

TEST_CASE("finish reasons convert both ways", "[inference][openai]") {
  CHECK(oa::to_string(oa::finish_reason::stop) == "stop");
  CHECK(oa::to_string(oa::finish_reason::length) == "length");
  CHECK(oa::finish_reason_from_string("stop") == oa::finish_reason::stop);
  CHECK(oa::finish_reason_from_string("length") == oa::finish_reason::length);
  CHECK_FALSE(oa::finish_reason_from_string("cancelled"));
  CHECK(oa::message_role_from_string("developer") == oa::message_role::developer);
  CHECK_FALSE(oa::message_role_from_string("function"));
}

TEST_CASE("a chat completion has exactly OpenAI's keys and types", "[inference][openai]") {
  oa::response_meta meta{"chatcmpl-abc", 1700000000, "smol"};
  auto j = oa::chat_completion(meta, "Hello!", oa::finish_reason::length, {12, 5});
  CHECK(j == json::parse(R"({
    "id": "chatcmpl-abc", "object": "chat.completion", "created": 1700000000, "model": "smol",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"},
                 "logprobs": null, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
  })"));
  CHECK(keys(j) == std::set<std::string>{"id", "object", "created", "model", "choices", "usage"});
  CHECK(j["created"].is_number_integer());
  CHECK(j["choices"][0]["index"].is_number_integer());
  CHECK(j["usage"]["total_tokens"].is_number_integer());
}

TEST_CASE("a text completion has exactly OpenAI's keys and types", "[inference][openai]") {
  oa::response_meta meta{"cmpl-abc", 1700000000, "smol"};
  auto j = oa::text_completion(meta, " there was", oa::finish_reason::stop, {4, 2});
  CHECK(j == json::parse(R"({
    "id": "cmpl-abc", "object": "text_completion", "created": 1700000000, "model": "smol",
    "choices": [{"text": " there was", "index": 0, "logprobs": null, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}
  })"));
}

TEST_CASE("chat stream chunks follow OpenAI's sequence", "[inference][openai]") {
  oa::stream_meta meta;
  meta.id = "chatcmpl-s";
  meta.created = 1700000001;
  meta.model = "smol";

  auto head = R"("id":"chatcmpl-s","object":"chat.completion.chunk","created":1700000001,"model":"smol")";
  CHECK(oa::chat_chunk_start(meta) == json::parse(std::string("{") + head +
        R"(,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]})"));
  CHECK(oa::chat_chunk_content(meta, "Hel") == json::parse(std::string("{") + head +
        R"(,"choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}]})"));
  CHECK(oa::chat_chunk_finish(meta, oa::finish_reason::stop) == json::parse(std::string("{") + head +
        R"(,"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]})"));

  meta.include_usage = true;
  auto content = oa::chat_chunk_content(meta, "lo");
  REQUIRE(content.contains("usage"));
  CHECK(content["usage"].is_null());
  CHECK(oa::chat_chunk_start(meta)["usage"].is_null());
  CHECK(oa::chat_chunk_finish(meta, oa::finish_reason::length)["usage"].is_null());
  CHECK(oa::chat_chunk_usage(meta, {3, 2}) == json::parse(std::string("{") + head +
        R"(,"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}})"));
}

TEST_CASE("completion stream chunks follow OpenAI's sequence", "[inference][openai]") {
  oa::stream_meta meta;
  meta.id = "cmpl-s";
  meta.created = 7;
  meta.model = "smol";
  auto head = R"("id":"cmpl-s","object":"text_completion","created":7,"model":"smol")";
  CHECK(oa::completion_chunk_text(meta, "Once") == json::parse(std::string("{") + head +
        R"(,"choices":[{"text":"Once","index":0,"logprobs":null,"finish_reason":null}]})"));
  CHECK(oa::completion_chunk_finish(meta, oa::finish_reason::length) == json::parse(std::string("{") + head +
        R"(,"choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"length"}]})"));
  meta.include_usage = true;
  CHECK(oa::completion_chunk_text(meta, "x")["usage"].is_null());
  CHECK(oa::completion_chunk_usage(meta, {1, 1}) == json::parse(std::string("{") + head +
        R"(,"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}})"));
}

TEST_CASE("SSE framing is exact", "[inference][openai]") {
  CHECK(oa::sse(json{{"a", 1}}) == "data: {\"a\":1}\n\n");
  CHECK(oa::sse_done() == "data: [DONE]\n\n");

  // Newlines inside content are escaped, so one event stays one line.
  oa::stream_meta meta;
  meta.id = "chatcmpl-x";
  meta.created = 1;
  meta.model = "m";
  auto frame = oa::sse(oa::chat_chunk_content(meta, "a\nb"));
  CHECK(frame ==
        "data: {\"choices\":[{\"delta\":{\"content\":\"a\\nb\"},\"finish_reason\":null,\"index\":0,"
        "\"logprobs\":null}],\"created\":1,\"id\":\"chatcmpl-x\",\"model\":\"m\",\"object\":\"chat.completion.chunk\"}"
        "\n\n");
  CHECK(frame.find('\n') == frame.size() - 2);

  // UTF-8 passes through unescaped; invalid bytes become U+FFFD instead of throwing.
  CHECK(oa::sse(json{{"t", "caf\xc3\xa9"}}) == "data: {\"t\":\"caf\xc3\xa9\"}\n\n");
  CHECK(oa::sse(json{{"t", "bad\xff"}}) == "data: {\"t\":\"bad\xef\xbf\xbd\"}\n\n");
}

TEST_CASE("the model list has OpenAI's shape", "[inference][openai]") {
  std::vector<oa::model_card> models = {{"smol", 1700000000}, {"qwen", 1700000100}};
  auto j = oa::model_list(models);
  CHECK(j == json::parse(R"({"object":"list","data":[
    {"id":"smol","object":"model","created":1700000000,"owned_by":"agora"},
    {"id":"qwen","object":"model","created":1700000100,"owned_by":"agora"}]})"));
  CHECK(oa::model_list({}) == json::parse(R"({"object":"list","data":[]})"));
  CHECK(keys(oa::to_json(models[0])) == std::set<std::string>{"id", "object", "created", "owned_by"});
}
