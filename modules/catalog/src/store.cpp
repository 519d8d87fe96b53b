#include "store.hpp"

#include <string>

namespace agora::catalog::sql {

namespace {

constexpr std::string_view product_columns =
    "id, sku, name, description, price_amount, price_currency, category_id, status, version, created_at, updated_at";
constexpr std::string_view category_columns = "id, name, parent_id, description, version, created_at, updated_at";

product read_product(const store::statement& q) {
  product p;
  std::string status;
  q.columns(p.id, p.sku, p.name, p.description, p.price.amount, p.price.currency, p.category_id, status, p.version,
            p.created_at, p.updated_at);
  p.status = product_status_from_string(status).value_or(product_status::active);
  return p;
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
  return out;
}

void insert_product(store::database& db, const product& p) {
  static const std::string sql = "INSERT INTO products(" + std::string(product_columns) +
                                 ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
  db.prepare(sql)
      .bind_all(p.id, p.sku, p.name, p.description, p.price.amount, p.price.currency, p.category_id,
                to_string(p.status), p.version, p.created_at, p.updated_at)
      .run();
}

bool update_product(store::database& db, const product& p, std::int64_t previous_version) {
  db.prepare(
        "UPDATE products SET sku = ?2, name = ?3, description = ?4, price_amount = ?5, price_currency = ?6, "
        "category_id = ?7, status = ?8, version = ?9, updated_at = ?10 WHERE id = ?1 AND version = ?11")
      .bind_all(p.id, p.sku, p.name, p.description, p.price.amount, p.price.currency, p.category_id,
                to_string(p.status), p.version, p.updated_at, previous_version)
      .run();
  return db.changes() == 1;
}

void delete_product(store::database& db, std::string_view id) {
  db.prepare("DELETE FROM products WHERE id = ?1").bind(1, id).run();
}

bool sku_taken(store::database& db, std::string_view sku, std::string_view other_than) {
  return exists(db, "SELECT 1 FROM products WHERE sku = ?1 AND id <> ?2", sku, other_than);
}

std::vector<product> list_products(store::database& db, std::string_view after,
                                   const std::optional<std::string>& category_id, std::optional<product_status> status,
                                   std::int64_t limit) {
  // One statement per filter combination, so each can use its index.
  std::string sql = "SELECT " + std::string(product_columns) + " FROM products WHERE id > ?1";
  if (category_id) sql += " AND category_id = ?2";
  if (status) sql += " AND status = ?3";
  sql += " ORDER BY id LIMIT ?4";
  auto& q = db.prepare(sql);
  q.bind(1, after);
  if (category_id) q.bind(2, *category_id);
  if (status) q.bind(3, to_string(*status));
  q.bind(4, limit);
  std::vector<product> out;
  out.reserve(static_cast<std::size_t>(limit));
  while (q.step()) out.push_back(read_product(q));
  return out;
}

std::vector<search_hit> search_products(store::database& db, std::string_view match,
                                        const std::optional<std::string>& category_id, product_status status,
                                        std::int64_t limit) {
  // bm25 is lower for better matches; the weights rank a name match above a sku match
  // above a description match. The snippet is made for the returned rows only, hence
  // the ranking in a subquery and a second MATCH (snippet needs one) on its rows.
  static constexpr std::string_view ranked_columns =
      "p.id AS id, p.sku AS sku, p.name AS name, p.description AS description, p.price_amount AS price_amount, "
      "p.price_currency AS price_currency, p.category_id AS category_id, p.status AS status, p.version AS version, "
      "p.created_at AS created_at, p.updated_at AS updated_at";
  std::string sql = "WITH best AS (SELECT " + std::string(ranked_columns) +
                    ", product_search.rowid AS doc, bm25(product_search, 10.0, 5.0, 1.0) AS rank "
                    "FROM product_search JOIN product_search_docs d ON d.doc = product_search.rowid "
                    "JOIN products p ON p.id = d.product_id "
                    "WHERE product_search MATCH ?1 AND p.status = ?2";
  if (category_id) sql += " AND p.category_id = ?3";
  sql +=
      " ORDER BY rank, p.id LIMIT ?4) "
      "SELECT best.id, best.sku, best.name, best.description, best.price_amount, best.price_currency, "
      "best.category_id, best.status, best.version, best.created_at, best.updated_at, -best.rank, "
      "snippet(product_search, 2, '', '', '…', 16) "
      "FROM best JOIN product_search ON product_search.rowid = best.doc WHERE product_search MATCH ?1 "
      "ORDER BY best.rank, best.id";
  auto& q = db.prepare(sql);
  q.bind(1, match);
  q.bind(2, to_string(status));
  if (category_id) q.bind(3, *category_id);
  q.bind(4, limit);
  std::vector<search_hit> out;
  while (q.step()) out.push_back({read_product(q), q.real(11), q.text(12)});
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
