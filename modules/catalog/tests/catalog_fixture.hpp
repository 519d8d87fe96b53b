#pragma once

#include <catalog/api.hpp>

#include <agora/testing.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <optional>

// The harness of the catalog's service tests (service_test.cpp, search_test.cpp): the
// catalog on the real runtime through agora::testing::module_fixture, driven over the
// bus from the test thread, with a subscriber on each of its topics.
namespace agora::catalog::test {

class catalog_fixture {
 public:
  explicit catalog_fixture(std::vector<std::pair<std::string, nlohmann::json>> settings = {})
      : kit_(catalog::module(), {.settings = std::move(settings)}),
        products_(kit_.subscribe(std::string(products_topic))),
        categories_(kit_.subscribe(std::string(categories_topic))) {}

  template <class M>
  result<typename M::reply> call(typename M::request req, bus::request_options opts = {}) {
    return kit_.call<M>(std::move(req), std::move(opts));
  }

  product create(std::string sku, std::optional<std::string> category_id = std::nullopt,
                 product_status status = product_status::active) {
    create_product_request r;
    r.sku = std::move(sku);
    r.name = "Product " + r.sku;
    r.price = {1000, "EUR"};
    r.category_id = std::move(category_id);
    r.status = status;
    auto out = call<create_product>(std::move(r));
    REQUIRE(out);
    return out->item;
  }

  // Every event the catalog has committed so far, once its outbox has been published:
  // products' events in commit order, then categories'.
  std::vector<bus::event> published() {
    REQUIRE(kit_.settle());
    auto out = products_.events();
    auto more = categories_.events();
    out.insert(out.end(), more.begin(), more.end());
    return out;
  }

  std::int64_t count(std::string sql) {
    auto n = kit_.store().run_sync([sql](store::database& db) {
      auto& q = db.prepare(sql);
      q.step();
      auto v = q.int64(0);
      q.reset();
      return v;
    });
    REQUIRE(n);
    return *n;
  }

  std::uint64_t cache_misses() {
    return kit_.metrics().counter_of("agora_catalog_cache_misses_total", "", {{"replica", "catalog#0"}}).value();
  }

  testing::module_fixture& kit() { return kit_; }

 private:
  testing::module_fixture kit_;
  testing::event_log& products_;
  testing::event_log& categories_;
};

inline bool names(const error& e, std::string_view field) {
  return std::any_of(e.fields.begin(), e.fields.end(), [&](const field_error& f) { return f.field == field; });
}

}  // namespace agora::catalog::test
