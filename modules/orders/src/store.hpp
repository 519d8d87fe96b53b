#pragma once

#include <orders/api.hpp>

#include <agora/store.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Orders' tables (migrations/): one function per statement family, all called inside
// a store job on the module's store thread.
namespace agora::orders {

// An order as the saga keeps it: the order, what its checkout needs that clients do not
// see, and how much of its history is already stored.
struct order_record {
  order o;
  std::string payment_token;
  std::string failure;  // the error JSON a failed checkout answered
  std::size_t stored_history = 0;
};

namespace rows {

void insert(store::database& db, order_record& r);
// Writes the order's row, its lines when `with_lines`, and the history entries not yet
// stored; bumps the version.
void save(store::database& db, order_record& r, bool with_lines = false);
std::optional<order_record> load(store::database& db, std::string_view id);
// Orders whose saga has not reached done or failed, oldest first.
std::vector<std::string> unfinished(store::database& db);

struct list_filter {
  std::optional<std::string> customer_id;
  std::optional<std::string> status;
  std::optional<std::string> from;
  std::optional<std::string> to;
};
std::vector<order> list(store::database& db, const list_filter& f, const std::string& after, std::int64_t limit);

}  // namespace rows

}  // namespace agora::orders
