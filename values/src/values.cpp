#include <agora/values.hpp>

#include <algorithm>
#include <array>

namespace agora {

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

constexpr std::string_view b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

bool is_crockford(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U');
}

}  // namespace

bool is_active_currency(std::string_view code) noexcept {
  return std::binary_search(active_currencies.begin(), active_currencies.end(), code);
}

std::size_t active_currency_count() noexcept { return active_currencies.size(); }

void check_money(const money& m, std::string_view field, std::vector<field_error>& out) {
  std::string prefix(field);
  if (m.amount < 0 || m.amount > money_amount_max)
    out.push_back({prefix + ".amount", "must be an integer of minor units from 0 to 1000000000000"});
  if (!is_active_currency(m.currency))
    out.push_back({prefix + ".currency", "must be an active ISO 4217 currency code such as EUR or USD"});
}

bool version_match::matches(std::int64_t version) const noexcept {
  return std::find(any_of.begin(), any_of.end(), version) != any_of.end();
}

error version_mismatch(std::string_view what, std::int64_t current) {
  return {
      errc::failed_precondition, std::string(what) + " has changed: it is at version " + std::to_string(current), {}};
}

result<std::int64_t> page_limit(const std::optional<std::int64_t>& requested, std::int64_t fallback,
                                std::int64_t max) {
  if (!requested) return std::min(fallback, max);
  if (*requested < 1 || *requested > max)
    return error::invalid({{"limit", "must be an integer from 1 to " + std::to_string(max)}});
  return *requested;
}

result<std::string> page_after(std::string_view cursor, std::string_view id_prefix) {
  if (cursor.empty()) return std::string();
  std::string id = decode_cursor(cursor);
  if (!is_well_formed_id(id, id_prefix))
    return error::invalid({{"cursor", "malformed cursor: pass the next_cursor of the previous page"}});
  return id;
}

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

bool is_sku(std::string_view s) noexcept {
  auto allowed = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  };
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), allowed);
}

bool is_well_formed_id(std::string_view id, std::string_view prefix) noexcept {
  if (id.size() != prefix.size() + 27 || id.substr(0, prefix.size()) != prefix || id[prefix.size()] != '_')
    return false;
  auto body = id.substr(prefix.size() + 1);
  return std::all_of(body.begin(), body.end(), is_crockford);
}

std::string encode_cursor(std::string_view text) {
  std::string out;
  std::uint32_t buf = 0;
  int bits = 0;
  for (unsigned char c : text) {
    buf = (buf << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(b64url[(buf >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(b64url[(buf << (6 - bits)) & 63]);
  return out;
}

std::string decode_cursor(std::string_view cursor) {
  std::string out;
  std::uint32_t buf = 0;
  int bits = 0;
  for (char c : cursor) {
    auto pos = b64url.find(c);
    if (pos == std::string_view::npos) return {};
    buf = (buf << 6) | static_cast<std::uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buf >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace agora
