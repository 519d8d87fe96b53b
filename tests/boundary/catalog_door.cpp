// A module that only sends the catalog's messages: it links agora_catalog_api alone.
#include <catalog/api.hpp>

#include "door_checks.hpp"

agora::catalog::search_products::request probe_catalog_request() { return {}; }
