#pragma once

#include "service.hpp"

#include <customers/api.hpp>

#include <agora/module.hpp>

// The customers module's HTTP side: every route (its access, decoder, encoder and
// OpenAPI fields), added to the module's declaration.
namespace agora::customers::http_codec {

void add_routes(module_decl<service>& decl);

}  // namespace agora::customers::http_codec
