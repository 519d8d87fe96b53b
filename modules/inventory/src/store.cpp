#include "store.hpp"

namespace agora::inventory::sql {

namespace {

constexpr std::string_view level_columns = "sku, location, on_hand, reserved, threshold, low, version, updated_at";

level_row read_level(const store::statement& q) {
  level_row r;
  std::int64_t low = 0;
  q.columns(r.level.sku, r.level.location, r.level.on_hand, r.level.reserved, r.level.low_stock_threshold, low,
            r.level.version, r.level.updated_at);
  r.level.available = r.level.on_hand - r.level.reserved;
  r.low = low != 0;
  return r;
}

std::vector<stock_line> reservation_lines(store::database& db, std::string_view id) {
  auto& q = db.prepare("SELECT sku, quantity FROM reservation_lines WHERE reservation_id = ? ORDER BY line");
  q.bind_all(id);
  std::vector<stock_line> out;
  while (q.step()) {
    stock_line l;
    q.columns(l.sku, l.quantity);
    out.push_back(std::move(l));
  }
  return out;
}

std::vector<transfer_line> transfer_lines(store::database& db, std::string_view id) {
  auto& q = db.prepare("SELECT sku, quantity, received FROM transfer_lines WHERE transfer_id = ? ORDER BY line");
  q.bind_all(id);
  std::vector<transfer_line> out;
  while (q.step()) {
    transfer_line l;
    q.columns(l.sku, l.quantity, l.received);
    out.push_back(std::move(l));
  }
  return out;
}

transfer read_transfer_head(const store::statement& q) {
  transfer t;
  std::string status;
  q.columns(t.id, t.from, t.to, status, t.created_at, t.updated_at);
  t.status = transfer_status_from_string(status).value_or(transfer_status::in_transit);
  return t;
}

}  // namespace

std::optional<level_row> find_level(store::database& db, std::string_view sku, std::string_view location) {
  auto& q = db.prepare("SELECT " + std::string(level_columns) + " FROM levels WHERE sku = ? AND location = ?");
  q.bind_all(sku, location);
  if (!q.step()) return std::nullopt;
  auto r = read_level(q);
  q.reset();
  return r;
}

void ensure_level(store::database& db, std::string_view sku, std::string_view location, std::string_view now) {
  db.prepare(
        "INSERT INTO levels (sku, location, on_hand, reserved, threshold, low, version, updated_at) "
        "VALUES (?, ?, 0, 0, NULL, 0, 0, ?) ON CONFLICT (sku, location) DO NOTHING")
      .bind_all(sku, location, now)
      .run();
}

bool move_stock(store::database& db, std::string_view sku, std::string_view location, std::int64_t d_on_hand,
                std::int64_t d_reserved, std::string_view now) {
  db.prepare(
        "UPDATE levels SET on_hand = on_hand + ?1, reserved = reserved + ?2, version = version + 1, updated_at = ?3 "
        "WHERE sku = ?4 AND location = ?5 AND reserved + ?2 >= 0 AND on_hand + ?1 >= reserved + ?2")
      .bind_all(d_on_hand, d_reserved, now, sku, location)
      .run();
  return db.changes() == 1;
}

void set_low(store::database& db, std::string_view sku, std::string_view location, bool low) {
  db.prepare("UPDATE levels SET low = ? WHERE sku = ? AND location = ?")
      .bind_all(std::int64_t{low ? 1 : 0}, sku, location)
      .run();
}

void set_threshold(store::database& db, std::string_view sku, std::string_view location,
                   std::optional<std::int64_t> threshold, std::string_view now) {
  db.prepare("UPDATE levels SET threshold = ?, version = version + 1, updated_at = ? WHERE sku = ? AND location = ?")
      .bind_all(threshold, now, sku, location)
      .run();
}

std::vector<stock_level> list_levels(store::database& db, const std::string& after_sku,
                                     const std::string& after_location, const std::optional<std::string>& sku,
                                     const std::optional<std::string>& location, bool low_only, std::int64_t limit) {
  std::string sql = "SELECT " + std::string(level_columns) + " FROM levels WHERE (sku, location) > (?1, ?2)";
  if (sku) sql += " AND sku = ?3";
  if (location) sql += " AND location = ?4";
  if (low_only) sql += " AND low = 1";
  sql += " ORDER BY sku, location LIMIT ?5";
  auto& q = db.prepare(sql);
  q.bind(1, after_sku).bind(2, after_location).bind(5, limit);
  if (sku) q.bind(3, *sku);
  if (location) q.bind(4, *location);
  std::vector<stock_level> out;
  while (q.step()) out.push_back(read_level(q).level);
  return out;
}

bool location_exists(store::database& db, std::string_view id) {
  auto& q = db.prepare("SELECT 1 FROM locations WHERE id = ?");
  q.bind_all(id);
  bool found = q.step();
  q.reset();
  return found;
}

void insert_location(store::database& db, const location& l) {
  db.prepare("INSERT INTO locations (id, name, kind, created_at) VALUES (?, ?, ?, ?)")
      .bind_all(l.id, l.name, to_string(l.kind), l.created_at)
      .run();
}

std::vector<location> list_locations(store::database& db, std::string_view after, std::int64_t limit) {
  auto& q = db.prepare("SELECT id, name, kind, created_at FROM locations WHERE id > ? ORDER BY id LIMIT ?");
  q.bind_all(after, limit);
  std::vector<location> out;
  while (q.step()) {
    location l;
    std::string kind;
    q.columns(l.id, l.name, kind, l.created_at);
    l.kind = location_kind_from_string(kind).value_or(location_kind::warehouse);
    out.push_back(std::move(l));
  }
  return out;
}

std::optional<reservation> find_reservation(store::database& db, std::string_view id) {
  auto& q = db.prepare(
      "SELECT id, location, status, reason, expires_at, created_at, updated_at FROM reservations WHERE id = ?");
  q.bind_all(id);
  if (!q.step()) return std::nullopt;
  reservation r;
  std::string status;
  q.columns(r.id, r.location, status, r.reason, r.expires_at, r.created_at, r.updated_at);
  q.reset();
  r.status = reservation_status_from_string(status).value_or(reservation_status::active);
  r.lines = reservation_lines(db, r.id);
  return r;
}

void insert_reservation(store::database& db, const reservation& r) {
  db.prepare(
        "INSERT INTO reservations (id, location, status, reason, expires_at, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind_all(r.id, r.location, to_string(r.status), r.reason, r.expires_at, r.created_at, r.updated_at)
      .run();
  for (std::size_t i = 0; i < r.lines.size(); ++i)
    db.prepare("INSERT INTO reservation_lines (reservation_id, line, sku, quantity) VALUES (?, ?, ?, ?)")
        .bind_all(r.id, static_cast<std::int64_t>(i), r.lines[i].sku, r.lines[i].quantity)
        .run();
}

bool close_reservation(store::database& db, std::string_view id, reservation_status status,
                       const std::optional<std::string>& reason, std::string_view now) {
  db.prepare("UPDATE reservations SET status = ?, reason = ?, updated_at = ? WHERE id = ? AND status = 'active'")
      .bind_all(to_string(status), reason, now, id)
      .run();
  return db.changes() == 1;
}

std::vector<std::string> due_reservations(store::database& db, std::string_view now, std::int64_t limit) {
  auto& q = db.prepare(
      "SELECT id FROM reservations WHERE status = 'active' AND expires_at <= ? ORDER BY expires_at, id LIMIT ?");
  q.bind_all(now, limit);
  std::vector<std::string> out;
  while (q.step()) out.push_back(q.text(0));
  return out;
}

void insert_adjustment(store::database& db, const adjustment& a) {
  db.prepare(
        "INSERT INTO adjustments (id, sku, location, delta, reason, actor, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind_all(a.id, a.sku, a.location, a.delta, a.reason, a.actor, a.created_at)
      .run();
}

std::optional<transfer> find_transfer(store::database& db, std::string_view id) {
  auto& q =
      db.prepare("SELECT id, from_location, to_location, status, created_at, updated_at FROM transfers WHERE id = ?");
  q.bind_all(id);
  if (!q.step()) return std::nullopt;
  auto t = read_transfer_head(q);
  q.reset();
  t.lines = transfer_lines(db, t.id);
  return t;
}

void insert_transfer(store::database& db, const transfer& t) {
  db.prepare(
        "INSERT INTO transfers (id, from_location, to_location, status, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?)")
      .bind_all(t.id, t.from, t.to, to_string(t.status), t.created_at, t.updated_at)
      .run();
  for (std::size_t i = 0; i < t.lines.size(); ++i)
    db.prepare("INSERT INTO transfer_lines (transfer_id, line, sku, quantity, received) VALUES (?, ?, ?, ?, ?)")
        .bind_all(t.id, static_cast<std::int64_t>(i), t.lines[i].sku, t.lines[i].quantity, t.lines[i].received)
        .run();
}

void update_transfer(store::database& db, const transfer& t) {
  db.prepare("UPDATE transfers SET status = ?, updated_at = ? WHERE id = ?")
      .bind_all(to_string(t.status), t.updated_at, t.id)
      .run();
  for (std::size_t i = 0; i < t.lines.size(); ++i)
    db.prepare("UPDATE transfer_lines SET received = ? WHERE transfer_id = ? AND line = ?")
        .bind_all(t.lines[i].received, t.id, static_cast<std::int64_t>(i))
        .run();
}

std::vector<transfer> list_transfers(store::database& db, std::string_view after,
                                     const std::optional<std::string>& location, std::optional<transfer_status> status,
                                     std::int64_t limit) {
  std::string sql =
      "SELECT id, from_location, to_location, status, created_at, updated_at FROM transfers WHERE id > ?1";
  if (location) sql += " AND (from_location = ?2 OR to_location = ?2)";
  if (status) sql += " AND status = ?3";
  sql += " ORDER BY id LIMIT ?4";
  auto& q = db.prepare(sql);
  q.bind(1, after).bind(4, limit);
  if (location) q.bind(2, *location);
  if (status) q.bind(3, to_string(*status));
  std::vector<transfer> out;
  while (q.step()) out.push_back(read_transfer_head(q));
  for (auto& t : out) t.lines = transfer_lines(db, t.id);
  return out;
}

}  // namespace agora::inventory::sql
