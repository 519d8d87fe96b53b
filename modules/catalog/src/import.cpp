#include "import.hpp"

#include "changes.hpp"
#include "store.hpp"
#include "validation.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace agora::catalog {

namespace {

constexpr std::array<std::string_view, 10> import_columns = {"sku",         "name",        "price",     "currency",
                                                             "description", "category",    "tax_class", "barcode",
                                                             "product_sku", "variant_name"};

bool known_column(std::string_view c) {
  return std::find(import_columns.begin(), import_columns.end(), c) != import_columns.end();
}

// Splits one CSV record; false when a quoted field is still open at its end.
bool split_csv(std::string_view record, std::vector<std::string>& out) {
  out.clear();
  std::string field;
  bool quoted = false;
  bool was_quoted = false;
  for (std::size_t i = 0; i < record.size(); ++i) {
    char ch = record[i];
    if (quoted) {
      if (ch == '"') {
        if (i + 1 < record.size() && record[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field += ch;
      }
    } else if (ch == '"' && field.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else if (ch == ',') {
      out.push_back(was_quoted ? std::move(field) : trim(field));
      field.clear();
      was_quoted = false;
    } else {
      field += ch;
    }
  }
  if (quoted) return false;
  out.push_back(was_quoted ? std::move(field) : trim(field));
  return true;
}

std::string_view without_cr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

bool blank(std::string_view line) {
  return std::all_of(line.begin(), line.end(), [](char ch) { return ch == ' ' || ch == '\t'; });
}

}  // namespace

std::optional<import_format> import_format_from_string(std::string_view s) noexcept {
  if (s == "csv") return import_format::csv;
  if (s == "jsonl") return import_format::jsonl;
  return std::nullopt;
}

import_item import_reader::feed(std::string_view line, std::int64_t line_no) {
  line = without_cr(line);
  return format_ == import_format::csv ? feed_csv(line, line_no) : feed_jsonl(line, line_no);
}

import_item import_reader::feed_csv(std::string_view line, std::int64_t line_no) {
  if (header_problem_) return {};
  if (pending_.empty()) {
    if (blank(line)) return {};
    pending_line_ = line_no;
  } else {
    pending_ += '\n';
  }
  if (pending_.size() + line.size() > import_line_max) {
    pending_.clear();
    return {std::nullopt, import_problem{pending_line_, "", "the record is longer than 1 MiB"}};
  }
  pending_ += line;
  std::vector<std::string> fields;
  if (!split_csv(pending_, fields)) return {};
  pending_.clear();
  if (!have_header_) {
    have_header_ = true;
    for (auto& f : fields) {
      if (!known_column(f)) {
        header_problem_ = import_problem{pending_line_, "",
                                         "unknown column '" + f +
                                             "'; the columns are sku, name, "
                                             "price, currency, description, category, tax_class, "
                                             "barcode, product_sku, variant_name"};
        return {};
      }
      if (std::find(columns_.begin(), columns_.end(), f) != columns_.end()) {
        header_problem_ = import_problem{pending_line_, "", "the column '" + f + "' is named twice"};
        return {};
      }
      columns_.push_back(f);
    }
    if (std::find(columns_.begin(), columns_.end(), "sku") == columns_.end())
      header_problem_ = import_problem{pending_line_, "", "the header has no sku column"};
    return {};
  }
  if (fields.size() != columns_.size())
    return {std::nullopt, import_problem{pending_line_, "",
                                         "has " + std::to_string(fields.size()) + " fields; the header names " +
                                             std::to_string(columns_.size())}};
  import_row row{pending_line_, {}};
  for (std::size_t i = 0; i < fields.size(); ++i)
    if (!fields[i].empty()) row.cells.emplace(columns_[i], std::move(fields[i]));
  return {std::move(row), std::nullopt};
}

import_item import_reader::feed_jsonl(std::string_view line, std::int64_t line_no) {
  if (blank(line)) return {};
  if (line.size() > import_line_max)
    return {std::nullopt, import_problem{line_no, "", "the line is longer than 1 MiB"}};
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return {std::nullopt, import_problem{line_no, "", "not a JSON object"}};
  import_row row{line_no, {}};
  std::string sku = j.contains("sku") && j["sku"].is_string() ? j["sku"].get<std::string>() : "";
  for (auto& [key, value] : j.items()) {
    if (!known_column(key)) return {std::nullopt, import_problem{line_no, sku, "unknown field '" + key + "'"}};
    if (value.is_null()) continue;
    if (value.is_string())
      row.cells.emplace(key, value.get<std::string>());
    else if (value.is_number_integer())
      row.cells.emplace(key, value.dump());
    else
      return {std::nullopt, import_problem{line_no, sku, key + ": expected a string or an integer"}};
  }
  return {std::move(row), std::nullopt};
}

std::optional<import_problem> import_reader::finish() {
  if (pending_.empty()) return std::nullopt;
  pending_.clear();
  return import_problem{pending_line_, "", "a quoted field is never closed"};
}

result<import_fields> check_import_row(const import_row& row) {
  std::vector<field_error> errors;
  import_fields f;
  f.line = row.line;
  auto cell = [&](std::string_view key) -> std::optional<std::string> {
    auto it = row.cells.find(key);
    if (it == row.cells.end()) return std::nullopt;
    return it->second;
  };
  if (auto sku = cell("sku"))
    f.sku = *sku;
  else
    errors.push_back({"sku", "is required"});
  if (!f.sku.empty()) check_sku(f.sku, errors);
  if ((f.name = cell("name"))) {
    *f.name = trim(*f.name);
    check_name(*f.name, product_name_max, errors);
  }
  auto amount = cell("price");
  auto currency = cell("currency");
  if (amount.has_value() != currency.has_value()) {
    errors.push_back({amount ? "currency" : "price", "price and currency are given together"});
  } else if (amount) {
    money m{0, *currency};
    auto [ptr, ec] = std::from_chars(amount->data(), amount->data() + amount->size(), m.amount);
    if (ec != std::errc() || ptr != amount->data() + amount->size())
      errors.push_back({"price", "must be an integer amount of minor units"});
    else
      check_price(m, "price", errors);
    f.price = std::move(m);
  }
  if ((f.description = cell("description"))) check_description(*f.description, errors);
  if ((f.category = cell("category"))) *f.category = trim(*f.category);
  if ((f.tax_class = cell("tax_class"))) check_tax_class(*f.tax_class, errors);
  if (auto b = cell("barcode")) f.barcode = normalize_barcode(*b, "barcode", errors);
  if ((f.product_sku = cell("product_sku"))) {
    std::vector<field_error> sku_errors;
    check_sku(*f.product_sku, sku_errors);
    if (!sku_errors.empty()) errors.push_back({"product_sku", sku_errors.front().message});
  }
  if ((f.variant_name = cell("variant_name"))) {
    *f.variant_name = trim(*f.variant_name);
    if (utf8_length(*f.variant_name) == std::string_view::npos || utf8_length(*f.variant_name) > variant_name_max)
      errors.push_back({"variant_name", "must be at most 200 characters of valid UTF-8"});
  }
  if (!errors.empty()) return error::invalid(std::move(errors));
  return f;
}

namespace {

enum class row_effect { created, updated, unchanged };

std::string reason_of(const error& e) {
  if (e.fields.empty()) return e.message;
  std::string out;
  for (const auto& f : e.fields) {
    if (!out.empty()) out += "; ";
    out += f.field + ": " + f.message;
  }
  return out;
}

result<std::optional<std::string>> resolve_category(store::database& db, const std::optional<std::string>& given) {
  if (!given) return std::optional<std::string>{};
  if (is_well_formed_id(*given, "cat")) {
    if (sql::category_exists(db, *given)) return std::optional<std::string>{*given};
  } else if (auto id = sql::category_id_by_name(db, *given)) {
    return std::optional<std::string>{std::move(*id)};
  }
  return error::invalid({{"category", "no category has this name or id"}});
}

// A row that is a product (and its default variant).
result<row_effect> apply_product_row(store::database& db, const module_context& ctx, const bus::call_context& c,
                                     const std::string& now, const import_fields& f, std::string& touched) {
  auto category = resolve_category(db, f.category);
  if (!category) return std::move(category).err();
  auto existing = sql::find_variant_by_sku(db, f.sku);
  if (existing && !existing->is_default)
    return error::conflict("the sku is a variant of another product; name that product's sku in product_sku");
  if (!existing) {
    std::vector<field_error> missing;
    if (!f.name) missing.push_back({"name", "is required for a new product"});
    if (!f.price) missing.push_back({"price", "is required for a new product"});
    if (!missing.empty()) return error::invalid(std::move(missing));
    product p{ctx.clock().new_id("prod"),
              f.sku,
              *f.name,
              f.description.value_or(""),
              *f.price,
              *category,
              product_status::active,
              1,
              now,
              now,
              f.tax_class.value_or(std::string(tax_standard)),
              {}};
    p.variants.push_back({ctx.clock().new_id("var"), p.id, p.sku, f.barcode, "", p.price, true, 1, now, now});
    if (auto e = check_unique(db, p.variants.front())) return std::move(*e);
    sql::insert_product(db, p);
    sql::insert_variant(db, p.variants.front());
    db.enqueue_event(ctx.event(products_topic, product_created, p.id, p, c, now));
    announce_variants(db, ctx, c, now, nullptr, &p);
    touched = p.id;
    return row_effect::created;
  }
  auto current = sql::find_product(db, existing->product_id);
  if (!current) return error::internal("variant without its product");
  product next = *current;
  if (f.name) next.name = *f.name;
  if (f.description) next.description = *f.description;
  if (f.price) next.price = *f.price;
  if (f.category) next.category_id = *category;
  if (f.tax_class) next.tax_class = *f.tax_class;
  auto& def = default_variant(next);
  variant before = def;
  def.price = next.price;
  if (f.barcode) def.barcode = f.barcode;
  if (next == *current) return row_effect::unchanged;
  if (def != before) {
    if (auto e = check_unique(db, def)) return std::move(*e);
    def.version += 1;
    def.updated_at = now;
    sql::update_variant(db, def, before.version);
  }
  commit_product_change(db, ctx, c, now, *current, std::move(next));
  touched = current->id;
  return row_effect::updated;
}

// A row that is a variant of the product whose sku is product_sku.
result<row_effect> apply_variant_row(store::database& db, const module_context& ctx, const bus::call_context& c,
                                     const std::string& now, const import_fields& f, std::string& touched) {
  auto parent = sql::find_product_by_sku(db, *f.product_sku);
  if (!parent) return error::invalid({{"product_sku", "no product has this sku"}});
  auto existing = sql::find_variant_by_sku(db, f.sku);
  if (existing && existing->product_id != parent->id)
    return error::conflict("the sku is already a variant of another product");
  product next = *parent;
  if (!existing) {
    if (!f.price) return error::invalid({{"price", "is required for a new variant"}});
    variant v{ctx.clock().new_id("var"),
              parent->id,
              f.sku,
              f.barcode,
              f.variant_name.value_or(""),
              *f.price,
              false,
              1,
              now,
              now};
    if (auto e = check_unique(db, v)) return std::move(*e);
    sql::insert_variant(db, v);
    next.variants.push_back(std::move(v));
    commit_product_change(db, ctx, c, now, *parent, std::move(next));
    touched = parent->id;
    return row_effect::created;
  }
  auto it =
      std::find_if(next.variants.begin(), next.variants.end(), [&](const variant& v) { return v.id == existing->id; });
  variant before = *it;
  if (f.price) it->price = *f.price;
  if (f.barcode) it->barcode = f.barcode;
  if (f.variant_name) it->name = *f.variant_name;
  if (*it == before) return row_effect::unchanged;
  if (auto e = check_unique(db, *it)) return std::move(*e);
  it->version += 1;
  it->updated_at = now;
  sql::update_variant(db, *it, before.version);
  commit_product_change(db, ctx, c, now, *parent, std::move(next));
  touched = parent->id;
  return row_effect::updated;
}

}  // namespace

import_outcome apply_import_rows(store::database& db, const module_context& ctx, const bus::call_context& c,
                                 const std::string& now, const std::vector<import_fields>& rows) {
  import_outcome out;
  for (const auto& f : rows) {
    std::string touched;
    bool as_product = !f.product_sku || *f.product_sku == f.sku;
    auto r =
        as_product ? apply_product_row(db, ctx, c, now, f, touched) : apply_variant_row(db, ctx, c, now, f, touched);
    if (!r) {
      out.problems.push_back({f.line, f.sku, reason_of(r.err())});
      continue;
    }
    switch (*r) {
      case row_effect::created: ++out.created; break;
      case row_effect::updated: ++out.updated; break;
      case row_effect::unchanged: ++out.unchanged; break;
    }
    if (!touched.empty()) out.touched.push_back(std::move(touched));
  }
  return out;
}

}  // namespace agora::catalog
