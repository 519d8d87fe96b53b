#pragma once

#include <agora/json_fields.hpp>
#include <agora/result.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

// Value types and rules that every module's door shares: money, patches that can clear
// a field, version preconditions (If-Match), pages of a list. Plain values with JSON
// forms, no I/O: a door (api.hpp) may include this.
namespace agora {

// An amount of money: integer minor units (cents for EUR, yen for JPY) of an active
// ISO 4217 currency. Never a float. Valid: 0 ≤ amount ≤ money_amount_max.
struct money {
  std::int64_t amount = 0;
  std::string currency;

  friend bool operator==(const money&, const money&) = default;
};
constexpr auto json_fields(const money*) {
  return std::tuple{json_field("amount", &money::amount), json_field("currency", &money::currency)};
}

inline constexpr std::int64_t money_amount_max = 1'000'000'000'000;

// An active ISO 4217 code of a circulating currency (list one, 2025 amendments; fund,
// precious-metal, testing and withdrawn codes are refused).
bool is_active_currency(std::string_view code) noexcept;
std::size_t active_currency_count() noexcept;
// Appends "<field>.amount" / "<field>.currency" errors when `m` breaks the rules above.
void check_money(const money& m, std::string_view field, std::vector<field_error>& out);

// A field of a partial update that can also be cleared: absent (unchanged), an empty
// inner optional (set to null) or a value.
template <class T>
using nullable_patch = std::optional<std::optional<T>>;

// The versions a conditional change accepts (If-Match): the change goes ahead when the
// resource's current version is one of them. An empty list matches nothing (If-Match
// named only weak or foreign tags).
struct version_match {
  std::vector<std::int64_t> any_of;

  version_match() = default;
  version_match(std::int64_t version) : any_of{version} {}  // NOLINT: a single version reads naturally
  bool matches(std::int64_t version) const noexcept;
  friend bool operator==(const version_match&, const version_match&) = default;
};
constexpr auto json_fields(const version_match*) { return std::tuple{json_field("any_of", &version_match::any_of)}; }

// The failed_precondition error of a version that is not among those expected.
error version_mismatch(std::string_view what, std::int64_t current);

// One page of a cursor-paginated list, in id order: pass next_cursor back as the next
// request's cursor; it is empty on the last page.
template <class T>
struct page {
  std::vector<T> data;
  std::optional<std::string> next_cursor;
};
template <class T>
constexpr auto json_fields(const page<T>*) {
  return std::tuple{json_field("data", &page<T>::data), json_field("next_cursor", &page<T>::next_cursor)};
}

// The page size a list request gets: `fallback` when it asked for none, else what it
// asked for when 1 ≤ n ≤ max (invalid_argument on `limit` otherwise).
result<std::int64_t> page_limit(const std::optional<std::int64_t>& requested, std::int64_t fallback,
                                std::int64_t max);
// The id a page starts after: empty for the first page; the id inside `cursor` when it
// is a well-formed id with `id_prefix`; invalid_argument on `cursor` otherwise.
result<std::string> page_after(std::string_view cursor, std::string_view id_prefix);
// Rows were fetched with limit + 1: drops the extra row and answers the next cursor
// (made from the last kept row's id), or nothing when this is the last page.
template <class Row>
std::optional<std::string> trim_page(std::vector<Row>& rows, std::int64_t limit);

// A SKU: 1–64 of [A-Za-z0-9._-]. Catalog owns SKUs; inventory and the others that are
// handed one check the same rule.
bool is_sku(std::string_view s) noexcept;

// Unicode scalar values in valid UTF-8; npos when `s` is not valid UTF-8.
std::size_t utf8_length(std::string_view s) noexcept;
// Removes leading and trailing ASCII whitespace.
std::string trim(std::string_view s);
// A well-formed opaque id: the prefix, '_', 26 Crockford base32 characters.
bool is_well_formed_id(std::string_view id, std::string_view prefix) noexcept;

// Opaque pagination cursors: base64url of the text, and back (empty on malformed input).
std::string encode_cursor(std::string_view text);
std::string decode_cursor(std::string_view cursor);

template <class Row>
std::optional<std::string> trim_page(std::vector<Row>& rows, std::int64_t limit) {
  if (limit < 0 || static_cast<std::int64_t>(rows.size()) <= limit) return std::nullopt;
  rows.resize(static_cast<std::size_t>(limit));
  if (rows.empty()) return std::nullopt;
  return encode_cursor(rows.back().id);
}

}  // namespace agora
