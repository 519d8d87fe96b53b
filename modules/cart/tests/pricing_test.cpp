#include "pricing.hpp"

#include <cart/api.hpp>

#include <agora/config.hpp>

#include <catch2/catch.hpp>

using namespace agora;
using namespace agora::cart;

TEST_CASE("tax per line rounds half up in minor units, exclusive and inclusive, whatever the currency", "[cart]") {
  struct row {
    const char* what;
    std::int64_t unit, quantity, rate_bp;
    bool inclusive;
    line_amounts want;
  };
  const row table[] = {
      {"EUR 10.00 at 19 % on top", 1000, 1, 1900, false, {1000, 190, 1190}},
      {"EUR 2.50 at 7 %: 17.5 cents rounds up", 250, 1, 700, false, {250, 18, 268}},
      {"0.5 rounds up, not to even", 5, 1, 1000, false, {5, 1, 6}},
      {"1.5 rounds up", 3, 1, 5000, false, {3, 2, 5}},
      {"1.049 rounds down", 1049, 1, 10, false, {1049, 1, 1050}},
      {"JPY 105 at 8 %: 8.4 yen rounds down", 105, 1, 800, false, {105, 8, 113}},
      {"JPY 150 at 10 %, no decimals to lose", 150, 1, 1000, false, {150, 15, 165}},
      {"KWD 1.250 x 3 at 5 %: 187.5 fils rounds up", 1250, 3, 500, false, {3750, 188, 3938}},
      {"zero rate", 1999, 2, 0, false, {3998, 0, 3998}},
      {"zero price", 0, 5, 1900, false, {0, 0, 0}},
      {"the largest amounts do not overflow", 1'000'000'000'000, 99, 10000, false,
       {99'000'000'000'000, 99'000'000'000'000, 198'000'000'000'000}},
      {"EUR 11.90 gross at 19 %: exactly 1.90 tax", 1190, 1, 1900, true, {1000, 190, 1190}},
      {"EUR 10.00 gross at 19 %: 159.66 rounds up", 1000, 1, 1900, true, {840, 160, 1000}},
      {"one cent gross keeps its cent", 1, 1, 1900, true, {1, 0, 1}},
      {"JPY 100 gross at 10 %: 9.09 yen rounds down", 100, 1, 1000, true, {91, 9, 100}},
      {"gross 3 at 100 %: 1.5 rounds up", 3, 1, 10000, true, {1, 2, 3}},
      {"KWD 2.100 gross x 2 at 5 %: 200 fils", 2100, 2, 500, true, {4000, 200, 4200}},
      {"inclusive zero rate", 500, 3, 0, true, {1500, 0, 1500}},
  };
  for (const auto& r : table) {
    INFO(r.what);
    auto got = price_line(r.unit, r.quantity, r.rate_bp, r.inclusive);
    CHECK(got == r.want);
    CHECK(got.subtotal + got.tax == got.total);
  }
}

TEST_CASE("a cart's totals are the sums of its lines, tax lines by rate, unavailable lines left out", "[cart]") {
  auto taxes = tax_table::parse(R"({"DE":{"standard":1900,"reduced":700,"zero":0,"ten":1000}})");
  agora::cart::cart c;
  c.currency = "EUR";
  c.region = "DE";
  c.prices_include_tax = false;
  auto line = [](std::string sku, std::int64_t unit, std::int64_t q, std::string cls) {
    cart_line l;
    l.sku = std::move(sku);
    l.quantity = q;
    l.unit_price = {unit, "EUR"};
    l.tax_class = std::move(cls);
    return l;
  };
  // Three lines of 0.5 cent tax each: one rounding per line makes 3 cents, where rounding
  // the sum (1.5) would make 2.
  c.lines = {line("A", 5, 1, "ten"),        line("B", 5, 1, "ten"),        line("C", 5, 1, "ten"),
             line("D", 250, 2, "reduced"),  line("E", 999, 1, "zero"),     line("F", 1000, 1, "standard"),
             line("G", 100, 1, "special")};
  c.lines[5].available = false;
  price_cart(c, taxes);
  CHECK(c.lines[0].line_tax.amount == 1);
  CHECK(c.lines[3].line_tax.amount == 35);
  CHECK(c.lines[5].line_total.amount == 1190);  // priced, but not counted
  CHECK(c.lines[6].tax_rate_bp == 1900);        // a class the region does not list: its standard rate
  CHECK(c.totals.subtotal == money{1614, "EUR"});
  CHECK(c.totals.tax == money{3 + 35 + 19, "EUR"});
  CHECK(c.totals.total == money{1614 + 57, "EUR"});
  REQUIRE(c.totals.tax_lines.size() == 4);
  CHECK(c.totals.tax_lines[0] == tax_line{0, {999, "EUR"}, {0, "EUR"}});
  CHECK(c.totals.tax_lines[1] == tax_line{700, {500, "EUR"}, {35, "EUR"}});
  CHECK(c.totals.tax_lines[2] == tax_line{1000, {15, "EUR"}, {3, "EUR"}});
  CHECK(c.totals.tax_lines[3] == tax_line{1900, {100, "EUR"}, {19, "EUR"}});

  c.prices_include_tax = true;
  price_cart(c, taxes);
  CHECK(c.totals.total == money{1614, "EUR"});
  CHECK(c.totals.subtotal.amount + c.totals.tax.amount == c.totals.total.amount);
}

TEST_CASE("bad tax rate tables stop the start with the key named", "[cart]") {
  CHECK_THROWS_AS(tax_table::parse("[]"), config::config_error);
  CHECK_THROWS_AS(tax_table::parse("{}"), config::config_error);
  CHECK_THROWS_AS(tax_table::parse(R"({"DE":{"reduced":700}})"), config::config_error);
  CHECK_THROWS_AS(tax_table::parse(R"({"DE":{"standard":-1}})"), config::config_error);
  CHECK_THROWS_AS(tax_table::parse(R"({"DE":{"standard":10001}})"), config::config_error);
  CHECK_THROWS_AS(tax_table::parse(R"({"DE":{"standard":19.5}})"), config::config_error);
  CHECK_THROWS_WITH(tax_table::parse("nope"), Catch::Contains("modules.cart.tax_rates"));
  auto t = tax_table::parse(R"({"US-CA":{"standard":725}})");
  CHECK(t.has_region("US-CA"));
  CHECK_FALSE(t.has_region("DE"));
  CHECK(t.rate_bp("US-CA", "reduced") == 725);
}
