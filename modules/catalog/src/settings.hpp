#pragma once

#include <agora/config.hpp>

// The catalog's settings, under modules.catalog.: declared in module.cpp, read with
// module_context::get.
namespace agora::catalog::settings {

inline const config::integer_setting cache_size{
    "cache_size", 10000, "Products kept in the read cache (0 disables it; disabled anyway with more than one replica)",
    {.min = 0, .max = 10'000'000}};
inline const config::integer_setting page_limit_max{"page_limit_max", 100, "Largest page a list request may ask for",
                                                    {.min = 1, .max = 1000}};
inline const config::integer_setting search_limit_max{"search_limit_max", 50, "Most hits a search request may ask for",
                                                      {.min = 1, .max = 1000}};

inline const config::integer_setting import_max_bytes{
    "import_max_bytes",
    256LL << 20,
    "Largest file `agora catalog import` reads (bytes); a larger one is refused",
    {.min = 1, .max = 64LL << 30}};

}  // namespace agora::catalog::settings
