#include "catalog_fixture.hpp"
#include "store.hpp"
#include "validation.hpp"

#include <agora/app.hpp>
#include <agora/config.hpp>
#include <agora/ids.hpp>

#include "agora_catalog_migrations.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <sstream>

using namespace agora;
using namespace agora::catalog;
using agora::catalog::test::catalog_fixture;
using agora::catalog::test::names;

namespace {

// EAN-13 codes with their right check digit (from the GS1 rule), and UPC-A ones.
constexpr std::string_view ean_good = "4006381333931";
constexpr std::string_view upc_good = "036000291452";

create_variant_request variant_req(std::string product_id, std::string sku, std::int64_t amount,
                                   std::optional<std::string> barcode = std::nullopt) {
  create_variant_request r;
  r.product_id = std::move(product_id);
  r.sku = std::move(sku);
  r.name = "Size " + r.sku;
  r.price = {amount, "EUR"};
  r.barcode = std::move(barcode);
  return r;
}

// Publishes `ev` on the bus as inventory would, and waits until every group has handled it.
void publish_and_settle(bus::bus& b, bus::event ev) {
  asio::io_context io;
  auto settled = std::make_shared<std::promise<void>>();
  auto done = settled->get_future();
  auto ptr = std::make_shared<const bus::event>(std::move(ev));
  auto op = b.publish(ptr, [settled] { settled->set_value(); });
  auto published = asio::co_spawn(io, std::move(op), asio::use_future);
  io.run();
  REQUIRE(published.get());
  REQUIRE(done.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
}

bus::event stock_event(std::string id, std::string sku, std::string location, std::int64_t available,
                       std::string time) {
  bus::event ev;
  ev.id = std::move(id);
  ev.source = "agora/inventory";
  ev.type = "stock.adjusted";
  ev.subject = sku;
  ev.partition_key = sku;
  ev.topic = std::string(stock_topic);
  ev.time = std::move(time);
  ev.data = {
      {"sku", sku},
      {"location", location},
      {"quantity", 1},
      {"level",
       {{"sku", sku}, {"location", location}, {"on_hand", available}, {"reserved", 0}, {"available", available}}}};
  return ev;
}

std::set<std::string> ids_of(const std::vector<product>& ps) {
  std::set<std::string> out;
  for (const auto& p : ps) out.insert(p.sku);
  return out;
}

}  // namespace

TEST_CASE("barcode check digits are verified, and a UPC-A is stored as its EAN-13", "[catalog]") {
  struct row {
    std::string_view code;
    std::optional<std::string_view> stored;  // nullopt: refused
  };
  const row table[] = {
      {"4006381333931", "4006381333931"},  // EAN-13
      {"5901234123457", "5901234123457"},
      {"9780201379624", "9780201379624"},  // an ISBN-13
      {"036000291452", "0036000291452"},   // UPC-A → "0" + digits
      {"012345678905", "0012345678905"},
      {"0036000291452", "0036000291452"},  // the same UPC-A written as EAN-13
      {"4006381333932", std::nullopt},     // wrong check digit
      {"036000291453", std::nullopt},
      {"400638133393", std::nullopt},    // 12 digits whose check digit is wrong as a UPC-A
      {"40063813339", std::nullopt},     // 11 digits
      {"40063813339310", std::nullopt},  // 14 digits
      {"40063813339a1", std::nullopt},
      {"", std::nullopt},
  };
  for (const auto& r : table) {
    std::vector<field_error> errors;
    auto got = normalize_barcode(r.code, "barcode", errors);
    INFO(r.code);
    if (r.stored) {
      CHECK(errors.empty());
      CHECK(got == std::optional<std::string>(std::string(*r.stored)));
    } else {
      CHECK_FALSE(got);
      REQUIRE(errors.size() == 1);
      CHECK(errors[0].field == "barcode");
    }
  }
  std::vector<field_error> errors;
  normalize_barcode("4006381333932", "barcode", errors);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].message.find("must end with 1") != std::string::npos);
  CHECK(ean13_check_digit("400638133393") == '1');
  CHECK(ean13_check_digit("003600029145") == '2');
}

TEST_CASE("a product is made with its default variant, and its sku and price stay the default's", "[catalog]") {
  catalog_fixture f;
  auto& variants = f.kit().subscribe(std::string(variants_topic));
  create_product_request req;
  req.sku = "MUG-1";
  req.name = "Mug";
  req.price = {1200, "EUR"};
  req.tax_class = "reduced";
  req.barcode = std::string(upc_good);
  auto created = f.call<create_product>(req);
  REQUIRE(created);
  const auto& p = created->item;
  REQUIRE(p.variants.size() == 1);
  CHECK(p.variants[0].is_default);
  CHECK(p.variants[0].sku == "MUG-1");
  CHECK(p.variants[0].price == money{1200, "EUR"});
  CHECK(p.variants[0].barcode == "0036000291452");
  CHECK(p.variants[0].name.empty());
  CHECK(p.tax_class == "reduced");

  update_product_request up;
  up.id = p.id;
  up.sku = "MUG-2";
  up.price = money{1500, "EUR"};
  auto updated = f.call<update_product>(up);
  REQUIRE(updated);
  CHECK(updated->item.variants[0].sku == "MUG-2");
  CHECK(updated->item.variants[0].price == money{1500, "EUR"});
  CHECK(updated->item.variants[0].version == 2);

  update_variant_request uv;
  uv.product_id = p.id;
  uv.variant_id = p.variants[0].id;
  uv.price = money{1700, "EUR"};
  REQUIRE(f.call<update_variant>(uv));
  auto again = f.call<get_product>({p.id});
  REQUIRE(again);
  CHECK(again->item.price == money{1700, "EUR"});
  CHECK(again->item.version == 3);
  auto fresh = f.count("SELECT price_amount FROM products WHERE id = '" + p.id + "'");
  CHECK(fresh == 1700);

  REQUIRE(f.kit().settle());
  auto evs = variants.events();
  // created MUG-1; the sku change: deleted MUG-1, created MUG-2; the price: updated MUG-2.
  REQUIRE(evs.size() == 4);
  CHECK(evs[0].type == variant_created);
  CHECK(evs[1].type == variant_deleted);
  CHECK(evs[1].subject == "MUG-1");
  CHECK(evs[2].type == variant_created);
  CHECK(evs[2].subject == "MUG-2");
  CHECK(evs[3].type == variant_updated);
  for (const auto& ev : evs) {
    CHECK(ev.topic == variants_topic);
    CHECK(ev.partition_key == ev.subject);
    auto info = ev.data.get<variant_info>();
    CHECK(info.item.sku == ev.subject);
    CHECK(info.product_name == "Mug");
    CHECK(info.tax_class == "reduced");
  }
  CHECK(evs[3].data.get<variant_info>().item.price == money{1700, "EUR"});
}

TEST_CASE("variants are added, changed and deleted with their events, and the default is never deleted", "[catalog]") {
  catalog_fixture f;
  auto& variants = f.kit().subscribe(std::string(variants_topic));
  auto p = f.create("TEE");
  auto red = f.call<create_variant>(variant_req(p.id, "TEE-RED-L", 2100, std::string(ean_good)));
  REQUIRE(red);
  CHECK_FALSE(red->is_default);
  CHECK(red->barcode == std::string(ean_good));
  CHECK(red->id.starts_with("var_"));

  SECTION("skus are unique across all variants and products") {
    auto dup = f.call<create_variant>(variant_req(p.id, "TEE", 100));
    REQUIRE_FALSE(dup);
    CHECK(dup.err().code == errc::conflict);
    create_product_request other;
    other.sku = "TEE-RED-L";
    other.name = "Other";
    other.price = {1, "EUR"};
    auto clash = f.call<create_product>(other);
    REQUIRE_FALSE(clash);
    CHECK(clash.err().code == errc::conflict);
  }
  SECTION("a barcode is unique, and a UPC-A is the same code as its EAN-13 form") {
    auto upc = f.call<create_variant>(variant_req(p.id, "TEE-UPC", 100, std::string(upc_good)));
    REQUIRE(upc);
    auto as_ean = f.call<create_variant>(variant_req(p.id, "TEE-EAN", 100, "0" + std::string(upc_good)));
    REQUIRE_FALSE(as_ean);
    CHECK(as_ean.err().code == errc::conflict);
    find_variant_request by_ean;
    by_ean.barcode = "0" + std::string(upc_good);
    auto found = f.call<find_variant>(by_ean);
    REQUIRE(found);
    CHECK(found->item.sku == "TEE-UPC");
  }
  SECTION("a stale version is refused, and the product's version covers its variants") {
    update_variant_request u;
    u.product_id = p.id;
    u.variant_id = red->id;
    u.expected_version = version_match(7);
    u.name = "Red / XL";
    auto stale = f.call<update_variant>(u);
    REQUIRE_FALSE(stale);
    CHECK(stale.err().code == errc::failed_precondition);
    u.expected_version = version_match(1);
    u.barcode = std::optional<std::string>{};
    auto ok = f.call<update_variant>(u);
    REQUIRE(ok);
    CHECK(ok->version == 2);
    CHECK_FALSE(ok->barcode);
    auto prod = f.call<get_product>({p.id});
    REQUIRE(prod);
    CHECK(prod->item.version == 3);  // created, variant added, variant changed
    REQUIRE(prod->item.variants.size() == 2);
    CHECK(prod->item.variants[0].is_default);
    CHECK(prod->item.variants[1].name == "Red / XL");
  }
  SECTION("the default variant cannot be deleted; another one can") {
    delete_variant_request d{p.id, p.variants[0].id, std::nullopt};
    auto refused = f.call<delete_variant>(d);
    REQUIRE_FALSE(refused);
    CHECK(refused.err().code == errc::conflict);
    auto gone = f.call<delete_variant>({p.id, red->id, std::nullopt});
    REQUIRE(gone);
    auto list = f.call<list_variants>({p.id, std::nullopt, ""});
    REQUIRE(list);
    REQUIRE(list->data.size() == 1);
    CHECK(list->data[0].is_default);
    find_variant_request by_sku;
    by_sku.sku = "TEE-RED-L";
    auto missing = f.call<find_variant>(by_sku);
    REQUIRE_FALSE(missing);
    CHECK(missing.err().code == errc::not_found);
    REQUIRE(f.kit().settle());
    auto evs = variants.events();
    REQUIRE(evs.size() == 3);
    CHECK(evs[2].type == variant_deleted);
    CHECK(evs[2].subject == "TEE-RED-L");
    CHECK(evs[2].data.get<variant_info>().item.id == red->id);
  }
  SECTION("a variant of another product is not found under this one") {
    auto q = f.create("CUP");
    auto wrong = f.call<delete_variant>({q.id, red->id, std::nullopt});
    REQUIRE_FALSE(wrong);
    CHECK(wrong.err().code == errc::not_found);
  }
  SECTION("renaming the product announces every variant again; deleting it deletes them") {
    update_product_request up;
    up.id = p.id;
    up.name = "T-shirt";
    up.tax_class = "zero";
    REQUIRE(f.call<update_product>(up));
    REQUIRE(f.call<delete_product>({p.id, std::nullopt}));
    REQUIRE(f.kit().settle());
    auto evs = variants.events();
    REQUIRE(evs.size() == 6);
    CHECK(evs[2].type == variant_updated);
    CHECK(evs[3].type == variant_updated);
    CHECK(evs[3].data.get<variant_info>().tax_class == "zero");
    CHECK(evs[3].data.get<variant_info>().product_name == "T-shirt");
    CHECK(evs[4].type == variant_deleted);
    CHECK(evs[5].type == variant_deleted);
    CHECK(f.count("SELECT count(*) FROM variants") == 0);
  }
}

TEST_CASE("find_variant finds by sku or by barcode, exactly one of them", "[catalog]") {
  catalog_fixture f;
  create_product_request req;
  req.sku = "BOOK-1";
  req.name = "A book";
  req.price = {2500, "EUR"};
  req.tax_class = "zero";
  req.barcode = "9780201379624";
  auto p = f.call<create_product>(req);
  REQUIRE(p);
  find_variant_request by_sku;
  by_sku.sku = "BOOK-1";
  auto a = f.call<find_variant>(by_sku);
  REQUIRE(a);
  CHECK(a->item.id == p->item.variants[0].id);
  CHECK(a->product_name == "A book");
  CHECK(a->tax_class == "zero");
  CHECK(a->status == product_status::active);
  find_variant_request by_code;
  by_code.barcode = "9780201379624";
  auto b = f.call<find_variant>(by_code);
  REQUIRE(b);
  CHECK(*b == *a);

  find_variant_request neither;
  auto n = f.call<find_variant>(neither);
  REQUIRE_FALSE(n);
  CHECK(n.err().code == errc::invalid_argument);
  find_variant_request both = by_sku;
  both.barcode = "9780201379624";
  auto bo = f.call<find_variant>(both);
  REQUIRE_FALSE(bo);
  CHECK(bo.err().code == errc::invalid_argument);
  find_variant_request bad_digit;
  bad_digit.barcode = "9780201379625";
  auto bd = f.call<find_variant>(bad_digit);
  REQUIRE_FALSE(bd);
  CHECK(names(bd.err(), "barcode"));
  find_variant_request unknown;
  unknown.barcode = std::string(ean_good);
  auto u = f.call<find_variant>(unknown);
  REQUIRE_FALSE(u);
  CHECK(u.err().code == errc::not_found);
}

TEST_CASE("the variants migration makes each existing product its default variant", "[catalog]") {
  auto dir = std::filesystem::temp_directory_path() / ("agora-catalog-migrate-" + new_id("tmp"));
  std::filesystem::create_directories(dir);
  auto file = dir / "catalog.db";
  auto all = db::migrations();
  REQUIRE(all.size() >= 3);
  {
    std::vector<store::migration> before_variants(all.begin(), all.begin() + 2);
    store::database old(file, "catalog", before_variants);
    for (int i = 0; i < 2; ++i) {
      old.prepare(
             "INSERT INTO products(id, sku, name, description, price_amount, price_currency, category_id, status, "
             "version, created_at, updated_at) VALUES (?1, ?2, 'Old', '', ?3, 'EUR', NULL, 'active', 4, "
             "'2025-01-01T00:00:00.000Z', '2025-01-02T00:00:00.000Z')")
          .bind_all(i == 0 ? "prod_01JD0000000000000000000000" : "prod_01JD0000000000000000000001",
                    i == 0 ? "OLD-1" : "OLD-2", static_cast<std::int64_t>(100 + i))
          .run();
    }
  }
  {
    store::database now(file, "catalog", all);
    auto p = sql::find_product(now, "prod_01JD0000000000000000000001");
    REQUIRE(p);
    CHECK(p->tax_class == "standard");
    CHECK(p->version == 4);
    REQUIRE(p->variants.size() == 1);
    const auto& v = p->variants[0];
    CHECK(v.id == "var_01JD0000000000000000000001");
    CHECK(is_well_formed_id(v.id, "var"));
    CHECK(v.is_default);
    CHECK(v.sku == "OLD-2");
    CHECK(v.price == money{101, "EUR"});
    CHECK_FALSE(v.barcode);
    CHECK(v.created_at == "2025-01-01T00:00:00.000Z");
    auto by_sku = sql::find_variant_by_sku(now, "OLD-1");
    REQUIRE(by_sku);
    CHECK(by_sku->product_id == "prod_01JD0000000000000000000000");
  }
  // The module opens the migrated file and keeps answering for the old products.
  {
    testing::fixture_options opts;
    opts.data_dir = dir;
    testing::module_fixture f(catalog::module(), opts);
    find_variant_request q;
    q.sku = "OLD-1";
    auto found = f.call<find_variant>(q);
    REQUIRE(found);
    CHECK(found->item.is_default);
    update_product_request up;
    up.id = "prod_01JD0000000000000000000000";
    up.price = money{150, "EUR"};
    auto changed = f.call<update_product>(up);
    REQUIRE(changed);
    CHECK(changed->item.variants[0].price == money{150, "EUR"});
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("the category filter includes the category's subtree", "[catalog]") {
  catalog_fixture f;
  auto cat = [&](std::string name, std::optional<std::string> parent) {
    create_category_request r;
    r.name = std::move(name);
    r.parent_id = std::move(parent);
    auto c = f.call<create_category>(r);
    REQUIRE(c);
    return c->id;
  };
  auto kitchen = cat("Kitchen", std::nullopt);
  auto cups = cat("Cups", kitchen);
  auto espresso = cat("Espresso cups", cups);
  auto garden = cat("Garden", std::nullopt);
  f.create("K-1", kitchen);
  f.create("C-1", cups);
  f.create("E-1", espresso);
  f.create("G-1", garden);
  f.create("N-1");
  auto list = [&](std::string category) {
    list_products_request r;
    r.category_id = std::move(category);
    auto page = f.call<list_products>(r);
    REQUIRE(page);
    return ids_of(page->data);
  };
  CHECK(list(kitchen) == std::set<std::string>{"K-1", "C-1", "E-1"});
  CHECK(list(cups) == std::set<std::string>{"C-1", "E-1"});
  CHECK(list(espresso) == std::set<std::string>{"E-1"});
  CHECK(list(garden) == std::set<std::string>{"G-1"});
  search_products_request s;
  s.query = "product";
  s.category_id = cups;
  auto hits = f.call<search_products>(s);
  REQUIRE(hits);
  std::set<std::string> found;
  for (const auto& h : hits->data) found.insert(h.item.sku);
  CHECK(found == std::set<std::string>{"C-1", "E-1"});
}

TEST_CASE("the price range keeps products with a variant priced inside it, in the named currency", "[catalog]") {
  catalog_fixture f;
  auto cheap = f.create("CHEAP");  // 1000 EUR cents
  auto dear = f.create("DEAR");
  update_product_request up;
  up.id = dear.id;
  up.price = money{5000, "EUR"};
  REQUIRE(f.call<update_product>(up));
  REQUIRE(f.call<create_variant>(variant_req(dear.id, "DEAR-SMALL", 2500)));
  create_product_request usd;
  usd.sku = "USD";
  usd.name = "Dollar thing";
  usd.price = {2500, "USD"};
  REQUIRE(f.call<create_product>(usd));
  auto range = [&](std::optional<std::int64_t> lo, std::optional<std::int64_t> hi, std::string currency) {
    list_products_request r;
    r.price_min = lo;
    r.price_max = hi;
    r.currency = std::move(currency);
    auto page = f.call<list_products>(r);
    REQUIRE(page);
    return ids_of(page->data);
  };
  CHECK(range(2000, 3000, "EUR") == std::set<std::string>{"DEAR"});  // by its 2500 variant
  CHECK(range(1000, 1000, "EUR") == std::set<std::string>{"CHEAP"});
  CHECK(range(std::nullopt, 999, "EUR").empty());
  CHECK(range(4000, std::nullopt, "EUR") == std::set<std::string>{"DEAR"});
  CHECK(range(2000, 3000, "USD") == std::set<std::string>{"USD"});

  list_products_request no_currency;
  no_currency.price_min = 1;
  auto refused = f.call<list_products>(no_currency);
  REQUIRE_FALSE(refused);
  CHECK(names(refused.err(), "currency"));
  list_products_request only_currency;
  only_currency.currency = "EUR";
  auto refused2 = f.call<list_products>(only_currency);
  REQUIRE_FALSE(refused2);
  CHECK(names(refused2.err(), "currency"));
  list_products_request upside_down;
  upside_down.price_min = 10;
  upside_down.price_max = 5;
  upside_down.currency = "EUR";
  auto refused3 = f.call<list_products>(upside_down);
  REQUIRE_FALSE(refused3);
  CHECK(names(refused3.err(), "price_max"));
  search_products_request s;
  s.query = "product";
  s.price_max = 1500;
  s.currency = "EUR";
  auto hits = f.call<search_products>(s);
  REQUIRE(hits);
  REQUIRE(hits->data.size() == 1);
  CHECK(hits->data[0].item.sku == "CHEAP");
  (void)cheap;
}

TEST_CASE("the in-stock filter follows inventory's stock events, each handled once", "[catalog]") {
  catalog_fixture f;
  auto p = f.create("SHOE");
  REQUIRE(f.call<create_variant>(variant_req(p.id, "SHOE-42", 9000)));
  f.create("HAT");
  auto in_stock = [&](bool want) {
    list_products_request r;
    r.in_stock = want;
    auto page = f.call<list_products>(r);
    REQUIRE(page);
    return ids_of(page->data);
  };
  CHECK(in_stock(true).empty());
  CHECK(in_stock(false) == std::set<std::string>{"SHOE", "HAT"});

  const std::string t = "2025-12-01T10:00:00.000Z";
  auto first = stock_event("evt_01JD0000000000000000000001", "SHOE-42", "web", 3, t);
  publish_and_settle(f.kit().bus(), first);
  CHECK(in_stock(true) == std::set<std::string>{"SHOE"});
  CHECK(in_stock(false) == std::set<std::string>{"HAT"});
  search_products_request s;
  s.query = "product";
  s.in_stock = true;
  auto hits = f.call<search_products>(s);
  REQUIRE(hits);
  REQUIRE(hits->data.size() == 1);
  CHECK(hits->data[0].item.sku == "SHOE");

  // Sold out at the same instant; then the first event is delivered again: the inbox
  // claims its id, so it does nothing and the level stays 0.
  publish_and_settle(f.kit().bus(), stock_event("evt_01JD0000000000000000000002", "SHOE-42", "web", 0, t));
  CHECK(in_stock(true).empty());
  publish_and_settle(f.kit().bus(), first);
  CHECK(in_stock(true).empty());
  CHECK(f.count("SELECT available FROM stock_levels WHERE sku = 'SHOE-42' AND location = 'web'") == 0);
  // An older event that arrives late never overwrites a newer level.
  publish_and_settle(f.kit().bus(),
                     stock_event("evt_01JD0000000000000000000003", "SHOE-42", "web", 8, "2025-12-01T09:00:00.000Z"));
  CHECK(in_stock(true).empty());
  // Another location with stock puts it back in stock.
  publish_and_settle(f.kit().bus(), stock_event("evt_01JD0000000000000000000004", "SHOE-42", "store-1", 1, t));
  CHECK(in_stock(true) == std::set<std::string>{"SHOE"});
  CHECK(f.count("SELECT count(*) FROM stock_levels") == 2);
}

TEST_CASE("search pages follow the relevance order and cover every hit once", "[catalog]") {
  catalog_fixture f;
  for (int i = 0; i < 23; ++i) {
    create_product_request r;
    r.sku = "LAMP-" + std::to_string(i);
    r.name = i % 3 == 0 ? "Lamp lamp desk" : "Lamp";
    r.description = "A lamp number " + std::to_string(i);
    r.price = {1000, "EUR"};
    REQUIRE(f.call<create_product>(r));
  }
  f.create("OTHER");
  auto all_at_once = [&] {
    search_products_request s;
    s.query = "lamp";
    s.limit = 50;
    auto r = f.call<search_products>(s);
    REQUIRE(r);
    CHECK_FALSE(r->next_cursor);
    return r->data;
  }();
  REQUIRE(all_at_once.size() == 23);
  std::vector<std::string> paged;
  std::string cursor;
  int pages = 0;
  do {
    search_products_request s;
    s.query = "lamp";
    s.limit = 5;
    s.cursor = cursor;
    auto r = f.call<search_products>(s);
    REQUIRE(r);
    for (const auto& h : r->data) paged.push_back(h.item.id);
    cursor = r->next_cursor.value_or("");
    ++pages;
  } while (!cursor.empty() && pages < 10);
  CHECK(pages == 5);
  REQUIRE(paged.size() == 23);
  for (std::size_t i = 0; i < paged.size(); ++i) CHECK(paged[i] == all_at_once[i].item.id);

  // The any-word mode carries over to the next page.
  search_products_request any;
  any.query = "desk nothingmatches";
  any.limit = 3;
  auto first = f.call<search_products>(any);
  REQUIRE(first);
  CHECK_FALSE(first->all_words);
  REQUIRE(first->next_cursor);
  std::set<std::string> desk;
  for (const auto& h : first->data) desk.insert(h.item.id);
  any.cursor = *first->next_cursor;
  for (int page = 0; page < 5 && !any.cursor.empty(); ++page) {
    auto next = f.call<search_products>(any);
    REQUIRE(next);
    CHECK_FALSE(next->all_words);
    for (const auto& h : next->data) desk.insert(h.item.id);
    any.cursor = next->next_cursor.value_or("");
  }
  CHECK(desk.size() == 8);  // "desk" is in the names of LAMP-0, -3, … -21

  search_products_request other;
  other.query = "desk";
  other.cursor = *first->next_cursor;
  auto refused = f.call<search_products>(other);
  REQUIRE_FALSE(refused);
  CHECK(names(refused.err(), "cursor"));
  other.cursor = "garbage";
  auto refused2 = f.call<search_products>(other);
  REQUIRE_FALSE(refused2);
  CHECK(names(refused2.err(), "cursor"));
}

TEST_CASE("an import reports bad rows by line, imports the rest, and a re-import changes nothing", "[catalog]") {
  catalog_fixture f;
  create_category_request cat;
  cat.name = "Lighting";
  REQUIRE(f.call<create_category>(cat));
  auto& variants = f.kit().subscribe(std::string(variants_topic));
  const std::string csv =
      "sku,name,price,currency,description,category,tax_class,barcode,product_sku,variant_name\n"
      "LAMP,Desk lamp,2999,EUR,\"Bright, warm \"\"LED\"\" light\nwith a second line\",Lighting,reduced,,,\n"
      "LAMP-RED,,3199,EUR,,,,4006381333931,LAMP,Red\n"
      "\n"
      "BAD SKU,Broken,100,EUR,,,,,,\n"
      "NOPRICE,No price,,,,,,,,\n"
      "BADCODE,Bad code,100,EUR,,,,4006381333932,,\n"
      "ORPHAN,,100,EUR,,,,,NOSUCH,\n"
      "SHORT,Short row\n"
      "BULB,Bulb,499,EUR,,Nowhere,,,,\n"
      "TAX,Tax,100,EUR,,,luxury,,,\n"
      "PLAIN,Plain,100,EUR,,,,,,\r\n";
  import_products_request req{"csv", csv};
  auto r = f.call<import_products>(req);
  REQUIRE(r);
  CHECK(r->rows == 10);
  CHECK(r->created == 3);
  CHECK(r->updated == 0);
  CHECK(r->error_count == 7);
  std::vector<std::int64_t> lines;
  for (const auto& e : r->errors) lines.push_back(e.line);
  CHECK(lines == std::vector<std::int64_t>{6, 7, 8, 9, 10, 11, 12});
  CHECK(r->errors[0].reason.find("sku") != std::string::npos);
  CHECK(r->errors[2].reason.find("must end with 1") != std::string::npos);
  CHECK(r->errors[3].reason.find("product_sku") != std::string::npos);
  CHECK(r->errors[4].reason.find("fields") != std::string::npos);
  CHECK(r->errors[5].reason.find("category") != std::string::npos);
  CHECK(r->errors[6].reason.find("tax_class") != std::string::npos);

  find_variant_request q;
  q.sku = "LAMP";
  auto lamp = f.call<find_variant>(q);
  REQUIRE(lamp);
  CHECK(lamp->tax_class == "reduced");
  auto product = f.call<get_product>({lamp->item.product_id});
  REQUIRE(product);
  CHECK(product->item.description == "Bright, warm \"LED\" light\nwith a second line");
  CHECK(product->item.category_id);
  REQUIRE(product->item.variants.size() == 2);
  CHECK(product->item.variants[1].sku == "LAMP-RED");
  CHECK(product->item.variants[1].name == "Red");
  CHECK(product->item.variants[1].barcode == "4006381333931");
  REQUIRE(f.kit().settle());
  auto events_after_first = variants.size();
  CHECK(events_after_first == 3);

  auto again = f.call<import_products>(req);
  REQUIRE(again);
  CHECK(again->created == 0);
  CHECK(again->updated == 0);
  CHECK(again->unchanged == 3);
  CHECK(again->error_count == 7);
  CHECK(f.count("SELECT count(*) FROM variants") == 3);
  CHECK(f.count("SELECT count(*) FROM products") == 2);

  const std::string jsonl =
      R"({"sku": "LAMP", "price": 2799, "currency": "EUR"})"
      "\n"
      R"({"sku": "LAMP-BLUE", "product_sku": "LAMP", "price": 3199, "currency": "EUR", "variant_name": "Blue"})"
      "\n"
      "not json\n"
      R"({"sku": "X", "colour": "red"})"
      "\n";
  auto j = f.call<import_products>({"jsonl", jsonl});
  REQUIRE(j);
  CHECK(j->updated == 1);
  CHECK(j->created == 1);
  CHECK(j->error_count == 2);
  REQUIRE(j->errors.size() == 2);
  CHECK(j->errors[0].line == 3);
  CHECK(j->errors[1].line == 4);
  auto repriced = f.call<find_variant>(q);
  REQUIRE(repriced);
  CHECK(repriced->item.price == money{2799, "EUR"});

  auto bad_header = f.call<import_products>({"csv", "sku,prise\nA,1\n"});
  REQUIRE(bad_header);
  CHECK(bad_header->created == 0);
  REQUIRE(bad_header->errors.size() == 1);
  CHECK(bad_header->errors[0].line == 1);
  auto open_quote = f.call<import_products>({"csv", "sku,name,price,currency\nQ,\"never closed,1,EUR\n"});
  REQUIRE(open_quote);
  REQUIRE(open_quote->errors.size() == 1);
  CHECK(open_quote->errors[0].line == 2);
  auto bad_format = f.call<import_products>({"xml", ""});
  REQUIRE_FALSE(bad_format);
  CHECK(names(bad_format.err(), "format"));
}

TEST_CASE("agora catalog import reads a regular file a line at a time", "[catalog]") {
  auto dir = std::filesystem::temp_directory_path() / ("agora-catalog-import-" + new_id("tmp"));
  std::filesystem::create_directories(dir);
  auto file = dir / "products.data";  // no extension: the format is sniffed
  {
    std::ofstream out(file);
    out << R"({"sku": "A-1", "name": "First", "price": 100, "currency": "EUR"})" << '\n';
    out << R"({"sku": "A-2", "name": "Second", "price": "x", "currency": "EUR"})" << '\n';
    out << R"({"sku": "A-3", "name": "Third", "price": 300, "currency": "EUR"})";  // no final newline
  }
  auto command = [&](std::vector<std::string> args, std::string& out, std::string& err) {
    std::vector<module_definition> modules;
    modules.push_back(catalog::module());
    config::config cfg(all_settings(modules));
    cfg.set("data_dir", dir.string());
    app a(std::move(cfg), std::move(modules));
    std::ostringstream o, e;
    int rc = a.run_command("catalog", "import", std::move(args), o, e);
    out = o.str();
    err = e.str();
    return rc;
  };
  std::string out, err;
  CHECK(command({file.string()}, out, err) == 1);
  CHECK(out == "rows: 3\ncreated: 2\nupdated: 0\nunchanged: 0\nrefused: 1\n");
  CHECK(err == "line 2 (A-2): price: must be an integer amount of minor units\n");
  CHECK(command({file.string()}, out, err) == 1);
  CHECK(out.find("created: 0\nupdated: 0\nunchanged: 2\n") != std::string::npos);

  CHECK(command({dir.string()}, out, err) == 1);
  CHECK(err.find("not a regular file") != std::string::npos);
  auto link = dir / "link.jsonl";
  std::filesystem::create_symlink(file, link);
  CHECK(command({link.string()}, out, err) == 1);
  CHECK(err.find("cannot open") != std::string::npos);
  CHECK(command({}, out, err) == 2);
  CHECK(err.find("usage: agora catalog import FILE") != std::string::npos);
  std::filesystem::remove_all(dir);
}
