#include "http_codec.hpp"

#include <agora/rest.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace agora::notes::codec {
namespace {

using json = nlohmann::json;

json text_schema() {
  return {{"type", "string"}, {"minLength", 1}, {"maxLength", text_max}};
}

json note_schema() {
  return {{"type", "object"},
          {"required", json::array({"id", "text", "version", "created_at", "updated_at"})},
          {"properties",
           {{"id", {{"type", "string"}}},
            {"text", text_schema()},
            {"version", {{"type", "integer"}}},
            {"created_at", {{"type", "string"}, {"format", "date-time"}}},
            {"updated_at", {{"type", "string"}, {"format", "date-time"}}}}}};
}

json text_body_schema(bool required) {
  json s{{"type", "object"}, {"additionalProperties", false}, {"properties", {{"text", text_schema()}}}};
  if (required) s["required"] = json::array({"text"});
  return s;
}

std::string location(const note& n) { return "/v1/notes/" + n.id; }

}  // namespace

http::route create_route() {
  auto r = http::describe(http::verb::post, "/v1/notes", "createNote", "Create a note");
  r.who = access::anyone();  // a demo module: its notes are public
  r.request_schema = text_body_schema(true);
  r.responses[201] = note_schema();
  return r;
}

http::route get_route() {
  auto r = http::describe(http::verb::get, "/v1/notes/{id}", "getNote", "Read a note");
  r.who = access::anyone();  // a demo module: its notes are public
  r.request_headers = {"If-None-Match"};
  r.responses[200] = note_schema();
  r.responses[304] = nullptr;
  return r;
}

http::route list_route() {
  auto r = http::describe(http::verb::get, "/v1/notes", "listNotes", "List notes in creation order");
  r.who = access::anyone();  // a demo module: its notes are public
  r.query = http::page_query_docs("modules.notes.page_limit_max", 20);
  r.responses[200] = {{"type", "object"},
                      {"required", json::array({"data", "next_cursor"})},
                      {"properties",
                       {{"data", {{"type", "array"}, {"items", note_schema()}}},
                        {"next_cursor", {{"type", json::array({"string", "null"})}}}}}};
  return r;
}

http::route update_route() {
  auto r = http::describe(http::verb::patch, "/v1/notes/{id}", "updateNote", "Change a note's text");
  r.who = access::anyone();  // a demo module: its notes are public
  r.request_schema = text_body_schema(false);
  r.request_headers = {"If-Match"};
  r.responses[200] = note_schema();
  return r;
}

http::route delete_route() {
  auto r = http::describe(http::verb::delete_, "/v1/notes/{id}", "deleteNote", "Delete a note");
  r.who = access::anyone();  // a demo module: its notes are public
  r.request_headers = {"If-Match"};
  r.responses[204] = nullptr;
  return r;
}

result<create_note_request> decode_create(http::request_context& ctx) {
  std::vector<field_error> errors;
  http::object_reader body(ctx.body, "", {"text"}, errors);
  auto text = body.string("text", true);
  if (!errors.empty()) return error::invalid(std::move(errors));  // a missing text is among them
  return create_note_request{std::move(text).value()};
}

result<get_note_request> decode_get(http::request_context& ctx) { return get_note_request{http::path_param(ctx, "id")}; }

result<list_notes_request> decode_list(http::request_context& ctx) {
  std::vector<field_error> errors;
  list_notes_request req;
  http::read_page_query(ctx, req.limit, req.cursor, errors);
  if (!errors.empty()) return error::invalid(std::move(errors));
  return req;
}

result<update_note_request> decode_update(http::request_context& ctx) {
  std::vector<field_error> errors;
  http::object_reader body(ctx.body, "", {"text"}, errors);
  auto text = body.string("text", false);
  if (!errors.empty()) return error::invalid(std::move(errors));
  return update_note_request{http::path_param(ctx, "id"), std::move(text), http::if_match(ctx)};
}

result<delete_note_request> decode_delete(http::request_context& ctx) {
  return delete_note_request{http::path_param(ctx, "id"), http::if_match(ctx)};
}

http::response encode_created(const note& n, http::request_context& ctx) {
  auto res = http::versioned(201, n.version, ctx, [&] { return json(n).dump(); });
  res.set(http::beast::http::field::location, location(n));
  return res;
}

http::response encode_note(const note& n, http::request_context& ctx) {
  return http::versioned(200, n.version, ctx, [&] { return json(n).dump(); });
}

http::response encode_page(const page<note>& p, http::request_context& ctx) { return http::json_body(200, json(p)); }

http::response encode_deleted(const deleted_note& d, http::request_context& ctx) { return http::no_content(); }

}  // namespace agora::notes::codec
