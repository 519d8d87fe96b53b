#pragma once

#include "service.hpp"

#include <agora/module.hpp>

// The HTTP side of the signed-in account's addresses: /v1/customers/me/addresses and
// /v1/customers/me/addresses/{id} (create, list, get, change, delete), added to the
// module's declaration.
namespace agora::customers {

void add_address_routes(module_decl<service>& decl);

}  // namespace agora::customers
