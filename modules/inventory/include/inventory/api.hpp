#pragma once

#include <agora/values.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

// The inventory's one door: stock per SKU per location, reservations, transfers between
// locations, adjustments and low-stock thresholds. Plain values with JSON forms, so the
// same types travel over an in-process bus (moved) or a networked one (serialised).
//
// The invariant it keeps: at every location, for every SKU, 0 ≤ reserved ≤ on_hand, so
// available (on_hand − reserved) never goes negative, whatever the concurrency. Every check
// and the change it guards run in one store transaction.
//
// SKUs are catalog's variant SKUs (1–64 of [A-Za-z0-9._-]); inventory never asks catalog
// whether one exists: a level exists once stock was adjusted or received for it (or a
// threshold set). Location ids are slugs (1–64 of [a-z0-9-]); the first migration creates
// "web", the web shop's warehouse.
namespace agora {
struct module_definition;
}

namespace agora::inventory {

enum class location_kind { warehouse, store };
enum class reservation_status { active, released, committed, expired };
enum class transfer_status { in_transit, partially_received, received, canceled };

std::string_view to_string(location_kind k) noexcept;
std::optional<location_kind> location_kind_from_string(std::string_view s) noexcept;
std::string_view to_string(reservation_status s) noexcept;
std::optional<reservation_status> reservation_status_from_string(std::string_view s) noexcept;
std::string_view to_string(transfer_status s) noexcept;
std::optional<transfer_status> transfer_status_from_string(std::string_view s) noexcept;

inline constexpr std::string_view web_location = "web";

// A place that holds stock: a warehouse or a physical store.
struct location {
  std::string id;    // slug, 1–64 of [a-z0-9-]
  std::string name;  // 1–200 characters, trimmed
  location_kind kind = location_kind::warehouse;
  std::string created_at;

  friend bool operator==(const location&, const location&) = default;
};

// The stock of one SKU at one location. available = on_hand − reserved, never negative.
// `low_stock_threshold`: when set, the level is "low" while available ≤ threshold.
// `version` starts at 1 and grows by one on every change of the level.
struct stock_level {
  std::string sku;
  std::string location;
  std::int64_t on_hand = 0;
  std::int64_t reserved = 0;
  std::int64_t available = 0;
  std::optional<std::int64_t> low_stock_threshold;
  std::int64_t version = 0;
  std::string updated_at;

  friend bool operator==(const stock_level&, const stock_level&) = default;
};

// A SKU and a quantity: quantity ≥ 1 (and at most the quantity cap setting).
struct stock_line {
  std::string sku;
  std::int64_t quantity = 0;

  friend bool operator==(const stock_line&, const stock_line&) = default;
};

// Stock held for a caller (an order) until it is committed (the goods left), released
// (canceled) or expires. `lines` are those reserved, one per SKU (a request naming a SKU
// twice reserves the sum, in the order of its first appearance).
struct reservation {
  std::string id;  // the caller's id (e.g. "ord_…") or "rsv_…" when made over HTTP without one
  std::string location;
  std::vector<stock_line> lines;
  reservation_status status = reservation_status::active;
  std::optional<std::string> reason;  // why it was released or expired
  std::string expires_at;
  std::string created_at;
  std::string updated_at;

  friend bool operator==(const reservation&, const reservation&) = default;
};

// Holds every line at `location`, all or nothing. Idempotent by `reservation_id`: a known id
// answers the existing reservation as it is (whatever its state and whatever lines this
// request names); an empty one gets a new "rsv_…" id (no idempotency then). `ttl_s` (1–604800) defaults to the
// `modules.inventory.reservation_ttl_s` setting. Errors: invalid_argument naming each bad field (reservation_id 1–64 of
// [A-Za-z0-9_-], location, lines (1–100), lines[i].sku, lines[i].quantity, ttl_s);
// not_found for an unknown location; conflict "insufficient stock" when any line lacks
// stock, with `fields` naming each short line: {"lines[i].quantity", "only N available"}
// (i: the index of the SKU's first appearance in the request).
struct reserve_request {
  std::string reservation_id;
  std::string location;
  std::vector<stock_line> lines;
  std::optional<std::int64_t> ttl_s;
};

// Idempotent: releasing a released or expired reservation answers it unchanged; releasing
// a committed one is a conflict. `reason` ≤ 200 characters ("released" when empty).
struct release_request {
  std::string reservation_id;
  std::string reason;
};

// The goods left: on_hand −= quantity and reserved −= quantity for every line. Idempotent:
// committing a committed reservation answers it; a released one is a conflict "reservation
// released"; an expired one (swept or past its expires_at) a conflict "reservation expired".
struct commit_request {
  std::string reservation_id;
};

struct get_reservation_request {
  std::string reservation_id;
};

// Adds `delta` (non-zero, |delta| ≤ the quantity cap) to on_hand at `location`; the actor is
// the call's principal (call_context::who.subject). on_hand + delta must stay ≥ reserved
// (conflict "insufficient stock" otherwise). The first positive adjustment of a SKU at a
// location creates its level; a negative one on no level is a conflict. `reason`: 1–200
// characters, trimmed. Records an adjustment {id "adj_…", sku, location, delta, reason,
// actor, created_at}.
struct adjust_request {
  std::string sku;
  std::string location;
  std::int64_t delta = 0;
  std::string reason;
  // For another module's retried step (orders putting a canceled order's stock back):
  // the adjustment's id, 1–100 of [A-Za-z0-9_:-]. When an adjustment with this id was
  // already recorded, the call changes nothing and answers the level as it is.
  std::optional<std::string> adjustment_id;
};

// An adjustment as recorded.
struct adjustment {
  std::string id;  // "adj_…"
  std::string sku;
  std::string location;
  std::int64_t delta = 0;
  std::string reason;
  std::string actor;  // the principal's subject; empty for an internal call
  std::string created_at;

  friend bool operator==(const adjustment&, const adjustment&) = default;
};

// Levels in (sku, location) order, filtered by either. `limit` defaults to 20 and may not
// exceed `modules.inventory.page_limit_max`; `cursor` is the previous page's next_cursor.
struct get_levels_request {
  std::optional<std::string> sku;
  std::optional<std::string> location;
  std::optional<std::int64_t> limit;
  std::string cursor;
};
using level_page = page<stock_level>;

// One level; not_found when that SKU has no level at that location.
struct get_level_request {
  std::string sku;
  std::string location;
};

// A line of a transfer: what was shipped and how much of it arrived so far.
struct transfer_line {
  std::string sku;
  std::int64_t quantity = 0;
  std::int64_t received = 0;

  friend bool operator==(const transfer_line&, const transfer_line&) = default;
};

// Stock moving between two locations. Shipping takes it out of `from` at once (on_hand −=
// quantity, refused when not available); receiving adds it to `to`.
struct transfer {
  std::string id;  // "trf_…"
  std::string from;
  std::string to;
  std::vector<transfer_line> lines;
  transfer_status status = transfer_status::in_transit;
  std::string created_at;
  std::string updated_at;

  friend bool operator==(const transfer&, const transfer&) = default;
};

// Ships `lines` (one per SKU, summed like reserve's) from `from` to `to` (two different,
// existing locations). Errors: invalid_argument (from, to, lines, lines[i].…), not_found (a
// location), conflict "insufficient stock" with the same `fields` as reserve.
struct create_transfer_request {
  std::string from;
  std::string to;
  std::vector<stock_line> lines;
};

// Records arrivals at `to`: each line's quantity is added to `to`'s on_hand and to the
// line's `received`; never more than shipped (invalid_argument "lines[i].quantity": "only N
// still in transit"), never a SKU the transfer does not carry (invalid_argument
// "lines[i].sku"). Status becomes partially_received, then received once every line is
// complete; receiving into a received transfer is a conflict.
struct receive_transfer_request {
  std::string id;
  std::vector<stock_line> lines;
};

struct get_transfer_request {
  std::string id;
};

// Transfers in id (creation) order; `location` keeps those from or to it.
struct list_transfers_request {
  std::optional<std::string> location;
  std::optional<transfer_status> status;
  std::optional<std::int64_t> limit;
  std::string cursor;
};
using transfer_page = page<transfer>;

// Sets (or, with no threshold, clears) the low-stock threshold (0 ≤ threshold ≤ the quantity
// cap) of a SKU at a location, creating an empty level when there is none. A level that
// becomes low by this publishes inventory.low_stock like any other change.
struct set_threshold_request {
  std::string sku;
  std::string location;
  std::optional<std::int64_t> threshold;
};

// Levels at or below their threshold, in (sku, location) order.
struct list_low_stock_request {
  std::optional<std::string> location;
  std::optional<std::int64_t> limit;
  std::string cursor;
};

// Locations: an admin creates them; everybody on staff lists them (id order).
struct create_location_request {
  std::string id;
  std::string name;
  location_kind kind = location_kind::store;
};
struct list_locations_request {
  std::optional<std::int64_t> limit;
  std::string cursor;
};
using location_page = page<location>;

// Bus methods.
struct reserve {
  static constexpr std::string_view name = "inventory.reserve";
  using request = reserve_request;
  using reply = reservation;
};
struct release {
  static constexpr std::string_view name = "inventory.release";
  using request = release_request;
  using reply = reservation;
};
struct commit {
  static constexpr std::string_view name = "inventory.commit";
  using request = commit_request;
  using reply = reservation;
};
struct get_reservation {
  static constexpr std::string_view name = "inventory.get_reservation";
  using request = get_reservation_request;
  using reply = reservation;
};
struct adjust {
  static constexpr std::string_view name = "inventory.adjust";
  using request = adjust_request;
  using reply = stock_level;
};
struct get_levels {
  static constexpr std::string_view name = "inventory.get_levels";
  using request = get_levels_request;
  using reply = level_page;
};
struct get_level {
  static constexpr std::string_view name = "inventory.get_level";
  using request = get_level_request;
  using reply = stock_level;
};
struct create_transfer {
  static constexpr std::string_view name = "inventory.create_transfer";
  using request = create_transfer_request;
  using reply = transfer;
};
struct receive_transfer {
  static constexpr std::string_view name = "inventory.receive_transfer";
  using request = receive_transfer_request;
  using reply = transfer;
};
struct get_transfer {
  static constexpr std::string_view name = "inventory.get_transfer";
  using request = get_transfer_request;
  using reply = transfer;
};
struct list_transfers {
  static constexpr std::string_view name = "inventory.list_transfers";
  using request = list_transfers_request;
  using reply = transfer_page;
};
struct set_threshold {
  static constexpr std::string_view name = "inventory.set_threshold";
  using request = set_threshold_request;
  using reply = stock_level;
};
struct list_low_stock {
  static constexpr std::string_view name = "inventory.list_low_stock";
  using request = list_low_stock_request;
  using reply = level_page;
};
struct create_location {
  static constexpr std::string_view name = "inventory.create_location";
  using request = create_location_request;
  using reply = location;
};
struct list_locations {
  static constexpr std::string_view name = "inventory.list_locations";
  using request = list_locations_request;
  using reply = location_page;
};

// Events, published after the change commits (outbox), on one topic, ONE EVENT PER (sku,
// location) a change touched: a reservation of three lines publishes three stock.reserved.
// source "agora/inventory", subject and partition key the SKU, data a stock_event.
// inventory.low_stock is published when a level becomes low (available drops to or below
// its threshold, or a threshold is set at or above available), once per crossing: not
// again while it stays low, again after it rose above and fell back.
inline constexpr std::string_view event_source = "agora/inventory";
inline constexpr std::string_view stock_topic = "inventory.stock";
inline constexpr std::string_view stock_adjusted = "stock.adjusted";
inline constexpr std::string_view stock_reserved = "stock.reserved";
inline constexpr std::string_view stock_released = "stock.released";
inline constexpr std::string_view stock_committed = "stock.committed";
inline constexpr std::string_view stock_expired = "stock.expired";
inline constexpr std::string_view stock_transferred_out = "stock.transferred_out";
inline constexpr std::string_view stock_received = "stock.received";
inline constexpr std::string_view low_stock = "inventory.low_stock";

// The data of every event on stock_topic. `quantity` is the change: positive for stock.
// adjusted up, stock.reserved, stock.received; the quantity released, committed, expired or
// shipped for the others (always the line's quantity, ≥ 1) and the negative delta of a
// downward adjustment; 0 for inventory.low_stock. `level` is the level right after the change.
struct stock_event {
  std::string sku;
  std::string location;
  std::int64_t quantity = 0;
  std::optional<std::string> reservation_id;
  std::optional<std::string> transfer_id;
  std::optional<std::string> adjustment_id;
  std::optional<std::string> reason;
  stock_level level;

  friend bool operator==(const stock_event&, const stock_event&) = default;
};

// JSON forms (field lists; see agora/json_fields.hpp). A value's JSON is also its HTTP body.
void to_json(nlohmann::json& j, const location_kind& v);
void from_json(const nlohmann::json& j, location_kind& v);
void to_json(nlohmann::json& j, const reservation_status& v);
void from_json(const nlohmann::json& j, reservation_status& v);
void to_json(nlohmann::json& j, const transfer_status& v);
void from_json(const nlohmann::json& j, transfer_status& v);

constexpr auto json_fields(const location*) {
  return std::tuple{json_field("id", &location::id), json_field("name", &location::name),
                    json_field("kind", &location::kind), json_field("created_at", &location::created_at)};
}
constexpr auto json_fields(const stock_level*) {
  using r = stock_level;
  return std::tuple{json_field("sku", &r::sku),
                    json_field("location", &r::location),
                    json_field("on_hand", &r::on_hand),
                    json_field("reserved", &r::reserved),
                    json_field("available", &r::available),
                    json_field("low_stock_threshold", &r::low_stock_threshold),
                    json_field("version", &r::version),
                    json_field("updated_at", &r::updated_at)};
}
constexpr auto json_fields(const stock_line*) {
  return std::tuple{json_field("sku", &stock_line::sku), json_field("quantity", &stock_line::quantity)};
}
constexpr auto json_fields(const reservation*) {
  using r = reservation;
  return std::tuple{json_field("id", &r::id),
                    json_field("location", &r::location),
                    json_field("lines", &r::lines),
                    json_field("status", &r::status),
                    json_field("reason", &r::reason),
                    json_field("expires_at", &r::expires_at),
                    json_field("created_at", &r::created_at),
                    json_field("updated_at", &r::updated_at)};
}
constexpr auto json_fields(const reserve_request*) {
  using r = reserve_request;
  return std::tuple{json_field("reservation_id", &r::reservation_id), json_field("location", &r::location),
                    json_field("lines", &r::lines), json_field("ttl_s", &r::ttl_s)};
}
constexpr auto json_fields(const release_request*) {
  return std::tuple{json_field("reservation_id", &release_request::reservation_id),
                    json_field("reason", &release_request::reason, json_default)};
}
constexpr auto json_fields(const commit_request*) {
  return std::tuple{json_field("reservation_id", &commit_request::reservation_id)};
}
constexpr auto json_fields(const get_reservation_request*) {
  return std::tuple{json_field("reservation_id", &get_reservation_request::reservation_id)};
}
constexpr auto json_fields(const adjust_request*) {
  using r = adjust_request;
  return std::tuple{json_field("sku", &r::sku), json_field("location", &r::location), json_field("delta", &r::delta),
                    json_field("reason", &r::reason), json_field("adjustment_id", &r::adjustment_id)};
}
constexpr auto json_fields(const adjustment*) {
  using r = adjustment;
  return std::tuple{json_field("id", &r::id),
                    json_field("sku", &r::sku),
                    json_field("location", &r::location),
                    json_field("delta", &r::delta),
                    json_field("reason", &r::reason),
                    json_field("actor", &r::actor),
                    json_field("created_at", &r::created_at)};
}
constexpr auto json_fields(const get_levels_request*) {
  using r = get_levels_request;
  return std::tuple{json_field("sku", &r::sku), json_field("location", &r::location), json_field("limit", &r::limit),
                    json_field("cursor", &r::cursor, json_default)};
}
constexpr auto json_fields(const get_level_request*) {
  return std::tuple{json_field("sku", &get_level_request::sku), json_field("location", &get_level_request::location)};
}
constexpr auto json_fields(const transfer_line*) {
  return std::tuple{json_field("sku", &transfer_line::sku), json_field("quantity", &transfer_line::quantity),
                    json_field("received", &transfer_line::received, json_default)};
}
constexpr auto json_fields(const transfer*) {
  using r = transfer;
  return std::tuple{json_field("id", &r::id),
                    json_field("from", &r::from),
                    json_field("to", &r::to),
                    json_field("lines", &r::lines),
                    json_field("status", &r::status),
                    json_field("created_at", &r::created_at),
                    json_field("updated_at", &r::updated_at)};
}
constexpr auto json_fields(const create_transfer_request*) {
  using r = create_transfer_request;
  return std::tuple{json_field("from", &r::from), json_field("to", &r::to), json_field("lines", &r::lines)};
}
constexpr auto json_fields(const receive_transfer_request*) {
  return std::tuple{json_field("id", &receive_transfer_request::id),
                    json_field("lines", &receive_transfer_request::lines)};
}
constexpr auto json_fields(const get_transfer_request*) {
  return std::tuple{json_field("id", &get_transfer_request::id)};
}
constexpr auto json_fields(const list_transfers_request*) {
  using r = list_transfers_request;
  return std::tuple{json_field("location", &r::location), json_field("status", &r::status),
                    json_field("limit", &r::limit), json_field("cursor", &r::cursor, json_default)};
}
constexpr auto json_fields(const set_threshold_request*) {
  using r = set_threshold_request;
  return std::tuple{json_field("sku", &r::sku), json_field("location", &r::location),
                    json_field("threshold", &r::threshold)};
}
constexpr auto json_fields(const list_low_stock_request*) {
  using r = list_low_stock_request;
  return std::tuple{json_field("location", &r::location), json_field("limit", &r::limit),
                    json_field("cursor", &r::cursor, json_default)};
}
constexpr auto json_fields(const create_location_request*) {
  using r = create_location_request;
  return std::tuple{json_field("id", &r::id), json_field("name", &r::name), json_field("kind", &r::kind, json_default)};
}
constexpr auto json_fields(const list_locations_request*) {
  using r = list_locations_request;
  return std::tuple{json_field("limit", &r::limit), json_field("cursor", &r::cursor, json_default)};
}
constexpr auto json_fields(const stock_event*) {
  using r = stock_event;
  return std::tuple{json_field("sku", &r::sku),
                    json_field("location", &r::location),
                    json_field("quantity", &r::quantity),
                    json_field("reservation_id", &r::reservation_id),
                    json_field("transfer_id", &r::transfer_id),
                    json_field("adjustment_id", &r::adjustment_id),
                    json_field("reason", &r::reason),
                    json_field("level", &r::level)};
}

// The inventory's declaration for the runtime: methods, routes under /v1/inventory, the
// event topic, migrations, settings (modules.inventory.reservation_ttl_s,
// .sweep_period_ms, .quantity_max, .page_limit_max) and the expiry sweep.
module_definition module();

}  // namespace agora::inventory
