#pragma once

#include <customers/api.hpp>

#include <agora/values.hpp>

#include <vector>

// The value rules of an address (api.hpp says them): they trim the text fields, turn an
// empty optional field into an absent one, and answer a problem for each bad field. The
// service applies them to every request; the HTTP decoder too, so that one 422 names
// type and value problems together.
namespace agora::customers {

inline constexpr std::int64_t addresses_per_account_max = 50;

std::vector<field_error> normalize_and_validate(create_address_request& r);
std::vector<field_error> normalize_and_validate(update_address_request& r);
bool is_address_kind(std::string_view kind) noexcept;

}  // namespace agora::customers
