#include "service/conversations.hpp"

#include <agora/ids.hpp>
#include <agora/rest.hpp>

#include <boost/beast/http/field.hpp>


namespace agora::inference::conversations {

namespace {

namespace bhttp = boost::beast::http;
using nlohmann::json;

// The message type's JSON form plus OpenAI-style "object"; lists leave out the messages.
json to_json(const conversation& c, bool with_messages) {
  json j = c;
  j["object"] = "conversation";
  if (!with_messages) j.erase("messages");
  return j;
}

std::string render(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json conversation_schema() {
  json str = {{"type", "string"}};
  json time = {{"type", "string"}, {"format", "date-time"}};
  json message = {{"type", "object"},
                  {"properties", {{"role", str}, {"content", str}, {"created_at", time}}}};
  return {{"type", "object"},
          {"required", {"id", "object", "model", "title", "created_at", "updated_at", "version"}},
          {"properties",
           {{"id", str},
            {"object", str},
            {"model", str},
            {"title", str},
            {"created_at", time},
            {"updated_at", time},
            {"version",
             {{"type", "integer"},
              {"minimum", 1},
              {"description", "1 + the number of stored messages; the ETag is this, quoted"}}},
            {"messages", {{"type", "array"}, {"items", message}}}}}};
}

conversation read_row(store::statement& q) {
  conversation c;
  std::int64_t messages = 0;
  q.columns(c.id, c.model, c.title, c.created_at, c.updated_at, messages);
  c.version = 1 + messages;
  return c;
}

constexpr std::string_view message_count =
    "(SELECT COUNT(*) FROM conversation_messages m WHERE m.conversation_id = conversations.id)";

}  // namespace

namespace sql {

void insert(store::database& db, const conversation& c, const std::string& caller) {
  db.prepare("INSERT INTO conversations(id, caller, model, title, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)")
      .bind_all(c.id, caller, c.model, c.title, c.created_at, c.updated_at)
      .run();
}

std::optional<conversation> find(store::database& db, const std::string& id, const std::string& caller) {
  auto& q = db.prepare(std::string("SELECT id, model, title, created_at, updated_at, ") + std::string(message_count) +
                       " FROM conversations WHERE id = ? AND caller = ?");
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
  auto& q = db.prepare(std::string("SELECT id, model, title, created_at, updated_at, ") + std::string(message_count) +
                       " FROM conversations WHERE caller = ? AND id > ? ORDER BY id LIMIT ?");
  q.bind_all(caller, after, limit);
  std::vector<conversation> out;
  while (q.step()) out.push_back(read_row(q));
  return out;
}

std::optional<std::int64_t> version_of(store::database& db, const std::string& id, const std::string& caller) {
  auto& q = db.prepare(std::string("SELECT ") + std::string(message_count) +
                       " FROM conversations WHERE id = ? AND caller = ?");
  q.bind_all(id, caller);
  if (!q.step()) return std::nullopt;
  std::int64_t messages = q.int64(0);
  q.reset();
  return 1 + messages;
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
  std::vector<field_error> errors;
  http::object_reader body(ctx.body, "", {"model", "title"}, errors);
  create_conversation_request r;
  if (auto model = body.string("model", true)) {
    if (model->empty())
      body.fail("model", "required: the model this conversation talks to");
    else
      r.model = std::move(*model);
  }
  if (const auto* title = body.member("title", false); title && !title->is_null()) {
    if (!title->is_string() || title->get_ref<const std::string&>().size() > title_max_bytes)
      body.fail("title", "expected a string of at most 200 bytes");
    else
      r.title = title->get<std::string>();
  }
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

result<conversation_ref> decode_ref(http::request_context& ctx) {
  conversation_ref r;
  r.id = http::path_param(ctx, "id");
  r.expected_version = http::if_match(ctx);
  return r;
}

result<list_conversations_request> decode_list(http::request_context& ctx) {
  std::vector<field_error> errors;
  list_conversations_request r;
  http::read_page_query(ctx, r.limit, r.cursor, errors);
  if (!errors.empty()) return error::invalid(std::move(errors));
  return r;
}

http::response encode_created(const conversation& c, http::request_context& ctx) {
  auto res = http::versioned(201, c.version, ctx, [&] { return render(to_json(c, true)); });
  res.set(bhttp::field::location, "/v1/conversations/" + c.id);
  return res;
}

http::response encode(const conversation& c, http::request_context& ctx) {
  return http::versioned(200, c.version, ctx, [&] { return render(to_json(c, true)); });
}

http::response encode_page(const conversation_page& p, http::request_context&) {
  json data = json::array();
  for (const auto& c : p.data) data.push_back(to_json(c, false));
  return http::json_body(200, {{"data", data}, {"next_cursor", p.next_cursor ? json(*p.next_cursor) : json(nullptr)}});
}

http::response encode_deleted(const conversation_deleted&, http::request_context&) { return http::no_content(); }

http::route create_route() {
  auto r = http::describe(http::verb::post, "/v1/conversations", "createConversation",
                      "Start a stored conversation; chat requests continue it with conversation_id");
  r.who = access::signed_in("conversations");
  r.request_schema = {{"type", "object"},
                      {"required", {"model"}},
                      {"additionalProperties", false},
                      {"properties", {{"model", {{"type", "string"}}}, {"title", {{"type", "string"}}}}}};
  r.responses = {{201, conversation_schema()}, {404, nullptr}, {422, nullptr}};
  return r;
}

http::route get_route() {
  auto r = http::describe(http::verb::get, "/v1/conversations/{id}", "getConversation", "A conversation with its messages");
  r.who = access::signed_in("conversations");
  r.responses = {{200, conversation_schema()}, {304, nullptr}, {404, nullptr}};
  r.request_headers = {"If-None-Match"};
  return r;
}

http::route list_route() {
  auto r = http::describe(http::verb::get, "/v1/conversations", "listConversations",
                      "The caller's conversations, oldest first, a page at a time");
  r.who = access::signed_in("conversations");
  r.responses = {{200,
                  {{"type", "object"},
                   {"properties",
                    {{"data", {{"type", "array"}, {"items", conversation_schema()}}},
                     {"next_cursor", {{"type", {"string", "null"}}}}}}}},
                 {422, nullptr}};
  r.query = http::page_query_docs(std::to_string(max_page_limit), default_page_limit);
  return r;
}

http::route delete_route() {
  auto r = http::describe(http::verb::delete_, "/v1/conversations/{id}", "deleteConversation",
                      "Delete a conversation and its messages; If-Match with its ETag makes it conditional (412 "
                      "when a message was added since)");
  r.who = access::signed_in("conversations");
  r.responses = {{204, nullptr}, {404, nullptr}, {412, nullptr}};
  r.request_headers = {"If-Match"};
  return r;
}

}  // namespace agora::inference::conversations
