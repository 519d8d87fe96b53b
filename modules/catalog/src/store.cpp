#include "store.hpp"

#include <algorithm>
#include <limits>
#include <string>

namespace agora::catalog::sql {

namespace {

constexpr std::string_view product_columns =
    "id, sku, name, description, price_amount, price_currency, category_id, status, version, created_at, updated_at, "
    "tax_class";
constexpr std::string_view variant_columns =
    "id, product_id, sku, barcode, name, price_amount, price_currency, is_default, version, created_at, updated_at";
constexpr std::string_view category_columns = "id, name, parent_id, description, version, created_at, updated_at";

product read_product(const store::statement& q) {
  product p;
  std::string status;
  q.columns(p.id, p.sku, p.name, p.description, p.price.amount, p.price.currency, p.category_id, status, p.version,
            p.created_at, p.updated_at, p.tax_class);
  p.status = product_status_from_string(status).value_or(product_status::active);
  return p;
}

variant read_variant(const store::statement& q) {
  variant v;
  std::int64_t is_default = 0;
  q.columns(v.id, v.product_id, v.sku, v.barcode, v.name, v.price.amount, v.price.currency, is_default, v.version,
            v.created_at, v.updated_at);
  v.is_default = is_default != 0;
  return v;
}

std::optional<variant> find_variant_where(store::database& db, const std::string& sql, std::string_view key) {
  auto& q = db.prepare(sql);
  q.bind(1, key);
  std::optional<variant> out;
  if (q.step()) out = read_variant(q);
  q.reset();
  return out;
}

product with_variants(store::database& db, product p) {
  p.variants = variants_of(db, p.id);
  return p;
}

// The WHERE terms of a product_filter on products aliased p, parameters ?20 to ?23.
std::string filter_terms(const product_filter& f) {
  std::string sql;
  if (f.category_id)
    sql +=
        " AND p.category_id IN (WITH RECURSIVE subtree(id) AS (SELECT ?20 UNION SELECT c.id FROM categories c "
        "JOIN subtree ON c.parent_id = subtree.id) SELECT id FROM subtree)";
  if (f.currency)
    sql +=
        " AND EXISTS (SELECT 1 FROM variants v WHERE v.product_id = p.id AND v.price_currency = ?21 "
        "AND v.price_amount >= ?22 AND v.price_amount <= ?23)";
  if (f.in_stock)
    sql += std::string(*f.in_stock ? " AND " : " AND NOT ") +
           "EXISTS (SELECT 1 FROM variants v JOIN stock_levels s ON s.sku = v.sku "
           "WHERE v.product_id = p.id AND s.available > 0)";
  return sql;
}

void bind_filter(store::statement& q, const product_filter& f) {
  if (f.category_id) q.bind(20, *f.category_id);
  if (f.currency) {
    q.bind(21, *f.currency);
    q.bind(22, f.price_min.value_or(0));
    q.bind(23, f.price_max.value_or(std::numeric_limits<std::int64_t>::max()));
  }
}

category read_category(const store::statement& q) {
  category c;
  q.columns(c.id, c.name, c.parent_id, c.description, c.version, c.created_at, c.updated_at);
  return c;
}

bool exists(store::database& db, std::string_view sql, std::string_view a, std::string_view b = {}) {
  auto& q = db.prepare(sql);
  q.bind(1, a);
  if (sql.find("?2") != std::string_view::npos) q.bind(2, b);
  bool found = q.step();
  q.reset();
  return found;
}

}  // namespace

std::optional<product> find_product(store::database& db, std::string_view id) {
  static const std::string sql = "SELECT " + std::string(product_columns) + " FROM products WHERE id = ?1";
  auto& q = db.prepare(sql);
  q.bind(1, id);
  std::optional<product> out;
  if (q.step()) out = read_product(q);
  q.reset();
  if (out) out = with_variants(db, std::move(*out));
  return out;
}

std::optional<product> find_product_by_sku(store::database& db, std::string_view sku) {
  auto v = find_variant_by_sku(db, sku);
  if (!v || !v->is_default) return std::nullopt;
  return find_product(db, v->product_id);
}

void insert_product(store::database& db, const product& p) {
  static const std::string sql = "INSERT INTO products(" + std::string(product_columns) +
                                 ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
  db.prepare(sql)
      .bind_all(p.id, p.sku, p.name, p.description, p.price.amount, p.price.currency, p.category_id,
                to_string(p.status), p.version, p.created_at, p.updated_at, p.tax_class)
      .run();
}

bool update_product(store::database& db, const product& p, std::int64_t previous_version) {
  db.prepare(
        "UPDATE products SET sku = ?2, name = ?3, description = ?4, price_amount = ?5, price_currency = ?6, "
        "category_id = ?7, status = ?8, version = ?9, updated_at = ?10, tax_class = ?12 "
        "WHERE id = ?1 AND version = ?11")
      .bind_all(p.id, p.sku, p.name, p.description, p.price.amount, p.price.currency, p.category_id,
                to_string(p.status), p.version, p.updated_at, previous_version, p.tax_class)
      .run();
  return db.changes() == 1;
}

void delete_product(store::database& db, std::string_view id) {
  db.prepare("DELETE FROM variants WHERE product_id = ?1").bind(1, id).run();
  db.prepare("DELETE FROM products WHERE id = ?1").bind(1, id).run();
}

bool sku_taken(store::database& db, std::string_view sku, std::string_view other_than) {
  return exists(db, "SELECT 1 FROM variants WHERE sku = ?1 AND id <> ?2", sku, other_than);
}

bool barcode_taken(store::database& db, std::string_view barcode, std::string_view other_than) {
  return exists(db, "SELECT 1 FROM variants WHERE barcode = ?1 AND id <> ?2", barcode, other_than);
}

std::vector<product> list_products(store::database& db, std::string_view after, const product_filter& filter,
                                   std::optional<product_status> status, std::int64_t limit) {
  // One statement per filter combination, so each can use its index.
  std::string sql = "SELECT " + std::string(product_columns) + " FROM products p WHERE id > ?1";
  if (status) sql += " AND status = ?3";
  sql += filter_terms(filter);
  sql += " ORDER BY id LIMIT ?4";
  auto& q = db.prepare(sql);
  q.bind(1, after);
  if (status) q.bind(3, to_string(*status));
  q.bind(4, limit);
  bind_filter(q, filter);
  std::vector<product> out;
  out.reserve(static_cast<std::size_t>(limit));
  while (q.step()) out.push_back(read_product(q));
  q.reset();
  for (auto& p : out) p.variants = variants_of(db, p.id);
  return out;
}

namespace {

// One page of hits in (rank, document) order. With `candidates` > 0 only that many of the
// best-ranked matches are joined to their products and filtered: the ranking then reads
// the full-text index alone, and the join and filters cost the page, not every match.
std::vector<search_hit> search_page(store::database& db, std::string_view match, const product_filter& filter,
                                    product_status status, std::int64_t offset, std::int64_t limit,
                                    std::int64_t candidates) {
  // bm25 is lower for better matches; the weights rank a name match above a sku match
  // above a description match. The snippet is made for the returned rows only, hence
  // the ranking in a subquery and a second MATCH (snippet needs one) on its rows.
  static constexpr std::string_view ranked_columns =
      "p.id AS id, p.sku AS sku, p.name AS name, p.description AS description, p.price_amount AS price_amount, "
      "p.price_currency AS price_currency, p.category_id AS category_id, p.status AS status, p.version AS version, "
      "p.created_at AS created_at, p.updated_at AS updated_at, p.tax_class AS tax_class";
  std::string sql = "WITH hits AS (SELECT rowid AS doc, bm25(product_search, 10.0, 5.0, 1.0) AS rank "
                    "FROM product_search WHERE product_search MATCH ?1";
  sql += candidates > 0 ? " ORDER BY rank, doc LIMIT ?6), " : "), ";
  sql += "best AS (SELECT " + std::string(ranked_columns) +
         ", hits.doc AS doc, hits.rank AS rank "
         "FROM hits JOIN product_search_docs d ON d.doc = hits.doc "
         "JOIN products p ON p.id = d.product_id "
         "WHERE p.status = ?2";
  sql += filter_terms(filter);
  sql +=
      " ORDER BY rank, doc LIMIT ?4 OFFSET ?5) "
      "SELECT best.id, best.sku, best.name, best.description, best.price_amount, best.price_currency, "
      "best.category_id, best.status, best.version, best.created_at, best.updated_at, best.tax_class, -best.rank, "
      "snippet(product_search, 2, '', '', '…', 16) "
      "FROM best JOIN product_search ON product_search.rowid = best.doc WHERE product_search MATCH ?1 "
      "ORDER BY best.rank, best.doc";
  auto& q = db.prepare(sql);
  q.bind(1, match);
  q.bind(2, to_string(status));
  q.bind(4, limit);
  q.bind(5, offset);
  if (candidates > 0) q.bind(6, candidates);
  bind_filter(q, filter);
  std::vector<search_hit> out;
  while (q.step()) out.push_back({read_product(q), q.real(12), q.text(13)});
  q.reset();
  return out;
}

}  // namespace

std::vector<search_hit> search_products(store::database& db, std::string_view match, const product_filter& filter,
                                        product_status status, std::int64_t offset, std::int64_t limit) {
  // First the best (offset + limit) × 4 + 64 matches only: a prefix of the full order, so
  // a full page found there is exactly the full query's page. A short page (few matches,
  // or filters that dropped many) asks the full query.
  auto candidates = std::min<std::int64_t>((offset + limit) * 4 + 64, 20000);
  auto out = search_page(db, match, filter, status, offset, limit, candidates);
  if (static_cast<std::int64_t>(out.size()) < limit) out = search_page(db, match, filter, status, offset, limit, 0);
  for (auto& h : out) h.item.variants = variants_of(db, h.item.id);
  return out;
}

std::vector<variant> variants_of(store::database& db, std::string_view product_id) {
  static const std::string sql =
      "SELECT " + std::string(variant_columns) + " FROM variants WHERE product_id = ?1 ORDER BY is_default DESC, id";
  auto& q = db.prepare(sql);
  q.bind(1, product_id);
  std::vector<variant> out;
  while (q.step()) out.push_back(read_variant(q));
  q.reset();
  return out;
}

std::optional<variant> find_variant_by_sku(store::database& db, std::string_view sku) {
  static const std::string sql = "SELECT " + std::string(variant_columns) + " FROM variants WHERE sku = ?1";
  return find_variant_where(db, sql, sku);
}

std::optional<variant> find_variant_by_barcode(store::database& db, std::string_view barcode) {
  static const std::string sql = "SELECT " + std::string(variant_columns) + " FROM variants WHERE barcode = ?1";
  return find_variant_where(db, sql, barcode);
}

void insert_variant(store::database& db, const variant& v) {
  static const std::string sql = "INSERT INTO variants(" + std::string(variant_columns) +
                                 ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
  db.prepare(sql)
      .bind_all(v.id, v.product_id, v.sku, v.barcode, v.name, v.price.amount, v.price.currency,
                static_cast<std::int64_t>(v.is_default ? 1 : 0), v.version, v.created_at, v.updated_at)
      .run();
}

bool update_variant(store::database& db, const variant& v, std::int64_t previous_version) {
  db.prepare(
        "UPDATE variants SET sku = ?2, barcode = ?3, name = ?4, price_amount = ?5, price_currency = ?6, "
        "version = ?7, updated_at = ?8 WHERE id = ?1 AND version = ?9")
      .bind_all(v.id, v.sku, v.barcode, v.name, v.price.amount, v.price.currency, v.version, v.updated_at,
                previous_version)
      .run();
  return db.changes() == 1;
}

void delete_variant(store::database& db, std::string_view id) {
  db.prepare("DELETE FROM variants WHERE id = ?1").bind(1, id).run();
}

std::vector<variant> list_variants(store::database& db, std::string_view product_id, std::string_view after,
                                   std::int64_t limit) {
  static const std::string sql = "SELECT " + std::string(variant_columns) +
                                 " FROM variants WHERE product_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3";
  auto& q = db.prepare(sql);
  q.bind_all(product_id, after, limit);
  std::vector<variant> out;
  while (q.step()) out.push_back(read_variant(q));
  q.reset();
  return out;
}

bool put_stock_level(store::database& db, std::string_view sku, std::string_view location, std::int64_t available,
                     std::string_view time) {
  db.prepare(
        "INSERT INTO stock_levels(sku, location, available, updated_at) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT(sku, location) DO UPDATE SET available = excluded.available, updated_at = excluded.updated_at "
        "WHERE excluded.updated_at >= stock_levels.updated_at")
      .bind_all(sku, location, available, time)
      .run();
  return db.changes() == 1;
}

std::optional<std::string> category_id_by_name(store::database& db, std::string_view name) {
  auto& q = db.prepare("SELECT id FROM categories WHERE name = ?1");
  q.bind(1, name);
  std::optional<std::string> out;
  if (q.step()) out = q.text(0);
  q.reset();
  return out;
}

std::optional<category> find_category(store::database& db, std::string_view id) {
  static const std::string sql = "SELECT " + std::string(category_columns) + " FROM categories WHERE id = ?1";
  auto& q = db.prepare(sql);
  q.bind(1, id);
  std::optional<category> out;
  if (q.step()) out = read_category(q);
  q.reset();
  return out;
}

bool category_exists(store::database& db, std::string_view id) {
  return exists(db, "SELECT 1 FROM categories WHERE id = ?1", id);
}

void insert_category(store::database& db, const category& c) {
  static const std::string sql =
      "INSERT INTO categories(" + std::string(category_columns) + ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
  db.prepare(sql).bind_all(c.id, c.name, c.parent_id, c.description, c.version, c.created_at, c.updated_at).run();
}

bool update_category(store::database& db, const category& c, std::int64_t previous_version) {
  db.prepare(
        "UPDATE categories SET name = ?2, parent_id = ?3, description = ?4, version = ?5, updated_at = ?6 "
        "WHERE id = ?1 AND version = ?7")
      .bind_all(c.id, c.name, c.parent_id, c.description, c.version, c.updated_at, previous_version)
      .run();
  return db.changes() == 1;
}

void delete_category(store::database& db, std::string_view id) {
  db.prepare("DELETE FROM categories WHERE id = ?1").bind(1, id).run();
}

bool category_name_taken(store::database& db, std::string_view name, std::string_view other_than) {
  return exists(db, "SELECT 1 FROM categories WHERE name = ?1 AND id <> ?2", name, other_than);
}

bool category_has_products(store::database& db, std::string_view id) {
  return exists(db, "SELECT 1 FROM products WHERE category_id = ?1 LIMIT 1", id);
}

bool category_has_children(store::database& db, std::string_view id) {
  return exists(db, "SELECT 1 FROM categories WHERE parent_id = ?1 LIMIT 1", id);
}

bool is_ancestor_or_self(store::database& db, std::string_view ancestor, std::string_view start) {
  auto& q = db.prepare(
      "WITH RECURSIVE chain(id) AS (SELECT ?2 UNION SELECT c.parent_id FROM categories c JOIN chain ON c.id = "
      "chain.id WHERE c.parent_id IS NOT NULL) SELECT 1 FROM chain WHERE id = ?1");
  q.bind_all(ancestor, start);
  bool found = q.step();
  q.reset();
  return found;
}

std::vector<category> list_categories(store::database& db, std::string_view after,
                                      const std::optional<std::string>& parent_id, std::int64_t limit) {
  std::string sql = "SELECT " + std::string(category_columns) + " FROM categories WHERE id > ?1";
  if (parent_id) sql += " AND parent_id = ?2";
  sql += " ORDER BY id LIMIT ?3";
  auto& q = db.prepare(sql);
  q.bind(1, after);
  if (parent_id) q.bind(2, *parent_id);
  q.bind(3, limit);
  std::vector<category> out;
  while (q.step()) out.push_back(read_category(q));
  return out;
}

row_counts count_rows(store::database& db) {
  row_counts out;
  auto& q = db.prepare("SELECT status, count(*) FROM products GROUP BY status");
  while (q.step()) (q.text(0) == "active" ? out.active : out.archived) = q.int64(1);
  auto& c = db.prepare("SELECT count(*) FROM categories");
  c.step();
  out.categories = c.int64(0);
  c.reset();
  return out;
}

std::int64_t rebuild_search(store::database& db) {
  db.exec("DELETE FROM product_search_docs WHERE product_id NOT IN (SELECT id FROM products)");
  db.exec(
      "INSERT INTO product_search_docs(product_id) SELECT id FROM products "
      "WHERE id NOT IN (SELECT product_id FROM product_search_docs) ORDER BY id");
  db.exec("INSERT INTO product_search(product_search) VALUES ('rebuild')");
  auto& q = db.prepare("SELECT count(*) FROM product_search_docs");
  q.step();
  auto n = q.int64(0);
  q.reset();
  return n;
}

}  // namespace agora::catalog::sql
