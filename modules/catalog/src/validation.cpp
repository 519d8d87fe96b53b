#include "validation.hpp"

#include <algorithm>
#include <array>

namespace agora::catalog {

void check_sku(std::string_view sku, std::vector<field_error>& out) {
  if (!is_sku(sku))
    out.push_back({"sku", "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'"});
}

void check_name(std::string_view name, std::size_t max, std::vector<field_error>& out) {
  std::size_t n = utf8_length(name);
  if (n == std::string_view::npos)
    out.push_back({"name", "must be valid UTF-8"});
  else if (n == 0 || n > max)
    out.push_back({"name", "must be 1 to " + std::to_string(max) + " characters after trimming"});
}

void check_description(std::string_view description, std::vector<field_error>& out) {
  std::size_t n = utf8_length(description);
  if (n == std::string_view::npos)
    out.push_back({"description", "must be valid UTF-8"});
  else if (n > description_max)
    out.push_back({"description", "must be at most 5000 characters"});
}

void check_price(const money& price, std::string_view field, std::vector<field_error>& out) {
  check_money(price, field, out);
}

void check_reference(std::string_view id, std::string_view prefix, std::string_view field,
                     std::vector<field_error>& out) {
  if (!is_well_formed_id(id, prefix))
    out.push_back({std::string(field), "must be the id of an existing " + std::string(prefix) + "_… resource"});
}

char ean13_check_digit(std::string_view digits12) noexcept {
  int sum = 0;
  for (std::size_t i = 0; i < digits12.size() && i < 12; ++i) sum += (digits12[i] - '0') * (i % 2 == 0 ? 1 : 3);
  return static_cast<char>('0' + (10 - sum % 10) % 10);
}

std::optional<std::string> normalize_barcode(std::string_view code, std::string_view field,
                                             std::vector<field_error>& out) {
  bool digits = !code.empty() && std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || (code.size() != 12 && code.size() != 13)) {
    out.push_back({std::string(field), "must be an EAN-13 (13 digits) or a UPC-A (12 digits)"});
    return std::nullopt;
  }
  std::string ean = code.size() == 12 ? "0" + std::string(code) : std::string(code);
  char expected = ean13_check_digit(std::string_view(ean).substr(0, 12));
  if (ean.back() != expected) {
    out.push_back({std::string(field), std::string("check digit is wrong: a code starting ") +
                                           std::string(code.substr(0, code.size() - 1)) + " must end with " +
                                           expected});
    return std::nullopt;
  }
  return ean;
}

void check_tax_class(std::string_view tax_class, std::vector<field_error>& out) {
  if (!is_tax_class(tax_class)) out.push_back({"tax_class", "expected \"standard\", \"reduced\" or \"zero\""});
}

void check_filters(const std::optional<std::int64_t>& price_min, const std::optional<std::int64_t>& price_max,
                   const std::optional<std::string>& currency, std::vector<field_error>& out) {
  auto in_range = [](std::int64_t v) { return v >= 0 && v <= amount_max; };
  if (price_min && !in_range(*price_min)) out.push_back({"price_min", "must be an amount of minor units from 0"});
  if (price_max && !in_range(*price_max)) out.push_back({"price_max", "must be an amount of minor units from 0"});
  if (price_min && price_max && *price_min > *price_max) out.push_back({"price_max", "must not be below price_min"});
  if ((price_min || price_max) && !currency)
    out.push_back({"currency", "is required with price_min or price_max"});
  else if (currency && !price_min && !price_max)
    out.push_back({"currency", "is given only with price_min or price_max"});
  else if (currency && !is_active_currency(*currency))
    out.push_back({"currency", "must be an active ISO 4217 code"});
}

namespace {

void check_variant_name(std::string_view name, std::vector<field_error>& out) {
  std::size_t n = utf8_length(name);
  if (n == std::string_view::npos)
    out.push_back({"name", "must be valid UTF-8"});
  else if (n > variant_name_max)
    out.push_back({"name", "must be at most 200 characters after trimming"});
}

}  // namespace

std::vector<field_error> normalize_and_validate(create_product_request& r) {
  std::vector<field_error> out;
  r.name = trim(r.name);
  check_sku(r.sku, out);
  check_name(r.name, product_name_max, out);
  check_description(r.description, out);
  check_price(r.price, "price", out);
  if (r.category_id) check_reference(*r.category_id, "cat", "category_id", out);
  check_tax_class(r.tax_class, out);
  if (r.barcode) r.barcode = normalize_barcode(*r.barcode, "barcode", out);
  return out;
}

std::vector<field_error> normalize_and_validate(create_variant_request& r) {
  std::vector<field_error> out;
  r.name = trim(r.name);
  check_reference(r.product_id, "prod", "product_id", out);
  check_sku(r.sku, out);
  check_variant_name(r.name, out);
  check_price(r.price, "price", out);
  if (r.barcode) r.barcode = normalize_barcode(*r.barcode, "barcode", out);
  return out;
}

std::vector<field_error> normalize_and_validate(update_variant_request& r) {
  std::vector<field_error> out;
  if (r.sku) check_sku(*r.sku, out);
  if (r.name) {
    r.name = trim(*r.name);
    check_variant_name(*r.name, out);
  }
  if (r.price) check_price(*r.price, "price", out);
  if (r.barcode && *r.barcode) {
    auto code = normalize_barcode(**r.barcode, "barcode", out);
    if (code) *r.barcode = std::move(code);
  }
  return out;
}

std::vector<field_error> normalize_and_validate(update_product_request& r) {
  std::vector<field_error> out;
  if (r.sku) check_sku(*r.sku, out);
  if (r.name) {
    r.name = trim(*r.name);
    check_name(*r.name, product_name_max, out);
  }
  if (r.description) check_description(*r.description, out);
  if (r.price) check_price(*r.price, "price", out);
  if (r.category_id && *r.category_id) check_reference(**r.category_id, "cat", "category_id", out);
  if (r.tax_class) check_tax_class(*r.tax_class, out);
  return out;
}

std::vector<field_error> normalize_and_validate(create_category_request& r) {
  std::vector<field_error> out;
  r.name = trim(r.name);
  check_name(r.name, category_name_max, out);
  check_description(r.description, out);
  if (r.parent_id) check_reference(*r.parent_id, "cat", "parent_id", out);
  return out;
}

std::vector<field_error> normalize_and_validate(update_category_request& r) {
  std::vector<field_error> out;
  if (r.name) {
    r.name = trim(*r.name);
    check_name(*r.name, category_name_max, out);
  }
  if (r.description) check_description(*r.description, out);
  if (r.parent_id && *r.parent_id) check_reference(**r.parent_id, "cat", "parent_id", out);
  return out;
}

}  // namespace agora::catalog
