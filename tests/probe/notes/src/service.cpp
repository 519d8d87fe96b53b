#include "service.hpp"

#include "settings.hpp"

#include <agora/store.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

namespace agora::notes {
namespace {

constexpr std::int64_t default_page = 20;

error missing() { return error::not_found("no such note"); }

note read_note(const store::statement& st) {
  note n;
  st.columns(n.id, n.text, n.version, n.created_at, n.updated_at);
  return n;
}

std::optional<note> find_note(store::database& db, const std::string& id) {
  auto& st = db.prepare("SELECT id, text, version, created_at, updated_at FROM notes WHERE id = ?");
  st.bind_all(id);
  std::optional<note> n;
  if (st.step()) n = read_note(st);
  st.reset();
  return n;
}

}  // namespace

result<std::string> checked_text(std::string_view text) {
  auto kept = trim(text);
  auto n = utf8_length(kept);
  if (n == std::string::npos) return error::invalid({{"text", "must be valid UTF-8"}});
  if (n == 0 || n > text_max)
    return error::invalid({{"text", "must be 1 to " + std::to_string(text_max) + " characters, trimmed"}});
  return kept;
}

service::service(module_context& ctx) : ctx_(ctx), page_limit_max_(ctx.get(settings::page_limit_max)) {}

asio::awaitable<result<note>> service::create_note(create_note_request req, const bus::call_context& c) {
  auto text = checked_text(req.text);
  if (!text) co_return std::move(text).err();
  auto now = ctx_.clock().now_rfc3339();
  note n{ctx_.clock().new_id("note"), std::move(text).value(), 1, now, now};
  auto ev = ctx_.event(notes_topic, note_created, n.id, n, c, now);
  auto job = [n = std::move(n), ev = std::move(ev)](store::database& db) {
    return db.transaction([&]() -> result<note> {
      db.prepare("INSERT INTO notes(id, text, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?)")
          .bind_all(n.id, n.text, n.version, n.created_at, n.updated_at)
          .run();
      db.enqueue_event(ev);
      return n;
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

asio::awaitable<result<note>> service::get_note(get_note_request req, const bus::call_context& c) {
  auto job = [id = std::move(req.id)](store::database& db) -> result<note> {
    auto n = find_note(db, id);
    if (!n) return missing();
    return std::move(*n);
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

asio::awaitable<result<page<note>>> service::list_notes(list_notes_request req, const bus::call_context& c) {
  page_rules rules{.default_limit = std::min(default_page, page_limit_max_), .max_limit = page_limit_max_,
                   .id_prefix = "note"};
  auto fetch = [](store::database& db, const std::string& after, std::int64_t limit) {
    auto& st = db.prepare("SELECT id, text, version, created_at, updated_at FROM notes WHERE id > ? ORDER BY id LIMIT ?");
    st.bind_all(after, limit);
    std::vector<note> rows;
    while (st.step()) rows.push_back(read_note(st));
    return rows;
  };
  co_return co_await read_page<note>(ctx_.store(), req.limit, std::move(req.cursor), rules, std::move(fetch),
                                     c.deadline);
}

asio::awaitable<result<note>> service::update_note(update_note_request req, const bus::call_context& c) {
  std::optional<std::string> text;
  if (req.text) {
    auto checked = checked_text(*req.text);
    if (!checked) co_return std::move(checked).err();
    text = std::move(checked).value();
  }
  auto now = ctx_.clock().now_rfc3339();
  auto ev = ctx_.event(notes_topic, note_updated, req.id, nullptr, c, now);
  auto job = [id = std::move(req.id), text = std::move(text), expected = std::move(req.expected_version), now,
              ev = std::move(ev)](store::database& db) mutable {
    return db.transaction([&]() -> result<note> {
      auto n = find_note(db, id);
      if (!n) return missing();
      if (expected && !expected->matches(n->version)) return version_mismatch("the note", n->version);
      if (!text) return std::move(*n);
      n->text = std::move(*text);
      n->version += 1;
      n->updated_at = now;
      db.prepare("UPDATE notes SET text = ?, version = ?, updated_at = ? WHERE id = ?")
          .bind_all(n->text, n->version, n->updated_at, n->id)
          .run();
      ev.data = *n;
      db.enqueue_event(ev);
      return std::move(*n);
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

asio::awaitable<result<deleted_note>> service::delete_note(delete_note_request req, const bus::call_context& c) {
  auto ev = ctx_.event(notes_topic, note_deleted, req.id, nlohmann::json{{"id", req.id}}, c);
  auto job = [id = std::move(req.id), expected = std::move(req.expected_version),
              ev = std::move(ev)](store::database& db) {
    return db.transaction([&]() -> result<deleted_note> {
      auto n = find_note(db, id);
      if (!n) return missing();
      if (expected && !expected->matches(n->version)) return version_mismatch("the note", n->version);
      db.prepare("DELETE FROM notes WHERE id = ?").bind_all(id).run();
      db.enqueue_event(ev);
      return deleted_note{id};
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

asio::awaitable<int> service::stats(command_context& cmd) {
  bool as_json = false;
  for (const auto& arg : cmd.args) {
    if (arg != "--json") co_return cmd.usage_error("unknown argument '" + arg + "'");
    as_json = true;
  }
  auto job = [](store::database& db) {
    auto& st = db.prepare("SELECT count(*) FROM notes");
    st.step();
    auto n = st.int64(0);
    st.reset();
    return n;
  };
  auto count = co_await ctx_.store().run(std::move(job));
  if (!count) {
    cmd.err << "agora notes stats: " << count.err().message << '\n';
    co_return 1;
  }
  if (as_json)
    cmd.out << nlohmann::json{{"notes", *count}}.dump() << '\n';
  else
    cmd.out << "notes: " << *count << '\n';
  co_return 0;
}

}  // namespace agora::notes
