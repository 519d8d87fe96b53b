#pragma once

#include <cart/api.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

// Tax rates from the tax_rates setting, and the pricing of a whole cart by the rule in
// the door (tax per line, half up).
namespace agora::cart {

class tax_table {
 public:
  // Reads the modules.cart.tax_rates JSON; throws config::config_error naming what is wrong.
  static tax_table parse(std::string_view text);

  bool has_region(std::string_view region) const;
  // The rate of `tax_class` in `region` (the region's "standard" for a class it does not
  // list); the region must exist.
  std::int64_t rate_bp(std::string_view region, std::string_view tax_class) const;

 private:
  std::map<std::string, std::map<std::string, std::int64_t, std::less<>>, std::less<>> rates_;
};

// Fills every line's tax_rate_bp and amounts, and the cart's totals, from its lines'
// unit prices and quantities, its region and prices_include_tax. Unavailable lines are
// priced but count for nothing in the totals.
void price_cart(cart& c, const tax_table& taxes);

}  // namespace agora::cart
