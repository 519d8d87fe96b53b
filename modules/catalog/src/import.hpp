#pragma once

#include <catalog/api.hpp>

#include <agora/module.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Bulk import: rows read one line at a time (CSV or JSON lines), checked, then applied
// on the store thread by sku (see import_products_request in the door for the columns).
namespace agora::catalog {

enum class import_format { csv, jsonl };
std::optional<import_format> import_format_from_string(std::string_view s) noexcept;

inline constexpr std::size_t import_line_max = 1 << 20;  // bytes of one line (or CSV record)
inline constexpr std::size_t import_errors_listed = 1000;

// One row as read: its first line, and its cells by column (an empty CSV cell is absent).
struct import_row {
  std::int64_t line = 0;
  std::map<std::string, std::string, std::less<>> cells;
};

// What feeding one line gave: a complete row, a row refused as unreadable, or nothing
// (a blank line, the CSV header, or a line inside a quoted CSV field).
struct import_item {
  std::optional<import_row> row;
  std::optional<import_problem> problem;
};

// Turns lines (without their line ending) into rows. CSV: the first non-blank line is the
// header; fields are separated by commas; a field in double quotes may hold commas, line
// breaks and "" (one quote). JSON lines: one object a line, values strings or numbers.
class import_reader {
 public:
  explicit import_reader(import_format f) : format_(f) {}

  import_item feed(std::string_view line, std::int64_t line_no);
  // At the end of the input: a problem when a quoted CSV field was left open.
  std::optional<import_problem> finish();
  // Set when the CSV header itself was refused (unknown or repeated columns, no sku):
  // then no row is read.
  const std::optional<import_problem>& header_problem() const noexcept { return header_problem_; }

 private:
  import_item feed_csv(std::string_view line, std::int64_t line_no);
  import_item feed_jsonl(std::string_view line, std::int64_t line_no);

  import_format format_;
  std::vector<std::string> columns_;
  bool have_header_ = false;
  std::optional<import_problem> header_problem_;
  std::string pending_;  // a CSV record still inside a quoted field
  std::int64_t pending_line_ = 0;
};

// A row's values, checked (barcode normalised, names trimmed).
struct import_fields {
  std::int64_t line = 0;
  std::string sku;
  std::optional<std::string> name;
  std::optional<money> price;
  std::optional<std::string> description;
  std::optional<std::string> category;  // a name or an id
  std::optional<std::string> tax_class;
  std::optional<std::string> barcode;
  std::optional<std::string> product_sku;
  std::optional<std::string> variant_name;
};

// The row's fields, or the reason it is refused.
result<import_fields> check_import_row(const import_row& row);

// Counts of what a batch did; `touched` are the products it changed.
struct import_outcome {
  std::int64_t created = 0;
  std::int64_t updated = 0;
  std::int64_t unchanged = 0;
  std::vector<import_problem> problems;
  std::vector<std::string> touched;
};

// Applies rows in order, inside the caller's transaction (rows earlier in the batch are
// seen by later ones). A refused row writes nothing.
import_outcome apply_import_rows(store::database& db, const module_context& ctx, const bus::call_context& c,
                                 const std::string& now, const std::vector<import_fields>& rows);

}  // namespace agora::catalog
