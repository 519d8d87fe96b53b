#include "service.hpp"

#include "settings.hpp"

#include <cart/api.hpp>
#include <inventory/api.hpp>

#include <agora/idempotency.hpp>
#include <agora/ids.hpp>
#include <agora/log.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <random>

namespace agora::orders {

namespace {

using steady = std::chrono::steady_clock;

constexpr std::string_view system_actor = "system";

bool transient(const error& e) {
  return e.code == errc::unavailable || e.code == errc::deadline_exceeded || e.code == errc::cancelled ||
         e.code == errc::internal;
}

// How long a handler waits for a saga: until shortly before its caller gives up (30 s
// for a caller with no deadline).
steady::time_point reply_by(const bus::call_context& c) {
  if (c.deadline == bus::clock::time_point::max()) return steady::now() + std::chrono::seconds(30);
  return c.deadline - std::chrono::milliseconds(100);
}

bool finished_step(std::string_view step) { return step == "done" || step == "failed"; }

// Why a failed checkout failed, in the error its reply carries.
error checkout_error(const order_record& r) {
  error e;
  if (!r.failure.empty()) {
    try {
      e = nlohmann::json::parse(r.failure).get<error>();
    } catch (const std::exception&) {
      e = error::conflict("checkout failed");
    }
  } else {
    e = error::conflict("checkout failed");
  }
  e.message = "order " + r.o.id + " was canceled (" + r.o.cancel_reason + "): " + e.message;
  // A module or the provider was unavailable: worth trying again, with a new key (this
  // key's answer stays this one).
  const auto& why = r.o.cancel_reason;
  if (why == "payment_timeout" || why == "payment_failed" || why == "inventory_unavailable" ||
      why == "cart_unavailable") {
    e.code = errc::unavailable;
    e.retry_after_s = 1;
  }
  return e;
}

bool visible_to(const order& o, const principal& who) { return who.is_staff() || o.customer_id == who.subject; }

std::string actor_of(const principal& who) { return who.subject.empty() ? std::string(system_actor) : who.subject; }

// The share of a line's total that `from`..`to` of its `quantity` units carry: the
// line's total split so that refunding every unit, in any steps, refunds it exactly.
std::int64_t share(std::int64_t total, std::int64_t quantity, std::int64_t from, std::int64_t to) {
  return total * to / quantity - total * from / quantity;
}

}  // namespace

service::service(module_context& ctx)
    : ctx_(ctx),
      web_location_(ctx.get(settings::web_location)),
      reservation_ttl_s_(ctx.get(settings::reservation_ttl_s)),
      step_timeout_(ctx.get(settings::step_timeout_ms)),
      retry_max_(ctx.get(settings::retry_max_ms)),
      page_limit_max_(ctx.get(settings::page_limit_max)),
      payments_(std::make_unique<fake_payment_provider>(
          ctx.store(), ctx.clock(),
          fake_payment_provider::options{ctx.get(settings::payment_decline_ratio),
                                         ctx.get(settings::payment_failure_ratio),
                                         std::chrono::milliseconds(ctx.get(settings::payment_latency_ms))})),
      checkouts_confirmed_(
          ctx.metrics().counter_of("agora_orders_checkouts_total", "Checkouts by outcome", {{"outcome", "confirmed"}})),
      checkouts_failed_(
          ctx.metrics().counter_of("agora_orders_checkouts_total", "Checkouts by outcome", {{"outcome", "canceled"}})),
      step_retries_(ctx.metrics().counter_of("agora_orders_saga_retries_total",
                                             "Saga steps tried again after a module or the provider was unavailable")),
      sagas_running_(ctx.metrics().gauge_of("agora_orders_sagas_running", "Checkout sagas not yet settled")) {}

asio::awaitable<void> service::start() {
  auto job = [](store::database& db) { return rows::unfinished(db); };
  auto ids = co_await ctx_.store().run(std::move(job));
  if (!ids) {
    log::error("orders", "could not list unfinished sagas", {{"error", ids.err().message}});
    co_return;
  }
  if (!ids->empty()) log::info("orders", "resuming checkout sagas", {{"count", ids->size()}});
  for (const auto& id : *ids) launch(id, {});
}

asio::awaitable<void> service::stop() { co_await sagas_.stop(); }

void service::launch(const std::string& id, bus::trace tr) {
  if (!driving_.insert(id).second) return;
  sagas_running_.add(1);
  sagas_.spawn(ctx_.executor(), drive(id, std::move(tr)), "orders.saga");
}

void service::settled(const std::string& id) {
  driving_.erase(id);
  sagas_running_.add(-1);
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return;
  for (auto& t : it->second) t->cancel();
  waiters_.erase(it);
}

asio::awaitable<void> service::wait_settled(const std::string& id, bus::clock::time_point deadline) {
  if (!driving_.contains(id)) co_return;
  auto timer = std::make_shared<asio::steady_timer>(ctx_.executor(), deadline);
  waiters_[id].push_back(timer);
  co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
  if (auto it = waiters_.find(id); it != waiters_.end()) std::erase(it->second, timer);
}

bus::request_options service::step_options(const bus::trace& tr) const {
  return bus::request_options(step_timeout_, tr);
}

steady::time_point service::step_deadline() const { return steady::now() + step_timeout_; }

void service::change(order_record& r, std::string_view field, std::string to, std::string reason, std::string actor) {
  auto& o = r.o;
  std::string* target = field == "status"           ? &o.status
                        : field == "payment_status" ? &o.payment_status
                                                    : &o.fulfilment_status;
  if (*target == to) return;
  o.history.push_back(
      {std::string(field), *target, to, std::move(reason), std::move(actor), ctx_.clock().now_rfc3339()});
  *target = std::move(to);
}

bus::event service::announce(const order& o, std::string_view type, std::optional<money> amount,
                             std::vector<refund_line> lines, const bus::call_context& c) const {
  order_event data{o, amount, std::move(lines)};
  data.item.version = o.version + 1;  // the version rows::save gives it in the same job
  auto ev = ctx_.event(orders_topic, type, o.id, nlohmann::json(data), c);
  ev.partition_key = o.id;
  return ev;
}

asio::awaitable<result<void>> service::store_record(order_record& r, std::string_view event_type, bool with_lines,
                                                    std::optional<money> amount, std::vector<refund_line> lines) {
  r.o.updated_at = ctx_.clock().now_rfc3339();
  auto copy = r;
  std::optional<bus::event> ev;
  if (!event_type.empty()) ev = announce(r.o, event_type, amount, std::move(lines), bus::call_context{});
  auto job = [copy = std::move(copy), ev = std::move(ev), with_lines](store::database& db) mutable {
    db.transaction([&] {
      rows::save(db, copy, with_lines);
      if (ev) db.enqueue_event(*ev);
    });
    return copy;
  };
  auto saved = co_await ctx_.store().run(std::move(job));
  if (!saved) co_return std::move(saved).err();
  r = std::move(saved).value();
  co_return ok();
}

asio::awaitable<void> service::drive(std::string id, bus::trace tr) {
  auto job = [id](store::database& db) { return rows::load(db, id); };
  auto loaded = co_await ctx_.store().run(std::move(job));
  if (!loaded || !*loaded) {
    log::error("orders", "a saga could not load its order", {{"order", id}});
    settled(id);
    co_return;
  }
  auto r = std::move(**loaded);
  auto pause = std::chrono::milliseconds(50);
  std::mt19937_64 rng(std::hash<std::string>{}(id));
  while (!finished_step(r.o.saga_step)) {
    auto out = co_await advance(r, tr);
    if (out == step_outcome::advanced) {
      pause = std::chrono::milliseconds(50);
      continue;
    }
    step_retries_.inc();
    // Full jitter: a module coming back is not met by every saga at once.
    auto wait = std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(0, pause.count())(rng));
    asio::steady_timer timer(ctx_.executor(), wait);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;  // stopping: the next start resumes it
    pause = std::min(pause * 2, retry_max_);
    if (!finished_step(r.o.saga_step)) {
      // Another change (a cancel) may have moved the order on meanwhile.
      auto reload = [id](store::database& db) { return rows::load(db, id); };
      auto again = co_await ctx_.store().run(std::move(reload));
      if (again && *again) r = std::move(**again);
    }
  }
  if (r.o.status == "canceled")
    checkouts_failed_.inc();
  else
    checkouts_confirmed_.inc();
  settled(id);
}

asio::awaitable<service::step_outcome> service::advance(order_record& r, const bus::trace& tr) {
  const auto& s = r.o.saga_step;
  if (s == "validate") co_return co_await validate(r, tr);
  if (s == "reserve") co_return co_await reserve(r, tr);
  if (s == "authorize") co_return co_await authorize(r);
  if (s == "confirm") {
    change(r, "status", "confirmed", "stock reserved and payment authorised", std::string(system_actor));
    r.o.saga_step = "commit";
    auto saved = co_await store_record(r, order_placed);
    co_return saved ? step_outcome::advanced : step_outcome::retry;
  }
  if (s == "commit") co_return co_await commit_stock(r, tr);
  if (s == "close_cart") co_return co_await close_cart(r, tr);
  if (s == "capture") co_return co_await capture(r);
  if (s == "compensate") co_return co_await compensate(r, tr);
  if (s == "cancel") co_return co_await undo_canceled(r, tr);
  log::error("orders", "unknown saga step; the order is left as it is", {{"order", r.o.id}, {"step", s}});
  r.o.saga_step = "failed";
  co_return step_outcome::advanced;
}

asio::awaitable<service::step_outcome> service::fail(order_record& r, std::string reason, const error& why) {
  r.o.cancel_reason = reason;
  r.failure = nlohmann::json(why).dump();
  change(r, "status", "canceled", reason, std::string(system_actor));
  r.o.saga_step = "compensate";
  auto saved = co_await store_record(r, order_canceled);
  co_return saved ? step_outcome::advanced : step_outcome::retry;
}

asio::awaitable<service::step_outcome> service::validate(order_record& r, const bus::trace& tr) {
  cart::begin_checkout_request q;
  q.cart_id = r.o.cart_id;
  q.order_id = r.o.id;
  q.customer_id = r.o.customer_id;
  auto opts = step_options(tr);
  auto c = co_await ctx_.bus().call<cart::begin_checkout>(std::move(q), std::move(opts));
  if (!c) {
    if (transient(c.err())) co_return co_await fail(r, "cart_unavailable", c.err());
    // The cart refused: nothing was changed there, so nothing needs undoing but the order.
    r.o.cancel_reason = "cart_invalid";
    r.failure = nlohmann::json(c.err()).dump();
    change(r, "status", "canceled", "cart_invalid", std::string(system_actor));
    r.o.saga_step = "failed";
    auto saved = co_await store_record(r, order_canceled);
    co_return saved ? step_outcome::advanced : step_outcome::retry;
  }
  const auto& snapshot = c.value();
  r.o.lines.clear();
  for (const auto& l : snapshot.lines) {
    if (!l.available) continue;
    order_line ol;
    ol.id = ctx_.clock().new_id("oli");
    ol.sku = l.sku;
    ol.product_id = l.product_id;
    ol.name = l.name;
    ol.quantity = l.quantity;
    ol.unit_price = l.unit_price;
    ol.line_total = l.line_total;
    ol.line_tax = l.line_tax;
    r.o.lines.push_back(std::move(ol));
  }
  if (r.o.lines.empty()) co_return co_await fail(r, "cart_invalid", error::conflict("cart is empty"));
  r.o.subtotal = snapshot.totals.subtotal;
  r.o.tax = snapshot.totals.tax;
  r.o.total = snapshot.totals.total;
  r.o.refunded = money{0, snapshot.totals.total.currency};
  r.o.saga_step = "reserve";
  auto saved = co_await store_record(r, {}, true);
  co_return saved ? step_outcome::advanced : step_outcome::retry;
}

asio::awaitable<service::step_outcome> service::reserve(order_record& r, const bus::trace& tr) {
  inventory::reserve_request q;
  q.reservation_id = r.o.id;
  q.location = r.o.location;
  q.ttl_s = reservation_ttl_s_;
  for (const auto& l : r.o.lines) q.lines.push_back({l.sku, l.quantity});
  auto opts = step_options(tr);
  auto res = co_await ctx_.bus().call<inventory::reserve>(std::move(q), std::move(opts));
  if (!res) {
    const auto& e = res.err();
    if (transient(e)) co_return co_await fail(r, "inventory_unavailable", e);
    if (e.code == errc::conflict) co_return co_await fail(r, "insufficient_stock", e);
    co_return co_await fail(r, "cart_invalid", e);
  }
  if (res->status != inventory::reservation_status::active) {
    auto why = error::conflict("stock reservation " + std::string(inventory::to_string(res->status)));
    co_return co_await fail(r, "reservation_expired", why);
  }
  r.o.saga_step = "authorize";
  auto saved = co_await store_record(r, {});
  co_return saved ? step_outcome::advanced : step_outcome::retry;
}

asio::awaitable<service::step_outcome> service::authorize(order_record& r) {
  auto p = co_await payments_->authorize(r.o.id, r.o.total, r.payment_token, step_deadline());
  if (!p) {
    const auto& e = p.err();
    if (e.code == errc::deadline_exceeded) co_return co_await fail(r, "payment_timeout", e);
    if (e.code == errc::conflict) co_return co_await fail(r, "payment_declined", e);
    co_return co_await fail(r, "payment_failed", e);
  }
  r.o.payment_id = p->id;
  change(r, "payment_status", "authorized", "", std::string(system_actor));
  r.o.saga_step = "confirm";
  auto saved = co_await store_record(r, {});
  co_return saved ? step_outcome::advanced : step_outcome::retry;
}

asio::awaitable<service::step_outcome> service::commit_stock(order_record& r, const bus::trace& tr) {
  inventory::commit_request q;
  q.reservation_id = r.o.id;
  auto opts = step_options(tr);
  auto res = co_await ctx_.bus().call<inventory::commit>(std::move(q), std::move(opts));
  if (!res) {
    if (transient(res.err())) co_return step_outcome::retry;
    // The reservation expired (or was released) before the confirmed order committed it:
    // the goods are no longer held for it, so the order cannot be kept.
    co_return co_await fail(r, "reservation_expired", res.err());
  }
  r.o.saga_step = "close_cart";
  auto saved = co_await store_record(r, {});
  co_return saved ? step_outcome::advanced : step_outcome::retry;
}

asio::awaitable<service::step_outcome> service::close_cart(order_record& r, const bus::trace& tr) {
  cart::end_checkout_request q;
  q.cart_id = r.o.cart_id;
  q.order_id = r.o.id;
  q.outcome = std::string(cart::outcome_completed);
  auto opts = step_options(tr);
  auto res = co_await ctx_.bus().call<cart::end_checkout>(std::move(q), std::move(opts));
  if (!res && transient(res.err())) co_return step_outcome::retry;
  if (!res) log::warn("orders", "the cart refused to close", {{"order", r.o.id}, {"error", res.err().message}});
  r.o.saga_step = "capture";
  auto saved = co_await store_record(r, {});
  co_return saved ? step_outcome::advanced : step_outcome::retry;
}

asio::awaitable<service::step_outcome> service::capture(order_record& r) {
  auto p = co_await payments_->capture(r.o.id, step_deadline());
  if (!p && transient(p.err())) co_return step_outcome::retry;
  if (!p) {
    log::error("orders", "payment capture refused", {{"order", r.o.id}, {"error", p.err().message}});
    r.o.saga_step = "done";
    auto saved = co_await store_record(r, {});
    co_return saved ? step_outcome::advanced : step_outcome::retry;
  }
  change(r, "payment_status", "captured", "", std::string(system_actor));
  change(r, "status", "paid", "payment captured", std::string(system_actor));
  r.o.saga_step = "done";
  auto saved = co_await store_record(r, order_paid);
  co_return saved ? step_outcome::advanced : step_outcome::retry;
}

// Undoes what a failed checkout may have done, each part idempotent: the stock
// reservation, the payment authorisation, the cart's checkout hold.
asio::awaitable<service::step_outcome> service::compensate(order_record& r, const bus::trace& tr) {
  inventory::release_request rel;
  rel.reservation_id = r.o.id;
  rel.reason = "order canceled: " + r.o.cancel_reason;
  auto opts = step_options(tr);
  auto released = co_await ctx_.bus().call<inventory::release>(std::move(rel), std::move(opts));
  if (!released && transient(released.err())) co_return step_outcome::retry;

  auto voided = co_await payments_->void_authorization(r.o.id, step_deadline());
  if (!voided && transient(voided.err())) co_return step_outcome::retry;
  if (voided) change(r, "payment_status", "voided", r.o.cancel_reason, std::string(system_actor));

  cart::end_checkout_request end;
  end.cart_id = r.o.cart_id;
  end.order_id = r.o.id;
  end.outcome = std::string(cart::outcome_abandoned);
  auto opts2 = step_options(tr);
  auto reopened = co_await ctx_.bus().call<cart::end_checkout>(std::move(end), std::move(opts2));
  if (!reopened && transient(reopened.err())) co_return step_outcome::retry;

  r.o.saga_step = "failed";
  auto saved = co_await store_record(r, {});
  co_return saved ? step_outcome::advanced : step_outcome::retry;
}

// A confirmed order canceled afterwards: the committed stock goes back on the shelf and
// the money back to the customer.
asio::awaitable<service::step_outcome> service::undo_canceled(order_record& r, const bus::trace& tr) {
  // Stock: a reservation still held is released; committed stock is put back.
  inventory::release_request rel;
  rel.reservation_id = r.o.id;
  rel.reason = "order canceled";
  auto opts = step_options(tr);
  auto released = co_await ctx_.bus().call<inventory::release>(std::move(rel), std::move(opts));
  if (!released && transient(released.err())) co_return step_outcome::retry;
  bool committed = !released && released.err().code == errc::conflict;
  if (committed) {
    inventory::adjust_request adj;
    // One adjustment per line, each with an id of its own, so a retried step puts
    // nothing back twice.
    for (const auto& l : r.o.lines) {
      adj.sku = l.sku;
      adj.location = r.o.location;
      adj.delta = l.quantity;
      adj.reason = "order " + r.o.id + " canceled";
      adj.adjustment_id = "cancel:" + r.o.id + ":" + l.id;
      auto q = adj;
      auto o2 = step_options(tr);
      auto a = co_await ctx_.bus().call<inventory::adjust>(std::move(q), std::move(o2));
      if (!a && transient(a.err())) co_return step_outcome::retry;
    }
  }
  if (r.o.payment_status == "captured" || r.o.payment_status == "partially_refunded") {
    money rest{r.o.total.amount - r.o.refunded.amount, r.o.total.currency};
    if (rest.amount > 0) {
      auto p = co_await payments_->refund(r.o.id, r.o.id + ":cancel", rest, step_deadline());
      if (!p && transient(p.err())) co_return step_outcome::retry;
      if (p) r.o.refunded.amount = r.o.total.amount;
    }
    change(r, "payment_status", "refunded", "order canceled", std::string(system_actor));
  } else if (r.o.payment_status == "authorized") {
    auto p = co_await payments_->void_authorization(r.o.id, step_deadline());
    if (!p && transient(p.err())) co_return step_outcome::retry;
    change(r, "payment_status", "voided", "order canceled", std::string(system_actor));
  }
  r.o.saga_step = "done";
  auto saved = co_await store_record(r, {});
  co_return saved ? step_outcome::advanced : step_outcome::retry;
}

asio::awaitable<result<order_record>> service::load(const std::string& id, const bus::call_context& c) {
  if (!is_well_formed_id(id, "ord")) co_return error::not_found("no order " + id);
  auto job = [id](store::database& db) { return rows::load(db, id); };
  auto r = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!r) co_return std::move(r).err();
  if (!*r || !visible_to((*r)->o, c.who)) co_return error::not_found("no order " + id);
  co_return std::move(**r);
}

asio::awaitable<result<order>> service::checkout(checkout_request req, const bus::call_context& c) {
  if (!c.who.authenticated() || c.who.subject.empty()) co_return error::unauthenticated("sign in to check out");
  std::vector<field_error> bad;
  if (!is_well_formed_id(req.cart_id, "cart")) bad.push_back({"cart_id", "must be a cart id (cart_…)"});
  if (req.payment_token.empty()) req.payment_token = "tok_ok";
  if (req.payment_token.size() > 64) bad.push_back({"payment_token", "at most 64 characters"});
  if (req.idempotency_key) {
    if (auto k = idempotency::check_key(*req.idempotency_key); !k) co_return std::move(k).err();
  }
  if (!bad.empty()) co_return error::invalid(std::move(bad));

  order_record rec;
  auto& o = rec.o;
  o.id = ctx_.clock().new_id("ord");
  o.customer_id = c.who.subject;
  o.cart_id = req.cart_id;
  o.status = "pending";
  o.payment_status = "none";
  o.fulfilment_status = "unfulfilled";
  o.saga_step = "validate";
  o.location = web_location_;
  o.created_at = o.updated_at = ctx_.clock().now_rfc3339();
  o.history.push_back({"status", "", "pending", "checkout", actor_of(c.who), o.created_at});
  rec.payment_token = req.payment_token;

  std::string scope = "orders.checkout:" + o.customer_id;
  std::string fp =
      idempotency::fingerprint(nlohmann::json{{"cart_id", req.cart_id}, {"payment_token", req.payment_token}});
  auto key = req.idempotency_key;
  auto job = [rec, scope, fp, key](store::database& db) mutable -> result<std::string> {
    return db.transaction([&]() -> result<std::string> {
      if (key) {
        auto prior = idempotency::recall(db, scope, *key, fp);
        if (!prior) return std::move(prior).err();
        if (*prior) return **prior;
      }
      rows::insert(db, rec);
      if (key) db.record_idempotency(scope, *key, fp, rec.o.id);
      return rec.o.id;
    });
  };
  auto id = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!id) co_return std::move(id).err();
  if (*id == o.id) launch(o.id, c.tr ? *c.tr : bus::trace{});
  // Answer before the caller gives up, with the order as it then stands.
  co_await wait_settled(*id, reply_by(c));
  auto got = co_await load(*id, c);
  if (!got) co_return std::move(got).err();
  if (got->o.status == "canceled" && !got->failure.empty() && got->o.payment_status != "captured")
    co_return checkout_error(*got);
  co_return std::move(got->o);
}

asio::awaitable<result<order>> service::get_order(get_order_request req, const bus::call_context& c) {
  auto r = co_await load(req.id, c);
  if (!r) co_return std::move(r).err();
  co_return std::move(r->o);
}

asio::awaitable<result<order_page>> service::list_orders(list_orders_request req, const bus::call_context& c) {
  rows::list_filter f;
  std::vector<field_error> bad;
  if (c.who.is_staff()) {
    f.customer_id = req.customer_id;
  } else {
    if (req.customer_id && *req.customer_id != c.who.subject)
      bad.push_back({"customer_id", "only staff may list another customer's orders"});
    f.customer_id = c.who.subject;
  }
  static const std::vector<std::string_view> statuses{"pending",  "confirmed", "paid",
                                                      "canceled", "refunded",  "partially_refunded"};
  if (req.status && std::find(statuses.begin(), statuses.end(), *req.status) == statuses.end())
    bad.push_back({"status", "one of pending, confirmed, paid, canceled, refunded, partially_refunded"});
  f.status = req.status;
  std::optional<std::chrono::system_clock::time_point> from, to;
  if (req.from) {
    from = from_rfc3339(*req.from);
    if (!from)
      bad.push_back({"from", "an RFC 3339 date-time"});
    else
      f.from = to_rfc3339(*from);
  }
  if (req.to) {
    to = from_rfc3339(*req.to);
    if (!to)
      bad.push_back({"to", "an RFC 3339 date-time"});
    else
      f.to = to_rfc3339(*to);
  }
  if (from && to && *from > *to) bad.push_back({"from", "must not be after `to`"});
  if (!bad.empty()) co_return error::invalid(std::move(bad));
  auto fetch = [f](store::database& db, const std::string& after, std::int64_t n) {
    return rows::list(db, f, after, n);
  };
  page_rules rules{20, page_limit_max_, "ord"};
  co_return co_await read_page<order>(ctx_.store(), req.limit, req.cursor, rules, std::move(fetch), c.deadline);
}

asio::awaitable<result<order>> service::cancel_order(cancel_order_request req, const bus::call_context& c) {
  if (req.reason.size() > 200) co_return error::invalid({{"reason", "at most 200 characters"}});
  auto r = co_await load(req.id, c);
  if (!r) co_return std::move(r).err();
  auto& rec = *r;
  if (rec.o.status == "canceled") co_return std::move(rec.o);
  if (driving_.contains(rec.o.id) || !finished_step(rec.o.saga_step))
    co_return error::conflict("order " + rec.o.id + " is still being checked out; try again shortly");
  bool staff = c.who.is_staff();
  const auto& f = rec.o.fulfilment_status;
  if (!staff && f != "unfulfilled")
    co_return error::conflict("order " + rec.o.id + " is already " + f + "; only staff can cancel it now");
  if (f == "shipped" || f == "delivered")
    co_return error::conflict("order " + rec.o.id + " has " + (f == "shipped" ? "shipped" : "been delivered") +
                              "; refund it instead");
  if (rec.o.status == "refunded") co_return error::conflict("order " + rec.o.id + " is refunded already");
  rec.o.cancel_reason = staff ? "staff" + (req.reason.empty() ? std::string() : ": " + req.reason) : "customer";
  change(rec, "status", "canceled", req.reason.empty() ? rec.o.cancel_reason : req.reason, actor_of(c.who));
  rec.o.saga_step = "cancel";
  auto saved = co_await store_record(rec, order_canceled);
  if (!saved) co_return std::move(saved).err();
  launch(rec.o.id, c.tr ? *c.tr : bus::trace{});
  co_await wait_settled(rec.o.id, reply_by(c));
  auto again = co_await load(req.id, c);
  if (!again) co_return std::move(again).err();
  co_return std::move(again->o);
}

asio::awaitable<result<order>> service::refund_order(refund_order_request req, const bus::call_context& c) {
  if (req.reason.size() > 200) co_return error::invalid({{"reason", "at most 200 characters"}});
  if (req.idempotency_key) {
    if (auto k = idempotency::check_key(*req.idempotency_key); !k) co_return std::move(k).err();
  }
  auto r = co_await load(req.id, c);
  if (!r) co_return std::move(r).err();
  auto& rec = *r;
  if (rec.o.payment_status != "captured" && rec.o.payment_status != "partially_refunded")
    co_return error::conflict("order " + rec.o.id + " has no captured payment to refund (payment " +
                              rec.o.payment_status + ")");
  // What each line gets back.
  std::vector<refund_line> wanted = req.lines;
  if (wanted.empty())
    for (const auto& l : rec.o.lines)
      if (l.quantity > l.refunded_quantity) wanted.push_back({l.id, l.quantity - l.refunded_quantity});
  std::vector<field_error> bad;
  std::int64_t amount = 0;
  auto after = rec.o.lines;
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    const auto& w = wanted[i];
    auto name = "lines[" + std::to_string(i) + "]";
    auto it = std::find_if(after.begin(), after.end(), [&](const order_line& l) { return l.id == w.line_id; });
    if (it == after.end()) {
      bad.push_back({name + ".line_id", "no such line in this order"});
      continue;
    }
    if (w.quantity < 1) {
      bad.push_back({name + ".quantity", "at least 1"});
      continue;
    }
    if (it->refunded_quantity + w.quantity > it->quantity) {
      bad.push_back(
          {name + ".quantity", "only " + std::to_string(it->quantity - it->refunded_quantity) + " left to refund"});
      continue;
    }
    amount += share(it->line_total.amount, it->quantity, it->refunded_quantity, it->refunded_quantity + w.quantity);
    it->refunded_quantity += w.quantity;
  }
  if (wanted.empty()) co_return error::conflict("order " + rec.o.id + " is refunded already");
  if (!bad.empty()) co_return error::invalid(std::move(bad));

  std::string fp = idempotency::fingerprint(nlohmann::json{{"order", req.id}, {"lines", nlohmann::json(req.lines)}});
  std::string scope = "orders.refund:" + rec.o.id;
  if (req.idempotency_key) {
    auto key = *req.idempotency_key;
    auto seen_job = [scope, key, fp](store::database& db) { return idempotency::recall(db, scope, key, fp); };
    auto seen = co_await ctx_.store().run(std::move(seen_job), c.deadline);
    if (!seen) co_return std::move(seen).err();
    if (*seen) {
      auto again = co_await load(req.id, c);
      if (!again) co_return std::move(again).err();
      co_return std::move(again->o);
    }
  }
  auto refund_id = req.idempotency_key ? "rfd:" + rec.o.id + ":" + *req.idempotency_key : ctx_.clock().new_id("rfd");
  money m{amount, rec.o.total.currency};
  auto p = co_await payments_->refund(rec.o.id, refund_id, m, step_deadline());
  if (!p) co_return std::move(p).err();

  rec.o.lines = std::move(after);
  rec.o.refunded.amount += amount;
  bool all = std::all_of(rec.o.lines.begin(), rec.o.lines.end(),
                         [](const order_line& l) { return l.refunded_quantity == l.quantity; });
  auto to = all ? std::string("refunded") : std::string("partially_refunded");
  change(rec, "payment_status", to, req.reason, actor_of(c.who));
  change(rec, "status", to, req.reason, actor_of(c.who));
  rec.o.updated_at = ctx_.clock().now_rfc3339();
  auto copy = rec;
  auto ev = announce(rec.o, order_refunded, m, wanted, c);
  auto key = req.idempotency_key;
  auto job = [copy = std::move(copy), ev = std::move(ev), key, scope, fp](store::database& db) mutable {
    db.transaction([&] {
      rows::save(db, copy, true);
      db.enqueue_event(ev);
      if (key) db.record_idempotency(scope, *key, fp, copy.o.id);
    });
    return copy;
  };
  auto saved = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!saved) co_return std::move(saved).err();
  co_return std::move(saved->o);
}

asio::awaitable<result<order>> service::update_fulfilment(update_fulfilment_request req, const bus::call_context& c) {
  static const std::vector<std::string_view> order_of{"unfulfilled", "fulfilled", "shipped", "delivered"};
  auto pos = std::find(order_of.begin(), order_of.end(), req.fulfilment_status);
  std::vector<field_error> bad;
  if (pos == order_of.end() || pos == order_of.begin())
    bad.push_back({"fulfilment_status", "one of fulfilled, shipped, delivered"});
  if (req.tracking && (req.tracking->empty() || req.tracking->size() > 100))
    bad.push_back({"tracking", "1 to 100 characters"});
  if (!bad.empty()) co_return error::invalid(std::move(bad));
  auto r = co_await load(req.id, c);
  if (!r) co_return std::move(r).err();
  auto& rec = *r;
  if (rec.o.status != "paid" && rec.o.status != "partially_refunded")
    co_return error::conflict("order " + rec.o.id + " is " + rec.o.status + "; only a paid order is fulfilled");
  auto cur = std::find(order_of.begin(), order_of.end(), rec.o.fulfilment_status);
  if (cur == order_of.end() || pos != cur + 1)
    co_return error::conflict("order " + rec.o.id + " is " + rec.o.fulfilment_status + "; it cannot become " +
                              req.fulfilment_status);
  if (req.tracking) rec.o.tracking = req.tracking;
  change(rec, "fulfilment_status", req.fulfilment_status, "", actor_of(c.who));
  auto saved = co_await store_record(rec, order_fulfilment);
  if (!saved) co_return std::move(saved).err();
  co_return std::move(rec.o);
}

}  // namespace agora::orders
