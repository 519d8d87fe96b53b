#pragma once

#include <customers/api.hpp>

#include <agora/store.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

// The SQL of the accounts' addresses, run on the module's store thread inside the
// service's jobs. Every lookup is scoped to the owning account.
namespace agora::customers::sql {

void insert_address(store::database& db, const std::string& account_id, const address& a);
// Writes every column of `a` but its id and created_at.
void update_address(store::database& db, const address& a);
void delete_address(store::database& db, const std::string& id);
std::optional<address> find_address(store::database& db, const std::string& account_id, const std::string& id);
std::vector<address> list_addresses(store::database& db, const std::string& account_id, const std::string& after,
                                    const std::optional<std::string>& kind, std::int64_t limit);
std::int64_t count_addresses(store::database& db, const std::string& account_id);
std::int64_t count_addresses(store::database& db, const std::string& account_id, const std::string& kind);
// The account's default of `kind` other than `except_id`, if any.
std::optional<address> find_default_address(store::database& db, const std::string& account_id,
                                            const std::string& kind, const std::string& except_id);

}  // namespace agora::customers::sql
