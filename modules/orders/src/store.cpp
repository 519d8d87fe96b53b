#include "store.hpp"

namespace agora::orders::rows {

namespace {

constexpr std::string_view order_columns =
    "id, customer_id, cart_id, status, payment_status, fulfilment_status, cancel_reason, saga_step, payment_token, "
    "currency, subtotal, tax, total, refunded, location, payment_id, tracking, failure, version, created_at, "
    "updated_at";

order_record read_order(const store::statement& q) {
  order_record r;
  auto& o = r.o;
  std::string currency;
  q.columns(o.id, o.customer_id, o.cart_id, o.status, o.payment_status, o.fulfilment_status, o.cancel_reason,
            o.saga_step, r.payment_token, currency, o.subtotal.amount, o.tax.amount, o.total.amount, o.refunded.amount,
            o.location, o.payment_id, o.tracking, r.failure, o.version, o.created_at, o.updated_at);
  o.subtotal.currency = o.tax.currency = o.total.currency = o.refunded.currency = currency;
  return r;
}

void read_lines(store::database& db, order& o) {
  auto& q = db.prepare(
      "SELECT id, sku, product_id, name, quantity, unit_price, line_total, line_tax, refunded_quantity "
      "FROM order_lines WHERE order_id = ? ORDER BY position");
  q.bind(1, o.id);
  while (q.step()) {
    order_line l;
    q.columns(l.id, l.sku, l.product_id, l.name, l.quantity, l.unit_price.amount, l.line_total.amount,
              l.line_tax.amount, l.refunded_quantity);
    l.unit_price.currency = l.line_total.currency = l.line_tax.currency = o.total.currency;
    o.lines.push_back(std::move(l));
  }
}

void read_history(store::database& db, order& o) {
  auto& q = db.prepare(
      "SELECT field, from_value, to_value, reason, actor, at FROM order_history WHERE order_id = ? ORDER BY seq");
  q.bind(1, o.id);
  while (q.step()) {
    transition t;
    q.columns(t.field, t.from, t.to, t.reason, t.actor, t.at);
    o.history.push_back(std::move(t));
  }
}

void write_history(store::database& db, order_record& r) {
  for (auto i = r.stored_history; i < r.o.history.size(); ++i) {
    const auto& t = r.o.history[i];
    db.prepare(
          "INSERT INTO order_history(order_id, seq, field, from_value, to_value, reason, actor, at) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .bind_all(r.o.id, static_cast<std::int64_t>(i), t.field, t.from, t.to, t.reason, t.actor, t.at)
        .run();
  }
  r.stored_history = r.o.history.size();
}

}  // namespace

void insert(store::database& db, order_record& r) {
  auto& o = r.o;
  o.version = 1;
  db.prepare(
        "INSERT INTO orders(id, customer_id, cart_id, status, payment_status, fulfilment_status, saga_step, "
        "payment_token, location, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind_all(o.id, o.customer_id, o.cart_id, o.status, o.payment_status, o.fulfilment_status, o.saga_step,
                r.payment_token, o.location, o.version, o.created_at, o.updated_at)
      .run();
  write_history(db, r);
}

void save(store::database& db, order_record& r, bool with_lines) {
  auto& o = r.o;
  ++o.version;
  db.prepare(
        "UPDATE orders SET status = ?, payment_status = ?, fulfilment_status = ?, cancel_reason = ?, saga_step = ?, "
        "currency = ?, subtotal = ?, tax = ?, total = ?, refunded = ?, payment_id = ?, tracking = ?, failure = ?, "
        "version = ?, updated_at = ? WHERE id = ?")
      .bind_all(o.status, o.payment_status, o.fulfilment_status, o.cancel_reason, o.saga_step, o.total.currency,
                o.subtotal.amount, o.tax.amount, o.total.amount, o.refunded.amount, o.payment_id, o.tracking, r.failure,
                o.version, o.updated_at, o.id)
      .run();
  if (with_lines) {
    db.prepare("DELETE FROM order_lines WHERE order_id = ?").bind(1, o.id).run();
    std::int64_t pos = 0;
    for (const auto& l : o.lines)
      db.prepare(
            "INSERT INTO order_lines(id, order_id, position, sku, product_id, name, quantity, unit_price, "
            "line_total, line_tax, refunded_quantity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
          .bind_all(l.id, o.id, pos++, l.sku, l.product_id, l.name, l.quantity, l.unit_price.amount,
                    l.line_total.amount, l.line_tax.amount, l.refunded_quantity)
          .run();
  }
  write_history(db, r);
}

std::optional<order_record> load(store::database& db, std::string_view id) {
  auto& q = db.prepare("SELECT " + std::string(order_columns) + " FROM orders WHERE id = ?");
  q.bind(1, id);
  if (!q.step()) return std::nullopt;
  auto r = read_order(q);
  q.reset();
  read_lines(db, r.o);
  read_history(db, r.o);
  r.stored_history = r.o.history.size();
  return r;
}

std::vector<std::string> unfinished(store::database& db) {
  std::vector<std::string> out;
  auto& q = db.prepare("SELECT id FROM orders WHERE saga_step NOT IN ('done', 'failed') ORDER BY id");
  while (q.step()) out.push_back(q.text(0));
  return out;
}

std::vector<order> list(store::database& db, const list_filter& f, const std::string& after, std::int64_t limit) {
  std::string sql = "SELECT " + std::string(order_columns) + " FROM orders WHERE id > ?1";
  if (f.customer_id) sql += " AND customer_id = ?2";
  if (f.status) sql += " AND status = ?3";
  if (f.from) sql += " AND created_at >= ?4";
  if (f.to) sql += " AND created_at < ?5";
  sql += " ORDER BY id LIMIT ?6";
  auto& q = db.prepare(sql);
  q.bind(1, after).bind(2, f.customer_id).bind(3, f.status).bind(4, f.from).bind(5, f.to).bind(6, limit);
  std::vector<order_record> recs;
  while (q.step()) recs.push_back(read_order(q));
  q.reset();
  std::vector<order> out;
  out.reserve(recs.size());
  for (auto& r : recs) {
    read_lines(db, r.o);
    out.push_back(std::move(r.o));
  }
  return out;
}

}  // namespace agora::orders::rows
