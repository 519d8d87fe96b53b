// A module that only sends the inventory messages: it links agora_inventory_api alone.
#include <inventory/api.hpp>

#include "door_checks.hpp"

agora::inventory::reserve::request probe_inventory_request() { return {}; }
