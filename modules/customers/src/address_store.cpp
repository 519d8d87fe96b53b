#include "address_store.hpp"

namespace agora::customers::sql {

namespace {

constexpr std::string_view address_columns =
    "id, kind, is_default, recipient, line1, line2, city, region, postal_code, country, phone, version, created_at, "
    "updated_at";

address read_address(const store::statement& s) {
  address a;
  std::int64_t is_default = 0;
  s.columns(a.id, a.kind, is_default, a.recipient, a.line1, a.line2, a.city, a.region, a.postal_code, a.country,
            a.phone, a.version, a.created_at, a.updated_at);
  a.is_default = is_default != 0;
  return a;
}

std::string select(std::string_view where) {
  return "SELECT " + std::string(address_columns) + " FROM addresses WHERE " + std::string(where);
}

}  // namespace

void insert_address(store::database& db, const std::string& account_id, const address& a) {
  db.prepare(
        "INSERT INTO addresses (id, account_id, kind, is_default, recipient, line1, line2, city, region, postal_code, "
        "country, phone, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind_all(a.id, account_id, a.kind, std::int64_t{a.is_default}, a.recipient, a.line1, a.line2, a.city,
                a.region, a.postal_code, a.country, a.phone, a.version, a.created_at, a.updated_at)
      .run();
}

void update_address(store::database& db, const address& a) {
  db.prepare(
        "UPDATE addresses SET kind = ?, is_default = ?, recipient = ?, line1 = ?, line2 = ?, city = ?, region = ?, "
        "postal_code = ?, country = ?, phone = ?, version = ?, updated_at = ? WHERE id = ?")
      .bind_all(a.kind, std::int64_t{a.is_default}, a.recipient, a.line1, a.line2, a.city, a.region, a.postal_code,
                a.country, a.phone, a.version, a.updated_at, a.id)
      .run();
}

void delete_address(store::database& db, const std::string& id) {
  db.prepare("DELETE FROM addresses WHERE id = ?").bind(1, id).run();
}

std::optional<address> find_address(store::database& db, const std::string& account_id, const std::string& id) {
  auto& s = db.prepare(select("id = ? AND account_id = ?"));
  s.bind_all(id, account_id);
  if (!s.step()) return std::nullopt;
  return read_address(s);
}

std::vector<address> list_addresses(store::database& db, const std::string& account_id, const std::string& after,
                                    const std::optional<std::string>& kind, std::int64_t limit) {
  auto& s = db.prepare(select("account_id = ?1 AND id > ?2 AND (?3 IS NULL OR kind = ?3) ORDER BY id LIMIT ?4"));
  s.bind(1, account_id).bind(2, after).bind(3, kind).bind(4, limit);
  std::vector<address> out;
  while (s.step()) out.push_back(read_address(s));
  return out;
}

std::int64_t count_addresses(store::database& db, const std::string& account_id) {
  auto& s = db.prepare("SELECT COUNT(*) FROM addresses WHERE account_id = ?");
  s.bind(1, account_id);
  s.step();
  return s.int64(0);
}

std::int64_t count_addresses(store::database& db, const std::string& account_id, const std::string& kind) {
  auto& s = db.prepare("SELECT COUNT(*) FROM addresses WHERE account_id = ? AND kind = ?");
  s.bind_all(account_id, kind);
  s.step();
  return s.int64(0);
}

std::optional<address> find_default_address(store::database& db, const std::string& account_id,
                                            const std::string& kind, const std::string& except_id) {
  auto& s = db.prepare(select("account_id = ? AND kind = ? AND is_default = 1 AND id != ?"));
  s.bind_all(account_id, kind, except_id);
  if (!s.step()) return std::nullopt;
  return read_address(s);
}

}  // namespace agora::customers::sql
