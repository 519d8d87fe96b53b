#include "service.hpp"
#include "changes.hpp"
#include "search_query.hpp"
#include "settings.hpp"
#include "store.hpp"
#include "validation.hpp"

#include <agora/ids.hpp>

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <utility>

namespace agora::catalog {

namespace {

using product_and_variant = std::pair<product, variant>;

constexpr std::int64_t default_page_limit = 20;
constexpr std::int64_t default_search_limit = 10;

std::string render(const product& p) {
  return nlohmann::json(p).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Where a search page starts: the match mode, the offset in the relevance order, and a
// digest of the query and filters, so a cursor is refused with another search.
struct search_position {
  bool all_words = true;
  std::int64_t offset = 0;
  std::uint64_t digest = 0;
};

std::uint64_t fnv1a(std::uint64_t h, std::string_view s) {
  for (unsigned char ch : s) {
    h ^= ch;
    h *= 1099511628211ULL;
  }
  return h;
}

std::uint64_t search_digest(const search_products_request& r, product_status status) {
  std::string key = r.query;
  auto add = [&](const auto& v) {
    key += '\x1f';
    if (v) key += nlohmann::json(*v).dump();
  };
  add(r.category_id);
  add(r.price_min);
  add(r.price_max);
  add(r.currency);
  add(r.in_stock);
  key += '\x1f';
  key += to_string(status);
  return fnv1a(14695981039346656037ULL, key);
}

std::string search_cursor(const search_position& p) {
  return encode_cursor("search:" + std::string(p.all_words ? "all" : "any") + ":" + std::to_string(p.offset) + ":" +
                       std::to_string(p.digest));
}

std::optional<search_position> parse_search_cursor(std::string_view cursor, std::uint64_t digest) {
  auto text = decode_cursor(cursor);
  std::string_view t = text;
  if (!t.starts_with("search:")) return std::nullopt;
  t.remove_prefix(7);
  search_position p;
  if (t.starts_with("all:"))
    p.all_words = true;
  else if (t.starts_with("any:"))
    p.all_words = false;
  else
    return std::nullopt;
  t.remove_prefix(4);
  auto colon = t.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto num = [](std::string_view s, auto& out) {
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && ptr == s.data() + s.size() && !s.empty();
  };
  if (!num(t.substr(0, colon), p.offset) || p.offset < 0 || !num(t.substr(colon + 1), p.digest) || p.digest != digest)
    return std::nullopt;
  return p;
}

std::size_t cache_capacity(const module_context& ctx) {
  if (ctx.replicas() > 1) return 0;
  return static_cast<std::size_t>(std::max<std::int64_t>(0, ctx.get(settings::cache_size)));
}

void enqueue_variant_event(store::database& db, const module_context& ctx, std::string_view type,
                           const variant_info& info, const bus::call_context& c, const std::string& now) {
  auto ev = ctx.event(variants_topic, type, info.item.sku, info, c, now);
  ev.partition_key = info.item.sku;
  db.enqueue_event(ev);
}

const variant* variant_by_id(const product* p, std::string_view id) {
  if (!p) return nullptr;
  for (const auto& v : p->variants)
    if (v.id == id) return &v;
  return nullptr;
}

}  // namespace

variant_info info_of(const product& p, const variant& v) { return {v, p.name, p.tax_class, p.status}; }

variant& default_variant(product& p) {
  auto it = std::find_if(p.variants.begin(), p.variants.end(), [](const variant& v) { return v.is_default; });
  if (it == p.variants.end()) throw std::logic_error("product " + p.id + " has no default variant");
  return *it;
}

void announce_variants(store::database& db, const module_context& ctx, const bus::call_context& c,
                       const std::string& now, const product* before, const product* after) {
  if (before)
    for (const auto& v : before->variants) {
      const auto* next = variant_by_id(after, v.id);
      if (!next || next->sku != v.sku) enqueue_variant_event(db, ctx, variant_deleted, info_of(*before, v), c, now);
    }
  if (after)
    for (const auto& v : after->variants) {
      const auto* prev = variant_by_id(before, v.id);
      if (!prev || prev->sku != v.sku)
        enqueue_variant_event(db, ctx, variant_created, info_of(*after, v), c, now);
      else if (info_of(*before, *prev) != info_of(*after, v))
        enqueue_variant_event(db, ctx, variant_updated, info_of(*after, v), c, now);
    }
}

product commit_product_change(store::database& db, const module_context& ctx, const bus::call_context& c,
                              const std::string& now, const product& current, product next) {
  next.version = current.version + 1;
  next.updated_at = now;
  if (!sql::update_product(db, next, current.version)) throw std::logic_error("product row vanished");
  db.enqueue_event(ctx.event(products_topic, product_updated, next.id, next, c, now));
  announce_variants(db, ctx, c, now, &current, &next);
  return next;
}

std::optional<error> check_unique(store::database& db, const variant& v) {
  if (sql::sku_taken(db, v.sku, v.id)) return error::conflict("a product or variant with this sku already exists");
  if (v.barcode && sql::barcode_taken(db, *v.barcode, v.id))
    return error::conflict("a variant with this barcode already exists");
  return std::nullopt;
}

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
            now,
            std::move(req.tax_class),
            {}};
  p.variants.push_back(
      {ctx_.clock().new_id("var"), p.id, p.sku, std::move(req.barcode), "", p.price, true, 1, now, now});
  auto job = [p = std::move(p), now, &ctx = ctx_, &c](store::database& db) mutable {
    return db.transaction([&]() -> result<product> {
      if (p.category_id && !sql::category_exists(db, *p.category_id))
        return error::invalid({{"category_id", "no category has this id"}});
      if (auto e = check_unique(db, p.variants.front())) return std::move(*e);
      sql::insert_product(db, p);
      sql::insert_variant(db, p.variants.front());
      db.enqueue_event(ctx.event(products_topic, product_created, p.id, p, c, now));
      announce_variants(db, ctx, c, now, nullptr, &p);
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
  std::vector<field_error> errors;
  check_filters(req.price_min, req.price_max, req.currency, errors);
  if (!errors.empty()) co_return error::invalid(std::move(errors));
  sql::product_filter filter{std::move(req.category_id), req.price_min, req.price_max, std::move(req.currency),
                             req.in_stock};
  auto fetch = [filter = std::move(filter), status = req.status](store::database& db, const std::string& after,
                                                                 std::int64_t n) {
    return sql::list_products(db, after, filter, status, n);
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
  check_filters(req.price_min, req.price_max, req.currency, errors);
  auto status = req.status.value_or(product_status::active);
  std::optional<search_position> from;
  if (match && errors.empty()) {
    auto digest = search_digest(req, status);
    if (!req.cursor.empty()) {
      from = parse_search_cursor(req.cursor, digest);
      if (!from) errors.push_back({"cursor", "is not a cursor of this search"});
    }
    if (!from) from = search_position{true, 0, digest};
  }
  if (!errors.empty()) co_return error::invalid(std::move(errors));
  sql::product_filter filter{std::move(req.category_id), req.price_min, req.price_max, std::move(req.currency),
                             req.in_stock};
  // Every word first; only when that finds nothing on the first page, any word (then
  // all_words is false, and the cursor keeps that mode for the next pages).
  auto job = [m = std::move(*match), filter = std::move(filter), status, limit, from = *from](store::database& db) {
    search_results out;
    auto pos = from;
    out.data =
        sql::search_products(db, pos.all_words ? m.all_words : m.any_word, filter, status, pos.offset, limit + 1);
    if (out.data.empty() && pos.offset == 0 && pos.all_words && m.words > 1) {
      pos.all_words = false;
      out.data = sql::search_products(db, m.any_word, filter, status, 0, limit + 1);
    }
    out.all_words = pos.all_words || out.data.empty();
    if (static_cast<std::int64_t>(out.data.size()) > limit) {
      out.data.resize(static_cast<std::size_t>(limit));
      out.next_cursor = search_cursor({pos.all_words, pos.offset + limit, pos.digest});
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
      if (req.tax_class) next.tax_class = std::move(*req.tax_class);
      if (next == *current) return std::move(*current);
      if (next.category_id && next.category_id != current->category_id && !sql::category_exists(db, *next.category_id))
        return error::invalid({{"category_id", "no category has this id"}});
      auto& def = default_variant(next);
      if (next.sku != def.sku || next.price != def.price) {
        if (next.sku != def.sku && sql::sku_taken(db, next.sku, def.id))
          return error::conflict("a product with this sku already exists");
        def.sku = next.sku;
        def.price = next.price;
        def.version += 1;
        def.updated_at = now;
        if (!sql::update_variant(db, def, def.version - 1)) return error::internal("variant row vanished");
      }
      return commit_product_change(db, ctx, c, now, *current, std::move(next));
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
      announce_variants(db, ctx, c, now, &*current, nullptr);
      return deleted{current->id, current->version};
    });
  };
  auto r = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!r) co_return std::move(r).err();
  cache_.erase(r->id);
  co_return std::move(r).value();
}

asio::awaitable<result<variant>> service::create_variant(create_variant_request req, const bus::call_context& c) {
  if (auto errors = normalize_and_validate(req); !errors.empty()) co_return error::invalid(std::move(errors));
  auto now = ctx_.clock().now_rfc3339();
  variant v{ctx_.clock().new_id("var"),
            std::move(req.product_id),
            std::move(req.sku),
            std::move(req.barcode),
            std::move(req.name),
            std::move(req.price),
            false,
            1,
            now,
            now};
  auto job = [v = std::move(v), now, &ctx = ctx_, &c](store::database& db) mutable {
    return db.transaction([&]() -> result<product_and_variant> {
      auto current = sql::find_product(db, v.product_id);
      if (!current) return error::not_found("no product has this id");
      if (auto e = check_unique(db, v)) return std::move(*e);
      sql::insert_variant(db, v);
      product next = *current;
      next.variants.push_back(v);
      return product_and_variant{commit_product_change(db, ctx, c, now, *current, std::move(next)), std::move(v)};
    });
  };
  auto r = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!r) co_return std::move(r).err();
  remember(std::move(r->first));
  co_return std::move(r->second);
}

asio::awaitable<result<variant>> service::update_variant(update_variant_request req, const bus::call_context& c) {
  if (auto errors = normalize_and_validate(req); !errors.empty()) co_return error::invalid(std::move(errors));
  auto job = [req = std::move(req), now = ctx_.clock().now_rfc3339(), &ctx = ctx_, &c](store::database& db) mutable {
    return db.transaction([&]() -> result<product_and_variant> {
      auto current = sql::find_product(db, req.product_id);
      if (!current) return error::not_found("no product has this id");
      product next = *current;
      auto it = std::find_if(next.variants.begin(), next.variants.end(),
                             [&](const variant& v) { return v.id == req.variant_id; });
      if (it == next.variants.end()) return error::not_found("the product has no variant with this id");
      if (req.expected_version && !req.expected_version->matches(it->version))
        return version_mismatch("the variant", it->version);
      variant before = *it;
      if (req.sku) it->sku = std::move(*req.sku);
      if (req.barcode) it->barcode = std::move(*req.barcode);
      if (req.name) it->name = std::move(*req.name);
      if (req.price) it->price = std::move(*req.price);
      if (*it == before) return product_and_variant{std::move(*current), std::move(before)};
      if (auto e = check_unique(db, *it)) return std::move(*e);
      it->version += 1;
      it->updated_at = now;
      if (!sql::update_variant(db, *it, before.version)) return error::internal("variant row vanished");
      if (it->is_default) {
        next.sku = it->sku;
        next.price = it->price;
      }
      variant out = *it;
      return product_and_variant{commit_product_change(db, ctx, c, now, *current, std::move(next)), std::move(out)};
    });
  };
  auto r = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!r) co_return std::move(r).err();
  remember(std::move(r->first));
  co_return std::move(r->second);
}

asio::awaitable<result<deleted>> service::delete_variant(delete_variant_request req, const bus::call_context& c) {
  auto job = [req = std::move(req), now = ctx_.clock().now_rfc3339(), &ctx = ctx_, &c](store::database& db) mutable {
    return db.transaction([&]() -> result<std::pair<product, deleted>> {
      auto current = sql::find_product(db, req.product_id);
      if (!current) return error::not_found("no product has this id");
      product next = *current;
      auto it = std::find_if(next.variants.begin(), next.variants.end(),
                             [&](const variant& v) { return v.id == req.variant_id; });
      if (it == next.variants.end()) return error::not_found("the product has no variant with this id");
      if (req.expected_version && !req.expected_version->matches(it->version))
        return version_mismatch("the variant", it->version);
      if (it->is_default)
        return error::conflict("the default variant cannot be deleted: it is the product's own sku and price");
      deleted out{it->id, it->version};
      sql::delete_variant(db, it->id);
      next.variants.erase(it);
      return std::pair{commit_product_change(db, ctx, c, now, *current, std::move(next)), std::move(out)};
    });
  };
  auto r = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!r) co_return std::move(r).err();
  remember(std::move(r->first));
  co_return std::move(r->second);
}

asio::awaitable<result<variant_page>> service::list_variants(list_variants_request req, const bus::call_context& c) {
  auto n = page_limit(req.limit, default_page_limit, page_limit_max_);
  if (!n) co_return std::move(n).err();
  auto after = page_after(req.cursor, "var");
  if (!after) co_return std::move(after).err();
  auto job = [id = std::move(req.product_id), after = std::move(after).value(),
              n = *n](store::database& db) -> result<std::vector<variant>> {
    if (!sql::find_product(db, id)) return error::not_found("no product has this id");
    return sql::list_variants(db, id, after, n + 1);
  };
  auto rows = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!rows) co_return std::move(rows).err();
  variant_page out;
  out.data = std::move(rows).value();
  out.next_cursor = trim_page(out.data, *n);
  co_return out;
}

asio::awaitable<result<variant_info>> service::find_variant(find_variant_request req, const bus::call_context& c) {
  std::vector<field_error> errors;
  if (req.sku.has_value() == req.barcode.has_value())
    errors.push_back({req.sku ? "barcode" : "sku", "give exactly one of sku or barcode"});
  else if (req.sku)
    check_sku(*req.sku, errors);
  else
    req.barcode = normalize_barcode(*req.barcode, "barcode", errors);
  if (!errors.empty()) co_return error::invalid(std::move(errors));
  auto job = [req = std::move(req)](store::database& db) -> result<variant_info> {
    auto v = req.sku ? sql::find_variant_by_sku(db, *req.sku) : sql::find_variant_by_barcode(db, *req.barcode);
    if (!v) return error::not_found(req.sku ? "no variant has this sku" : "no variant has this barcode");
    auto p = sql::find_product(db, v->product_id);
    if (!p) return error::internal("variant without its product");
    return info_of(*p, *v);
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

asio::awaitable<result<void>> service::on_stock_event(const bus::event& ev) {
  const auto& d = ev.data;
  const auto* level = d.is_object() && d.contains("level") && d["level"].is_object() ? &d["level"] : nullptr;
  auto text = [&](std::string_view key) -> std::optional<std::string> {
    for (const auto* o : {level, &d}) {
      if (o && o->is_object()) {
        auto it = o->find(key);
        if (it != o->end() && it->is_string()) return it->get<std::string>();
      }
    }
    return std::nullopt;
  };
  auto sku = text("sku");
  auto location = text("location");
  std::optional<std::int64_t> available;
  if (level) {
    auto it = level->find("available");
    if (it != level->end() && it->is_number_integer()) available = it->get<std::int64_t>();
  }
  if (!sku || !location || !available)
    co_return error::invalid({{"data", "a stock event needs level.sku, level.location and level.available"}});
  auto job = [id = ev.id, sku = std::move(*sku), location = std::move(*location), available = *available,
              time = ev.time](store::database& db) {
    return db.transaction([&] {
      if (db.claim_event(stock_consumer_group, id)) sql::put_stock_level(db, sku, location, available, time);
    });
  };
  co_return co_await ctx_.store().run(std::move(job));
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
