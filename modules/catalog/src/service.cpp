#include "search_query.hpp"
#include "service.hpp"
#include "settings.hpp"
#include "store.hpp"
#include "validation.hpp"

#include <agora/ids.hpp>

#include <algorithm>

namespace agora::catalog {

namespace {

constexpr std::int64_t default_page_limit = 20;
constexpr std::int64_t default_search_limit = 10;

std::string render(const product& p) {
  return nlohmann::json(p).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::size_t cache_capacity(const module_context& ctx) {
  if (ctx.replicas() > 1) return 0;
  return static_cast<std::size_t>(std::max<std::int64_t>(0, ctx.get(settings::cache_size)));
}

}  // namespace

service::service(module_context& ctx)
    : ctx_(ctx),
      cache_(cache_capacity(ctx)),
      page_limit_max_(ctx.get(settings::page_limit_max)),
      search_limit_max_(ctx.get(settings::search_limit_max)),
      cache_hits_(ctx.metrics().counter_of("agora_catalog_cache_hits_total", "Product reads served from the cache",
                                           {{"replica", ctx.replica_name()}})),
      cache_misses_(ctx.metrics().counter_of("agora_catalog_cache_misses_total", "Product reads that went to the store",
                                             {{"replica", ctx.replica_name()}})) {}

product_reply service::remember(product p) {
  auto json = std::make_shared<const std::string>(render(p));
  cache_.put({p, json});
  return {std::move(p), std::move(json)};
}

asio::awaitable<result<product_reply>> service::create_product(create_product_request req, const bus::call_context& c) {
  if (auto errors = normalize_and_validate(req); !errors.empty()) co_return error::invalid(std::move(errors));
  auto now = ctx_.clock().now_rfc3339();
  product p{ctx_.clock().new_id("prod"),
            std::move(req.sku),
            std::move(req.name),
            std::move(req.description),
            std::move(req.price),
            std::move(req.category_id),
            req.status,
            1,
            now,
            now};
  auto ev = ctx_.event(products_topic, product_created, p.id, p, c, now);
  auto job = [p = std::move(p), ev = std::move(ev)](store::database& db) mutable {
    return db.transaction([&]() -> result<product> {
      if (p.category_id && !sql::category_exists(db, *p.category_id))
        return error::invalid({{"category_id", "no category has this id"}});
      if (sql::sku_taken(db, p.sku, p.id)) return error::conflict("a product with this sku already exists");
      sql::insert_product(db, p);
      db.enqueue_event(ev);
      return std::move(p);
    });
  };
  auto r = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!r) co_return std::move(r).err();
  co_return remember(std::move(r).value());
}

asio::awaitable<result<product_reply>> service::get_product(get_product_request req, const bus::call_context& c) {
  if (const auto* hit = cache_.find(req.id)) {
    cache_hits_.inc();
    co_return product_reply{hit->item, hit->json};
  }
  cache_misses_.inc();
  auto job = [id = std::move(req.id)](store::database& db) { return sql::find_product(db, id); };
  auto r = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!r) co_return std::move(r).err();
  if (!r.value()) co_return error::not_found("no product has this id");
  co_return remember(std::move(*r.value()));
}

asio::awaitable<result<product_page>> service::list_products(list_products_request req, const bus::call_context& c) {
  auto fetch = [category_id = std::move(req.category_id), status = req.status](
                   store::database& db, const std::string& after, std::int64_t n) {
    return sql::list_products(db, after, category_id, status, n);
  };
  page_rules rules{default_page_limit, page_limit_max_, "prod"};
  co_return co_await read_page<product>(ctx_.store(), req.limit, std::move(req.cursor), rules, std::move(fetch),
                                        c.deadline);
}

asio::awaitable<result<search_results>> service::search_products(search_products_request req,
                                                                 const bus::call_context& c) {
  std::vector<field_error> errors;
  auto match = parse_search_query(req.query, "query", errors);
  std::int64_t limit = req.limit.value_or(std::min(default_search_limit, search_limit_max_));
  if (limit < 1 || limit > search_limit_max_)
    errors.push_back({"limit", "must be an integer from 1 to " + std::to_string(search_limit_max_)});
  if (req.category_id) check_reference(*req.category_id, "cat", "category_id", errors);
  if (!errors.empty()) co_return error::invalid(std::move(errors));
  // Every word first; only when that finds nothing, any word (then all_words is false).
  auto job = [m = std::move(*match), category_id = std::move(req.category_id),
              status = req.status.value_or(product_status::active), limit](store::database& db) {
    search_results out;
    out.data = sql::search_products(db, m.all_words, category_id, status, limit);
    if (out.data.empty() && m.words > 1) {
      out.data = sql::search_products(db, m.any_word, category_id, status, limit);
      out.all_words = out.data.empty();
    }
    return out;
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

asio::awaitable<result<product_reply>> service::update_product(update_product_request req, const bus::call_context& c) {
  if (auto errors = normalize_and_validate(req); !errors.empty()) co_return error::invalid(std::move(errors));
  auto job = [req = std::move(req), now = ctx_.clock().now_rfc3339(), &ctx = ctx_, &c](store::database& db) mutable {
    return db.transaction([&]() -> result<product> {
      auto current = sql::find_product(db, req.id);
      if (!current) return error::not_found("no product has this id");
      if (req.expected_version && !req.expected_version->matches(current->version))
        return version_mismatch("the product", current->version);
      product next = *current;
      if (req.sku) next.sku = std::move(*req.sku);
      if (req.name) next.name = std::move(*req.name);
      if (req.description) next.description = std::move(*req.description);
      if (req.price) next.price = std::move(*req.price);
      if (req.category_id) next.category_id = std::move(*req.category_id);
      if (req.status) next.status = *req.status;
      if (next == *current) return std::move(*current);
      if (next.category_id && next.category_id != current->category_id && !sql::category_exists(db, *next.category_id))
        return error::invalid({{"category_id", "no category has this id"}});
      if (next.sku != current->sku && sql::sku_taken(db, next.sku, next.id))
        return error::conflict("a product with this sku already exists");
      next.version = current->version + 1;
      next.updated_at = now;
      if (!sql::update_product(db, next, current->version)) return error::internal("product row vanished");
      db.enqueue_event(ctx.event(products_topic, product_updated, next.id, next, c, now));
      return next;
    });
  };
  auto r = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!r) co_return std::move(r).err();
  co_return remember(std::move(r).value());
}

asio::awaitable<result<deleted>> service::delete_product(delete_product_request req, const bus::call_context& c) {
  auto job = [req = std::move(req), now = ctx_.clock().now_rfc3339(), &ctx = ctx_, &c](store::database& db) {
    return db.transaction([&]() -> result<deleted> {
      auto current = sql::find_product(db, req.id);
      if (!current) return error::not_found("no product has this id");
      if (req.expected_version && !req.expected_version->matches(current->version))
        return version_mismatch("the product", current->version);
      sql::delete_product(db, current->id);
      db.enqueue_event(ctx.event(products_topic, product_deleted, current->id, *current, c, now));
      return deleted{current->id, current->version};
    });
  };
  auto r = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!r) co_return std::move(r).err();
  cache_.erase(r->id);
  co_return std::move(r).value();
}

asio::awaitable<result<category>> service::create_category(create_category_request req, const bus::call_context& c) {
  if (auto errors = normalize_and_validate(req); !errors.empty()) co_return error::invalid(std::move(errors));
  auto now = ctx_.clock().now_rfc3339();
  category cat{ctx_.clock().new_id("cat"), std::move(req.name), std::move(req.parent_id), std::move(req.description), 1, now, now};
  auto ev = ctx_.event(categories_topic, category_created, cat.id, cat, c, now);
  auto job = [cat = std::move(cat), ev = std::move(ev)](store::database& db) mutable {
    return db.transaction([&]() -> result<category> {
      if (cat.parent_id && !sql::category_exists(db, *cat.parent_id))
        return error::invalid({{"parent_id", "no category has this id"}});
      if (sql::category_name_taken(db, cat.name, cat.id))
        return error::conflict("a category with this name already exists");
      sql::insert_category(db, cat);
      db.enqueue_event(ev);
      return std::move(cat);
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

asio::awaitable<result<category>> service::get_category(get_category_request req, const bus::call_context& c) {
  auto job = [id = std::move(req.id)](store::database& db) { return sql::find_category(db, id); };
  auto r = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!r) co_return std::move(r).err();
  if (!r.value()) co_return error::not_found("no category has this id");
  co_return std::move(*r.value());
}

asio::awaitable<result<category_page>> service::list_categories(list_categories_request req, const bus::call_context& c) {
  auto fetch = [parent_id = std::move(req.parent_id)](store::database& db, const std::string& after, std::int64_t n) {
    return sql::list_categories(db, after, parent_id, n);
  };
  page_rules rules{default_page_limit, page_limit_max_, "cat"};
  co_return co_await read_page<category>(ctx_.store(), req.limit, std::move(req.cursor), rules, std::move(fetch),
                                        c.deadline);
}

asio::awaitable<result<category>> service::update_category(update_category_request req, const bus::call_context& c) {
  if (auto errors = normalize_and_validate(req); !errors.empty()) co_return error::invalid(std::move(errors));
  auto job = [req = std::move(req), now = ctx_.clock().now_rfc3339(), &ctx = ctx_, &c](store::database& db) mutable {
    return db.transaction([&]() -> result<category> {
      auto current = sql::find_category(db, req.id);
      if (!current) return error::not_found("no category has this id");
      if (req.expected_version && !req.expected_version->matches(current->version))
        return version_mismatch("the category", current->version);
      category next = *current;
      if (req.name) next.name = std::move(*req.name);
      if (req.parent_id) next.parent_id = std::move(*req.parent_id);
      if (req.description) next.description = std::move(*req.description);
      if (next == *current) return std::move(*current);
      if (next.parent_id && next.parent_id != current->parent_id) {
        if (!sql::category_exists(db, *next.parent_id))
          return error::invalid({{"parent_id", "no category has this id"}});
        if (sql::is_ancestor_or_self(db, next.id, *next.parent_id))
          return error::invalid({{"parent_id", "would make the category its own ancestor"}});
      }
      if (next.name != current->name && sql::category_name_taken(db, next.name, next.id))
        return error::conflict("a category with this name already exists");
      next.version = current->version + 1;
      next.updated_at = now;
      if (!sql::update_category(db, next, current->version)) return error::internal("category row vanished");
      db.enqueue_event(ctx.event(categories_topic, category_updated, next.id, next, c, now));
      return next;
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

asio::awaitable<result<deleted>> service::delete_category(delete_category_request req, const bus::call_context& c) {
  auto job = [req = std::move(req), now = ctx_.clock().now_rfc3339(), &ctx = ctx_, &c](store::database& db) {
    return db.transaction([&]() -> result<deleted> {
      auto current = sql::find_category(db, req.id);
      if (!current) return error::not_found("no category has this id");
      if (req.expected_version && !req.expected_version->matches(current->version))
        return version_mismatch("the category", current->version);
      if (sql::category_has_products(db, current->id))
        return error::conflict("the category still has products; move or delete them first");
      if (sql::category_has_children(db, current->id))
        return error::conflict("the category still has child categories; move or delete them first");
      sql::delete_category(db, current->id);
      db.enqueue_event(ctx.event(categories_topic, category_deleted, current->id, *current, c, now));
      return deleted{current->id, current->version};
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

}  // namespace agora::catalog
