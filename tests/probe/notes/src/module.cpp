#include <notes/api.hpp>

#include "http_codec.hpp"
#include "service.hpp"
#include "settings.hpp"

#include <agora/module.hpp>
#include <agora_notes_migrations.hpp>

#include <string>
#include <utility>

namespace agora::notes {

module_definition module() {
  module_decl<service> decl("notes");
  decl.migrations(db::migrations())
      .setting(settings::page_limit_max)
      .handle<create_note>(&service::create_note)
      .handle<get_note>(&service::get_note)
      .handle<list_notes>(&service::list_notes)
      .handle<update_note>(&service::update_note)
      .handle<delete_note>(&service::delete_note)
      .route<create_note>(codec::create_route(), codec::decode_create, codec::encode_created)
      .route<get_note>(codec::get_route(), codec::decode_get, codec::encode_note)
      .route<list_notes>(codec::list_route(), codec::decode_list, codec::encode_page)
      .route<update_note>(codec::update_route(), codec::decode_update, codec::encode_note)
      .route<delete_note>(codec::delete_route(), codec::decode_delete, codec::encode_deleted)
      .publishes(std::string(notes_topic),
                 {std::string(note_created), std::string(note_updated), std::string(note_deleted)})
      .command({.name = "stats", .summary = "Count the notes", .usage = "[--json]"}, &service::stats);
  return std::move(decl).build();
}

}  // namespace agora::notes
