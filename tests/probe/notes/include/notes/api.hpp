#pragma once

#include <agora/values.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

namespace agora {
struct module_definition;
}

// The door of notes, a probe module written from modules/README.md alone and shipped
// only in the tests: short texts with a version that is their ETag.
namespace agora::notes {

// A note. `text` is 1 to text_max Unicode characters of valid UTF-8 with no leading or
// trailing ASCII whitespace; `version` is 1 at creation and grows by one with each
// change; the times are RFC 3339 UTC from the module's clock.
struct note {
  std::string id;  // "note_…"
  std::string text;
  std::int64_t version = 0;
  std::string created_at;
  std::string updated_at;
};
constexpr auto json_fields(const note*) {
  return std::tuple{json_field("id", &note::id), json_field("text", &note::text),
                    json_field("version", &note::version), json_field("created_at", &note::created_at),
                    json_field("updated_at", &note::updated_at)};
}

inline constexpr std::size_t text_max = 500;

// The text is trimmed before it is checked; invalid_argument on `text` when it breaks
// the rules of note::text.
struct create_note_request {
  std::string text;
};
constexpr auto json_fields(const create_note_request*) {
  return std::tuple{json_field("text", &create_note_request::text)};
}

// not_found when there is no such note.
struct get_note_request {
  std::string id;
};
constexpr auto json_fields(const get_note_request*) { return std::tuple{json_field("id", &get_note_request::id)}; }

// Notes in id order (creation order); `limit` defaults to 20 and is capped by the
// setting modules.notes.page_limit_max; `cursor` is a page's next_cursor.
struct list_notes_request {
  std::optional<std::int64_t> limit;
  std::string cursor;
};
constexpr auto json_fields(const list_notes_request*) {
  return std::tuple{json_field("limit", &list_notes_request::limit),
                    json_field("cursor", &list_notes_request::cursor, json_default)};
}

// Sets the text (when given) and bumps the version. With `expected_version`, the change
// goes ahead only when the note's version is one of it (else failed_precondition); a
// request without text changes nothing and answers the note as it is.
struct update_note_request {
  std::string id;
  std::optional<std::string> text;
  std::optional<version_match> expected_version;
};
constexpr auto json_fields(const update_note_request*) {
  return std::tuple{json_field("id", &update_note_request::id), json_field("text", &update_note_request::text),
                    json_field("expected_version", &update_note_request::expected_version)};
}

// Deletes the note, under the same precondition as an update.
struct delete_note_request {
  std::string id;
  std::optional<version_match> expected_version;
};
constexpr auto json_fields(const delete_note_request*) {
  return std::tuple{json_field("id", &delete_note_request::id),
                    json_field("expected_version", &delete_note_request::expected_version)};
}
struct deleted_note {
  std::string id;
};
constexpr auto json_fields(const deleted_note*) { return std::tuple{json_field("id", &deleted_note::id)}; }

struct create_note {
  static constexpr std::string_view name = "notes.create_note";
  using request = create_note_request;
  using reply = note;
};
struct get_note {
  static constexpr std::string_view name = "notes.get_note";
  using request = get_note_request;
  using reply = note;
};
struct list_notes {
  static constexpr std::string_view name = "notes.list_notes";
  using request = list_notes_request;
  using reply = page<note>;
};
struct update_note {
  static constexpr std::string_view name = "notes.update_note";
  using request = update_note_request;
  using reply = note;
};
struct delete_note {
  static constexpr std::string_view name = "notes.delete_note";
  using request = delete_note_request;
  using reply = deleted_note;
};

// Events on notes_topic, one per committed change, subject the note's id: created and
// updated carry the note as it became, deleted carries {"id"}.
inline constexpr std::string_view notes_topic = "notes.notes";
inline constexpr std::string_view note_created = "note.created";
inline constexpr std::string_view note_updated = "note.updated";
inline constexpr std::string_view note_deleted = "note.deleted";

// The declaration the runtime hosts; `agora notes stats [--json]` counts the notes.
module_definition module();

}  // namespace agora::notes
