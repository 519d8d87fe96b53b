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

bus::event make_event(std::string_view topic, std::string_view type, const std::string& subject,
                      const std::string& time, const log::trace& tr, nlohmann::json data) {
  bus::event ev;
  ev.id = new_id("evt");
  ev.source = std::string(event_source);
  ev.type = std::string(type);
  ev.subject = subject;
  ev.time = time;
  ev.topic = std::string(topic);
  ev.tr = tr;
  ev.data = std::move(data);
  return ev;
}

log::trace trace_of(const bus::call_context& c) { return c.tr ? *c.tr : log::trace{}; }

error version_mismatch(std::string_view what, std::int64_t current) {
  return {
      errc::failed_precondition, std::string(what) + " has changed: it is at version " + std::to_string(current), {}};
}

std::string render(const product& p) {
  return nlohmann::json(p).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

result<std::string> after_cursor(const std::string& cursor, std::string_view prefix) {
  if (cursor.empty()) return std::string();
  std::string id = decode_cursor(cursor);
  if (!is_well_formed_id(id, prefix))
    return error::invalid({{"cursor", "malformed cursor: pass the next_cursor of the previous page"}});
  return id;
}

template <class Row>
std::optional<std::string> trim_page(std::vector<Row>& rows, std::int64_t limit) {
  if (static_cast<std::int64_t>(rows.size()) <= limit) return std::nullopt;
  rows.resize(static_cast<std::size_t>(limit));
  return encode_cursor(rows.back().id);
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

result<std::int64_t> service::page_limit(const std::optional<std::int64_t>& requested) const {
  if (!requested) return std::min(default_page_limit, page_limit_max_);
  if (*requested < 1 || *requested > page_limit_max_)
    return error::invalid({{"limit", "must be an integer from 1 to " + std::to_string(page_limit_max_)}});
  return *requested;
}

asio::awaitable<result<product_reply>> service::create_product(create_product_request req, const bus::call_context& c) {
  if (auto errors = normalize_and_validate(req); !errors.empty()) co_return error::invalid(std::move(errors));
  auto now = now_rfc3339();
  product p{new_id("prod"),
            std::move(req.sku),
            std::move(req.name),
            std::move(req.description),
            std::move(req.price),
            std::move(req.category_id),
            req.status,
            1,
            now,
            now};
  auto ev = make_event(products_topic, product_created, p.id, now, trace_of(c), p);
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
  auto r = co_await ctx_.store().run(std::move(job));
  if (!r) co_return std::move(r).err();
  co_return remember(std::move(r).value());
}

asio::awaitable<result<product_reply>> service::get_product(get_product_request req, const bus::call_context&) {
  if (const auto* hit = cache_.find(req.id)) {
    cache_hits_.inc();
    co_return product_reply{hit->item, hit->json};
  }
  cache_misses_.inc();
  auto job = [id = std::move(req.id)](store::database& db) { return sql::find_product(db, id); };
  auto r = co_await ctx_.store().run(std::move(job));
  if (!r) co_return std::move(r).err();
  if (!r.value()) co_return error::not_found("no product has this id");
  co_return remember(std::move(*r.value()));
}

asio::awaitable<result<product_page>> service::list_products(list_products_request req, const bus::call_context&) {
  auto limit = page_limit(req.limit);
  if (!limit) co_return std::move(limit).err();
  auto after = after_cursor(req.cursor, "prod");
  if (!after) co_return std::move(after).err();
  auto job = [after = std::move(after).value(), category_id = std::move(req.category_id), status = req.status,
              n = *limit + 1](store::database& db) { return sql::list_products(db, after, category_id, status, n); };
  auto rows = co_await ctx_.store().run(std::move(job));
  if (!rows) co_return std::move(rows).err();
  product_page page;
  page.data = std::move(rows).value();
  page.next_cursor = trim_page(page.data, *limit);
  co_return page;
}

asio::awaitable<result<search_results>> service::search_products(search_products_request req,
                                                                 const bus::call_context&) {
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
  co_return co_await ctx_.store().run(std::move(job));
}

asio::awaitable<result<product_reply>> service::update_product(update_product_request req, const bus::call_context& c) {
  if (auto errors = normalize_and_validate(req); !errors.empty()) co_return error::invalid(std::move(errors));
  auto job = [req = std::move(req), now = now_rfc3339(), tr = trace_of(c)](store::database& db) mutable {
    return db.transaction([&]() -> result<product> {
      auto current = sql::find_product(db, req.id);
      if (!current) return error::not_found("no product has this id");
      if (req.expected_version && *req.expected_version != current->version)
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
      db.enqueue_event(make_event(products_topic, product_updated, next.id, now, tr, next));
      return next;
    });
  };
  auto r = co_await ctx_.store().run(std::move(job));
  if (!r) co_return std::move(r).err();
  co_return remember(std::move(r).value());
}

asio::awaitable<result<deleted>> service::delete_product(delete_product_request req, const bus::call_context& c) {
  auto job = [req = std::move(req), now = now_rfc3339(), tr = trace_of(c)](store::database& db) {
    return db.transaction([&]() -> result<deleted> {
      auto current = sql::find_product(db, req.id);
      if (!current) return error::not_found("no product has this id");
      if (req.expected_version && *req.expected_version != current->version)
        return version_mismatch("the product", current->version);
      sql::delete_product(db, current->id);
      db.enqueue_event(make_event(products_topic, product_deleted, current->id, now, tr, *current));
      return deleted{current->id, current->version};
    });
  };
  auto r = co_await ctx_.store().run(std::move(job));
  if (!r) co_return std::move(r).err();
  cache_.erase(r->id);
  co_return std::move(r).value();
}

asio::awaitable<result<category>> service::create_category(create_category_request req, const bus::call_context& c) {
  if (auto errors = normalize_and_validate(req); !errors.empty()) co_return error::invalid(std::move(errors));
  auto now = now_rfc3339();
  category cat{new_id("cat"), std::move(req.name), std::move(req.parent_id), std::move(req.description), 1, now, now};
  auto ev = make_event(categories_topic, category_created, cat.id, now, trace_of(c), cat);
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
  co_return co_await ctx_.store().run(std::move(job));
}

asio::awaitable<result<category>> service::get_category(get_category_request req, const bus::call_context&) {
  auto job = [id = std::move(req.id)](store::database& db) { return sql::find_category(db, id); };
  auto r = co_await ctx_.store().run(std::move(job));
  if (!r) co_return std::move(r).err();
  if (!r.value()) co_return error::not_found("no category has this id");
  co_return std::move(*r.value());
}

asio::awaitable<result<category_page>> service::list_categories(list_categories_request req, const bus::call_context&) {
  auto limit = page_limit(req.limit);
  if (!limit) co_return std::move(limit).err();
  auto after = after_cursor(req.cursor, "cat");
  if (!after) co_return std::move(after).err();
  auto job = [after = std::move(after).value(), parent_id = std::move(req.parent_id),
              n = *limit + 1](store::database& db) { return sql::list_categories(db, after, parent_id, n); };
  auto rows = co_await ctx_.store().run(std::move(job));
  if (!rows) co_return std::move(rows).err();
  category_page page;
  page.data = std::move(rows).value();
  page.next_cursor = trim_page(page.data, *limit);
  co_return page;
}

asio::awaitable<result<category>> service::update_category(update_category_request req, const bus::call_context& c) {
  if (auto errors = normalize_and_validate(req); !errors.empty()) co_return error::invalid(std::move(errors));
  auto job = [req = std::move(req), now = now_rfc3339(), tr = trace_of(c)](store::database& db) mutable {
    return db.transaction([&]() -> result<category> {
      auto current = sql::find_category(db, req.id);
      if (!current) return error::not_found("no category has this id");
      if (req.expected_version && *req.expected_version != current->version)
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
      db.enqueue_event(make_event(categories_topic, category_updated, next.id, now, tr, next));
      return next;
    });
  };
  co_return co_await ctx_.store().run(std::move(job));
}

asio::awaitable<result<deleted>> service::delete_category(delete_category_request req, const bus::call_context& c) {
  auto job = [req = std::move(req), now = now_rfc3339(), tr = trace_of(c)](store::database& db) {
    return db.transaction([&]() -> result<deleted> {
      auto current = sql::find_category(db, req.id);
      if (!current) return error::not_found("no category has this id");
      if (req.expected_version && *req.expected_version != current->version)
        return version_mismatch("the category", current->version);
      if (sql::category_has_products(db, current->id))
        return error::conflict("the category still has products; move or delete them first");
      if (sql::category_has_children(db, current->id))
        return error::conflict("the category still has child categories; move or delete them first");
      sql::delete_category(db, current->id);
      db.enqueue_event(make_event(categories_topic, category_deleted, current->id, now, tr, *current));
      return deleted{current->id, current->version};
    });
  };
  co_return co_await ctx_.store().run(std::move(job));
}

}  // namespace agora::catalog
