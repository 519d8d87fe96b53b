#include <inventory/api.hpp>

#include <stdexcept>

namespace agora::inventory {

using json = nlohmann::json;

std::string_view to_string(location_kind k) noexcept { return k == location_kind::store ? "store" : "warehouse"; }

std::optional<location_kind> location_kind_from_string(std::string_view s) noexcept {
  if (s == "warehouse") return location_kind::warehouse;
  if (s == "store") return location_kind::store;
  return std::nullopt;
}

std::string_view to_string(reservation_status s) noexcept {
  switch (s) {
    case reservation_status::active: return "active";
    case reservation_status::released: return "released";
    case reservation_status::committed: return "committed";
    case reservation_status::expired: return "expired";
  }
  return "active";
}

std::optional<reservation_status> reservation_status_from_string(std::string_view s) noexcept {
  if (s == "active") return reservation_status::active;
  if (s == "released") return reservation_status::released;
  if (s == "committed") return reservation_status::committed;
  if (s == "expired") return reservation_status::expired;
  return std::nullopt;
}

std::string_view to_string(transfer_status s) noexcept {
  switch (s) {
    case transfer_status::in_transit: return "in_transit";
    case transfer_status::partially_received: return "partially_received";
    case transfer_status::received: return "received";
    case transfer_status::canceled: return "canceled";
  }
  return "in_transit";
}

std::optional<transfer_status> transfer_status_from_string(std::string_view s) noexcept {
  if (s == "in_transit") return transfer_status::in_transit;
  if (s == "partially_received") return transfer_status::partially_received;
  if (s == "received") return transfer_status::received;
  if (s == "canceled") return transfer_status::canceled;
  return std::nullopt;
}

void to_json(json& j, const location_kind& v) { j = to_string(v); }
void from_json(const json& j, location_kind& v) {
  auto k = location_kind_from_string(j.get<std::string>());
  if (!k) throw std::invalid_argument("kind: expected warehouse or store");
  v = *k;
}

void to_json(json& j, const reservation_status& v) { j = to_string(v); }
void from_json(const json& j, reservation_status& v) {
  auto s = reservation_status_from_string(j.get<std::string>());
  if (!s) throw std::invalid_argument("status: expected active, released, committed or expired");
  v = *s;
}

void to_json(json& j, const transfer_status& v) { j = to_string(v); }
void from_json(const json& j, transfer_status& v) {
  auto s = transfer_status_from_string(j.get<std::string>());
  if (!s) throw std::invalid_argument("status: expected in_transit, partially_received, received or canceled");
  v = *s;
}

}  // namespace agora::inventory
