#pragma once

#include <agora/config.hpp>

// The cart's settings, under modules.cart.: declared in module.cpp, read with
// module_context::get.
namespace agora::cart::settings {

inline const config::boolean_setting prices_include_tax{
    "prices_include_tax", true,
    "Catalog prices include tax (tax is extracted from them); false: tax is added on top. Fixed per cart when it is made"};
inline const config::string_setting default_region{"default_region", "DE",
                                                   "Tax region of a cart that names none; a key of tax_rates"};
// {"<region>": {"<tax class>": <basis points>, ...}, ...}; a class a region does not list is
// taxed at that region's "standard" rate, which every region must list.
inline const config::string_setting tax_rates{
    "tax_rates",
    R"({"DE":{"standard":1900,"reduced":700,"zero":0},)"
    R"("FR":{"standard":2000,"reduced":550,"zero":0},)"
    R"("GB":{"standard":2000,"reduced":500,"zero":0},)"
    R"("JP":{"standard":1000,"reduced":800,"zero":0},)"
    R"("KW":{"standard":0,"reduced":0,"zero":0},)"
    R"("US-CA":{"standard":725,"reduced":725,"zero":0}})",
    "Tax rates in basis points per region and tax class, a JSON object: {\"DE\":{\"standard\":1900,...},...}; "
    "every region lists \"standard\", used for classes it does not list"};
inline const config::integer_setting quantity_max{"quantity_max", 99, "Largest quantity of one line",
                                                  {.min = 1, .max = 1'000'000}};
inline const config::integer_setting lines_max{"lines_max", 100, "Most lines one cart may hold",
                                               {.min = 1, .max = 10'000}};
inline const config::integer_setting idle_expiry_s{"idle_expiry_s", 7 * 24 * 3600,
                                                   "Idle time after which an open cart expires (module clock)",
                                                   {.min = 1, .max = 366LL * 24 * 3600}};
inline const config::integer_setting sweep_interval_ms{
    "sweep_interval_ms", 60'000, "How often each replica marks idle carts expired (real time)",
    {.min = 10, .max = 3'600'000}};

}  // namespace agora::cart::settings
