#pragma once

#include <agora/config.hpp>

// The inventory's settings, under modules.inventory.: declared in module.cpp, read with
// module_context::get.
namespace agora::inventory::settings {

inline const config::integer_setting reservation_ttl_s{
    "reservation_ttl_s",
    900,
    "How long a reservation holds stock when the request names no ttl_s (seconds)",
    {.min = 1, .max = 604800}};
inline const config::integer_setting sweep_period_ms{
    "sweep_period_ms",
    1000,
    "How often expired reservations are looked for and released (milliseconds)",
    {.min = 1, .max = 3'600'000}};
inline const config::integer_setting quantity_max{"quantity_max",
                                                  1'000'000,
                                                  "Largest quantity of one line, adjustment or threshold",
                                                  {.min = 1, .max = 1'000'000'000}};
inline const config::integer_setting page_limit_max{
    "page_limit_max", 100, "Largest page a list request may ask for", {.min = 1, .max = 1000}};

}  // namespace agora::inventory::settings
