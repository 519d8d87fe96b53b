#pragma once

#include <catalog/api.hpp>

#include <agora/result.hpp>
#include <agora/values.hpp>

#include <string>
#include <string_view>
#include <vector>

// Value rules of the catalog's fields, shared by the HTTP decoders (so one response
// lists every bad field) and the service (so bus callers get the same checks).
namespace agora::catalog {

inline constexpr std::size_t sku_max = 64;
inline constexpr std::size_t product_name_max = 200;
inline constexpr std::size_t category_name_max = 100;
inline constexpr std::size_t description_max = 5000;
inline constexpr std::int64_t amount_max = money_amount_max;

// Each check appends a field_error for `field` when the value breaks its rule.
void check_sku(std::string_view sku, std::vector<field_error>& out);
void check_name(std::string_view name, std::size_t max, std::vector<field_error>& out);
void check_description(std::string_view description, std::vector<field_error>& out);
void check_price(const money& price, std::string_view field, std::vector<field_error>& out);
void check_reference(std::string_view id, std::string_view prefix, std::string_view field,
                     std::vector<field_error>& out);

// Trims names in place, then checks every field the request carries.
std::vector<field_error> normalize_and_validate(create_product_request& r);
std::vector<field_error> normalize_and_validate(update_product_request& r);
std::vector<field_error> normalize_and_validate(create_category_request& r);
std::vector<field_error> normalize_and_validate(update_category_request& r);

}  // namespace agora::catalog
