#pragma once

#include <agora/values.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

// The cart module's one door: carts and their lines, price snapshots, taxes and totals.
// Plain values with JSON forms, so the same types travel over an in-process bus (moved)
// or a networked one (serialised).
//
// Who may touch a cart: a customer's cart answers only that customer (another principal
// gets not_found, never permission_denied); a guest cart (customer_id null) answers the
// holder of its cart_token, a random secret shown once when the cart is made and stored
// only as a hash.
//
// Money is integer minor units of one currency per cart. Taxes are computed per line and
// rounded half up (half away from zero; amounts are never negative) to the minor unit:
//   prices exclusive of tax:  line_subtotal = unit_price × quantity,
//                             line_tax      = round(line_subtotal × rate_bp / 10000),
//                             line_total    = line_subtotal + line_tax;
//   prices inclusive of tax:  line_total    = unit_price × quantity,
//                             line_tax      = round(line_total × rate_bp / (10000 + rate_bp)),
//                             line_subtotal = line_total − line_tax.
// The cart's totals are the sums of its lines' (so they always add up: subtotal + tax =
// total), and tax_lines group the line taxes by rate. Lines that are unavailable (their
// variant was deleted) count for nothing. The rounding never depends on the currency's
// decimals: it is done in minor units (JPY's yen and KWD's fils alike).
namespace agora {
struct module_definition;
}

namespace agora::cart {

using agora::money;

// Cart status: "open" (editable), "checking_out" (an order holds it; edits are refused
// with conflict), "checked_out" (the order completed; final), "expired" (idle for longer
// than modules.cart.idle_expiry_s; final).
inline constexpr std::string_view status_open = "open";
inline constexpr std::string_view status_checking_out = "checking_out";
inline constexpr std::string_view status_checked_out = "checked_out";
inline constexpr std::string_view status_expired = "expired";

// One line: a quantity of one SKU at the unit price snapshot taken when it was added or
// last re-priced from the catalog.
struct cart_line {
  std::string id;  // "line_…"
  std::string sku;
  std::string product_id;  // "prod_…"
  std::string variant_id;  // "var_…" (empty when the catalog gave none)
  std::string name;        // product name, with " — <variant name>" for a non-default variant
  std::int64_t quantity = 0;
  money unit_price;
  std::string tax_class;          // "standard", "reduced", "zero", ...
  std::int64_t tax_rate_bp = 0;   // basis points: 1900 is 19 %
  money line_subtotal;            // without tax
  money line_tax;
  money line_total;               // with tax
  bool price_changed = false;     // re-priced since the client last read the cart
  bool available = true;          // false: the variant was deleted; the line counts for nothing

  friend bool operator==(const cart_line&, const cart_line&) = default;
};

// The tax of one rate over the cart: `taxable` is the sum of the line subtotals at that
// rate, `tax` the sum of their line taxes.
struct tax_line {
  std::int64_t rate_bp = 0;
  money taxable;
  money tax;

  friend bool operator==(const tax_line&, const tax_line&) = default;
};

struct cart_totals {
  money subtotal;
  money tax;
  money total;
  std::vector<tax_line> tax_lines;  // by rate, ascending

  friend bool operator==(const cart_totals&, const cart_totals&) = default;
};

// A line whose unit price moved since the client last read the cart (a catalog price
// change, or the re-pricing at checkout). Reading the cart with get_cart shows the list
// and then clears it (and the lines' price_changed flags).
struct changed_line {
  std::string line_id;
  std::string sku;
  money old_unit_price;
  money new_unit_price;

  friend bool operator==(const changed_line&, const changed_line&) = default;
};

// A cart. `currency` is empty until the first line sets it; a line in another currency
// is refused (invalid_argument on "sku"). `version` starts at 1 and grows by one on every
// change; the HTTP ETag is the quoted version. Times are RFC 3339 UTC; `expires_at` moves
// with every change (updated_at + modules.cart.idle_expiry_s).
struct cart {
  std::string id;                          // "cart_…"
  std::optional<std::string> customer_id;  // "cus_…"; null for a guest cart
  std::string status{status_open};
  std::string currency;
  std::string region;  // tax region: "DE", "FR", "US-CA", ...
  bool prices_include_tax = false;
  std::vector<cart_line> lines;
  cart_totals totals;
  std::vector<changed_line> changed_lines;
  std::int64_t version = 0;
  std::string created_at;
  std::string updated_at;
  std::string expires_at;
  std::optional<std::string> order_id;  // "ord_…" while checking out or once checked out

  friend bool operator==(const cart&, const cart&) = default;
};

// The reply of create_cart: the cart, and for a new guest cart its token (shown this once;
// send it back as `cart_token` / the X-Cart-Token header). `created` is false when a
// customer got their existing open cart back.
struct create_cart_reply {
  struct cart item;
  std::optional<std::string> cart_token;
  bool created = false;
};

// A signed-in customer gets their one open cart (made when they have none). Anyone else
// gets a new guest cart and its token. A signed-in customer who also sends a guest cart's
// `cart_token` has that guest cart merged into theirs (see merge_guest_cart). `region`
// defaults to modules.cart.default_region; it must be a region of modules.cart.tax_rates.
struct create_cart_request {
  std::optional<std::string> region;
  std::optional<std::string> cart_token;
};

struct get_cart_request {
  std::string cart_id;
  std::optional<std::string> cart_token;  // a guest cart's token
};

// Adds `quantity` of `sku`; a SKU already in the cart has its quantity raised instead.
// Quantity 1..modules.cart.quantity_max (also for the sum), else invalid_argument on
// "quantity". An unknown SKU is not_found naming it.
struct add_line_request {
  std::string cart_id;
  std::string sku;
  std::int64_t quantity = 0;
  std::optional<version_match> expected_version;  // If-Match
  std::optional<std::string> cart_token;
};

struct update_line_request {
  std::string cart_id;
  std::string line_id;
  std::int64_t quantity = 0;
  std::optional<version_match> expected_version;  // If-Match
  std::optional<std::string> cart_token;
};

struct remove_line_request {
  std::string cart_id;
  std::string line_id;
  std::optional<version_match> expected_version;  // If-Match
  std::optional<std::string> cart_token;
};

// For a signed-in customer: the guest cart of `cart_token` is merged into the customer's
// open cart (made when they have none): its lines are added (quantities summed per SKU,
// capped at quantity_max), and the guest cart is closed (status "checked_out" is not
// used: it becomes "expired" with no order). Replies with the customer's cart. A token of
// no open guest cart is not_found.
struct merge_guest_cart_request {
  std::string cart_token;
};

// For the orders module. Checks that the cart belongs to `customer_id` (a guest cart:
// customer_id empty and the cart's token in `cart_token`), else not_found; that it has
// available lines, else conflict "cart is empty"; re-prices every line from the catalog
// (catalog.find_variant), then sets status "checking_out" and order_id, and replies with
// the full priced snapshot. The same order_id again replies the same snapshot; another
// order id while checking_out or checked_out is conflict; an expired cart is conflict.
struct begin_checkout_request {
  std::string cart_id;
  std::string order_id;
  std::string customer_id;
  std::optional<std::string> cart_token;
};

// outcome "completed": the cart becomes "checked_out" (event cart.checked_out);
// "abandoned": back to "open", order_id cleared. Repeating the call is harmless (same
// reply); an order_id that does not hold the cart is conflict.
inline constexpr std::string_view outcome_completed = "completed";
inline constexpr std::string_view outcome_abandoned = "abandoned";
struct end_checkout_request {
  std::string cart_id;
  std::string order_id;
  std::string outcome;
};

// Bus methods. Errors: invalid_argument naming each bad field (malformed ids, quantity,
// currency mismatch on "sku", region), not_found (no such cart for this principal, no
// such line, unknown sku), conflict (the cart is not open, checkout rules above),
// failed_precondition (expected_version differs).
struct create_cart {
  static constexpr std::string_view name = "cart.create_cart";
  using request = create_cart_request;
  using reply = create_cart_reply;
};
struct get_cart {
  static constexpr std::string_view name = "cart.get_cart";
  using request = get_cart_request;
  using reply = cart;
};
struct add_line {
  static constexpr std::string_view name = "cart.add_line";
  using request = add_line_request;
  using reply = cart;
};
struct update_line {
  static constexpr std::string_view name = "cart.update_line";
  using request = update_line_request;
  using reply = cart;
};
struct remove_line {
  static constexpr std::string_view name = "cart.remove_line";
  using request = remove_line_request;
  using reply = cart;
};
struct merge_guest_cart {
  static constexpr std::string_view name = "cart.merge_guest_cart";
  using request = merge_guest_cart_request;
  using reply = cart;
};
struct begin_checkout {
  static constexpr std::string_view name = "cart.begin_checkout";
  using request = begin_checkout_request;
  using reply = cart;
};
struct end_checkout {
  static constexpr std::string_view name = "cart.end_checkout";
  using request = end_checkout_request;
  using reply = cart;
};

// Events on topic "cart.carts", partition key and subject the cart id, data the cart JSON
// after the change (for cart.merged: the customer's cart; the guest cart gets cart.expired).
inline constexpr std::string_view event_source = "agora/cart";
inline constexpr std::string_view carts_topic = "cart.carts";
inline constexpr std::string_view cart_created = "cart.created";
inline constexpr std::string_view cart_line_added = "cart.line_added";
inline constexpr std::string_view cart_line_updated = "cart.line_updated";
inline constexpr std::string_view cart_line_removed = "cart.line_removed";
inline constexpr std::string_view cart_checked_out = "cart.checked_out";
inline constexpr std::string_view cart_expired = "cart.expired";
inline constexpr std::string_view cart_merged = "cart.merged";

// The tax of one line, by the rule at the top of this file. `unit_amount` and `quantity`
// are non-negative; the result's amounts are minor units.
struct line_amounts {
  std::int64_t subtotal = 0;
  std::int64_t tax = 0;
  std::int64_t total = 0;
  friend bool operator==(const line_amounts&, const line_amounts&) = default;
};
line_amounts price_line(std::int64_t unit_amount, std::int64_t quantity, std::int64_t rate_bp,
                        bool prices_include_tax) noexcept;
// a × b / d rounded half up, for a, b ≥ 0 and d > 0 (computed without overflow).
std::int64_t mul_div_round_half_up(std::int64_t a, std::int64_t b, std::int64_t d) noexcept;

constexpr auto json_fields(const cart_line*) {
  using r = cart_line;
  return std::tuple{json_field("id", &r::id),
                    json_field("sku", &r::sku),
                    json_field("product_id", &r::product_id),
                    json_field("variant_id", &r::variant_id, json_default),
                    json_field("name", &r::name),
                    json_field("quantity", &r::quantity),
                    json_field("unit_price", &r::unit_price),
                    json_field("tax_class", &r::tax_class),
                    json_field("tax_rate_bp", &r::tax_rate_bp),
                    json_field("line_subtotal", &r::line_subtotal),
                    json_field("line_tax", &r::line_tax),
                    json_field("line_total", &r::line_total),
                    json_field("price_changed", &r::price_changed, json_default),
                    json_field("available", &r::available, json_default)};
}
constexpr auto json_fields(const tax_line*) {
  return std::tuple{json_field("rate_bp", &tax_line::rate_bp), json_field("taxable", &tax_line::taxable),
                    json_field("tax", &tax_line::tax)};
}
constexpr auto json_fields(const cart_totals*) {
  return std::tuple{json_field("subtotal", &cart_totals::subtotal), json_field("tax", &cart_totals::tax),
                    json_field("total", &cart_totals::total),
                    json_field("tax_lines", &cart_totals::tax_lines, json_default)};
}
constexpr auto json_fields(const changed_line*) {
  return std::tuple{json_field("line_id", &changed_line::line_id), json_field("sku", &changed_line::sku),
                    json_field("old_unit_price", &changed_line::old_unit_price),
                    json_field("new_unit_price", &changed_line::new_unit_price)};
}
constexpr auto json_fields(const cart*) {
  using r = cart;
  return std::tuple{json_field("id", &r::id),
                    json_field("customer_id", &r::customer_id),
                    json_field("status", &r::status),
                    json_field("currency", &r::currency, json_default),
                    json_field("region", &r::region),
                    json_field("prices_include_tax", &r::prices_include_tax),
                    json_field("lines", &r::lines, json_default),
                    json_field("totals", &r::totals),
                    json_field("changed_lines", &r::changed_lines, json_default),
                    json_field("version", &r::version),
                    json_field("created_at", &r::created_at),
                    json_field("updated_at", &r::updated_at),
                    json_field("expires_at", &r::expires_at),
                    json_field("order_id", &r::order_id)};
}
// Over the bus: {"cart", "cart_token", "created"}. Over HTTP the body is the cart's JSON
// with "cart_token" added for a new guest cart.
constexpr auto json_fields(const create_cart_reply*) {
  return std::tuple{json_field("cart", &create_cart_reply::item),
                    json_field("cart_token", &create_cart_reply::cart_token),
                    json_field("created", &create_cart_reply::created, json_default)};
}
constexpr auto json_fields(const create_cart_request*) {
  return std::tuple{json_field("region", &create_cart_request::region),
                    json_field("cart_token", &create_cart_request::cart_token)};
}
constexpr auto json_fields(const get_cart_request*) {
  return std::tuple{json_field("cart_id", &get_cart_request::cart_id),
                    json_field("cart_token", &get_cart_request::cart_token)};
}
constexpr auto json_fields(const add_line_request*) {
  using r = add_line_request;
  return std::tuple{json_field("cart_id", &r::cart_id), json_field("sku", &r::sku),
                    json_field("quantity", &r::quantity), json_field("expected_version", &r::expected_version),
                    json_field("cart_token", &r::cart_token)};
}
constexpr auto json_fields(const update_line_request*) {
  using r = update_line_request;
  return std::tuple{json_field("cart_id", &r::cart_id), json_field("line_id", &r::line_id),
                    json_field("quantity", &r::quantity), json_field("expected_version", &r::expected_version),
                    json_field("cart_token", &r::cart_token)};
}
constexpr auto json_fields(const remove_line_request*) {
  using r = remove_line_request;
  return std::tuple{json_field("cart_id", &r::cart_id), json_field("line_id", &r::line_id),
                    json_field("expected_version", &r::expected_version), json_field("cart_token", &r::cart_token)};
}
constexpr auto json_fields(const merge_guest_cart_request*) {
  return std::tuple{json_field("cart_token", &merge_guest_cart_request::cart_token)};
}
constexpr auto json_fields(const begin_checkout_request*) {
  using r = begin_checkout_request;
  return std::tuple{json_field("cart_id", &r::cart_id), json_field("order_id", &r::order_id),
                    json_field("customer_id", &r::customer_id, json_default),
                    json_field("cart_token", &r::cart_token)};
}
constexpr auto json_fields(const end_checkout_request*) {
  using r = end_checkout_request;
  return std::tuple{json_field("cart_id", &r::cart_id), json_field("order_id", &r::order_id),
                    json_field("outcome", &r::outcome)};
}

// The cart module's declaration for the runtime: methods, routes under /v1/carts, events,
// migrations and settings (modules.cart.*: prices_include_tax, default_region, tax_rates,
// quantity_max, idle_expiry_s, sweep_interval_s). Three replicas by default sharing one store.
module_definition module();

}  // namespace agora::cart
