#pragma once

#include <inventory/api.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

// Value rules of the inventory's requests, checked by the service (so bus callers get the
// same 422 as HTTP callers). Each appends one error per bad field.
namespace agora::inventory {

inline constexpr std::size_t id_max = 64;
inline constexpr std::size_t name_max = 200;
inline constexpr std::size_t reason_max = 200;
inline constexpr std::size_t lines_max = 100;
inline constexpr std::int64_t ttl_max_s = 604800;

bool is_location_id(std::string_view s) noexcept;     // 1–64 of [a-z0-9-]
bool is_reservation_id(std::string_view s) noexcept;  // 1–64 of [A-Za-z0-9_-]

void check_sku(std::string_view sku, const std::string& field, std::vector<field_error>& out);
void check_location(std::string_view id, const std::string& field, std::vector<field_error>& out);
// Each line's sku and quantity (1..quantity_max), and 1..lines_max lines.
void check_lines(const std::vector<stock_line>& lines, std::int64_t quantity_max, std::vector<field_error>& out);

// One line per SKU, quantities summed, in the order of first appearance; `first_index[i]`
// is the request index the merged line i came from (what errors name).
struct merged_lines {
  std::vector<stock_line> lines;
  std::vector<std::size_t> first_index;
};
merged_lines merge_lines(const std::vector<stock_line>& lines);

}  // namespace agora::inventory
