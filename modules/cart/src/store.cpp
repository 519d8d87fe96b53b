#include "store.hpp"

#include <algorithm>

namespace agora::cart::sql {

namespace {

constexpr std::string_view cart_columns =
    "id, customer_id, token_hash, status, currency, region, prices_include_tax, version, created_at, updated_at, "
    "expires_at, order_id, checkout_snapshot";

cart_record read_cart(store::statement& q) {
  cart_record r;
  auto& c = r.item;
  std::int64_t include_tax = 0;
  q.columns(c.id, c.customer_id, r.token_hash, c.status, c.currency, c.region, include_tax, c.version, c.created_at,
            c.updated_at, c.expires_at, c.order_id, r.checkout_snapshot);
  c.prices_include_tax = include_tax != 0;
  return r;
}

void load_lines(store::database& db, cart_record& r) {
  auto& q = db.prepare(
      "SELECT id, sku, product_id, variant_id, name, quantity, unit_amount, currency, tax_class, price_changed, "
      "old_unit_amount, available FROM cart_lines WHERE cart_id = ? ORDER BY rowid");
  q.bind_all(r.item.id);
  while (q.step()) {
    cart_line l;
    std::int64_t changed = 0, available = 1;
    std::optional<std::int64_t> old_amount;
    q.columns(l.id, l.sku, l.product_id, l.variant_id, l.name, l.quantity, l.unit_price.amount, l.unit_price.currency,
              l.tax_class, changed, old_amount, available);
    l.price_changed = changed != 0;
    l.available = available != 0;
    if (l.price_changed && old_amount)
      r.item.changed_lines.push_back({l.id, l.sku, {*old_amount, l.unit_price.currency}, l.unit_price});
    r.item.lines.push_back(std::move(l));
  }
}

std::optional<cart_record> find_where(store::database& db, std::string_view where, std::string_view value) {
  auto& q = db.prepare("SELECT " + std::string(cart_columns) + " FROM carts WHERE " + std::string(where));
  q.bind_all(value);
  if (!q.step()) return std::nullopt;
  auto r = read_cart(q);
  q.reset();
  load_lines(db, r);
  return r;
}

std::optional<std::int64_t> old_amount_of(const cart& c, const cart_line& l) {
  if (!l.price_changed) return std::nullopt;
  for (const auto& ch : c.changed_lines)
    if (ch.line_id == l.id) return ch.old_unit_price.amount;
  return std::nullopt;
}

std::vector<std::string> ids(store::statement& q) {
  std::vector<std::string> out;
  while (q.step()) out.push_back(q.text(0));
  return out;
}

}  // namespace

std::optional<cart_record> find_cart(store::database& db, std::string_view id) { return find_where(db, "id = ?", id); }

std::optional<cart_record> find_cart_by_token(store::database& db, std::string_view token_hash) {
  return find_where(db, "token_hash = ?", token_hash);
}

std::optional<std::string> active_cart_of(store::database& db, std::string_view customer_id) {
  auto& q = db.prepare("SELECT id FROM carts WHERE customer_id = ? AND status IN ('open', 'checking_out')");
  q.bind_all(customer_id);
  if (!q.step()) return std::nullopt;
  auto id = q.text(0);
  q.reset();
  return id;
}

void insert_cart(store::database& db, const cart_record& r) {
  const auto& c = r.item;
  db.prepare("INSERT INTO carts(" + std::string(cart_columns) + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind_all(c.id, c.customer_id, r.token_hash, c.status, c.currency, c.region,
                static_cast<std::int64_t>(c.prices_include_tax), c.version, c.created_at, c.updated_at, c.expires_at,
                c.order_id, r.checkout_snapshot)
      .run();
  save_cart(db, cart_record{}, r);
}

void save_cart(store::database& db, const cart_record& before, const cart_record& after) {
  const auto& c = after.item;
  if (!before.item.id.empty())
    db.prepare(
          "UPDATE carts SET customer_id = ?, token_hash = ?, status = ?, currency = ?, version = ?, updated_at = ?, "
          "expires_at = ?, order_id = ?, checkout_snapshot = ? WHERE id = ?")
        .bind_all(c.customer_id, after.token_hash, c.status, c.currency, c.version, c.updated_at, c.expires_at,
                  c.order_id, after.checkout_snapshot, c.id)
        .run();
  for (const auto& old : before.item.lines) {
    bool kept = std::any_of(c.lines.begin(), c.lines.end(), [&](const cart_line& l) { return l.id == old.id; });
    if (!kept) db.prepare("DELETE FROM cart_lines WHERE id = ?").bind_all(old.id).run();
  }
  for (const auto& l : c.lines) {
    auto prev = std::find_if(before.item.lines.begin(), before.item.lines.end(),
                             [&](const cart_line& p) { return p.id == l.id; });
    auto old_amount = old_amount_of(c, l);
    if (prev != before.item.lines.end() && *prev == l && old_amount == old_amount_of(before.item, *prev)) continue;
    db.prepare(
          "INSERT INTO cart_lines(id, cart_id, sku, product_id, variant_id, name, quantity, unit_amount, currency, "
          "tax_class, price_changed, old_unit_amount, available) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
          "ON CONFLICT(id) DO UPDATE SET sku = excluded.sku, product_id = excluded.product_id, variant_id = "
          "excluded.variant_id, name = excluded.name, quantity = excluded.quantity, unit_amount = excluded.unit_amount, "
          "currency = excluded.currency, tax_class = excluded.tax_class, price_changed = excluded.price_changed, "
          "old_unit_amount = excluded.old_unit_amount, available = excluded.available")
        .bind_all(l.id, c.id, l.sku, l.product_id, l.variant_id, l.name, l.quantity, l.unit_price.amount,
                  l.unit_price.currency, l.tax_class, static_cast<std::int64_t>(l.price_changed), old_amount,
                  static_cast<std::int64_t>(l.available))
        .run();
  }
}

void clear_price_flags(store::database& db, std::string_view cart_id) {
  db.prepare("UPDATE cart_lines SET price_changed = 0, old_unit_amount = NULL WHERE cart_id = ? AND price_changed = 1")
      .bind_all(cart_id)
      .run();
}

std::vector<std::string> open_carts_with_sku(store::database& db, std::string_view sku) {
  auto& q = db.prepare(
      "SELECT DISTINCT l.cart_id FROM cart_lines l JOIN carts c ON c.id = l.cart_id WHERE l.sku = ? AND c.status = "
      "'open'");
  q.bind_all(sku);
  return ids(q);
}

std::vector<std::string> idle_open_carts(store::database& db, std::string_view now, std::int64_t limit) {
  auto& q = db.prepare("SELECT id FROM carts WHERE status = 'open' AND expires_at <= ? ORDER BY expires_at LIMIT ?");
  q.bind_all(now, limit);
  return ids(q);
}

}  // namespace agora::cart::sql

