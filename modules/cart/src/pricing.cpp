#include "pricing.hpp"

#include <agora/config.hpp>

#include <nlohmann/json.hpp>

namespace agora::cart {

tax_table tax_table::parse(std::string_view text) {
  const std::string key = "modules.cart.tax_rates";
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.empty())
    throw config::config_error(key + ": expected a non-empty JSON object of regions");
  tax_table t;
  for (const auto& [region, classes] : j.items()) {
    if (region.empty() || region.size() > 16) throw config::config_error(key + ": a region name is 1 to 16 characters");
    if (!classes.is_object()) throw config::config_error(key + "." + region + ": expected an object of tax classes");
    auto& out = t.rates_[region];
    for (const auto& [cls, bp] : classes.items()) {
      if (!bp.is_number_integer() || bp.get<std::int64_t>() < 0 || bp.get<std::int64_t>() > 10000)
        throw config::config_error(key + "." + region + "." + cls + ": expected basis points from 0 to 10000");
      out[cls] = bp.get<std::int64_t>();
    }
    if (!out.contains("standard")) throw config::config_error(key + "." + region + ": has no \"standard\" rate");
  }
  return t;
}

bool tax_table::has_region(std::string_view region) const { return rates_.find(region) != rates_.end(); }

std::int64_t tax_table::rate_bp(std::string_view region, std::string_view tax_class) const {
  const auto& classes = rates_.find(region)->second;
  auto it = classes.find(tax_class);
  return it != classes.end() ? it->second : classes.find("standard")->second;
}

void price_cart(cart& c, const tax_table& taxes) {
  cart_totals totals;
  const bool known_region = taxes.has_region(c.region);
  std::map<std::int64_t, tax_line> by_rate;
  for (auto& l : c.lines) {
    l.tax_rate_bp = known_region ? taxes.rate_bp(c.region, l.tax_class) : 0;
    auto a = price_line(l.unit_price.amount, l.quantity, l.tax_rate_bp, c.prices_include_tax);
    l.line_subtotal = {a.subtotal, l.unit_price.currency};
    l.line_tax = {a.tax, l.unit_price.currency};
    l.line_total = {a.total, l.unit_price.currency};
    if (!l.available) continue;
    totals.subtotal.amount += a.subtotal;
    totals.tax.amount += a.tax;
    totals.total.amount += a.total;
    auto& tl = by_rate[l.tax_rate_bp];
    tl.rate_bp = l.tax_rate_bp;
    tl.taxable.amount += a.subtotal;
    tl.tax.amount += a.tax;
  }
  totals.subtotal.currency = totals.tax.currency = totals.total.currency = c.currency;
  for (auto& [rate, tl] : by_rate) {
    tl.taxable.currency = tl.tax.currency = c.currency;
    totals.tax_lines.push_back(std::move(tl));
  }
  c.totals = std::move(totals);
}

}  // namespace agora::cart
