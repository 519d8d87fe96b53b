#include "catalog_fixture.hpp"

#include <catalog/api.hpp>

#include <agora/ids.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <optional>
#include <set>

using namespace agora;
using namespace agora::catalog;
using namespace agora::catalog::test;
namespace asio = boost::asio;

TEST_CASE("a created product can be read back with version 1 and RFC 3339 times", "[catalog]") {
  catalog_fixture f;
  create_product_request r;
  r.sku = "MUG-1";
  r.name = "  Mug  ";
  r.description = "Stoneware";
  r.price = {1250, "EUR"};
  auto created = f.call<create_product>(r);
  REQUIRE(created);
  const auto& p = created->item;
  CHECK(p.id.starts_with("prod_"));
  CHECK(p.name == "Mug");
  CHECK(p.version == 1);
  CHECK(p.status == product_status::active);
  CHECK(p.created_at.ends_with("Z"));
  CHECK(p.created_at == p.updated_at);
  REQUIRE(created->json);
  CHECK(nlohmann::json::parse(*created->json) == nlohmann::json(p));

  auto got = f.call<get_product>({p.id});
  REQUIRE(got);
  CHECK(got->item == p);

  auto missing = f.call<get_product>({"prod_01JD0000000000000000000000"});
  REQUIRE_FALSE(missing);
  CHECK(missing.err().code == errc::not_found);
}

TEST_CASE("invalid product requests are refused naming every bad field", "[catalog]") {
  catalog_fixture f;
  create_product_request r;
  r.sku = "no spaces";
  r.name = "";
  r.price = {-1, "EURO"};
  auto out = f.call<create_product>(r);
  REQUIRE_FALSE(out);
  CHECK(out.err().code == errc::invalid_argument);
  CHECK(names(out.err(), "sku"));
  CHECK(names(out.err(), "name"));
  CHECK(names(out.err(), "price.amount"));
  CHECK(names(out.err(), "price.currency"));
}

TEST_CASE("a category_id that does not exist is an invalid field", "[catalog]") {
  catalog_fixture f;
  create_product_request r;
  r.sku = "X";
  r.name = "X";
  r.price = {1, "USD"};
  r.category_id = "cat_01JD0000000000000000000000";
  auto out = f.call<create_product>(r);
  REQUIRE_FALSE(out);
  CHECK(out.err().code == errc::invalid_argument);
  CHECK(names(out.err(), "category_id"));
  CHECK(f.count("SELECT COUNT(*) FROM products") == 0);
}

TEST_CASE("listing walks every product once over several pages", "[catalog]") {
  catalog_fixture f;
  std::vector<std::string> created;
  for (int i = 0; i < 47; ++i) created.push_back(f.create(fmt::format("SKU-{:03}", i)).id);

  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  for (;;) {
    list_products_request r;
    r.limit = 10;
    r.cursor = cursor;
    auto page = f.call<list_products>(r);
    REQUIRE(page);
    ++pages;
    CHECK(page->data.size() <= 10);
    for (const auto& p : page->data) seen.push_back(p.id);
    if (!page->next_cursor) break;
    cursor = *page->next_cursor;
    REQUIRE(pages < 10);
  }
  CHECK(pages == 5);
  // Id order: creation order to the millisecond (ids made in one millisecond sort randomly).
  std::sort(created.begin(), created.end());
  CHECK(seen == created);
  CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == 47);

  list_products_request whole;
  auto first = f.call<list_products>(whole);
  REQUIRE(first);
  CHECK(first->data.size() == 20);
}

TEST_CASE("listing with an exact multiple of the page size ends without an empty page", "[catalog]") {
  catalog_fixture f;
  for (int i = 0; i < 20; ++i) f.create(fmt::format("E-{}", i));
  list_products_request r;
  r.limit = 10;
  auto one = f.call<list_products>(r);
  REQUIRE(one);
  REQUIRE(one->next_cursor);
  r.cursor = *one->next_cursor;
  auto two = f.call<list_products>(r);
  REQUIRE(two);
  CHECK(two->data.size() == 10);
  CHECK_FALSE(two->next_cursor);
}

TEST_CASE("listing filters by category and status", "[catalog]") {
  catalog_fixture f;
  create_category_request cr;
  cr.name = "Mugs";
  auto mugs = f.call<create_category>(cr);
  REQUIRE(mugs);
  f.create("A", mugs->id);
  f.create("B", mugs->id, product_status::archived);
  f.create("C");

  list_products_request by_category;
  by_category.category_id = mugs->id;
  auto in_mugs = f.call<list_products>(by_category);
  REQUIRE(in_mugs);
  CHECK(in_mugs->data.size() == 2);

  list_products_request archived;
  archived.status = product_status::archived;
  auto out = f.call<list_products>(archived);
  REQUIRE(out);
  REQUIRE(out->data.size() == 1);
  CHECK(out->data[0].sku == "B");
}

TEST_CASE("a page limit out of range or a malformed cursor is refused", "[catalog]") {
  catalog_fixture f({{"modules.catalog.page_limit_max", 50}});
  for (std::int64_t bad : {0, -1, 51}) {
    list_products_request r;
    r.limit = bad;
    auto out = f.call<list_products>(r);
    REQUIRE_FALSE(out);
    CHECK(out.err().code == errc::invalid_argument);
    CHECK(names(out.err(), "limit"));
  }
  list_products_request ok;
  ok.limit = 50;
  CHECK(f.call<list_products>(ok));

  for (std::string bad :
       std::vector<std::string>{"!!!", "bm90LWFuLWlk", encode_cursor("cat_01JD0000000000000000000000")}) {
    list_products_request r;
    r.cursor = bad;
    auto out = f.call<list_products>(r);
    REQUIRE_FALSE(out);
    CHECK(names(out.err(), "cursor"));
  }
}

TEST_CASE("an update with a stale version is refused and changes nothing", "[catalog]") {
  catalog_fixture f;
  auto p = f.create("UPD");
  auto before = f.published().size();

  update_product_request stale;
  stale.id = p.id;
  stale.expected_version = 7;
  stale.name = "New";
  auto refused = f.call<update_product>(stale);
  REQUIRE_FALSE(refused);
  CHECK(refused.err().code == errc::failed_precondition);
  CHECK(f.published().size() == before);

  update_product_request good;
  good.id = p.id;
  good.expected_version = 1;
  good.name = "New";
  good.price = money{500, "USD"};
  auto updated = f.call<update_product>(good);
  REQUIRE(updated);
  CHECK(updated->item.version == 2);
  CHECK(updated->item.name == "New");
  CHECK(updated->item.price == money{500, "USD"});
  CHECK(updated->item.sku == "UPD");
  CHECK(updated->item.created_at == p.created_at);

  auto got = f.call<get_product>({p.id});
  REQUIRE(got);
  CHECK(got->item.version == 2);
  CHECK(got->item.name == "New");

  update_product_request same;
  same.id = p.id;
  same.name = "New";
  auto unchanged = f.call<update_product>(same);
  REQUIRE(unchanged);
  CHECK(unchanged->item.version == 2);
  CHECK(f.published().size() == before + 1);

  update_product_request clear;
  clear.id = p.id;
  clear.status = product_status::archived;
  auto archived = f.call<update_product>(clear);
  REQUIRE(archived);
  CHECK(archived->item.version == 3);
  CHECK(archived->item.status == product_status::archived);
}

TEST_CASE("a deleted product is gone, and a stale delete is refused", "[catalog]") {
  catalog_fixture f;
  auto p = f.create("DEL");
  REQUIRE(f.call<get_product>({p.id}));

  auto stale = f.call<delete_product>({p.id, 5});
  REQUIRE_FALSE(stale);
  CHECK(stale.err().code == errc::failed_precondition);

  auto gone = f.call<delete_product>({p.id, 1});
  REQUIRE(gone);
  CHECK(gone->id == p.id);
  CHECK(gone->version == 1);

  auto after = f.call<get_product>({p.id});
  REQUIRE_FALSE(after);
  CHECK(after.err().code == errc::not_found);
  auto again = f.call<delete_product>({p.id, std::nullopt});
  REQUIRE_FALSE(again);
  CHECK(again.err().code == errc::not_found);
}

TEST_CASE("a duplicate sku is a conflict, on create and on update", "[catalog]") {
  catalog_fixture f;
  f.create("DUP");
  auto other = f.create("OTHER");
  auto before = f.published().size();

  create_product_request r;
  r.sku = "DUP";
  r.name = "Again";
  r.price = {1, "EUR"};
  auto dup = f.call<create_product>(r);
  REQUIRE_FALSE(dup);
  CHECK(dup.err().code == errc::conflict);

  update_product_request u;
  u.id = other.id;
  u.sku = "DUP";
  auto clash = f.call<update_product>(u);
  REQUIRE_FALSE(clash);
  CHECK(clash.err().code == errc::conflict);

  CHECK(f.count("SELECT COUNT(*) FROM products") == 2);
  CHECK(f.published().size() == before);
}

TEST_CASE("each change writes its event to the outbox in the same transaction", "[catalog]") {
  catalog_fixture f;
  bus::request_options opts;
  opts.tr = {"req-catalog-1", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"};
  create_product_request r;
  r.sku = "EVT";
  r.name = "Evented";
  r.price = {300, "GBP"};
  auto created = f.call<create_product>(r, opts);
  REQUIRE(created);
  const auto id = created->item.id;

  update_product_request u;
  u.id = id;
  u.description = "now described";
  auto updated = f.call<update_product>(u);
  REQUIRE(updated);
  REQUIRE(f.call<delete_product>({id, 2}));

  auto events = f.published();
  REQUIRE(events.size() == 3);
  CHECK(events[0].type == "product.created");
  CHECK(events[1].type == "product.updated");
  CHECK(events[2].type == "product.deleted");
  std::set<std::string> ids;
  for (const auto& ev : events) {
    CHECK(ev.id.starts_with("evt_"));
    CHECK(ev.source == "agora/catalog");
    CHECK(ev.topic == "catalog.products");
    CHECK(ev.subject == id);
    CHECK(ev.data["id"] == id);
    ids.insert(ev.id);
  }
  CHECK(ids.size() == 3);
  CHECK(events[0].tr.request_id == "req-catalog-1");
  CHECK(events[0].data == nlohmann::json(created->item));
  CHECK(events[0].time == created->item.created_at);
  CHECK(events[1].data == nlohmann::json(updated->item));
  CHECK(events[1].data["version"] == 2);
  CHECK(events[2].data["version"] == 2);
}

TEST_CASE("a failed write leaves neither a row nor an outbox event", "[catalog]") {
  catalog_fixture f;
  auto p = f.create("KEEP");
  REQUIRE(f.published().size() == 1);

  create_product_request dup;
  dup.sku = "KEEP";
  dup.name = "Dup";
  dup.price = {1, "EUR"};
  CHECK_FALSE(f.call<create_product>(dup));

  create_product_request bad_category;
  bad_category.sku = "NEW";
  bad_category.name = "New";
  bad_category.price = {1, "EUR"};
  bad_category.category_id = "cat_01JD0000000000000000000000";
  CHECK_FALSE(f.call<create_product>(bad_category));

  update_product_request stale;
  stale.id = p.id;
  stale.expected_version = 9;
  stale.name = "Changed";
  CHECK_FALSE(f.call<update_product>(stale));
  CHECK_FALSE(f.call<delete_product>({p.id, 9}));

  CHECK(f.published().size() == 1);
  CHECK(f.count("SELECT COUNT(*) FROM products") == 1);
  CHECK(f.count("SELECT version FROM products") == 1);
}

TEST_CASE("reads are served from the cache, which follows every write", "[catalog]") {
  catalog_fixture f;
  auto p = f.create("CACHED");
  auto misses = f.cache_misses();
  for (int i = 0; i < 5; ++i) REQUIRE(f.call<get_product>({p.id}));
  CHECK(f.cache_misses() == misses);

  update_product_request u;
  u.id = p.id;
  u.name = "Renamed";
  REQUIRE(f.call<update_product>(u));
  auto got = f.call<get_product>({p.id});
  REQUIRE(got);
  CHECK(got->item.name == "Renamed");
  CHECK(nlohmann::json::parse(*got->json)["name"] == "Renamed");

  REQUIRE(f.call<delete_product>({p.id, std::nullopt}));
  CHECK_FALSE(f.call<get_product>({p.id}));
}

TEST_CASE("a cache of size zero still answers every read from the store", "[catalog]") {
  catalog_fixture f({{"modules.catalog.cache_size", 0}});
  auto p = f.create("NOCACHE");
  auto misses = f.cache_misses();
  REQUIRE(f.call<get_product>({p.id}));
  REQUIRE(f.call<get_product>({p.id}));
  CHECK(f.cache_misses() == misses + 2);
}

TEST_CASE("categories: parents must exist and never form a cycle", "[catalog]") {
  catalog_fixture f;
  create_category_request root_req;
  root_req.name = "Kitchen";
  auto root = f.call<create_category>(root_req);
  REQUIRE(root);
  CHECK(root->id.starts_with("cat_"));

  create_category_request child_req;
  child_req.name = "Mugs";
  child_req.parent_id = root->id;
  auto child = f.call<create_category>(child_req);
  REQUIRE(child);

  create_category_request orphan;
  orphan.name = "Orphan";
  orphan.parent_id = "cat_01JD0000000000000000000000";
  auto refused = f.call<create_category>(orphan);
  REQUIRE_FALSE(refused);
  CHECK(names(refused.err(), "parent_id"));

  update_category_request cycle;
  cycle.id = root->id;
  cycle.parent_id = std::optional<std::string>{child->id};
  auto cyc = f.call<update_category>(cycle);
  REQUIRE_FALSE(cyc);
  CHECK(cyc.err().code == errc::invalid_argument);
  CHECK(names(cyc.err(), "parent_id"));

  update_category_request self;
  self.id = root->id;
  self.parent_id = std::optional<std::string>{root->id};
  CHECK_FALSE(f.call<update_category>(self));

  update_category_request detach;
  detach.id = child->id;
  detach.parent_id = std::optional<std::string>{};
  auto detached = f.call<update_category>(detach);
  REQUIRE(detached);
  CHECK_FALSE(detached->parent_id);
  CHECK(detached->version == 2);

  auto dup = f.call<create_category>(root_req);
  REQUIRE_FALSE(dup);
  CHECK(dup.err().code == errc::conflict);
}

TEST_CASE("a category still in use cannot be deleted", "[catalog]") {
  catalog_fixture f;
  create_category_request req;
  req.name = "Toys";
  auto toys = f.call<create_category>(req);
  REQUIRE(toys);
  req.name = "Puzzles";
  req.parent_id = toys->id;
  auto puzzles = f.call<create_category>(req);
  REQUIRE(puzzles);
  auto p = f.create("PUZZLE-1", puzzles->id);

  auto with_products = f.call<delete_category>({puzzles->id, std::nullopt});
  REQUIRE_FALSE(with_products);
  CHECK(with_products.err().code == errc::conflict);
  auto with_children = f.call<delete_category>({toys->id, std::nullopt});
  REQUIRE_FALSE(with_children);
  CHECK(with_children.err().code == errc::conflict);

  REQUIRE(f.call<delete_product>({p.id, std::nullopt}));
  REQUIRE(f.call<delete_category>({puzzles->id, 1}));
  REQUIRE(f.call<delete_category>({toys->id, 1}));
  CHECK(f.count("SELECT COUNT(*) FROM categories") == 0);

  auto events = f.published();
  auto deleted_categories = std::count_if(events.begin(), events.end(), [](const bus::event& e) {
    return e.type == "category.deleted" && e.topic == "catalog.categories";
  });
  CHECK(deleted_categories == 2);
}
