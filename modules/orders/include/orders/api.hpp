#pragma once

#include <agora/values.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

// The orders module's one door: orders, their payments and fulfilment, the checkout
// saga's outcome, and the events it publishes. Plain values with JSON forms.
//
// An order is made from a cart by checkout, a saga persisted step by step in the order
// row: validate the cart (cart.begin_checkout freezes and prices it) → reserve stock
// (inventory.reserve, the order id as reservation id) → authorise payment → confirm →
// commit the reservation → close the cart → capture payment. Every step is idempotent by
// the order id, so a saga interrupted by a crash is resumed at the next start from the
// step it had reached. A failing step compensates the earlier ones (release the stock,
// void the payment, reopen the cart) and the order ends canceled with a reason.
namespace agora {
struct module_definition;
}

namespace agora::orders {

using agora::money;

// Three statuses, kept apart, each with its own history:
//   status:             pending → confirmed → paid; canceled (from pending or later);
//                       refunded / partially_refunded after refunds of a paid order
//   payment_status:     none → authorized → captured → partially_refunded → refunded;
//                       authorized → voided
//   fulfilment_status:  unfulfilled → fulfilled → shipped → delivered
struct order_line {
  std::string id;  // "oli_…"
  std::string sku;
  std::string product_id;
  std::string name;
  std::int64_t quantity = 0;
  money unit_price;
  money line_total;  // what the customer pays for the line, tax included
  money line_tax;
  std::int64_t refunded_quantity = 0;
};

struct transition {
  std::string field;  // "status", "payment_status", "fulfilment_status"
  std::string from;
  std::string to;
  std::string reason;
  std::string actor;  // the principal's subject, or "system"
  std::string at;
};

struct order {
  std::string id;  // "ord_…"
  std::string customer_id;
  std::string cart_id;
  std::string status;  // see above
  std::string payment_status;
  std::string fulfilment_status;
  std::string cancel_reason;  // "insufficient_stock", "payment_declined", "payment_timeout",
                              // "inventory_unavailable", "cart_invalid", "customer", "staff: …"; "" unless canceled
  std::string saga_step;      // where the checkout saga is: validate, reserve, authorize, confirm,
                              // commit, close_cart, capture, done; compensate, failed
  std::vector<order_line> lines;
  money subtotal;
  money tax;
  money total;
  money refunded;
  std::string location;  // where the stock is reserved ("web")
  std::optional<std::string> payment_id;
  std::optional<std::string> tracking;
  std::vector<transition> history;
  std::int64_t version = 0;
  std::string created_at;
  std::string updated_at;
};

// POST /v1/orders. `cart_id` must be the caller's cart. `payment_token` selects how the
// built-in fake provider answers ("tok_ok" by default; "tok_decline", "tok_fail",
// "tok_timeout" for tests and demos). `idempotency_key`: a retried checkout with the
// same key answers the same order; the same key with another body is refused (422).
struct checkout_request {
  std::string cart_id;
  std::string payment_token;
  std::optional<std::string> idempotency_key;
};

struct get_order_request {
  std::string id;
};

// A customer sees their own orders; staff (clerk, manager, admin) see every order and
// may filter by customer. `from`/`to` bound created_at (RFC 3339, from inclusive, to
// exclusive).
struct list_orders_request {
  std::optional<std::int64_t> limit;
  std::string cursor;
  std::optional<std::string> status;
  std::optional<std::string> customer_id;
  std::optional<std::string> from;
  std::optional<std::string> to;
};

using order_page = page<order>;

// A customer may cancel their own order until it is fulfilled; staff until it ships.
// Reserved stock is released, committed stock is put back, an authorised payment is
// voided and a captured one refunded in full.
struct cancel_order_request {
  std::string id;
  std::string reason;
};

// Refunds `quantity` of each named line (staff). Every line at once when `lines` is
// empty. Never more than was sold and not yet refunded.
struct refund_line {
  std::string line_id;
  std::int64_t quantity = 0;
};
struct refund_order_request {
  std::string id;
  std::vector<refund_line> lines;
  std::string reason;
  std::optional<std::string> idempotency_key;
};

// Staff move fulfilment on: fulfilled → shipped (with tracking) → delivered.
struct update_fulfilment_request {
  std::string id;
  std::string fulfilment_status;
  std::optional<std::string> tracking;
};

constexpr auto json_fields(const order_line*) {
  using l = order_line;
  return std::tuple{json_field("id", &l::id),
                    json_field("sku", &l::sku),
                    json_field("product_id", &l::product_id),
                    json_field("name", &l::name),
                    json_field("quantity", &l::quantity),
                    json_field("unit_price", &l::unit_price),
                    json_field("line_total", &l::line_total),
                    json_field("line_tax", &l::line_tax),
                    json_field("refunded_quantity", &l::refunded_quantity, json_default)};
}
constexpr auto json_fields(const transition*) {
  using t = transition;
  return std::tuple{json_field("field", &t::field), json_field("from", &t::from),
                    json_field("to", &t::to),       json_field("reason", &t::reason, json_default),
                    json_field("actor", &t::actor), json_field("at", &t::at)};
}
constexpr auto json_fields(const order*) {
  using o = order;
  return std::tuple{json_field("id", &o::id),
                    json_field("customer_id", &o::customer_id),
                    json_field("cart_id", &o::cart_id),
                    json_field("status", &o::status),
                    json_field("payment_status", &o::payment_status),
                    json_field("fulfilment_status", &o::fulfilment_status),
                    json_field("cancel_reason", &o::cancel_reason, json_default),
                    json_field("saga_step", &o::saga_step),
                    json_field("lines", &o::lines),
                    json_field("subtotal", &o::subtotal),
                    json_field("tax", &o::tax),
                    json_field("total", &o::total),
                    json_field("refunded", &o::refunded),
                    json_field("location", &o::location),
                    json_field("payment_id", &o::payment_id),
                    json_field("tracking", &o::tracking),
                    json_field("history", &o::history, json_default),
                    json_field("version", &o::version),
                    json_field("created_at", &o::created_at),
                    json_field("updated_at", &o::updated_at)};
}
constexpr auto json_fields(const checkout_request*) {
  using r = checkout_request;
  return std::tuple{json_field("cart_id", &r::cart_id), json_field("payment_token", &r::payment_token, json_default),
                    json_field("idempotency_key", &r::idempotency_key)};
}
constexpr auto json_fields(const get_order_request*) { return std::tuple{json_field("id", &get_order_request::id)}; }
constexpr auto json_fields(const list_orders_request*) {
  using r = list_orders_request;
  return std::tuple{json_field("limit", &r::limit),   json_field("cursor", &r::cursor, json_default),
                    json_field("status", &r::status), json_field("customer_id", &r::customer_id),
                    json_field("from", &r::from),     json_field("to", &r::to)};
}
constexpr auto json_fields(const cancel_order_request*) {
  return std::tuple{json_field("id", &cancel_order_request::id),
                    json_field("reason", &cancel_order_request::reason, json_default)};
}
constexpr auto json_fields(const refund_line*) {
  return std::tuple{json_field("line_id", &refund_line::line_id), json_field("quantity", &refund_line::quantity)};
}
constexpr auto json_fields(const refund_order_request*) {
  using r = refund_order_request;
  return std::tuple{json_field("id", &r::id), json_field("lines", &r::lines, json_default),
                    json_field("reason", &r::reason, json_default), json_field("idempotency_key", &r::idempotency_key)};
}
constexpr auto json_fields(const update_fulfilment_request*) {
  using r = update_fulfilment_request;
  return std::tuple{json_field("id", &r::id), json_field("fulfilment_status", &r::fulfilment_status),
                    json_field("tracking", &r::tracking)};
}

// Bus methods. Errors: invalid_argument naming fields; not_found (also another
// customer's order or cart); conflict (insufficient stock, payment declined, a state
// that does not allow it: the message says which, and names the order); unavailable
// (a module the saga needs is down: the order is canceled and its effects undone).
struct checkout {
  static constexpr std::string_view name = "orders.checkout";
  using request = checkout_request;
  using reply = order;
};
struct get_order {
  static constexpr std::string_view name = "orders.get_order";
  using request = get_order_request;
  using reply = order;
};
struct list_orders {
  static constexpr std::string_view name = "orders.list_orders";
  using request = list_orders_request;
  using reply = order_page;
};
struct cancel_order {
  static constexpr std::string_view name = "orders.cancel_order";
  using request = cancel_order_request;
  using reply = order;
};
struct refund_order {
  static constexpr std::string_view name = "orders.refund_order";
  using request = refund_order_request;
  using reply = order;
};
struct update_fulfilment {
  static constexpr std::string_view name = "orders.update_fulfilment";
  using request = update_fulfilment_request;
  using reply = order;
};

// Events on one topic, partition key the order id, data an `order_event`.
inline constexpr std::string_view orders_topic = "orders.orders";
inline constexpr std::string_view order_placed = "order.placed";      // confirmed: stock reserved, payment authorised
inline constexpr std::string_view order_paid = "order.paid";          // payment captured
inline constexpr std::string_view order_canceled = "order.canceled";  // with cancel_reason
inline constexpr std::string_view order_refunded = "order.refunded";  // a refund (amount in `amount`)
inline constexpr std::string_view order_fulfilment = "order.fulfilment_changed";

// An event's data: the order as it is after the change, and for a refund its amount
// and lines.
struct order_event {
  order item;
  std::optional<money> amount;
  std::vector<refund_line> lines;
};
constexpr auto json_fields(const order_event*) {
  return std::tuple{json_field("order", &order_event::item), json_field("amount", &order_event::amount),
                    json_field("lines", &order_event::lines, json_default)};
}

// The module for the runtime: methods, routes under /v1/orders, events, migrations and
// settings (modules.orders.*: web_location, step_timeout_ms, reservation_ttl_s, the fake
// payment provider's decline_ratio, failure_ratio and latency_ms).
module_definition module();

}  // namespace agora::orders
