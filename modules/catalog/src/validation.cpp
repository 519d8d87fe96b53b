#include "validation.hpp"

#include <algorithm>
#include <array>

namespace agora::catalog {

namespace {

// Sorted, for binary search.
constexpr std::array<std::string_view, 156> active_currencies = {
    "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF", "BMD",
    "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP",
    "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP",
    "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD",
    "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN",
    "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB",
    "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL",
    "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS", "VED", "VES",
    "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
};

static_assert(std::is_sorted(active_currencies.begin(), active_currencies.end()));

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

bool is_sku_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

bool is_crockford(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U');
}

}  // namespace

bool is_active_currency(std::string_view code) noexcept {
  return std::binary_search(active_currencies.begin(), active_currencies.end(), code);
}

std::size_t active_currency_count() noexcept { return active_currencies.size(); }

std::size_t utf8_length(std::string_view s) noexcept {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++n) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return std::string_view::npos;
    for (std::size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return std::string_view::npos;
    i += len;
  }
  return n;
}

std::string trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

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
  std::string prefix(field);
  if (price.amount < 0 || price.amount > amount_max)
    out.push_back({prefix + ".amount", "must be an integer of minor units from 0 to 1000000000000"});
  if (!is_active_currency(price.currency))
    out.push_back({prefix + ".currency", "must be an active ISO 4217 currency code such as EUR or USD"});
}

void check_reference(std::string_view id, std::string_view prefix, std::string_view field,
                     std::vector<field_error>& out) {
  if (!is_well_formed_id(id, prefix))
    out.push_back({std::string(field), "must be the id of an existing " + std::string(prefix) + "_… resource"});
}

bool is_well_formed_id(std::string_view id, std::string_view prefix) noexcept {
  if (id.size() != prefix.size() + 27 || id.substr(0, prefix.size()) != prefix || id[prefix.size()] != '_')
    return false;
  auto body = id.substr(prefix.size() + 1);
  return std::all_of(body.begin(), body.end(), is_crockford);
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
