#include "validation.hpp"

#include <algorithm>
#include <array>

namespace agora::catalog {

namespace {

bool is_sku_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

}  // namespace

void check_sku(std::string_view sku, std::vector<field_error>& out) {
  if (sku.empty() || sku.size() > sku_max || !std::all_of(sku.begin(), sku.end(), is_sku_char))
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

std::vector<field_error> normalize_and_validate(create_product_request& r) {
  std::vector<field_error> out;
  r.name = trim(r.name);
  check_sku(r.sku, out);
  check_name(r.name, product_name_max, out);
  check_description(r.description, out);
  check_price(r.price, "price", out);
  if (r.category_id) check_reference(*r.category_id, "cat", "category_id", out);
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
