#pragma once

#include <notes/api.hpp>

#include <agora/module.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace agora::notes {

// One replica: the handlers of the bus methods and the stats command. Each change is one
// store job holding the row and its event.
class service {
 public:
  explicit service(module_context& ctx);

  asio::awaitable<result<note>> create_note(create_note_request req, const bus::call_context& c);
  asio::awaitable<result<note>> get_note(get_note_request req, const bus::call_context& c);
  asio::awaitable<result<page<note>>> list_notes(list_notes_request req, const bus::call_context& c);
  asio::awaitable<result<note>> update_note(update_note_request req, const bus::call_context& c);
  asio::awaitable<result<deleted_note>> delete_note(delete_note_request req, const bus::call_context& c);

  // `agora notes stats [--json]`: the number of notes.
  asio::awaitable<int> stats(command_context& cmd);

 private:
  module_context& ctx_;
  std::int64_t page_limit_max_;
};

// The text a note keeps: `text` trimmed, when it is 1 to text_max characters of valid
// UTF-8; invalid_argument on `text` otherwise.
result<std::string> checked_text(std::string_view text);

}  // namespace agora::notes
