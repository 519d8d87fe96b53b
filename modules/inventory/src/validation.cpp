#include "validation.hpp"

#include <algorithm>

namespace agora::inventory {

namespace {

template <class Allowed>
bool is_token(std::string_view s, Allowed allowed) noexcept {
  return !s.empty() && s.size() <= id_max && std::all_of(s.begin(), s.end(), allowed);
}

bool alnum(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

}  // namespace

bool is_location_id(std::string_view s) noexcept {
  return is_token(s, [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

bool is_reservation_id(std::string_view s) noexcept {
  return is_token(s, [](char c) { return alnum(c) || c == '_' || c == '-'; });
}

void check_sku(std::string_view sku, const std::string& field, std::vector<field_error>& out) {
  if (!is_sku(sku)) out.push_back({field, "expected 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-'"});
}

void check_location(std::string_view id, const std::string& field, std::vector<field_error>& out) {
  if (!is_location_id(id)) out.push_back({field, "expected 1 to 64 of a-z, 0-9, '-'"});
}

void check_lines(const std::vector<stock_line>& lines, std::int64_t quantity_max, std::vector<field_error>& out) {
  if (lines.empty() || lines.size() > lines_max) {
    out.push_back({"lines", "expected 1 to " + std::to_string(lines_max) + " lines"});
    return;
  }
  for (std::size_t i = 0; i < lines.size(); ++i) {
    auto at = "lines[" + std::to_string(i) + "]";
    check_sku(lines[i].sku, at + ".sku", out);
    if (lines[i].quantity < 1 || lines[i].quantity > quantity_max)
      out.push_back({at + ".quantity", "expected an integer from 1 to " + std::to_string(quantity_max)});
  }
}

merged_lines merge_lines(const std::vector<stock_line>& lines) {
  merged_lines m;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    auto it = std::find_if(m.lines.begin(), m.lines.end(), [&](const stock_line& l) { return l.sku == lines[i].sku; });
    if (it != m.lines.end()) {
      it->quantity += lines[i].quantity;
    } else {
      m.lines.push_back(lines[i]);
      m.first_index.push_back(i);
    }
  }
  return m;
}

}  // namespace agora::inventory
