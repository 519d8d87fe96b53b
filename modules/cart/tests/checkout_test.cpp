#include <cart/api.hpp>
#include <catalog/api.hpp>

#include <agora/ids.hpp>
#include <agora/testing.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

using namespace agora;

namespace {

bus::request_options as(const std::string& customer_id) {
  bus::request_options o;
  o.who.subject = customer_id;
  o.who.kind = principal_kind::customer;
  o.who.roles = {std::string(roles::customer)};
  return o;
}

catalog::product make_product(testing::module_fixture& f, const std::string& sku, std::int64_t amount) {
  catalog::create_product_request req;
  req.sku = sku;
  req.name = "Product " + sku;
  req.price = {amount, "EUR"};
  auto r = f.call<catalog::create_product>(req);
  REQUIRE(r);
  return r->item;
}

cart::cart customer_cart(testing::module_fixture& f, const std::string& customer, const std::string& sku,
                         std::int64_t quantity) {
  auto made = f.call<cart::create_cart>({}, as(customer));
  REQUIRE(made);
  auto added = f.call<cart::add_line>({made->item.id, sku, quantity, std::nullopt, std::nullopt}, as(customer));
  REQUIRE(added);
  return *added;
}

}  // namespace

TEST_CASE("checkout: begin is idempotent by order, edits wait, end completes or reopens", "[cart]") {
  testing::module_fixture f(cart::module());
  auto& events = f.subscribe(std::string(cart::carts_topic));
  make_product(f, "A-1", 1190);
  auto ada = new_id("cus");
  auto c = customer_cart(f, ada, "A-1", 2);
  auto order = new_id("ord");
  auto other = new_id("ord");

  CHECK(f.call<cart::begin_checkout>({c.id, order, new_id("cus"), std::nullopt}).err().code == errc::not_found);
  auto empty = f.call<cart::create_cart>({}, as(new_id("cus")));
  REQUIRE(empty);
  auto refused = f.call<cart::begin_checkout>({empty->item.id, order, *empty->item.customer_id, std::nullopt});
  REQUIRE_FALSE(refused);
  CHECK(refused.err().code == errc::conflict);
  CHECK(refused.err().message == "cart is empty");
  CHECK(f.call<cart::begin_checkout>({c.id, "ord_bad", ada, std::nullopt}).err().code == errc::invalid_argument);

  auto begun = f.call<cart::begin_checkout>({c.id, order, ada, std::nullopt});
  REQUIRE(begun);
  CHECK(begun->status == cart::status_checking_out);
  CHECK(begun->order_id == order);
  CHECK(begun->totals.total == money{2380, "EUR"});
  auto again = f.call<cart::begin_checkout>({c.id, order, ada, std::nullopt});
  REQUIRE(again);
  CHECK(*again == *begun);
  CHECK(f.call<cart::begin_checkout>({c.id, other, ada, std::nullopt}).err().code == errc::conflict);

  auto edit = f.call<cart::add_line>({c.id, "A-1", 1, std::nullopt, std::nullopt}, as(ada));
  REQUIRE_FALSE(edit);
  CHECK(edit.err().code == errc::conflict);
  CHECK(f.call<cart::update_line>({c.id, c.lines[0].id, 5, std::nullopt, std::nullopt}, as(ada)).err().code ==
        errc::conflict);

  auto reopened = f.call<cart::end_checkout>({c.id, order, std::string(cart::outcome_abandoned)});
  REQUIRE(reopened);
  CHECK(reopened->status == cart::status_open);
  CHECK_FALSE(reopened->order_id);
  CHECK(f.call<cart::end_checkout>({c.id, order, std::string(cart::outcome_abandoned)}));
  CHECK(f.call<cart::end_checkout>({c.id, order, std::string(cart::outcome_completed)}).err().code == errc::conflict);
  REQUIRE(f.call<cart::add_line>({c.id, "A-1", 1, std::nullopt, std::nullopt}, as(ada)));

  auto second = f.call<cart::begin_checkout>({c.id, other, ada, std::nullopt});
  REQUIRE(second);
  CHECK(second->lines[0].quantity == 3);
  auto done = f.call<cart::end_checkout>({c.id, other, std::string(cart::outcome_completed)});
  REQUIRE(done);
  CHECK(done->status == cart::status_checked_out);
  auto repeat = f.call<cart::end_checkout>({c.id, other, std::string(cart::outcome_completed)});
  REQUIRE(repeat);
  CHECK(*repeat == *done);
  CHECK(f.call<cart::end_checkout>({c.id, order, std::string(cart::outcome_abandoned)}).err().code == errc::conflict);

  REQUIRE(f.settle());
  int checked_out = 0;
  for (const auto& ev : events.events())
    if (ev.type == cart::cart_checked_out && ev.subject == c.id) ++checked_out;
  CHECK(checked_out == 1);

  // The customer's next cart is a new one.
  auto next = f.call<cart::create_cart>({}, as(ada));
  REQUIRE(next);
  CHECK(next->created);
  CHECK(next->item.id != c.id);
}

TEST_CASE("a catalog price change re-prices open carts and says which lines changed, once", "[cart]") {
  testing::module_fixture f(cart::module());
  auto& events = f.subscribe(std::string(cart::carts_topic));
  auto product = make_product(f, "A-1", 1000);
  make_product(f, "B-1", 300);
  auto ada = new_id("cus");
  auto c = customer_cart(f, ada, "A-1", 2);
  REQUIRE(f.call<cart::add_line>({c.id, "B-1", 1, std::nullopt, std::nullopt}, as(ada)));
  REQUIRE(f.settle());
  events.clear();

  catalog::update_product_request up;
  up.id = product.id;
  up.price = money{1200, "EUR"};
  REQUIRE(f.call<catalog::update_product>(up));
  auto seen = events.wait_for(1);
  REQUIRE(seen.size() >= 1);
  CHECK(seen[0].type == cart::cart_line_updated);

  auto read = f.call<cart::get_cart>({c.id, std::nullopt}, as(ada));
  REQUIRE(read);
  const auto& a = read->lines[0].sku == "A-1" ? read->lines[0] : read->lines[1];
  CHECK(a.unit_price == money{1200, "EUR"});
  CHECK(a.price_changed);
  REQUIRE(read->changed_lines.size() == 1);
  CHECK(read->changed_lines[0].line_id == a.id);
  CHECK(read->changed_lines[0].old_unit_price == money{1000, "EUR"});
  CHECK(read->changed_lines[0].new_unit_price == money{1200, "EUR"});
  CHECK(read->totals.total == money{2 * 1200 + 300, "EUR"});

  auto later = f.call<cart::get_cart>({c.id, std::nullopt}, as(ada));
  REQUIRE(later);
  CHECK(later->changed_lines.empty());
  CHECK(later->lines[0].unit_price.amount + later->lines[1].unit_price.amount == 1500);

  // A deleted product leaves its line unavailable: kept, but not counted.
  catalog::delete_product_request del;
  del.id = product.id;
  REQUIRE(f.call<catalog::delete_product>(del));
  events.clear();
  REQUIRE(events.wait_for(1).size() >= 1);
  auto gone = f.call<cart::get_cart>({c.id, std::nullopt}, as(ada));
  REQUIRE(gone);
  CHECK(gone->totals.total == money{300, "EUR"});
}

TEST_CASE("idle carts expire on the module clock, by the sweep or when next touched", "[cart]") {
  testing::fixture_options o;
  o.settings = {{"modules.cart.sweep_interval_ms", 20}, {"modules.cart.idle_expiry_s", 3600}};
  testing::module_fixture f(cart::module(), o);
  auto& events = f.subscribe(std::string(cart::carts_topic));
  make_product(f, "A-1", 100);
  auto ada = new_id("cus");
  auto c = customer_cart(f, ada, "A-1", 1);
  auto guest = f.call<cart::create_cart>({});
  REQUIRE(guest);
  REQUIRE(guest->cart_token);

  f.clock().advance(std::chrono::minutes(59));
  REQUIRE(f.call<cart::get_cart>({c.id, std::nullopt}, as(ada))->status == cart::status_open);
  REQUIRE(f.settle());
  events.clear();

  f.clock().advance(std::chrono::minutes(2));
  auto expired = events.wait_for(2);
  REQUIRE(expired.size() == 2);
  for (const auto& ev : expired) CHECK(ev.type == cart::cart_expired);
  auto read = f.call<cart::get_cart>({guest->item.id, guest->cart_token});
  REQUIRE(read);
  CHECK(read->status == cart::status_expired);
  auto edit = f.call<cart::add_line>({c.id, "A-1", 1, std::nullopt, std::nullopt}, as(ada));
  REQUIRE_FALSE(edit);
  CHECK(edit.err().code == errc::conflict);

  auto fresh = f.call<cart::create_cart>({}, as(ada));
  REQUIRE(fresh);
  CHECK(fresh->created);
  CHECK(fresh->item.expires_at > c.expires_at);
}
