#include <cart/api.hpp>

namespace agora::cart {

std::int64_t mul_div_round_half_up(std::int64_t a, std::int64_t b, std::int64_t d) noexcept {
  const auto n = static_cast<__int128>(a) * b;
  return static_cast<std::int64_t>((2 * n + d) / (2 * static_cast<__int128>(d)));
}

line_amounts price_line(std::int64_t unit_amount, std::int64_t quantity, std::int64_t rate_bp,
                        bool prices_include_tax) noexcept {
  const std::int64_t gross = unit_amount * quantity;
  if (prices_include_tax) {
    const auto tax = mul_div_round_half_up(gross, rate_bp, 10000 + rate_bp);
    return {gross - tax, tax, gross};
  }
  const auto tax = mul_div_round_half_up(gross, rate_bp, 10000);
  return {gross, tax, gross + tax};
}

}  // namespace agora::cart
