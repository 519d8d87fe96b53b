#pragma once

#include <agora/config.hpp>

// The orders module's settings, under modules.orders.
namespace agora::orders::settings {

inline const config::string_setting web_location{"web_location", "web",
                                                 "The inventory location web orders reserve their stock at"};
inline const config::integer_setting reservation_ttl_s{
    "reservation_ttl_s",
    900,
    "How long a checkout's stock reservation lasts before inventory releases it",
    {.min = 10, .max = 86400}};
inline const config::integer_setting step_timeout_ms{
    "step_timeout_ms",
    5000,
    "The longest one saga step (a call to cart, inventory or the payment provider) may take",
    {.min = 10, .max = 120000}};
inline const config::integer_setting retry_max_ms{
    "retry_max_ms",
    30000,
    "The longest pause between retries of a saga step that must finish (after confirmation: commit the stock, "
    "close the cart, capture the payment, undo a canceled order)",
    {.min = 10, .max = 600000}};
inline const config::integer_setting page_limit_max{
    "page_limit_max", 100, "Largest page a list request may ask for", {.min = 1, .max = 1000}};
inline const config::number_setting payment_decline_ratio{
    "payment_decline_ratio",
    0.0,
    "Fake payment provider: the share of authorisations it declines at random",
    {.min = 0.0, .max = 1.0}};
inline const config::number_setting payment_failure_ratio{
    "payment_failure_ratio",
    0.0,
    "Fake payment provider: the share of calls it fails at random (the provider is unavailable)",
    {.min = 0.0, .max = 1.0}};
inline const config::integer_setting payment_latency_ms{
    "payment_latency_ms", 0, "Fake payment provider: how long each of its calls takes", {.min = 0, .max = 600000}};

}  // namespace agora::orders::settings
