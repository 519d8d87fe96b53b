#pragma once

#include <cart/api.hpp>

#include <agora/store.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// The cart's SQL: run on the store thread only, inside the caller's transaction.
namespace agora::cart::sql {

// A cart as stored: its lines (changed_lines rebuilt from their flags), not yet priced.
struct cart_record {
  struct cart item;
  std::optional<std::string> token_hash;
  std::optional<std::string> checkout_snapshot;  // the cart JSON begin_checkout replied
};

std::optional<cart_record> find_cart(store::database& db, std::string_view id);
std::optional<cart_record> find_cart_by_token(store::database& db, std::string_view token_hash);
// The id of the customer's cart that is open or checking out.
std::optional<std::string> active_cart_of(store::database& db, std::string_view customer_id);

void insert_cart(store::database& db, const cart_record& r);
// Writes the cart row and its lines: lines of `before` missing from `after` are deleted,
// the others inserted or replaced.
void save_cart(store::database& db, const cart_record& before, const cart_record& after);
// Clears the price_changed flags of the cart's lines (the owner has seen them).
void clear_price_flags(store::database& db, std::string_view cart_id);

// Open carts holding a line of `sku`.
std::vector<std::string> open_carts_with_sku(store::database& db, std::string_view sku);
// Open carts whose expires_at is at or before `now`, at most `limit`.
std::vector<std::string> idle_open_carts(store::database& db, std::string_view now, std::int64_t limit);

}  // namespace agora::cart::sql
