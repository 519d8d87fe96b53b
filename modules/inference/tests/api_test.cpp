// The inference module end to end: the whole app through the embedding harness, with a
// tiny random-weight model and a byte-level tokenizer written to a temporary folder.

#include <agora/ids.hpp>
#include <agora/app.hpp>
#include <agora/testing.hpp>
#include <inference/api.hpp>

#include "model_fixture.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using agora::testing::harness;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// A model folder named "tiny-llama" under a fresh temporary directory.
struct model_folder {
  fs::path root = fs::temp_directory_path() / agora::new_id("agora-inference-api");
  fs::path dir = root / "tiny-llama";
  explicit model_folder(std::int64_t positions = 512) {
    fs::create_directories(dir);
    agora::inference::testing::fixture_spec spec;
    spec.vocab = 300;
    spec.max_positions = positions;
    agora::inference::testing::write_model(dir, spec);
    agora::inference::testing::write_byte_tokenizer(dir);
  }
  ~model_folder() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
};

agora::testing::options with_model(const model_folder& m, std::vector<std::pair<std::string, json>> extra = {}) {
  agora::testing::options o;
  o.settings = {{"modules.inference.models", json::array({m.dir.string()})}, {"log.level", "warn"}};
  for (auto& kv : extra) o.settings.push_back(std::move(kv));
  return o;
}

json chat_body(json extra = json::object()) {
  json body = {{"model", "tiny-llama"},
               {"messages", {{{"role", "user"}, {"content", "Hello there"}}}},
               {"max_tokens", 6},
               {"temperature", 0}};
  body.update(extra);
  return body;
}

// The JSON payloads of an SSE body, in order; "[DONE]" as a string.
std::vector<json> sse_events(const std::string& body) {
  std::vector<json> out;
  std::size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    auto end = body.find("\n\n", pos);
    std::string payload = body.substr(pos + 6, end - pos - 6);
    out.push_back(payload == "[DONE]" ? json("[DONE]") : json::parse(payload));
    pos = end;
  }
  return out;
}

template <class F>
bool eventually(F f, std::chrono::milliseconds limit = 10s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return f();
}

double metric(agora::testing::client& c, const std::string& series) {
  auto text = "\n" + c.get("/metrics").body;
  auto at = text.find("\n" + series + " ");  // a sample line, not its # HELP
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

// Sends a chat request that can only end by the client leaving (its stop tokens banned,
// no token limit short of the context) on a raw socket, which the caller closes.
boost::asio::ip::tcp::socket send_endless_chat(boost::asio::io_context& io, std::uint16_t port, bool stream) {
  auto login = agora::testing::client("127.0.0.1", port);
  auto token = agora::testing::login(login, agora::testing::admin_email, agora::testing::admin_password);
  namespace asio = boost::asio;
  asio::ip::tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  std::string body = chat_body({{"stream", stream},
                                {"max_tokens", 100000},
                                {"temperature", 0.9},
                                {"logit_bias", {{"2", -100}, {"3", -100}, {"257", -100}}}})
                         .dump();
  std::string req = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
                    "\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  asio::write(s, asio::buffer(req));
  return s;
}

}  // namespace

TEST_CASE("models are listed and looked up by their folder's name", "[inference][api]") {
  model_folder m;
  harness h(with_model(m));
  auto c = h.connect_as_admin();
  auto list = c.get("/v1/models");
  REQUIRE(list.status == 200);
  CHECK(list.json()["object"] == "list");
  REQUIRE(list.json()["data"].size() == 1);
  CHECK(list.json()["data"][0]["id"] == "tiny-llama");
  CHECK(list.json()["data"][0]["owned_by"] == "agora");
  CHECK(c.get("/v1/models/tiny-llama").json()["id"] == "tiny-llama");
  auto missing = c.get("/v1/models/nope");
  CHECK(missing.status == 404);
  CHECK(missing.json()["error"]["code"] == "model_not_found");
}

TEST_CASE("a chat completion answers whole, and a deterministic repeat comes from the cache", "[inference][api]") {
  model_folder m;
  harness h(with_model(m));
  auto c = h.connect_as_admin();
  auto first = c.post("/v1/chat/completions", chat_body());
  REQUIRE(first.status == 200);
  auto j = first.json();
  CHECK(j["object"] == "chat.completion");
  CHECK(j["model"] == "tiny-llama");
  CHECK(j["id"].get<std::string>().rfind("chatcmpl-", 0) == 0);
  CHECK(j["choices"][0]["message"]["role"] == "assistant");
  std::string finish = j["choices"][0]["finish_reason"];
  CHECK((finish == "length" || finish == "stop"));
  CHECK(j["usage"]["prompt_tokens"].get<int>() > 5);
  CHECK(j["usage"]["completion_tokens"].get<int>() <= 6);
  CHECK(j["usage"]["total_tokens"] == j["usage"]["prompt_tokens"].get<int>() + j["usage"]["completion_tokens"].get<int>());
  CHECK(first.header("x-cache") == "MISS");

  auto again = c.post("/v1/chat/completions", chat_body());
  REQUIRE(again.status == 200);
  CHECK(again.header("x-cache") == "HIT");
  CHECK(again.json()["choices"][0]["message"]["content"] == j["choices"][0]["message"]["content"]);
  CHECK(again.json()["usage"] == j["usage"]);

  // Sampling without a seed is not cached.
  auto sampled = c.post("/v1/chat/completions", chat_body({{"temperature", 0.8}}));
  CHECK(sampled.header("x-cache") == "MISS");
}

TEST_CASE("a streamed chat completion is SSE: role first, content, finish, usage, [DONE]", "[inference][api]") {
  model_folder m;
  harness h(with_model(m));
  auto c = h.connect_as_admin();
  auto whole = c.post("/v1/chat/completions", chat_body()).json();
  auto c2 = h.connect_as_admin();
  auto res = c2.post("/v1/chat/completions",
                     chat_body({{"stream", true}, {"stream_options", {{"include_usage", true}}}, {"seed", 1}}));
  REQUIRE(res.status == 200);
  CHECK(res.header("content-type") == "text/event-stream");
  auto events = sse_events(res.body);
  REQUIRE(events.size() >= 4);
  CHECK(events.front()["object"] == "chat.completion.chunk");
  CHECK(events.front()["choices"][0]["delta"]["role"] == "assistant");
  CHECK(events.back() == "[DONE]");
  const auto& usage = events[events.size() - 2];
  CHECK(usage["choices"].empty());
  CHECK(usage["usage"]["completion_tokens"].get<int>() >= 1);
  const auto& last = events[events.size() - 3];
  std::string finish = last["choices"][0]["finish_reason"];
  CHECK((finish == "length" || finish == "stop"));
  std::string text;
  for (std::size_t i = 1; i + 3 < events.size() + 1 && i < events.size() - 2; ++i)
    text += events[i]["choices"][0]["delta"].value("content", "");
  // temperature 0 with a seed is still greedy: the same text as the whole answer.
  CHECK(text == whole["choices"][0]["message"]["content"]);
}

TEST_CASE("a text completion answers whole and streamed", "[inference][api]") {
  model_folder m;
  harness h(with_model(m));
  auto c = h.connect_as_admin();
  json body = {{"model", "tiny-llama"}, {"prompt", "Once upon"}, {"max_tokens", 4}, {"temperature", 0}};
  auto res = c.post("/v1/completions", body);
  REQUIRE(res.status == 200);
  CHECK(res.json()["object"] == "text_completion");
  CHECK(res.json()["choices"][0].contains("text"));
  body["stream"] = true;
  auto c2 = h.connect_as_admin();
  auto streamed = c2.post("/v1/completions", body);
  REQUIRE(streamed.status == 200);
  auto events = sse_events(streamed.body);
  CHECK(events.back() == "[DONE]");
  std::string text;
  for (const auto& e : events)
    if (e.is_object()) text += e["choices"][0].value("text", "");
  CHECK(text == res.json()["choices"][0]["text"]);
}

TEST_CASE("bad requests get OpenAI-shaped errors naming the field", "[inference][api]") {
  model_folder m;
  harness h(with_model(m, {{"modules.inference.max_context", 64}}));
  auto c = h.connect_as_admin();

  auto unknown = c.post("/v1/chat/completions", chat_body({{"model", "gpt-17"}}));
  CHECK(unknown.status == 404);
  CHECK(unknown.json()["error"]["code"] == "model_not_found");
  CHECK(unknown.json()["error"]["param"] == "model");

  auto hot = c.post("/v1/chat/completions", chat_body({{"temperature", 3}}));
  CHECK(hot.status == 400);
  CHECK(hot.json()["error"]["type"] == "invalid_request_error");
  CHECK(hot.json()["error"]["param"] == "temperature");

  auto bad_messages = c.post("/v1/chat/completions", chat_body({{"messages", "hi"}}));
  CHECK(bad_messages.status == 400);
  CHECK(bad_messages.json()["error"]["param"].get<std::string>().rfind("messages", 0) == 0);

  auto n2 = c.post("/v1/chat/completions", chat_body({{"n", 2}}));
  CHECK(n2.status == 400);
  CHECK(n2.json()["error"]["param"] == "n");

  auto malformed = c.request("POST", "/v1/chat/completions", "{\"model\": ", {{"Content-Type", "application/json"}});
  CHECK(malformed.status == 400);
  CHECK(malformed.json()["error"]["type"] == "invalid_request_error");

  std::string long_text(400, 'x');
  auto too_long = c.post("/v1/chat/completions", chat_body({{"messages", {{{"role", "user"}, {"content", long_text}}}}}));
  CHECK(too_long.status == 400);
  std::string message = too_long.json()["error"]["message"];
  CHECK(message.find("64") != std::string::npos);

  auto outside = c.post("/v1/chat/completions", chat_body({{"logit_bias", {{"300", -100}}}}));  // vocab is 300
  CHECK(outside.status == 400);
  CHECK(outside.json()["error"]["param"] == "logit_bias");
  CHECK(outside.json()["error"]["message"].get<std::string>().find("vocabulary") != std::string::npos);
  json ban_all = json::object();
  for (int t = 0; t < 300; ++t) ban_all[std::to_string(t)] = -100;
  auto banned = c.post("/v1/chat/completions", chat_body({{"logit_bias", ban_all}}));
  CHECK(banned.status == 400);
  CHECK(banned.json()["error"]["param"] == "logit_bias");

  auto unknown_field = c.post("/v1/chat/completions", chat_body({{"logit_bias_v2", {{"x", 1}}}}));
  CHECK(unknown_field.status == 200);
  // Nothing above harmed the server.
  CHECK(c.get("/healthz").status == 200);
}

TEST_CASE("a flood is queued, then refused with 429 and Retry-After, and other routes stay served",
          "[inference][api]") {
  model_folder m;
  harness h(with_model(m, {{"modules.inference.max_running", 1}, {"modules.inference.max_waiting", 1}}));
  constexpr int clients = 8;
  std::vector<std::future<agora::testing::reply>> replies;
  for (int i = 0; i < clients; ++i) {
    replies.push_back(std::async(std::launch::async, [&h, i] {
      auto c = h.connect_as_admin();
      return c.post("/v1/chat/completions", chat_body({{"max_tokens", 40}, {"temperature", 0.7}, {"seed", i}}));
    }));
  }
  auto probe = h.connect_as_admin();
  CHECK(probe.get("/healthz").status == 200);
  int ok = 0, refused = 0;
  for (auto& f : replies) {
    auto r = f.get();
    if (r.status == 200) ++ok;
    if (r.status == 429) {
      ++refused;
      CHECK(r.header("retry-after") == "1");
      CHECK(r.json()["error"]["type"] == "rate_limit_exceeded");
    }
  }
  CHECK(ok >= 1);
  CHECK(refused >= 1);
  CHECK(ok + refused == clients);
}

TEST_CASE("a client that disconnects mid-stream frees its sequence", "[inference][api]") {
  model_folder m(16384);  // room for a stream that outlasts the client
  harness h(with_model(m, {{"modules.inference.max_running", 1}, {"modules.inference.max_context", 16384}}));
  {
    boost::asio::io_context io;
    auto s = send_endless_chat(io, h.port(), true);
    std::array<char, 512> buf{};
    auto n = s.read_some(boost::asio::buffer(buf));  // the head and the first events
    CHECK(std::string(buf.data(), n).find("200 OK") != std::string::npos);
  }  // gone
  auto c = h.connect_as_admin();
  CHECK(eventually([&] {
    return metric(c, "agora_inference_finished_total{model=\"tiny-llama\",reason=\"cancelled\"}") >= 1;
  }));
  CHECK(metric(c, "agora_inference_running{model=\"tiny-llama\"}") == 0);
  // The one slot is free again.
  auto next = c.post("/v1/chat/completions", chat_body());
  CHECK(next.status == 200);
}

TEST_CASE("a client that disconnects before a whole answer frees its sequence", "[inference][api]") {
  model_folder m(16384);
  harness h(with_model(m, {{"modules.inference.max_running", 1}, {"modules.inference.max_context", 16384}}));
  auto c = h.connect_as_admin();
  {
    boost::asio::io_context io;
    auto s = send_endless_chat(io, h.port(), false);
    REQUIRE(eventually([&] { return metric(c, "agora_inference_running{model=\"tiny-llama\"}") == 1; }));
  }  // gone before any answer
  CHECK(eventually([&] {
    return metric(c, "agora_inference_finished_total{model=\"tiny-llama\",reason=\"cancelled\"}") >= 1;
  }));
  CHECK(eventually([&] { return metric(c, "agora_inference_running{model=\"tiny-llama\"}") == 0; }));
  CHECK(metric(c, "agora_http_client_gone_total") == 1);
  CHECK(c.post("/v1/chat/completions", chat_body()).status == 200);  // the one slot is free again
}

TEST_CASE("a generation whose stream is dropped unread is cancelled", "[inference][api]") {
  model_folder m(16384);
  harness h(with_model(m, {{"modules.inference.max_running", 1}, {"modules.inference.max_context", 16384}}));
  auto c = h.connect_as_admin();
  {
    agora::inference::generate_request g;
    g.model = "tiny-llama";
    g.prompt = "Hello";
    g.max_tokens = 100000;
    g.temperature = 0.9;
    g.logit_bias = {{2, -100.0f}, {3, -100.0f}, {257, -100.0f}};  // it cannot stop by itself
    using started_result = agora::result<agora::inference::generation_started>;
    std::optional<started_result> started;
    auto call = [](agora::bus::bus& b, agora::inference::generate_request req,
                   std::optional<started_result>* out) -> boost::asio::awaitable<void> {
      auto r = co_await b.call<agora::inference::generate>(std::move(req));
      out->emplace(std::move(r));
    };
    boost::asio::co_spawn(boost::asio::system_executor(), call(h.app().message_bus(), std::move(g), &started),
                          boost::asio::use_future)
        .get();
    REQUIRE(started.has_value());
    REQUIRE(started->has_value());
    REQUIRE(eventually([&] { return metric(c, "agora_inference_running{model=\"tiny-llama\"}") == 1; }));
  }  // the reply and its stream are dropped unread: a caller that went away
  CHECK(eventually([&] {
    return metric(c, "agora_inference_finished_total{model=\"tiny-llama\",reason=\"cancelled\"}") == 1;
  }));
  CHECK(eventually([&] { return metric(c, "agora_inference_running{model=\"tiny-llama\"}") == 0; }));
}

TEST_CASE("token usage is recorded per caller and day", "[inference][api]") {
  model_folder m;
  harness h(with_model(m));
  auto c = h.connect_as_admin();
  REQUIRE(c.post("/v1/chat/completions", chat_body()).status == 200);
  REQUIRE(c.post("/v1/chat/completions", chat_body()).status == 200);  // a cache hit counts too
  auto read = [&] {
    sqlite3* db = nullptr;
    sqlite3_open_v2((h.data_dir() / "inference.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_busy_timeout(db, 2000);
    sqlite3_stmt* q = nullptr;
    std::int64_t requests = -1;
    if (sqlite3_prepare_v2(db, "SELECT requests FROM usage WHERE caller LIKE 'cus_%' AND model = 'tiny-llama'", -1,
                           &q, nullptr) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
      requests = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return requests;
  };
  CHECK(eventually([&] { return read() == 2; }));
}

TEST_CASE("a model folder that is not there stops the start with its path", "[inference][api]") {
  agora::testing::options o;
  o.settings = {{"modules.inference.models", json::array({"/nonexistent/model-dir"})}, {"log.level", "warn"}};
  try {
    harness h(o);
    FAIL("the app started");
  } catch (const std::exception& e) {
    CHECK(std::string(e.what()).find("/nonexistent/model-dir") != std::string::npos);
  }
}

TEST_CASE("conversations are created, listed, read and deleted", "[inference][api]") {
  model_folder m;
  harness h(with_model(m));
  auto c = h.connect_as_admin();
  auto created = c.post("/v1/conversations", {{"model", "tiny-llama"}, {"title", "Lamps"}});
  REQUIRE(created.status == 201);
  std::string id = created.json()["id"];
  CHECK(id.rfind("conv_", 0) == 0);
  CHECK(created.header("location") == "/v1/conversations/" + id);
  CHECK(created.json()["messages"].empty());

  auto got = c.get("/v1/conversations/" + id);
  REQUIRE(got.status == 200);
  CHECK(got.json()["title"] == "Lamps");
  CHECK(got.json()["model"] == "tiny-llama");

  REQUIRE(c.post("/v1/conversations", {{"model", "tiny-llama"}}).status == 201);
  REQUIRE(c.post("/v1/conversations", {{"model", "tiny-llama"}}).status == 201);
  auto page = c.get("/v1/conversations?limit=2");
  REQUIRE(page.status == 200);
  CHECK(page.json()["data"].size() == 2);
  CHECK(page.json()["data"][0]["id"] == id);
  std::string cursor = page.json()["next_cursor"];
  auto rest = c.get("/v1/conversations?limit=2&cursor=" + cursor);
  CHECK(rest.json()["data"].size() == 1);
  CHECK(rest.json()["next_cursor"].is_null());
  CHECK(c.get("/v1/conversations?limit=0").status == 422);
  CHECK(c.get("/v1/conversations?cursor=garbage").status == 422);

  auto no_model = c.post("/v1/conversations", {{"title", "x"}});
  CHECK(no_model.status == 422);
  CHECK(no_model.json()["errors"][0]["field"] == "model");
  CHECK(c.post("/v1/conversations", {{"model", "gpt-17"}}).status == 404);

  CHECK(c.del("/v1/conversations/" + id).status == 204);
  CHECK(c.get("/v1/conversations/" + id).status == 404);
  CHECK(c.del("/v1/conversations/" + id).status == 404);
}

TEST_CASE("a chat continues a conversation: history goes in, the exchange is stored", "[inference][api]") {
  model_folder m;
  harness h(with_model(m));
  auto c = h.connect_as_admin();
  std::string id = c.post("/v1/conversations", {{"model", "tiny-llama"}}).json()["id"];

  auto first = c.post("/v1/chat/completions", chat_body({{"conversation_id", id}}));
  REQUIRE(first.status == 200);
  REQUIRE(eventually([&] { return c.get("/v1/conversations/" + id).json()["messages"].size() == 2; }));
  auto second = c.post("/v1/chat/completions",
                       chat_body({{"conversation_id", id}, {"messages", {{{"role", "user"}, {"content", "And?"}}}}}));
  REQUIRE(second.status == 200);
  // The second prompt carried the first exchange.
  CHECK(second.json()["usage"]["prompt_tokens"].get<int>() > first.json()["usage"]["prompt_tokens"].get<int>());
  REQUIRE(eventually([&] { return c.get("/v1/conversations/" + id).json()["messages"].size() == 4; }));
  auto stored = c.get("/v1/conversations/" + id).json()["messages"];
  CHECK(stored[0]["role"] == "user");
  CHECK(stored[0]["content"] == "Hello there");
  CHECK(stored[1]["role"] == "assistant");
  CHECK(stored[1]["content"] == first.json()["choices"][0]["message"]["content"]);
  CHECK(stored[2]["content"] == "And?");
  CHECK(stored[3]["content"] == second.json()["choices"][0]["message"]["content"]);

  auto unknown = c.post("/v1/chat/completions", chat_body({{"conversation_id", "conv_nope"}}));
  CHECK(unknown.status == 404);
  CHECK(unknown.json()["error"]["param"] == "conversation_id");
}

TEST_CASE("models are registered, made default and unloaded at run time", "[inference][api]") {
  model_folder m;
  model_folder other;  // a second folder, also named tiny-llama
  harness h(with_model(m));
  auto c = h.connect_as_admin();
  auto listed = c.get("/v1/models").json()["data"][0];
  CHECK(listed["default"] == true);
  CHECK(listed["checksum"].get<std::string>().rfind("fnv1a64:", 0) == 0);
  CHECK(listed["weight_bytes"].get<std::int64_t>() > 0);

  auto clash = c.post("/v1/models", {{"path", other.dir.string()}});
  CHECK(clash.status == 409);
  CHECK(clash.json()["error"]["param"] == "name");
  auto missing = c.post("/v1/models", {{"path", "/nonexistent/folder"}});
  CHECK(missing.status == 400);
  CHECK(missing.json()["error"]["param"] == "path");
  CHECK(c.post("/v1/models", {{"name", "x"}}).status == 400);

  auto added = c.post("/v1/models", {{"path", other.dir.string()}, {"name", "second"}});
  REQUIRE(added.status == 201);
  CHECK(added.json()["id"] == "second");
  CHECK(added.json()["default"] == false);
  CHECK(added.json()["checksum"] == listed["checksum"]);  // same deterministic files
  CHECK(c.get("/v1/models").json()["data"].size() == 2);
  auto answer = c.post("/v1/chat/completions", chat_body({{"model", "second"}}));
  REQUIRE(answer.status == 200);
  CHECK(answer.json()["model"] == "second");

  REQUIRE(c.post("/v1/models/second/default", json::object()).status == 200);
  auto by_default = c.post("/v1/completions", {{"model", ""}, {"prompt", "x"}, {"max_tokens", 1}});
  // An empty model name is refused by the OpenAI parser, so ask the list instead.
  CHECK(by_default.status == 400);
  CHECK(c.get("/v1/models").json()["data"][0]["id"] == "second");

  auto unloaded = c.del("/v1/models/second");
  REQUIRE(unloaded.status == 200);
  CHECK(unloaded.json()["deleted"] == true);
  CHECK(c.post("/v1/chat/completions", chat_body({{"model", "second"}})).status == 404);
  CHECK(c.del("/v1/models/second").status == 404);
  CHECK(c.get("/v1/models").json()["data"][0]["id"] == "tiny-llama");
  CHECK(c.get("/v1/models").json()["data"][0]["default"] == true);
  CHECK(c.post("/v1/chat/completions", chat_body()).status == 200);
}

TEST_CASE("a model over the memory budget is refused", "[inference][api]") {
  model_folder m;
  harness h(with_model(m, {{"modules.inference.memory_budget_mb", 1}}));
  auto c = h.connect_as_admin();
  const auto each = c.get("/v1/models").json()["data"][0]["weight_bytes"].get<std::int64_t>();
  REQUIRE(each > 0);
  REQUIRE(each <= (1 << 20));
  // Register copies until the next would not fit in 1 MiB; that one is refused.
  const auto fit = (1 << 20) / each;  // models that fit, the first included
  for (std::int64_t i = 1; i < fit; ++i)
    REQUIRE(c.post("/v1/models", {{"path", m.dir.string()}, {"name", "copy" + std::to_string(i)}}).status == 201);
  auto refused = c.post("/v1/models", {{"path", m.dir.string()}, {"name", "one-too-many"}});
  CHECK(refused.status == 409);
  CHECK(refused.json()["error"]["message"].get<std::string>().find("memory_budget_mb") != std::string::npos);
  // Unloading makes room again.
  if (fit > 1) {
    REQUIRE(c.del("/v1/models/copy1").status == 200);
  } else {
    REQUIRE(c.del("/v1/models/tiny-llama").status == 200);
  }
  CHECK(c.post("/v1/models", {{"path", m.dir.string()}, {"name", "one-too-many"}}).status == 201);
}

TEST_CASE("unloading a model ends its running streams", "[inference][api]") {
  model_folder m(16384);  // room for a generation that outlasts the unload
  harness h(with_model(m, {{"modules.inference.max_context", 16384}}));
  auto streaming = std::async(std::launch::async, [&h] {
    auto c = h.connect_as_admin();
    return c.post("/v1/chat/completions",
                  chat_body({{"stream", true}, {"max_tokens", 100000}, {"temperature", 0.9}, {"seed", 3}}));
  });
  auto c = h.connect_as_admin();
  REQUIRE(eventually([&] { return metric(c, "agora_inference_running{model=\"tiny-llama\"}") == 1; }));
  REQUIRE(c.del("/v1/models/tiny-llama").status == 200);
  auto res = streaming.get();
  CHECK(res.status == 200);
  auto events = sse_events(res.body);
  REQUIRE(events.size() >= 2);
  CHECK(events.back() == "[DONE]");
  CHECK(events[events.size() - 2].contains("error"));  // it did not finish: an error event
  CHECK(c.get("/v1/models").json()["data"].empty());
  CHECK(c.get("/healthz").status == 200);
}

TEST_CASE("a stream still open at the shutdown deadline ends with an error event and data: DONE",
          "[inference][api]") {
  model_folder m(16384);  // room for a generation that outlasts the deadline
  harness h(with_model(m, {{"modules.inference.max_context", 16384}, {"shutdown.deadline_ms", 200}}));
  auto streaming = std::async(std::launch::async, [&h] {
    auto c = h.connect_as_admin();
    // Its stop tokens banned: it can only end by the shutdown.
    return c.post("/v1/chat/completions", chat_body({{"stream", true},
                                                     {"max_tokens", 100000},
                                                     {"temperature", 0.9},
                                                     {"seed", 3},
                                                     {"logit_bias", {{"2", -100}, {"3", -100}, {"257", -100}}}}));
  });
  auto c = h.connect_as_admin();
  REQUIRE(eventually([&] { return metric(c, "agora_inference_running{model=\"tiny-llama\"}") == 1; }));
  h.app().stop();
  auto res = streaming.get();
  CHECK(res.status == 200);
  auto events = sse_events(res.body);
  REQUIRE(events.size() >= 2);
  INFO(events[events.size() - 2].dump());
  CHECK(events.back() == "[DONE]");
  REQUIRE(events[events.size() - 2].contains("error"));
  CHECK(events[events.size() - 2]["error"]["code"] == "shutting_down");
}

TEST_CASE("a model's fallback is set, checked and cleared with its model", "[inference][api]") {
  model_folder m;
  model_folder other;
  harness h(with_model(m));
  auto c = h.connect_as_admin();
  CHECK(c.get("/v1/models").json()["data"][0]["fallback"].is_null());
  CHECK(c.post("/v1/models", {{"path", other.dir.string()}, {"name", "backup"}, {"fallback", "nope"}}).status == 400);
  CHECK(c.post("/v1/models", {{"path", other.dir.string()}, {"name", "backup"}, {"fallback", 7}}).status == 400);
  auto added = c.post("/v1/models", {{"path", other.dir.string()}, {"name", "backup"}, {"fallback", "tiny-llama"}});
  REQUIRE(added.status == 201);
  CHECK(added.json()["fallback"] == "tiny-llama");

  auto put = [&](const std::string& id, json body) { return c.put("/v1/models/" + id + "/fallback", body); };
  auto cycle = put("tiny-llama", {{"fallback", "backup"}});
  CHECK(cycle.status == 400);
  CHECK(cycle.json()["error"]["param"] == "fallback");
  CHECK(cycle.json()["error"]["message"].get<std::string>().find("cycle") != std::string::npos);
  CHECK(put("tiny-llama", {{"fallback", "tiny-llama"}}).status == 400);
  CHECK(put("tiny-llama", {{"fallback", "not-loaded"}}).status == 400);
  CHECK(put("tiny-llama", json::object()).status == 400);
  CHECK(put("tiny-llama", {{"fallback", ""}}).status == 400);
  auto unknown = put("not-loaded", {{"fallback", "tiny-llama"}});
  CHECK(unknown.status == 404);
  CHECK(unknown.json()["error"]["code"] == "model_not_found");

  auto cleared = put("backup", {{"fallback", nullptr}});
  REQUIRE(cleared.status == 200);
  CHECK(cleared.json()["fallback"].is_null());
  REQUIRE(put("tiny-llama", {{"fallback", "backup"}}).status == 200);
  CHECK(c.get("/v1/models").json()["data"][0]["fallback"] == "backup");

  // Unloading the fallback clears the link that named it.
  REQUIRE(c.del("/v1/models/backup").status == 200);
  CHECK(c.get("/v1/models").json()["data"][0]["fallback"].is_null());
}

TEST_CASE("a full queue sends requests on to the fallback model, marked as degraded", "[inference][api]") {
  model_folder m;
  model_folder other;
  harness h(with_model(m, {{"modules.inference.max_running", 1}, {"modules.inference.max_waiting", 1}}));
  auto c = h.connect_as_admin();
  REQUIRE(c.post("/v1/models", {{"path", other.dir.string()}, {"name", "backup"}}).status == 201);
  REQUIRE(c.put("/v1/models/tiny-llama/fallback", {{"fallback", "backup"}}).status == 200);

  constexpr int clients = 8;
  std::vector<std::future<agora::testing::reply>> replies;
  for (int i = 0; i < clients; ++i) {
    replies.push_back(std::async(std::launch::async, [&h, i] {
      auto client = h.connect_as_admin();
      return client.post("/v1/chat/completions", chat_body({{"max_tokens", 40}, {"temperature", 0.7}, {"seed", i}}));
    }));
  }
  int primary = 0, fallback = 0, refused = 0;
  for (auto& f : replies) {
    auto r = f.get();
    if (r.status == 429) {
      ++refused;  // both queues full: the asked model's refusal stands
      CHECK(r.json()["error"]["message"].get<std::string>().find("tiny-llama") != std::string::npos);
      continue;
    }
    REQUIRE(r.status == 200);
    if (r.json()["model"] == "backup") {
      ++fallback;
      CHECK(r.header("x-fallback-from") == "tiny-llama");
      CHECK(r.header("x-degraded") == "fallback-model");
    } else {
      ++primary;
      CHECK(r.json()["model"] == "tiny-llama");
      CHECK(r.header("x-fallback-from").empty());
    }
  }
  CHECK(primary >= 1);
  CHECK(fallback >= 1);
  CHECK(primary + fallback + refused == clients);
  CHECK(metric(c, "agora_inference_fallbacks_total") == fallback + refused);
}

TEST_CASE("grounding puts the store's matching products into the context", "[inference][api]") {
  model_folder m;
  harness h(with_model(m));
  auto c = h.connect_as_admin();
  auto lamp = c.post("/v1/products", {{"sku", "LAMP-1"},
                                      {"name", "Brass desk lamp"},
                                      {"description", "A warm reading light"},
                                      {"price", {{"amount", 1999}, {"currency", "EUR"}}}});
  REQUIRE(lamp.status == 201);
  auto mug = c.post("/v1/products", {{"sku", "MUG-1"}, {"name", "Coffee mug"}, {"price", {{"amount", 500}, {"currency", "JPY"}}}});
  REQUIRE(mug.status == 201);
  const std::string lamp_id = lamp.json()["id"], mug_id = mug.json()["id"];

  auto ask = [&](const std::string& question, json grounding) {
    json body = chat_body({{"messages", {{{"role", "user"}, {"content", question}}}}, {"max_tokens", 1}});
    if (!grounding.is_null()) body["grounding"] = grounding;
    return c.post("/v1/chat/completions", body);
  };
  auto plain = ask("Do you sell a desk lamp?", nullptr);
  REQUIRE(plain.status == 200);
  CHECK(plain.header("x-grounding").empty());

  auto grounded = ask("Do you sell a desk lamp?", true);
  REQUIRE(grounded.status == 200);
  CHECK(grounded.header("x-grounding") == lamp_id);
  // The byte-level tokenizer counts bytes: the product's line went into the prompt.
  const auto extra = grounded.json()["usage"]["prompt_tokens"].get<int>() - plain.json()["usage"]["prompt_tokens"].get<int>();
  CHECK(extra > 100);
  CHECK(grounded.header("x-degraded").empty());

  // Either word matches: both products, or as many as asked for.
  auto both = ask("mug or lamp", json{{"products", 5}});
  REQUIRE(both.status == 200);
  const auto ids = both.header("x-grounding");
  CHECK(ids.find(lamp_id) != std::string::npos);
  CHECK(ids.find(mug_id) != std::string::npos);
  auto one = ask("mug or lamp", json{{"products", 1}});
  CHECK(one.header("x-grounding").find(',') == std::string::npos);
  CHECK(one.header("x-grounding").rfind("prod_", 0) == 0);

  CHECK(ask("unicorn saddles", true).header("x-grounding") == "none");
  auto wordless = ask("?!", true);  // nothing the search can take: answered, ungrounded
  CHECK(wordless.status == 200);
  CHECK(wordless.header("x-grounding") == "none");
  CHECK(ask("desk lamp", false).header("x-grounding").empty());

  CHECK(ask("lamp", "yes").json()["error"]["param"] == "grounding");
  CHECK(ask("lamp", json{{"products", 0}}).json()["error"]["param"] == "grounding.products");
  CHECK(ask("lamp", json{{"products", 21}}).status == 400);
  CHECK(ask("lamp", json::object()).json()["error"]["param"] == "grounding.products");
}

TEST_CASE("without a catalog, grounding is reported unavailable and the answer still comes", "[inference][api]") {
  model_folder m;
  harness h(with_model(m, {{"modules.enabled", json::array({"customers", "inference"})}}));
  auto c = h.connect_as_admin();
  auto r = c.post("/v1/chat/completions", chat_body({{"grounding", true}}));
  REQUIRE(r.status == 200);
  CHECK(r.header("x-grounding") == "unavailable");
  CHECK(r.header("x-degraded") == "grounding-unavailable");
}

TEST_CASE("an answer degraded twice says both: no catalog to ground it, and a fallback model", "[inference][api]") {
  model_folder m;
  model_folder other;
  harness h(with_model(m, {{"modules.enabled", json::array({"customers", "inference"})},
                           {"modules.inference.max_running", 1},
                           {"modules.inference.max_waiting", 1}}));
  auto c = h.connect_as_admin();
  REQUIRE(c.post("/v1/models", {{"path", other.dir.string()}, {"name", "backup"}}).status == 201);
  REQUIRE(c.put("/v1/models/tiny-llama/fallback", {{"fallback", "backup"}}).status == 200);
  std::vector<std::future<agora::testing::reply>> replies;
  for (int i = 0; i < 8; ++i) {
    replies.push_back(std::async(std::launch::async, [&h, i] {
      auto client = h.connect_as_admin();
      return client.post("/v1/chat/completions",
                         chat_body({{"max_tokens", 40}, {"temperature", 0.7}, {"seed", i}, {"grounding", true}}));
    }));
  }
  int fallback = 0;
  for (auto& f : replies) {
    auto r = f.get();
    if (r.status != 200) continue;
    CHECK(r.header("x-grounding") == "unavailable");
    if (r.json()["model"] == "backup") {
      ++fallback;
      CHECK(r.header("x-degraded") == "grounding-unavailable, fallback-model");
    } else {
      CHECK(r.header("x-degraded") == "grounding-unavailable");
    }
  }
  CHECK(fallback >= 1);
}

namespace {

// A model folder's copy under root, named `name` (the fixture's files, real copies).
fs::path copy_model(const model_folder& m, const std::string& name) {
  auto dir = m.root / name;
  fs::copy(m.dir, dir, fs::copy_options::recursive);
  return dir;
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

// The load's answer says what is wrong with which file, and nothing of the files'
// contents or of where they are.
void check_refusal(const agora::testing::reply& r, const model_folder& m, std::string_view expected) {
  INFO(r.body);
  CHECK(r.status == 400);
  CHECK(r.json()["error"]["type"] == "invalid_request_error");
  CHECK(r.json()["error"]["param"] == "path");
  CHECK(r.body.find(expected) != std::string::npos);
  CHECK(r.body.find(m.root.string()) == std::string::npos);
  CHECK(r.body.find("hunter2") == std::string::npos);
}

}  // namespace

TEST_CASE("a model folder is untrusted: only its own regular files, within limits, are read", "[inference][api]") {
  model_folder m;
  harness h(with_model(m));
  auto c = h.connect_as_admin();
  const auto secret = m.root / "secret.txt";
  write_text(secret, "{\"password\": \"hunter2 is the first line\n");

  SECTION("a FIFO is refused at once, and the loader goes on") {
    auto dir = copy_model(m, "fifo");
    fs::remove(dir / "tokenizer.json");
    REQUIRE(::mkfifo((dir / "tokenizer.json").c_str(), 0600) == 0);
    check_refusal(c.post("/v1/models", {{"path", dir.string()}}), m, "tokenizer.json: is not a regular file");
    CHECK(c.post("/v1/models", {{"path", copy_model(m, "after-fifo").string()}}).status == 201);
  }
  SECTION("a link to a device or to a file outside the folder is refused") {
    auto zero = copy_model(m, "zero");
    fs::remove(zero / "tokenizer.json");
    fs::create_symlink("/dev/zero", zero / "tokenizer.json");
    check_refusal(c.post("/v1/models", {{"path", zero.string()}}), m, "tokenizer.json: is a link to a file outside");
    auto leak = copy_model(m, "leak");
    fs::remove(leak / "config.json");
    fs::create_symlink(secret, leak / "config.json");
    check_refusal(c.post("/v1/models", {{"path", leak.string()}}), m, "config.json: is a link to a file outside");
    auto passwd = copy_model(m, "passwd");
    fs::create_symlink(secret, passwd / "chat_template.jinja");
    check_refusal(c.post("/v1/models", {{"path", passwd.string()}}), m, "chat_template.jinja: is a link to a file");
  }
  SECTION("a file that is not what it should be is named, its contents never quoted") {
    auto bad = copy_model(m, "bad-json");
    fs::copy_file(secret, bad / "tokenizer.json", fs::copy_options::overwrite_existing);
    check_refusal(c.post("/v1/models", {{"path", bad.string()}}), m, "tokenizer.json: not valid JSON");
    auto cfg = copy_model(m, "bad-config");
    fs::copy_file(secret, cfg / "config.json", fs::copy_options::overwrite_existing);
    check_refusal(c.post("/v1/models", {{"path", cfg.string()}}), m, "config.json: not valid JSON");
    auto big = copy_model(m, "big-config");
    write_text(big / "config.json", std::string((1 << 20) + 1, ' '));
    check_refusal(c.post("/v1/models", {{"path", big.string()}}), m, "config.json: 1048577 bytes, over the limit");
    auto missing = copy_model(m, "no-tokenizer");
    fs::remove(missing / "tokenizer.json");
    check_refusal(c.post("/v1/models", {{"path", missing.string()}}), m, "tokenizer.json: missing");
  }
  SECTION("links inside the folder and into a Hugging Face cache's blobs are followed") {
    auto inside = copy_model(m, "inside");
    fs::create_directories(inside / "templates");
    write_text(inside / "templates" / "chat.jinja", "{% for m in messages %}{{ m.content }}{% endfor %}");
    fs::create_symlink("templates/chat.jinja", inside / "chat_template.jinja");
    CHECK(c.post("/v1/models", {{"path", inside.string()}}).status == 201);

    const auto entry = m.root / "models--agora--tiny";
    const auto snapshot = entry / "snapshots" / "0123abc";
    fs::create_directories(entry / "blobs");
    fs::create_directories(snapshot);
    for (const auto& f : fs::directory_iterator(m.dir)) {
      const auto blob = entry / "blobs" / ("blob-" + f.path().filename().string());
      fs::copy_file(f.path(), blob);
      fs::create_symlink(fs::path("../../blobs") / blob.filename(), snapshot / f.path().filename());
    }
    auto cached = c.post("/v1/models", {{"path", snapshot.string()}, {"name", "from-cache"}});
    INFO(cached.body);
    CHECK(cached.status == 201);
    CHECK(c.post("/v1/chat/completions", chat_body({{"model", "from-cache"}})).status == 200);
  }
  SECTION("paths with control characters and bad names are refused in OpenAI's shape") {
    auto nul = c.post("/v1/models", {{"path", m.dir.string() + std::string(1, '\0') + "x"}});
    CHECK(nul.status == 400);
    CHECK(nul.json()["error"]["param"] == "path");
    CHECK(c.post("/v1/models", {{"path", m.dir.string() + "\n"}}).status == 400);
    for (const std::string name : std::vector<std::string>{"a b", "../x", std::string(65, 'a'), "-x", "x\ty", "é"}) {
      auto r = c.post("/v1/models", {{"path", m.dir.string()}, {"name", name}});
      CHECK(r.status == 400);
      CHECK(r.json()["error"]["param"] == "name");
    }
    CHECK(c.post("/v1/models", {{"path", m.dir.string()}, {"name", std::string(64, 'a')}}).status == 201);
    CHECK(c.post("/v1/models", {{"path", m.dir.string()}, {"name", "org:model-1.5_b"}}).status == 201);
  }
  SECTION("the model list shows no path") {
    const auto list = c.get("/v1/models");
    CHECK_FALSE(list.json()["data"][0].contains("path"));
    CHECK(list.body.find(m.root.string()) == std::string::npos);
    CHECK(c.get("/v1/models/tiny-llama").body.find(m.root.string()) == std::string::npos);
    CHECK(list.json()["data"][0].contains("checksum"));
  }
}

TEST_CASE("a load slower than load_timeout_ms answers 504 in time and frees the loader", "[inference][api]") {
  model_folder m;
  harness h(with_model(m, {{"modules.inference.load_timeout_ms", 1000}}));
  auto c = h.connect_as_admin();
  // A sparse 32 GiB weight file: hashing it takes far longer than a second, reads nothing
  // from the disk, and only the checksum touches it.
  auto slow = copy_model(m, "slow");
  { std::ofstream(slow / "zz-padding.safetensors"); }
  fs::resize_file(slow / "zz-padding.safetensors", std::uint64_t{32} << 30);
  auto late = c.post("/v1/models", {{"path", slow.string()}});
  INFO(late.body);
  CHECK(late.status == 504);
  CHECK(late.json()["error"]["code"] == "timeout");
  CHECK(late.json()["error"]["message"].get<std::string>().find("load_timeout_ms") != std::string::npos);
  // The abandoned load stops at its deadline: the next one runs, and the name is free.
  CHECK(c.post("/v1/models", {{"path", copy_model(m, "next").string()}}).status == 201);
  fs::remove(slow / "zz-padding.safetensors");
  CHECK(c.post("/v1/models", {{"path", slow.string()}}).status == 201);
  CHECK(c.get("/v1/models").json()["data"].size() == 3);
}

TEST_CASE("unloaded models leave no metric series, cached answer or name behind", "[inference][api]") {
  model_folder m;
  harness h(with_model(m));
  auto c = h.connect_as_admin();
  auto lines = [&c] {
    auto text = c.get("/metrics").body;
    return std::count(text.begin(), text.end(), '\n');
  };
  auto cycle = [&](int models) {
    for (int i = 0; i < models; ++i) {
      const auto name = "copy" + std::to_string(i);
      REQUIRE(c.post("/v1/models", {{"path", m.dir.string()}, {"name", name}}).status == 201);
      REQUIRE(c.post("/v1/chat/completions", chat_body({{"model", name}})).status == 200);
      REQUIRE(c.post("/v1/chat/completions", chat_body({{"model", name}})).header("x-cache") == "HIT");
    }
    for (int i = 0; i < models; ++i) REQUIRE(c.del("/v1/models/copy" + std::to_string(i)).status == 200);
  };
  cycle(1);  // the routes' own series exist from here on
  REQUIRE(eventually([&] { return c.get("/metrics").body.find("model=\"copy") == std::string::npos; }));
  const auto baseline = lines();
  const auto series = h.app().metrics().series_count();
  for (int round = 0; round < 3; ++round) {
    cycle(5);
    // Unloading finishes on the loader thread, after the DELETE's answer.
    CHECK(eventually([&] { return h.app().metrics().series_count() == series; }));
    CHECK(lines() == baseline);
    CHECK(c.get("/metrics").body.find("model=\"copy") == std::string::npos);
  }
  // A model loaded again under an unloaded one's name answers afresh, not from its cache.
  REQUIRE(c.post("/v1/models", {{"path", m.dir.string()}, {"name", "copy0"}}).status == 201);
  CHECK(c.post("/v1/chat/completions", chat_body({{"model", "copy0"}})).header("x-cache") == "MISS");
}

TEST_CASE("a customer reaches only their own conversations and stops at the daily token allowance",
          "[inference][api]") {
  model_folder m;
  harness h(with_model(m));
  auto admin = h.connect_as_admin();
  auto mine = admin.post("/v1/conversations", {{"model", "tiny-llama"}, {"title", "Admin's"}});
  REQUIRE(mine.status == 201);
  auto id = mine.json().at("id").get<std::string>();

  auto other = h.connect();
  REQUIRE(other.post("/v1/auth/register", {{"email", "b@example.com"}, {"password", "b's long password"}, {"name", "B"}})
              .status == 201);
  auto grant = other.post("/v1/auth/login", {{"email", "b@example.com"}, {"password", "b's long password"}}).json();
  other.authorize(grant.at("access_token").get<std::string>());
  CHECK(other.get("/v1/conversations/" + id).status == 404);
  CHECK(other.del("/v1/conversations/" + id).status == 404);
  CHECK(other.get("/v1/conversations").json().at("data").empty());
  CHECK(other.post("/v1/chat/completions", chat_body({{"conversation_id", id}})).status == 404);
  // Model management is for admins; the error is in OpenAI's shape.
  auto refused = other.del("/v1/models/tiny-llama");
  CHECK(refused.status == 403);
  CHECK(refused.json().at("error").at("type") == "permission_error");
  auto anonymous = h.connect().post("/v1/chat/completions", chat_body());
  CHECK(anonymous.status == 401);
  CHECK(anonymous.json().at("error").at("code") == "missing_credentials");

  auto account = grant.at("account_id").get<std::string>();
  REQUIRE(admin.put("/v1/admin/quotas/" + account, {{"daily_tokens", 1}}).status == 200);
  int status = 0;
  agora::testing::reply last;
  for (int i = 0; i < 50 && status != 429; ++i) {
    last = other.post("/v1/chat/completions", chat_body());
    status = last.status;
    if (status == 200) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // usage lands after the answer
  }
  REQUIRE(status == 429);
  CHECK(last.json().at("error").at("type") == "rate_limit_exceeded");
  CHECK(std::stoll(last.header("retry-after")) > 0);
  // The admin's own allowance is untouched.
  CHECK(admin.post("/v1/chat/completions", chat_body()).status == 200);
}
