#pragma once

#include <inventory/api.hpp>

#include <agora/store.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

// The inventory's SQL. Every function runs on the store thread with the module's database
// and throws store::sqlite_error on failure; callers own the transactions.
namespace agora::inventory::sql {

// A level and whether it was low (available ≤ threshold) when last written.
struct level_row {
  stock_level level;
  bool low = false;
};

std::optional<level_row> find_level(store::database& db, std::string_view sku, std::string_view location);
// Creates an empty level (on_hand 0, version 0) unless there is one.
void ensure_level(store::database& db, std::string_view sku, std::string_view location, std::string_view now);
// on_hand += d_on_hand and reserved += d_reserved, only where the result keeps
// 0 ≤ reserved ≤ on_hand; bumps the version. False when refused (or no level).
bool move_stock(store::database& db, std::string_view sku, std::string_view location, std::int64_t d_on_hand,
                std::int64_t d_reserved, std::string_view now);
void set_low(store::database& db, std::string_view sku, std::string_view location, bool low);
void set_threshold(store::database& db, std::string_view sku, std::string_view location,
                   std::optional<std::int64_t> threshold, std::string_view now);
// Levels after (after_sku, after_location) in (sku, location) order, filtered by either,
// only the low ones when `low_only`.
std::vector<stock_level> list_levels(store::database& db, const std::string& after_sku,
                                     const std::string& after_location, const std::optional<std::string>& sku,
                                     const std::optional<std::string>& location, bool low_only, std::int64_t limit);

bool location_exists(store::database& db, std::string_view id);
void insert_location(store::database& db, const location& l);
std::vector<location> list_locations(store::database& db, std::string_view after, std::int64_t limit);

std::optional<reservation> find_reservation(store::database& db, std::string_view id);
void insert_reservation(store::database& db, const reservation& r);
// Moves an active reservation to `status`; false when it was not active any more.
bool close_reservation(store::database& db, std::string_view id, reservation_status status,
                       const std::optional<std::string>& reason, std::string_view now);
// Ids of up to `limit` active reservations whose expires_at ≤ now, soonest first.
std::vector<std::string> due_reservations(store::database& db, std::string_view now, std::int64_t limit);

void insert_adjustment(store::database& db, const adjustment& a);

std::optional<transfer> find_transfer(store::database& db, std::string_view id);
void insert_transfer(store::database& db, const transfer& t);
void update_transfer(store::database& db, const transfer& t);
std::vector<transfer> list_transfers(store::database& db, std::string_view after,
                                     const std::optional<std::string>& location, std::optional<transfer_status> status,
                                     std::int64_t limit);

}  // namespace agora::inventory::sql
