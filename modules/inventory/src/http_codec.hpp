#pragma once

#include "service.hpp"

// The inventory's HTTP side, /v1/inventory/…: each route decodes its request (every bad
// type named at once; value rules are the service's, so bus callers get the same 422),
// declares who may call it, and encodes the reply.
namespace agora::inventory::http_codec {

void add_routes(module_decl<service>& decl);

}  // namespace agora::inventory::http_codec
