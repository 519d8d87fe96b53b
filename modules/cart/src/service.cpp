#include "service.hpp"
#include "settings.hpp"
#include "token.hpp"

#include <agora/ids.hpp>
#include <agora/log.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <set>

namespace agora::cart {

namespace {

error no_cart() { return error::not_found("no cart has this id"); }
error no_line() { return error::not_found("the cart has no line with this id"); }

bus::call_context own_context() {
  bus::call_context c;
  c.method = "cart.sweep";
  return c;
}

// A customer's cart answers that customer alone; a guest cart the holder of its token.
bool may_use(const sql::cart_record& r, const principal& who, const std::optional<std::string>& digest) {
  if (r.item.customer_id) return who.authenticated() && who.subject == *r.item.customer_id;
  return digest && r.token_hash && *digest == *r.token_hash;
}

std::optional<std::string> digest_of(const std::optional<std::string>& token) {
  if (!token || token->empty()) return std::nullopt;
  return token::digest(*token);
}

bool idle(const cart& c, const std::string& now) { return c.status == status_open && c.expires_at <= now; }

std::optional<error> refuse_edit(const cart& c) {
  if (c.status == status_open) return std::nullopt;
  if (c.status == status_checking_out) return error::conflict("the cart is checking out; it cannot change");
  return error::conflict("the cart is " + c.status + "; it cannot change");
}

std::string line_name(const catalog::variant_info& v) {
  if (v.item.is_default || v.item.name.empty()) return v.product_name;
  return v.product_name + " — " + v.item.name;
}

std::optional<error> check_quantity(std::int64_t q, std::int64_t max) {
  if (q >= 1 && q <= max) return std::nullopt;
  return error::invalid({{"quantity", "must be from 1 to " + std::to_string(max)}});
}

// Re-prices `l` from `v`; answers whether anything changed (a moved price is recorded in
// the cart's changed_lines and the line's price_changed).
bool refresh_line(cart& c, cart_line& l, const catalog::variant_info& v, bool sellable) {
  bool changed = false;
  bool available = sellable && v.status == catalog::product_status::active && v.item.price.currency == c.currency;
  if (l.available != available) {
    l.available = available;
    changed = true;
  }
  if (auto name = line_name(v); l.name != name) {
    l.name = std::move(name);
    changed = true;
  }
  if (l.tax_class != v.tax_class) {
    l.tax_class = v.tax_class;
    changed = true;
  }
  if (l.product_id != v.item.product_id || l.variant_id != v.item.id) {
    l.product_id = v.item.product_id;
    l.variant_id = v.item.id;
    changed = true;
  }
  if (available && l.unit_price != v.item.price) {
    if (!l.price_changed) c.changed_lines.push_back({l.id, l.sku, l.unit_price, v.item.price});
    for (auto& ch : c.changed_lines)
      if (ch.line_id == l.id) ch.new_unit_price = v.item.price;
    l.unit_price = v.item.price;
    l.price_changed = true;
    changed = true;
  }
  return changed;
}

cart_line* find_line(cart& c, std::string_view id) {
  auto it = std::find_if(c.lines.begin(), c.lines.end(), [&](const cart_line& l) { return l.id == id; });
  return it == c.lines.end() ? nullptr : &*it;
}

bool has_available_lines(const cart& c) {
  return std::any_of(c.lines.begin(), c.lines.end(), [](const cart_line& l) { return l.available; });
}

}  // namespace

service::service(module_context& ctx)
    : ctx_(ctx),
      taxes_(tax_table::parse(ctx.get(settings::tax_rates))),
      prices_include_tax_(ctx.get(settings::prices_include_tax)),
      default_region_(ctx.get(settings::default_region)),
      quantity_max_(ctx.get(settings::quantity_max)),
      lines_max_(ctx.get(settings::lines_max)),
      idle_expiry_(ctx.get(settings::idle_expiry_s)),
      sweep_interval_(ctx.get(settings::sweep_interval_ms)) {
  if (!taxes_.has_region(default_region_))
    throw config::config_error("modules.cart.default_region: \"" + default_region_ +
                               "\" is not a region of modules.cart.tax_rates");
}

asio::awaitable<void> service::start() {
  tasks_.spawn(ctx_.executor(), sweep_loop(), "cart.sweep");
  co_return;
}

asio::awaitable<void> service::stop() { co_await tasks_.stop(); }

asio::awaitable<void> service::sweep_loop() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(sweep_interval_);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    auto n = co_await sweep();
    if (!n) log::warn("cart", "expiry sweep failed", {{"error", n.err().message}});
  }
}

asio::awaitable<result<std::int64_t>> service::sweep() {
  auto now = ctx_.clock().now();
  auto job = [this, now](store::database& db) {
    return db.transaction([&]() -> std::int64_t {
      static const bus::call_context sweeper = own_context();
      std::int64_t n = 0;
      for (const auto& id : sql::idle_open_carts(db, to_rfc3339(now), 1000)) {
        auto rec = sql::find_cart(db, id);
        if (!rec) continue;
        expire(db, *rec, now, sweeper);
        ++n;
      }
      return n;
    });
  };
  co_return co_await ctx_.store().run(std::move(job), bus::clock::time_point::max());
}

cart service::new_cart(std::optional<std::string> customer_id, std::string region, time_point now) const {
  cart c;
  c.id = ctx_.clock().new_id("cart");
  c.customer_id = std::move(customer_id);
  c.region = std::move(region);
  c.prices_include_tax = prices_include_tax_;
  c.version = 1;
  c.created_at = c.updated_at = to_rfc3339(now);
  c.expires_at = to_rfc3339(now + idle_expiry_);
  return c;
}

void service::touch(cart& c, time_point now) const {
  ++c.version;
  c.updated_at = to_rfc3339(now);
  c.expires_at = to_rfc3339(now + idle_expiry_);
}

cart service::priced(cart c) const {
  price_cart(c, taxes_);
  return c;
}

void service::enqueue(store::database& db, std::string_view type, const cart& c, const bus::call_context& call,
                      time_point now) const {
  auto ev = ctx_.event(carts_topic, type, c.id, nlohmann::json(priced(c)), call, to_rfc3339(now));
  ev.partition_key = c.id;
  db.enqueue_event(ev);
}

void service::expire(store::database& db, sql::cart_record& rec, time_point now, const bus::call_context& call) const {
  auto next = rec;
  next.item.status = std::string(status_expired);
  ++next.item.version;
  next.item.updated_at = to_rfc3339(now);
  sql::save_cart(db, rec, next);
  enqueue(db, cart_expired, next.item, call, now);
  rec = std::move(next);
}

asio::awaitable<result<catalog::variant_info>> service::find_variant(const std::string& sku,
                                                                     const bus::call_context& c) {
  catalog::find_variant_request q;
  q.sku = sku;
  auto r = co_await ctx_.bus().call<catalog::find_variant>(std::move(q), bus::nested(c));
  if (!r && r.err().code == errc::not_found) co_return error::not_found("no product has the sku \"" + sku + "\"");
  co_return r;
}

asio::awaitable<result<create_cart_reply>> service::create_cart(create_cart_request req, const bus::call_context& c) {
  auto region = req.region.value_or(default_region_);
  if (!taxes_.has_region(region))
    co_return error::invalid({{"region", "is not a region with tax rates (modules.cart.tax_rates)"}});
  auto now = ctx_.clock().now();
  const bool customer = c.who.authenticated() && !c.who.subject.empty();
  if (!customer) {
    auto secret = token::make();
    sql::cart_record rec{new_cart(std::nullopt, std::move(region), now), token::digest(secret), std::nullopt};
    auto job = [this, rec = std::move(rec), now, &c](store::database& db) {
      return db.transaction([&]() -> cart {
        sql::insert_cart(db, rec);
        enqueue(db, cart_created, rec.item, c, now);
        return priced(rec.item);
      });
    };
    auto made = co_await ctx_.store().run(std::move(job), c.deadline);
    if (!made) co_return std::move(made).err();
    co_return create_cart_reply{std::move(made).value(), std::move(secret), true};
  }
  auto digest = digest_of(req.cart_token);
  auto job = [this, digest, region, now, &c](store::database& db) {
    return db.transaction([&]() -> result<create_cart_reply> {
      std::optional<sql::cart_record> mine;
      if (auto id = sql::active_cart_of(db, c.who.subject)) {
        mine = sql::find_cart(db, *id);
        if (mine && idle(mine->item, to_rfc3339(now))) {
          expire(db, *mine, now, c);
          mine.reset();
        }
      }
      bool created = false;
      if (!mine) {
        mine = sql::cart_record{new_cart(c.who.subject, region, now), std::nullopt, std::nullopt};
        sql::insert_cart(db, *mine);
        enqueue(db, cart_created, mine->item, c, now);
        created = true;
      }
      if (digest) {
        auto guest = sql::find_cart_by_token(db, *digest);
        if (!guest || guest->item.customer_id || guest->item.status != status_open)
          return error::not_found("no open guest cart has this cart token");
        auto merged = merge_into(db, *guest, *mine, now, c);
        if (!merged) return std::move(merged).err();
      }
      return create_cart_reply{priced(mine->item), std::nullopt, created};
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

result<std::optional<std::string>> service::merge_into(store::database& db, sql::cart_record& guest,
                                                       sql::cart_record& into, time_point now,
                                                       const bus::call_context& call) const {
  if (auto refusal = refuse_edit(into.item)) return *refusal;
  auto next = into;
  auto& c = next.item;
  for (const auto& g : guest.item.lines) {
    if (!g.available) continue;
    if (c.currency.empty()) c.currency = g.unit_price.currency;
    if (g.unit_price.currency != c.currency)
      return error::conflict("the guest cart is in " + g.unit_price.currency + ", this cart in " + c.currency);
    auto same = std::find_if(c.lines.begin(), c.lines.end(), [&](const cart_line& l) { return l.sku == g.sku; });
    if (same != c.lines.end()) {
      same->quantity = std::min(same->quantity + g.quantity, quantity_max_);
      if (!same->available) {
        same->available = true;
        same->unit_price = g.unit_price;
      }
      continue;
    }
    if (static_cast<std::int64_t>(c.lines.size()) >= lines_max_)
      return error::conflict("the cart would hold more than " + std::to_string(lines_max_) + " lines");
    auto line = g;
    line.id = ctx_.clock().new_id("line");
    line.price_changed = false;
    c.lines.push_back(std::move(line));
  }
  touch(c, now);
  sql::save_cart(db, into, next);
  enqueue(db, cart_merged, c, call, now);
  into = std::move(next);
  auto closed = guest;
  closed.token_hash.reset();
  expire(db, closed, now, call);
  return std::optional<std::string>(guest.item.id);
}

asio::awaitable<result<cart>> service::merge_guest_cart(merge_guest_cart_request req, const bus::call_context& c) {
  if (!c.who.authenticated() || c.who.subject.empty())
    co_return error::unauthenticated("merging a guest cart needs a signed-in customer");
  if (req.cart_token.empty()) co_return error::invalid({{"cart_token", "is required"}});
  create_cart_request q;
  q.cart_token = std::move(req.cart_token);
  auto r = co_await create_cart(std::move(q), c);
  if (!r) co_return std::move(r).err();
  co_return std::move(r->item);
}

asio::awaitable<result<cart>> service::get_cart(get_cart_request req, const bus::call_context& c) {
  if (!is_well_formed_id(req.cart_id, "cart")) co_return no_cart();
  auto digest = digest_of(req.cart_token);
  auto now = ctx_.clock().now();
  auto job = [this, id = std::move(req.cart_id), digest, now, &c](store::database& db) {
    return db.transaction([&]() -> result<cart> {
      auto rec = sql::find_cart(db, id);
      if (!rec || !may_use(*rec, c.who, digest)) return no_cart();
      if (idle(rec->item, to_rfc3339(now))) expire(db, *rec, now, c);
      if (!rec->item.changed_lines.empty() && rec->item.status == status_open) sql::clear_price_flags(db, id);
      return priced(std::move(rec->item));
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

template <class Change>
asio::awaitable<result<cart>> service::edit(std::string cart_id, const std::optional<std::string>& cart_token,
                                            std::optional<version_match> expected, std::string_view event_type,
                                            const bus::call_context& c, Change change) {
  if (!is_well_formed_id(cart_id, "cart")) co_return no_cart();
  auto digest = digest_of(cart_token);
  auto now = ctx_.clock().now();
  auto job = [this, id = std::move(cart_id), digest, expected = std::move(expected), event_type, now, &c,
              change = std::move(change)](store::database& db) {
    return db.transaction([&]() -> result<cart> {
      auto rec = sql::find_cart(db, id);
      if (!rec || !may_use(*rec, c.who, digest)) return no_cart();
      if (idle(rec->item, to_rfc3339(now))) {
        expire(db, *rec, now, c);
        return error::conflict("the cart has expired");
      }
      if (auto refusal = refuse_edit(rec->item)) return *refusal;
      if (expected && !expected->matches(rec->item.version)) return version_mismatch("the cart", rec->item.version);
      auto next = *rec;
      if (auto changed = change(next.item); !changed) return std::move(changed).err();
      touch(next.item, now);
      sql::save_cart(db, *rec, next);
      enqueue(db, event_type, next.item, c, now);
      return priced(std::move(next.item));
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

asio::awaitable<result<cart>> service::add_line(add_line_request req, const bus::call_context& c) {
  if (!is_well_formed_id(req.cart_id, "cart")) co_return no_cart();
  std::vector<field_error> errors;
  if (req.sku.empty() || req.sku.size() > 64) errors.push_back({"sku", "must be 1 to 64 characters"});
  if (auto bad = check_quantity(req.quantity, quantity_max_)) errors.push_back(bad->fields.front());
  if (!errors.empty()) co_return error::invalid(std::move(errors));
  auto found = co_await find_variant(req.sku, c);
  if (!found) co_return std::move(found).err();
  auto change = [this, v = std::move(found).value(), quantity = req.quantity](cart& cart) -> result<void> {
    if (v.status != catalog::product_status::active)
      return error::invalid({{"sku", "\"" + v.item.sku + "\" is not for sale"}});
    if (!cart.currency.empty() && cart.currency != v.item.price.currency)
      return error::invalid({{"sku", "\"" + v.item.sku + "\" is priced in " + v.item.price.currency +
                                         "; this cart holds " + cart.currency}});
    if (cart.currency.empty()) cart.currency = v.item.price.currency;
    auto same = std::find_if(cart.lines.begin(), cart.lines.end(), [&](const cart_line& l) { return l.sku == v.item.sku; });
    if (same != cart.lines.end()) {
      auto total = same->available ? same->quantity + quantity : quantity;
      if (total > quantity_max_)
        return error::invalid({{"quantity", "the line would hold " + std::to_string(total) + ", more than " +
                                                std::to_string(quantity_max_)}});
      same->quantity = total;
      refresh_line(cart, *same, v, true);
      return ok();
    }
    if (static_cast<std::int64_t>(cart.lines.size()) >= lines_max_)
      return error::conflict("the cart already holds " + std::to_string(lines_max_) + " lines, the most it may");
    cart_line l;
    l.id = ctx_.clock().new_id("line");
    l.sku = v.item.sku;
    l.product_id = v.item.product_id;
    l.variant_id = v.item.id;
    l.name = line_name(v);
    l.quantity = quantity;
    l.unit_price = v.item.price;
    l.tax_class = v.tax_class;
    cart.lines.push_back(std::move(l));
    return ok();
  };
  co_return co_await edit(std::move(req.cart_id), req.cart_token, std::move(req.expected_version), cart_line_added, c,
                          std::move(change));
}

asio::awaitable<result<cart>> service::update_line(update_line_request req, const bus::call_context& c) {
  if (auto bad = check_quantity(req.quantity, quantity_max_)) co_return *bad;
  auto change = [line_id = std::move(req.line_id), quantity = req.quantity](cart& cart) -> result<void> {
    auto* l = find_line(cart, line_id);
    if (!l) return no_line();
    l->quantity = quantity;
    return ok();
  };
  co_return co_await edit(std::move(req.cart_id), req.cart_token, std::move(req.expected_version), cart_line_updated, c,
                          std::move(change));
}

asio::awaitable<result<cart>> service::remove_line(remove_line_request req, const bus::call_context& c) {
  auto change = [line_id = std::move(req.line_id)](cart& cart) -> result<void> {
    if (!find_line(cart, line_id)) return no_line();
    std::erase_if(cart.lines, [&](const cart_line& l) { return l.id == line_id; });
    std::erase_if(cart.changed_lines, [&](const changed_line& l) { return l.line_id == line_id; });
    return ok();
  };
  co_return co_await edit(std::move(req.cart_id), req.cart_token, std::move(req.expected_version), cart_line_removed, c,
                          std::move(change));
}

asio::awaitable<result<cart>> service::begin_checkout(begin_checkout_request req, const bus::call_context& c) {
  if (!is_well_formed_id(req.cart_id, "cart")) co_return no_cart();
  if (!is_well_formed_id(req.order_id, "ord")) co_return error::invalid({{"order_id", "must be an order id"}});
  if (!req.customer_id.empty() && !is_well_formed_id(req.customer_id, "cus")) co_return no_cart();
  auto digest = digest_of(req.cart_token);
  principal owner;
  if (!req.customer_id.empty()) {
    owner.subject = req.customer_id;
    owner.kind = principal_kind::customer;
  }
  // Up to three rounds: a cart that changes between the catalog look-ups and the write is
  // re-priced again.
  for (int round = 0; round < 3; ++round) {
    auto look = [id = req.cart_id, owner, digest](store::database& db) -> result<sql::cart_record> {
      auto rec = sql::find_cart(db, id);
      if (!rec || !may_use(*rec, owner, digest)) return no_cart();
      return std::move(*rec);
    };
    auto seen = co_await ctx_.store().run(std::move(look), c.deadline);
    if (!seen) co_return std::move(seen).err();
    const auto& held = seen->item;
    if (held.order_id && *held.order_id == req.order_id && seen->checkout_snapshot)
      co_return nlohmann::json::parse(*seen->checkout_snapshot).get<cart>();
    if (held.status == status_checking_out || held.status == status_checked_out)
      co_return error::conflict("the cart is held by another order");
    if (held.status != status_open) co_return error::conflict("the cart is " + held.status);
    if (!has_available_lines(held)) co_return error::conflict("cart is empty");

    std::vector<std::pair<std::string, std::optional<catalog::variant_info>>> prices;
    for (const auto& l : held.lines) {
      auto v = co_await find_variant(l.sku, c);
      if (!v && v.err().code != errc::not_found) co_return std::move(v).err();
      prices.emplace_back(l.sku, v ? std::optional(std::move(v).value()) : std::nullopt);
    }
    auto now = ctx_.clock().now();
    auto write = [this, id = req.cart_id, order_id = req.order_id, version = held.version, prices = std::move(prices),
                  now, &c](store::database& db) {
      return db.transaction([&]() -> result<std::optional<cart>> {
        auto rec = sql::find_cart(db, id);
        if (!rec) return no_cart();
        if (rec->item.version != version) return std::optional<cart>();
        auto next = *rec;
        auto& cart = next.item;
        for (auto& l : cart.lines) {
          auto p = std::find_if(prices.begin(), prices.end(), [&](const auto& e) { return e.first == l.sku; });
          if (p->second)
            refresh_line(cart, l, *p->second, true);
          else
            l.available = false;
        }
        ++cart.version;
        cart.updated_at = to_rfc3339(now);
        if (!has_available_lines(cart)) {
          sql::save_cart(db, *rec, next);
          return error::conflict("cart is empty");
        }
        cart.status = std::string(status_checking_out);
        cart.order_id = order_id;
        auto snapshot = priced(cart);
        next.checkout_snapshot = nlohmann::json(snapshot).dump();
        sql::save_cart(db, *rec, next);
        return std::optional<struct cart>(std::move(snapshot));
      });
    };
    auto done = co_await ctx_.store().run(std::move(write), c.deadline);
    if (!done) co_return std::move(done).err();
    if (*done) co_return std::move(**done);
  }
  co_return error::conflict("the cart kept changing during checkout; try again");
}

asio::awaitable<result<cart>> service::end_checkout(end_checkout_request req, const bus::call_context& c) {
  if (!is_well_formed_id(req.cart_id, "cart")) co_return no_cart();
  if (req.outcome != outcome_completed && req.outcome != outcome_abandoned)
    co_return error::invalid({{"outcome", "must be \"completed\" or \"abandoned\""}});
  auto now = ctx_.clock().now();
  auto job = [this, req = std::move(req), now, &c](store::database& db) {
    return db.transaction([&]() -> result<cart> {
      auto rec = sql::find_cart(db, req.cart_id);
      if (!rec) return no_cart();
      auto& held = rec->item;
      const bool ours = held.order_id && *held.order_id == req.order_id;
      if (req.outcome == outcome_completed) {
        if (ours && held.status == status_checked_out) return priced(std::move(held));
        if (!ours || held.status != status_checking_out) return error::conflict("the cart is not held by this order");
        auto next = *rec;
        next.item.status = std::string(status_checked_out);
        ++next.item.version;
        next.item.updated_at = to_rfc3339(now);
        sql::save_cart(db, *rec, next);
        enqueue(db, cart_checked_out, next.item, c, now);
        return priced(std::move(next.item));
      }
      if (!ours && held.status == status_open && !held.order_id) return priced(std::move(held));
      if (!ours || held.status != status_checking_out) return error::conflict("the cart is not held by this order");
      auto next = *rec;
      next.item.status = std::string(status_open);
      next.item.order_id.reset();
      next.checkout_snapshot.reset();
      touch(next.item, now);
      sql::save_cart(db, *rec, next);
      return priced(std::move(next.item));
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

asio::awaitable<result<void>> service::on_variant_event(const bus::event& ev) {
  catalog::variant_info info;
  try {
    info = ev.data.get<catalog::variant_info>();
  } catch (const std::exception& e) {
    log::warn("cart", "variant event without a variant_info, ignored", {{"event", ev.id}, {"error", e.what()}});
    co_return ok();
  }
  const bool deleted = ev.type == catalog::variant_deleted;
  auto now = ctx_.clock().now();
  bus::call_context c;
  c.method = "cart.reprice";
  c.tr = &ev.tr;
  auto job = [this, info = std::move(info), deleted, now, event_id = ev.id, &c](store::database& db) {
    db.transaction([&] {
      if (!db.claim_event("cart", event_id)) return;
      for (const auto& id : sql::open_carts_with_sku(db, info.item.sku)) {
        auto rec = sql::find_cart(db, id);
        if (!rec) continue;
        auto next = *rec;
        bool changed = false;
        for (auto& l : next.item.lines)
          if (l.sku == info.item.sku) changed = refresh_line(next.item, l, info, !deleted) || changed;
        if (!changed) continue;
        ++next.item.version;
        next.item.updated_at = to_rfc3339(now);
        sql::save_cart(db, *rec, next);
        enqueue(db, cart_line_updated, next.item, c, now);
      }
    });
  };
  auto r = co_await ctx_.store().run(std::move(job), bus::clock::time_point::max());
  if (!r) co_return std::move(r).err();
  co_return ok();
}

}  // namespace agora::cart
