#include <inventory/api.hpp>

#include <agora/testing.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace agora;
using namespace agora::inventory;

namespace {

testing::fixture_options fast_sweep() {
  testing::fixture_options o;
  o.settings = {{"modules.inventory.sweep_period_ms", 5}};
  return o;
}

stock_level stock(testing::module_fixture& f, const std::string& sku, std::int64_t delta,
                  const std::string& location = "web") {
  auto r = f.call<adjust>({sku, location, delta, "count"});
  REQUIRE(r);
  return *r;
}

stock_level level_of(testing::module_fixture& f, const std::string& sku, const std::string& location = "web") {
  auto r = f.call<get_level>({sku, location});
  REQUIRE(r);
  return *r;
}

reserve_request reservation_of(std::string id, std::vector<stock_line> lines, std::optional<std::int64_t> ttl = {}) {
  return reserve_request{std::move(id), "web", std::move(lines), ttl};
}

std::vector<stock_event> of_type(const std::vector<bus::event>& events, std::string_view type) {
  std::vector<stock_event> out;
  for (const auto& e : events)
    if (e.type == type) out.push_back(e.data.get<stock_event>());
  return out;
}

}  // namespace

TEST_CASE("500 concurrent reservations of one unit against 10 on hand: exactly 10 succeed", "[inventory]") {
  testing::module_fixture f(inventory::module());
  stock(f, "MUG-1", 10);

  asio::io_context io;
  std::atomic<int> ok{0}, refused{0}, other{0};
  // The coroutine takes its inputs as parameters: a lambda's captures would die with the
  // closure before the coroutine runs.
  auto task = [](bus::bus& b, int i, std::atomic<int>& ok, std::atomic<int>& refused,
                 std::atomic<int>& other) -> asio::awaitable<void> {
    auto req = reservation_of("ord_" + std::to_string(i), {{"MUG-1", 1}});
    auto r = co_await b.call<reserve>(std::move(req), bus::request_options(std::chrono::seconds(30)));
    if (r)
      ++ok;
    else if (r.err().code == errc::conflict && r.err().message == "insufficient stock")
      ++refused;
    else
      ++other;
  };
  for (int i = 0; i < 500; ++i) asio::co_spawn(io, task(f.bus(), i, ok, refused, other), asio::detached);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&io] { io.run(); });
  for (auto& t : threads) t.join();

  CHECK(ok == 10);
  CHECK(refused == 490);
  CHECK(other == 0);
  auto lv = level_of(f, "MUG-1");
  CHECK(lv.on_hand == 10);
  CHECK(lv.reserved == 10);
  CHECK(lv.available == 0);
}

TEST_CASE("a reservation is all or nothing, and says which lines are short", "[inventory]") {
  testing::module_fixture f(inventory::module());
  stock(f, "A", 5);
  stock(f, "B", 1);

  auto r = f.call<reserve>(reservation_of("ord_1", {{"A", 2}, {"B", 3}, {"C", 1}}));
  REQUIRE_FALSE(r);
  CHECK(r.err().code == errc::conflict);
  CHECK(r.err().message == "insufficient stock");
  REQUIRE(r.err().fields.size() == 2);
  CHECK(r.err().fields[0].field == "lines[1].quantity");
  CHECK(r.err().fields[0].message == "only 1 available");
  CHECK(r.err().fields[1].field == "lines[2].quantity");
  CHECK(r.err().fields[1].message == "only 0 available");
  CHECK(level_of(f, "A").reserved == 0);
  CHECK(level_of(f, "B").reserved == 0);

  // The same SKU twice is one line of the sum.
  auto twice = f.call<reserve>(reservation_of("ord_2", {{"A", 2}, {"B", 1}, {"A", 3}}));
  REQUIRE(twice);
  REQUIRE(twice->lines.size() == 2);
  CHECK(twice->lines[0] == stock_line{"A", 5});
  CHECK(level_of(f, "A").available == 0);
  CHECK(level_of(f, "B").available == 0);
}

TEST_CASE("reserving again with the same id answers the existing reservation", "[inventory]") {
  testing::module_fixture f(inventory::module());
  stock(f, "A", 3);
  auto first = f.call<reserve>(reservation_of("ord_1", {{"A", 2}}));
  REQUIRE(first);
  auto again = f.call<reserve>(reservation_of("ord_1", {{"A", 2}}));
  REQUIRE(again);
  CHECK(*again == *first);
  CHECK(level_of(f, "A").reserved == 2);

  REQUIRE(f.call<release>({"ord_1", "customer canceled"}));
  auto after_release = f.call<reserve>(reservation_of("ord_1", {{"A", 2}}));
  REQUIRE(after_release);
  CHECK(after_release->status == reservation_status::released);
  CHECK(level_of(f, "A").reserved == 0);
}

TEST_CASE("release and commit are idempotent and refuse the other's state", "[inventory]") {
  testing::module_fixture f(inventory::module());
  stock(f, "A", 10);
  REQUIRE(f.settle());
  auto& events = f.subscribe(std::string(stock_topic));
  REQUIRE(f.call<reserve>(reservation_of("ord_c", {{"A", 4}})));
  REQUIRE(f.call<reserve>(reservation_of("ord_r", {{"A", 3}})));

  auto committed = f.call<commit>({"ord_c"});
  REQUIRE(committed);
  CHECK(committed->status == reservation_status::committed);
  CHECK(f.call<commit>({"ord_c"})->status == reservation_status::committed);
  auto lv = level_of(f, "A");
  CHECK(lv.on_hand == 6);
  CHECK(lv.reserved == 3);
  auto release_committed = f.call<release>({"ord_c", ""});
  REQUIRE_FALSE(release_committed);
  CHECK(release_committed.err().code == errc::conflict);

  auto released = f.call<release>({"ord_r", "payment declined"});
  REQUIRE(released);
  CHECK(released->status == reservation_status::released);
  CHECK(released->reason == "payment declined");
  CHECK(f.call<release>({"ord_r", "again"})->reason == "payment declined");
  auto commit_released = f.call<commit>({"ord_r"});
  REQUIRE_FALSE(commit_released);
  CHECK(commit_released.err().code == errc::conflict);
  CHECK(commit_released.err().message == "reservation released");
  lv = level_of(f, "A");
  CHECK(lv.on_hand == 6);
  CHECK(lv.reserved == 0);
  CHECK(lv.available == 6);

  CHECK(f.call<commit>({"ord_unknown"}).err().code == errc::not_found);

  REQUIRE(f.settle());
  auto all = events.events();
  CHECK(of_type(all, stock_reserved).size() == 2);
  CHECK(of_type(all, stock_committed).size() == 1);
  CHECK(of_type(all, stock_released).size() == 1);
  auto c = of_type(all, stock_committed).at(0);
  CHECK(c.reservation_id == "ord_c");
  CHECK(c.quantity == 4);
  CHECK(c.level.on_hand == 6);
  CHECK(c.level.reserved == 3);
  for (const auto& e : all) {
    CHECK(e.subject == "A");
    CHECK(e.key() == "A");
    CHECK(e.source == "agora/inventory");
  }
}

TEST_CASE("an expired reservation is released by the sweep with stock.expired, and cannot be committed",
          "[inventory]") {
  testing::module_fixture f(inventory::module(), fast_sweep());
  stock(f, "A", 5);
  REQUIRE(f.settle());
  auto& events = f.subscribe(std::string(stock_topic));
  REQUIRE(f.call<reserve>(reservation_of("ord_1", {{"A", 2}}, 60)));
  REQUIRE(f.call<reserve>(reservation_of("ord_2", {{"A", 1}}, 600)));

  f.clock().advance(std::chrono::seconds(61));
  auto expired = events.wait_for(3);  // two reserved, then one expired
  REQUIRE(of_type(expired, stock_expired).size() == 1);
  auto ev = of_type(expired, stock_expired).at(0);
  CHECK(ev.reservation_id == "ord_1");
  CHECK(ev.quantity == 2);
  CHECK(ev.level.reserved == 1);
  CHECK(f.call<get_reservation>({"ord_1"})->status == reservation_status::expired);
  CHECK(f.call<get_reservation>({"ord_2"})->status == reservation_status::active);
  auto late = f.call<commit>({"ord_1"});
  REQUIRE_FALSE(late);
  CHECK(late.err().message == "reservation expired");
  CHECK(f.call<release>({"ord_1", ""})->status == reservation_status::expired);
  auto lv = level_of(f, "A");
  CHECK(lv.reserved == 1);
  CHECK(lv.on_hand == 5);
}

TEST_CASE("commit after expires_at is refused even before the sweep ran", "[inventory]") {
  testing::fixture_options o;
  o.settings = {{"modules.inventory.sweep_period_ms", 3'600'000}};
  testing::module_fixture f(inventory::module(), o);
  stock(f, "A", 5);
  REQUIRE(f.call<reserve>(reservation_of("ord_1", {{"A", 2}}, 10)));
  f.clock().advance(std::chrono::seconds(10));
  auto late = f.call<commit>({"ord_1"});
  REQUIRE_FALSE(late);
  CHECK(late.err().code == errc::conflict);
  CHECK(late.err().message == "reservation expired");
  CHECK(f.call<get_reservation>({"ord_1"})->status == reservation_status::expired);
  auto lv = level_of(f, "A");
  CHECK(lv.reserved == 0);
  CHECK(lv.on_hand == 5);
}

TEST_CASE("a transfer ships at once, is received in parts, and never over", "[inventory]") {
  testing::module_fixture f(inventory::module());
  REQUIRE(f.call<create_location>({"store-berlin", "Berlin", location_kind::store}));
  stock(f, "A", 10);
  stock(f, "B", 4);
  REQUIRE(f.call<reserve>(reservation_of("ord_1", {{"A", 3}})));
  REQUIRE(f.settle());
  auto& events = f.subscribe(std::string(stock_topic));

  auto too_much = f.call<create_transfer>({"web", "store-berlin", {{"A", 8}}});
  REQUIRE_FALSE(too_much);
  CHECK(too_much.err().code == errc::conflict);
  CHECK(too_much.err().fields.at(0).message == "only 7 available");

  auto t = f.call<create_transfer>({"web", "store-berlin", {{"A", 7}, {"B", 4}}});
  REQUIRE(t);
  CHECK(t->status == transfer_status::in_transit);
  CHECK(level_of(f, "A").on_hand == 3);
  CHECK(level_of(f, "B").on_hand == 0);
  CHECK(f.call<get_level>({"A", "store-berlin"}).err().code == errc::not_found);

  auto part = f.call<receive_transfer>({t->id, {{"A", 5}}});
  REQUIRE(part);
  CHECK(part->status == transfer_status::partially_received);
  CHECK(part->lines[0].received == 5);
  CHECK(level_of(f, "A", "store-berlin").on_hand == 5);

  auto over = f.call<receive_transfer>({t->id, {{"A", 3}}});
  REQUIRE_FALSE(over);
  CHECK(over.err().code == errc::invalid_argument);
  CHECK(over.err().fields.at(0).field == "lines[0].quantity");
  CHECK(over.err().fields.at(0).message == "only 2 still in transit");
  auto foreign = f.call<receive_transfer>({t->id, {{"Z", 1}}});
  REQUIRE_FALSE(foreign);
  CHECK(foreign.err().fields.at(0).field == "lines[0].sku");

  auto rest = f.call<receive_transfer>({t->id, {{"A", 2}, {"B", 4}}});
  REQUIRE(rest);
  CHECK(rest->status == transfer_status::received);
  CHECK(level_of(f, "A", "store-berlin").on_hand == 7);
  CHECK(level_of(f, "B", "store-berlin").on_hand == 4);
  CHECK(f.call<receive_transfer>({t->id, {{"A", 1}}}).err().code == errc::conflict);
  CHECK(*f.call<get_transfer>({t->id}) == *rest);

  REQUIRE(f.settle());
  auto all = events.events();
  CHECK(of_type(all, stock_transferred_out).size() == 2);
  CHECK(of_type(all, stock_received).size() == 3);
  CHECK(of_type(all, stock_received).at(0).transfer_id == t->id);
  auto listed = f.call<list_transfers>({std::string("store-berlin"), std::nullopt, std::nullopt, ""});
  REQUIRE(listed);
  CHECK(listed->data.size() == 1);
}

TEST_CASE("an adjustment may not take on-hand below what is reserved", "[inventory]") {
  testing::module_fixture f(inventory::module());
  auto none = f.call<adjust>({"A", "web", -1, "shrinkage"});
  REQUIRE_FALSE(none);
  CHECK(none.err().code == errc::conflict);
  REQUIRE(f.settle());
  auto& events = f.subscribe(std::string(stock_topic));
  auto first = stock(f, "A", 5);
  CHECK(first.on_hand == 5);
  CHECK(first.version == 1);
  REQUIRE(f.call<reserve>(reservation_of("ord_1", {{"A", 4}})));
  auto below = f.call<adjust>({"A", "web", -2, "broken"});
  REQUIRE_FALSE(below);
  CHECK(below.err().code == errc::conflict);
  CHECK(below.err().fields.at(0).field == "delta");
  CHECK(below.err().fields.at(0).message == "only 1 available");
  auto ok = f.call<adjust>({"A", "web", -1, "broken"});
  REQUIRE(ok);
  CHECK(ok->on_hand == 4);
  CHECK(ok->available == 0);
  CHECK(f.call<adjust>({"A", "nowhere", 1, "count"}).err().code == errc::not_found);

  REQUIRE(f.settle());
  auto adjusted = of_type(events.events(), stock_adjusted);
  REQUIRE(adjusted.size() == 2);
  CHECK(adjusted[1].quantity == -1);
  CHECK(adjusted[1].reason == "broken");
  CHECK(adjusted[1].adjustment_id.value_or("").starts_with("adj_"));
  CHECK(adjusted[1].level == *ok);
}

TEST_CASE("an adjustment with the caller's id is made once, however often it is sent", "[inventory]") {
  testing::module_fixture f(inventory::module());
  stock(f, "A", 2);
  adjust_request back{"A", "web", 3, "order ord_1 canceled", std::string("cancel:ord_1:oli_1")};
  auto first = f.call<adjust>(back);
  REQUIRE(first);
  CHECK(first->on_hand == 5);
  auto again = f.call<adjust>(back);
  REQUIRE(again);
  CHECK(again->on_hand == 5);
  CHECK(level_of(f, "A").on_hand == 5);
  adjust_request bad{"A", "web", 1, "count", std::string("no spaces allowed")};
  auto refused = f.call<adjust>(bad);
  REQUIRE_FALSE(refused);
  CHECK(refused.err().fields.at(0).field == "adjustment_id");
}

TEST_CASE("low stock is announced once per crossing and listed while low", "[inventory]") {
  testing::module_fixture f(inventory::module());
  stock(f, "A", 10);
  stock(f, "B", 10);
  REQUIRE(f.settle());
  auto& events = f.subscribe(std::string(stock_topic));
  auto t = f.call<set_threshold>({"A", "web", 3});
  REQUIRE(t);
  CHECK(t->low_stock_threshold == 3);

  REQUIRE(f.call<reserve>(reservation_of("o1", {{"A", 6}})));  // 4 left: not low
  REQUIRE(f.call<reserve>(reservation_of("o2", {{"A", 1}})));  // 3: low
  REQUIRE(f.call<reserve>(reservation_of("o3", {{"A", 1}})));  // 2: still low
  REQUIRE(f.settle());
  auto lows = of_type(events.events(), low_stock);
  REQUIRE(lows.size() == 1);
  CHECK(lows[0].level.available == 3);
  CHECK(lows[0].sku == "A");

  auto listed = f.call<list_low_stock>({});
  REQUIRE(listed);
  REQUIRE(listed->data.size() == 1);
  CHECK(listed->data[0].sku == "A");

  REQUIRE(f.call<release>({"o1", ""}));  // 8: no longer low
  CHECK(f.call<list_low_stock>({})->data.empty());
  REQUIRE(f.call<reserve>(reservation_of("o4", {{"A", 5}})));  // 3: low again
  REQUIRE(f.settle());
  CHECK(of_type(events.events(), low_stock).size() == 2);

  // A threshold set at or above what is available makes the level low at once.
  REQUIRE(f.call<set_threshold>({"B", "web", 10}));
  REQUIRE(f.settle());
  CHECK(of_type(events.events(), low_stock).size() == 3);
  CHECK(f.call<list_low_stock>({std::string("web"), std::nullopt, ""})->data.size() == 2);
}

TEST_CASE("levels page in (sku, location) order", "[inventory]") {
  testing::module_fixture f(inventory::module());
  REQUIRE(f.call<create_location>({"store-1", "One", location_kind::store}));
  for (auto sku : {"C", "A", "B"}) {
    stock(f, sku, 1);
    stock(f, sku, 1, "store-1");
  }
  std::vector<std::string> seen;
  std::string cursor;
  for (int pages = 0; pages < 10; ++pages) {
    auto p = f.call<get_levels>({std::nullopt, std::nullopt, 4, cursor});
    REQUIRE(p);
    for (const auto& l : p->data) seen.push_back(l.sku + "@" + l.location);
    if (!p->next_cursor) break;
    cursor = *p->next_cursor;
  }
  CHECK(seen == std::vector<std::string>{"A@store-1", "A@web", "B@store-1", "B@web", "C@store-1", "C@web"});
  CHECK(f.call<get_levels>({std::string("B"), std::nullopt, std::nullopt, ""})->data.size() == 2);
  CHECK(f.call<get_levels>({std::nullopt, std::nullopt, std::nullopt, "garbage"}).err().code == errc::invalid_argument);
}
