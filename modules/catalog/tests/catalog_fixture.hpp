#pragma once

#include "service.hpp"

#include <catalog/api.hpp>

#include <agora/app.hpp>
#include <agora/ids.hpp>
#include <agora/local_bus.hpp>

#include "agora_catalog_migrations.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <random>
#include <thread>

// The harness of the catalog's service tests (service_test.cpp, search_test.cpp).
namespace agora::catalog::test {

namespace asio = boost::asio;

// A catalog replica on a real local bus and a real store worker in a temporary directory,
// driven from the test thread. No outbox relay runs, so committed events stay in the outbox.
class catalog_fixture {
 public:
  explicit catalog_fixture(std::vector<std::pair<std::string, nlohmann::json>> settings = {})
      : def_(catalog::module()), cfg_(all_settings({def_})) {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() / fmt::format("agora-catalog-{:x}{:x}", rd(), rd());
    std::filesystem::create_directories(dir_);
    for (const auto& [key, value] : settings) cfg_.set(key, value);
    work_.emplace(io_.get_executor());
    thread_ = std::thread([this] { io_.run(); });
    bus_ = bus::make_local_bus(io_.get_executor(), {}, metrics_);
    store_ = std::make_unique<store::worker>("catalog", dir_ / "catalog.db", db::migrations(), metrics_);
    store_->start();
    strand_ = asio::make_strand(io_.get_executor());
    ctx_ = std::make_unique<module_context>("catalog", 0, strand_, *bus_, *store_, metrics_, cfg_);
    instance_ = def_.create(*ctx_);
    asio::co_spawn(strand_, instance_->start(), asio::use_future).get();
  }

  ~catalog_fixture() {
    asio::co_spawn(strand_, instance_->stop(), asio::use_future).get();
    store_->stop();
    work_.reset();
    io_.stop();
    thread_.join();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // use_future needs a default-constructible value, which result<T> is not: hence the optional.
  template <class M>
  result<typename M::reply> call(typename M::request req, bus::request_options opts = {}) {
    auto task = [](bus::bus& b, typename M::request r,
                   bus::request_options o) -> asio::awaitable<std::optional<result<typename M::reply>>> {
      co_return co_await b.call<M>(std::move(r), std::move(o));
    };
    return *asio::co_spawn(io_, task(*bus_, std::move(req), std::move(opts)), asio::use_future).get();
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

  std::vector<bus::event> outbox() {
    auto rows = store_->run_sync([](store::database& db) {
      std::vector<bus::event> out;
      auto& q = db.prepare("SELECT event FROM _agora_outbox ORDER BY seq");
      while (q.step()) out.push_back(nlohmann::json::parse(q.text(0)).get<bus::event>());
      return out;
    });
    REQUIRE(rows);
    return std::move(rows).value();
  }

  std::int64_t count(std::string sql) {
    auto n = store_->run_sync([sql](store::database& db) {
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
    return metrics_.counter_of("agora_catalog_cache_misses_total", "", {{"replica", "catalog#0"}}).value();
  }

 private:
  module_definition def_;
  config::config cfg_;
  std::filesystem::path dir_;
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
  metrics::registry metrics_;
  std::unique_ptr<bus::bus> bus_;
  std::unique_ptr<store::worker> store_;
  bus::executor strand_;
  std::unique_ptr<module_context> ctx_;
  std::unique_ptr<module_instance> instance_;
};

inline bool names(const error& e, std::string_view field) {
  return std::any_of(e.fields.begin(), e.fields.end(), [&](const field_error& f) { return f.field == field; });
}

}  // namespace agora::catalog::test
