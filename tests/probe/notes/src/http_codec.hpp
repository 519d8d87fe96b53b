#pragma once

#include <notes/api.hpp>

#include <agora/http.hpp>
#include <agora/result.hpp>

// The routes of notes: HTTP requests into bus requests, replies into responses.
namespace agora::notes::codec {

http::route create_route();  // POST /v1/notes: 201, Location, ETag
http::route get_route();     // GET /v1/notes/{id}: ETag, 304 on If-None-Match
http::route list_route();    // GET /v1/notes?limit&cursor
http::route update_route();  // PATCH /v1/notes/{id}: If-Match
http::route delete_route();  // DELETE /v1/notes/{id}: If-Match, 204

result<create_note_request> decode_create(http::request_context& ctx);
result<get_note_request> decode_get(http::request_context& ctx);
result<list_notes_request> decode_list(http::request_context& ctx);
result<update_note_request> decode_update(http::request_context& ctx);
result<delete_note_request> decode_delete(http::request_context& ctx);

http::response encode_created(const note& n, http::request_context& ctx);
http::response encode_note(const note& n, http::request_context& ctx);
http::response encode_page(const page<note>& p, http::request_context& ctx);
http::response encode_deleted(const deleted_note& d, http::request_context& ctx);

}  // namespace agora::notes::codec
