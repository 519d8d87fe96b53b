#include "conversations.hpp"

#include <agora/ids.hpp>

#include <boost/beast/http/field.hpp>

#include <charconv>

namespace agora::inference::conversations {

namespace {

namespace bhttp = boost::beast::http;
using nlohmann::json;

json to_json(const conversation& c, bool with_messages) {
  json j = {{"id", c.id},
            {"object", "conversation"},
            {"model", c.model},
            {"title", c.title},
            {"created_at", c.created_at},
            {"updated_at", c.updated_at}};
  if (with_messages) {
    j["messages"] = json::array();
    for (const auto& m : c.messages)
      j["messages"].push_back({{"role", m.role}, {"content", m.content}, {"created_at", m.created_at}});
  }
  return j;
}

http::response with_json(int status, const json& body) {
  http::response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return res;
}

json conversation_schema() {
  json str = {{"type", "string"}};
  json time = {{"type", "string"}, {"format", "date-time"}};
  json message = {{"type", "object"},
                  {"properties", {{"role", str}, {"content", str}, {"created_at", time}}}};
  return {{"type", "object"},
          {"required", {"id", "object", "model", "title", "created_at", "updated_at"}},
          {"properties",
           {{"id", str},
            {"object", str},
            {"model", str},
            {"title", str},
            {"created_at", time},
            {"updated_at", time},
            {"messages", {{"type", "array"}, {"items", message}}}}}};
}

conversation read_row(store::statement& q) {
  conversation c;
  c.id = q.text(0);
  c.model = q.text(1);
  c.title = q.text(2);
  c.created_at = q.text(3);
  c.updated_at = q.text(4);
  return c;
}

constexpr std::int64_t default_limit = 20;
constexpr std::int64_t max_limit = 100;

}  // namespace

namespace sql {

void insert(store::database& db, const conversation& c, const std::string& caller) {
  db.prepare("INSERT INTO conversations(id, caller, model, title, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)")
      .bind_all(c.id, caller, c.model, c.title, c.created_at, c.updated_at)
      .run();
}

std::optional<conversation> find(store::database& db, const std::string& id, const std::string& caller) {
  auto& q = db.prepare("SELECT id, model, title, created_at, updated_at FROM conversations WHERE id = ? AND caller = ?");
  q.bind_all(id, caller);
  if (!q.step()) return std::nullopt;
  conversation c = read_row(q);
  q.reset();
  auto& m = db.prepare(
      "SELECT role, content, created_at FROM conversation_messages WHERE conversation_id = ? ORDER BY seq");
  m.bind_all(id);
  while (m.step()) c.messages.push_back({m.text(0), m.text(1), m.text(2)});
  return c;
}

std::vector<conversation> list(store::database& db, const std::string& caller, const std::string& after,
                               std::int64_t limit) {
  auto& q = db.prepare(
      "SELECT id, model, title, created_at, updated_at FROM conversations WHERE caller = ? AND id > ? ORDER BY id "
      "LIMIT ?");
  q.bind_all(caller, after, limit);
  std::vector<conversation> out;
  while (q.step()) out.push_back(read_row(q));
  return out;
}

bool remove(store::database& db, const std::string& id, const std::string& caller) {
  auto& q = db.prepare("DELETE FROM conversations WHERE id = ? AND caller = ?");
  q.bind_all(id, caller);
  q.run();
  return db.changes() > 0;
}

bool append(store::database& db, const std::string& id, const std::vector<chat_turn>& turns, const std::string& now) {
  auto& touch = db.prepare("UPDATE conversations SET updated_at = ? WHERE id = ?");
  touch.bind_all(now, id);
  touch.run();
  if (db.changes() == 0) return false;
  auto& last = db.prepare("SELECT COALESCE(MAX(seq), 0) FROM conversation_messages WHERE conversation_id = ?");
  last.bind_all(id);
  last.step();
  std::int64_t seq = last.int64(0);
  last.reset();
  for (const auto& t : turns) {
    db.prepare("INSERT INTO conversation_messages(conversation_id, seq, role, content, created_at) VALUES (?, ?, ?, ?, ?)")
        .bind_all(id, ++seq, t.role, t.content, now)
        .run();
  }
  return true;
}

}  // namespace sql

result<create_conversation_request> decode_create(http::request_context& ctx) {
  create_conversation_request r;
  std::vector<field_error> errors;
  const auto& b = ctx.body;
  if (!b.is_object()) return error::invalid({{"body", "expected a JSON object"}});
  if (!b.contains("model") || !b["model"].is_string() || b["model"].get<std::string>().empty())
    errors.push_back({"model", "required: the model this conversation talks to"});
  else
    r.model = b["model"].get<std::string>();
  if (b.contains("title") && !b["title"].is_null()) {
    if (!b["title"].is_string() || b["title"].get<std::string>().size() > 200)
      errors.push_back({"title", "expected a string of at most 200 bytes"});
    else
      r.title = b["title"].get<std::string>();
  }
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

result<conversation_ref> decode_ref(http::request_context& ctx) {
  return conversation_ref{std::string(ctx.param("id").value_or("")), "anonymous"};
}

result<list_conversations_request> decode_list(http::request_context& ctx) {
  list_conversations_request r;
  if (auto l = ctx.query_param("limit")) {
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), v);
    if (ec != std::errc{} || p != l->data() + l->size() || v < 1 || v > max_limit)
      return error::invalid({{"limit", "expected an integer from 1 to 100"}});
    r.limit = v;
  }
  if (auto c = ctx.query_param("cursor")) r.cursor = std::string(*c);
  return r;
}

http::response encode_created(const conversation& c, http::request_context&) {
  auto res = with_json(201, to_json(c, true));
  res.set(bhttp::field::location, "/v1/conversations/" + c.id);
  return res;
}

http::response encode(const conversation& c, http::request_context&) { return with_json(200, to_json(c, true)); }

http::response encode_page(const conversation_page& p, http::request_context&) {
  json data = json::array();
  for (const auto& c : p.data) data.push_back(to_json(c, false));
  return with_json(200, {{"data", data}, {"next_cursor", p.next_cursor ? json(*p.next_cursor) : json(nullptr)}});
}

http::response encode_deleted(const conversation_deleted&, http::request_context&) {
  return http::response{bhttp::status::no_content, 11};
}

http::route create_route() {
  auto r = http::describe(http::verb::post, "/v1/conversations", "createConversation",
                      "Start a stored conversation; chat requests continue it with conversation_id");
  r.request_schema = {{"type", "object"},
                      {"required", {"model"}},
                      {"properties", {{"model", {{"type", "string"}}}, {"title", {{"type", "string"}}}}}};
  r.responses = {{201, conversation_schema()}, {404, nullptr}, {422, nullptr}};
  return r;
}

http::route get_route() {
  auto r = http::describe(http::verb::get, "/v1/conversations/{id}", "getConversation", "A conversation with its messages");
  r.responses = {{200, conversation_schema()}, {404, nullptr}};
  return r;
}

http::route list_route() {
  auto r = http::describe(http::verb::get, "/v1/conversations", "listConversations",
                      "The caller's conversations, oldest first, a page at a time");
  r.responses = {{200,
                  {{"type", "object"},
                   {"properties",
                    {{"data", {{"type", "array"}, {"items", conversation_schema()}}},
                     {"next_cursor", {{"type", {"string", "null"}}}}}}}},
                 {422, nullptr}};
  r.query = {{"limit", "integer", "Page size, 1 to 100 (default 20)"},
             {"cursor", "string", "The next_cursor of the previous page"}};
  return r;
}

http::route delete_route() {
  auto r = http::describe(http::verb::delete_, "/v1/conversations/{id}", "deleteConversation",
                      "Delete a conversation and its messages");
  r.responses = {{204, nullptr}, {404, nullptr}};
  return r;
}

std::int64_t page_size(const std::optional<std::int64_t>& limit) { return limit.value_or(default_limit); }

}  // namespace agora::inference::conversations
