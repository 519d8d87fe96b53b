// Compiled against the door target alone (agora_notes_api: agora_values and the standard
// library): the door must stand without the runtime's headers.
#include <notes/api.hpp>

#include <nlohmann/json.hpp>

namespace agora::notes {

static_assert(has_json_fields<note> && has_json_fields<page<note>> && has_json_fields<update_note_request>);

nlohmann::json door_check_note_json(const note& n) { return n; }

}  // namespace agora::notes
