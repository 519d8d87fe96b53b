#pragma once

#include <catalog/api.hpp>

#include <agora/result.hpp>
#include <agora/values.hpp>

#include <optional>
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
inline constexpr std::size_t variant_name_max = 200;

// Each check appends a field_error for `field` when the value breaks its rule.
void check_sku(std::string_view sku, std::vector<field_error>& out);
void check_name(std::string_view name, std::size_t max, std::vector<field_error>& out);
void check_description(std::string_view description, std::vector<field_error>& out);
void check_price(const money& price, std::string_view field, std::vector<field_error>& out);
void check_reference(std::string_view id, std::string_view prefix, std::string_view field,
                     std::vector<field_error>& out);

// A barcode in its stored form: an EAN-13 of 13 digits whose check digit is right, or a
// UPC-A of 12 digits (then "0" + its digits, the same code as an EAN-13). Appends a
// field_error for `field` otherwise, naming the expected check digit when only that is wrong.
std::optional<std::string> normalize_barcode(std::string_view code, std::string_view field,
                                             std::vector<field_error>& out);
// The check digit an EAN-13 whose first 12 digits are `digits12` must end with.
char ean13_check_digit(std::string_view digits12) noexcept;
void check_tax_class(std::string_view tax_class, std::vector<field_error>& out);
// The price and stock filters of a list or search (see list_products_request).
void check_filters(const std::optional<std::int64_t>& price_min, const std::optional<std::int64_t>& price_max,
                   const std::optional<std::string>& currency, std::vector<field_error>& out);

// Trims names in place, then checks every field the request carries.
std::vector<field_error> normalize_and_validate(create_product_request& r);
std::vector<field_error> normalize_and_validate(update_product_request& r);
std::vector<field_error> normalize_and_validate(create_category_request& r);
std::vector<field_error> normalize_and_validate(update_category_request& r);
// Also normalise barcodes to their stored form.
std::vector<field_error> normalize_and_validate(create_variant_request& r);
std::vector<field_error> normalize_and_validate(update_variant_request& r);

}  // namespace agora::catalog
