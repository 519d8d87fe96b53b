#include "service.hpp"
#include "settings.hpp"
#include "store.hpp"
#include "validation.hpp"

#include <agora/ids.hpp>
#include <agora/log.hpp>

#include <algorithm>
#include <cctype>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>

#include <stdexcept>

namespace agora::inventory {

namespace {

constexpr std::int64_t default_page_limit = 20;
constexpr std::int64_t sweep_batch = 100;

// Writes stock changes and their events inside one transaction: one event per level a
// change touched, then inventory.low_stock when that change made the level low.
class ledger {
 public:
  ledger(store::database& db, const module_context& ctx, const bus::call_context& c, std::string now)
      : db_(db), ctx_(ctx), c_(c), now_(std::move(now)) {}

  const std::string& now() const noexcept { return now_; }

  // on_hand += d_on_hand, reserved += d_reserved where that keeps 0 ≤ reserved ≤ on_hand;
  // nothing (and no event) when it would not.
  std::optional<stock_level> move(std::string_view type, const std::string& sku, const std::string& location,
                                  std::int64_t d_on_hand, std::int64_t d_reserved, std::int64_t quantity,
                                  stock_event data) {
    if (!sql::move_stock(db_, sku, location, d_on_hand, d_reserved, now_)) return std::nullopt;
    auto row = *sql::find_level(db_, sku, location);
    data.quantity = quantity;
    publish(type, row.level, std::move(data));
    check_low(row);
    return row.level;
  }

  // The level as it is now, after a change that published nothing of its own (a threshold).
  stock_level settle(const std::string& sku, const std::string& location) {
    auto row = *sql::find_level(db_, sku, location);
    check_low(row);
    return row.level;
  }

 private:
  void check_low(const sql::level_row& row) {
    const auto& lv = row.level;
    bool low = lv.low_stock_threshold && lv.available <= *lv.low_stock_threshold;
    if (low == row.low) return;
    sql::set_low(db_, lv.sku, lv.location, low);
    if (low) publish(low_stock, lv, stock_event{});
  }

  void publish(std::string_view type, const stock_level& lv, stock_event data) {
    data.sku = lv.sku;
    data.location = lv.location;
    data.level = lv;
    auto ev = ctx_.event(stock_topic, type, lv.sku, nlohmann::json(data), c_, now_);
    ev.partition_key = lv.sku;
    db_.enqueue_event(ev);
  }

  store::database& db_;
  const module_context& ctx_;
  const bus::call_context& c_;
  std::string now_;
};

error insufficient(std::vector<field_error> fields) {
  return error{errc::conflict, "insufficient stock", std::move(fields)};
}

std::string only_available(std::int64_t n) { return "only " + std::to_string(n) + " available"; }

std::string line_field(std::size_t i, std::string_view member) {
  return "lines[" + std::to_string(i) + "]." + std::string(member);
}

// Lines of `lines` that `location` cannot cover from available stock, named by their
// request index.
std::vector<field_error> short_lines(store::database& db, const std::string& location, const merged_lines& lines) {
  std::vector<field_error> out;
  for (std::size_t i = 0; i < lines.lines.size(); ++i) {
    auto row = sql::find_level(db, lines.lines[i].sku, location);
    std::int64_t available = row ? row->level.available : 0;
    if (available < lines.lines[i].quantity)
      out.push_back({line_field(lines.first_index[i], "quantity"), only_available(available)});
  }
  return out;
}

// Gives back the stock of an active reservation and closes it as released or expired.
void close_active(store::database& db, ledger& book, reservation& r, reservation_status status, std::string reason) {
  auto type = status == reservation_status::expired ? stock_expired : stock_released;
  stock_event data;
  data.reservation_id = r.id;
  data.reason = reason;
  for (const auto& l : r.lines)
    if (!book.move(type, l.sku, r.location, 0, -l.quantity, l.quantity, data))
      throw std::logic_error("a reservation held more than its level's reserved stock");
  if (!sql::close_reservation(db, r.id, status, reason, book.now()))
    throw std::logic_error("a reservation was closed twice in one transaction");
  r.status = status;
  r.reason = std::move(reason);
  r.updated_at = book.now();
}

bool is_due(const reservation& r, std::string_view now) { return r.expires_at <= now; }

result<std::pair<std::string, std::string>> level_cursor(const std::string& cursor) {
  if (cursor.empty()) return std::pair<std::string, std::string>{};
  auto text = decode_cursor(cursor);
  auto cut = text.find('\n');
  if (cut != std::string::npos) {
    auto sku = text.substr(0, cut);
    auto location = text.substr(cut + 1);
    if (is_sku(sku) && is_location_id(location)) return std::pair{std::move(sku), std::move(location)};
  }
  return error::invalid({{"cursor", "is not a cursor this list gave"}});
}

void check_reason(std::string& reason, bool required, std::vector<field_error>& errors) {
  reason = trim(reason);
  auto n = utf8_length(reason);
  if (n == std::string::npos || (required && n == 0) || n > reason_max)
    errors.push_back({"reason", std::string(required ? "expected 1" : "expected 0") + " to " +
                                    std::to_string(reason_max) + " characters of valid UTF-8"});
}

}  // namespace

service::service(module_context& ctx)
    : ctx_(ctx),
      default_ttl_s_(ctx.get(settings::reservation_ttl_s)),
      quantity_max_(ctx.get(settings::quantity_max)),
      page_limit_max_(ctx.get(settings::page_limit_max)),
      sweep_period_(ctx.get(settings::sweep_period_ms)) {}

asio::awaitable<void> service::start() {
  if (ctx_.replica() == 0) tasks_.spawn(ctx_.executor(), sweep_loop(), "inventory.sweep");
  co_return;
}

asio::awaitable<void> service::stop() { co_await tasks_.stop(); }

asio::awaitable<void> service::sweep_loop() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(sweep_period_);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    auto swept = co_await sweep();
    if (!swept) log::warn("inventory", "reservation sweep failed", {{"error", swept.err().message}});
  }
}

asio::awaitable<result<std::int64_t>> service::sweep() {
  std::int64_t total = 0;
  for (;;) {
    auto job = [&ctx = ctx_](store::database& db) -> std::int64_t {
      bus::call_context c;
      c.method = "inventory.sweep";
      auto now = ctx.clock().now_rfc3339();
      auto due = sql::due_reservations(db, now, sweep_batch);
      for (const auto& id : due) {
        db.transaction([&] {
          auto r = sql::find_reservation(db, id);
          if (!r || r->status != reservation_status::active) return;
          ledger book(db, ctx, c, now);
          close_active(db, book, *r, reservation_status::expired, "expired");
        });
      }
      return static_cast<std::int64_t>(due.size());
    };
    auto n = co_await ctx_.store().run(std::move(job));
    if (!n) co_return std::move(n).err();
    total += *n;
    if (*n < sweep_batch) co_return total;
  }
}

asio::awaitable<result<reservation>> service::reserve(reserve_request req, const bus::call_context& c) {
  std::vector<field_error> errors;
  if (req.reservation_id.empty())
    req.reservation_id = ctx_.clock().new_id("rsv");
  else if (!is_reservation_id(req.reservation_id))
    errors.push_back({"reservation_id", "expected 1 to 64 of A-Z, a-z, 0-9, '_', '-'"});
  check_location(req.location, "location", errors);
  check_lines(req.lines, quantity_max_, errors);
  auto ttl = req.ttl_s.value_or(default_ttl_s_);
  if (ttl < 1 || ttl > ttl_max_s)
    errors.push_back({"ttl_s", "expected an integer from 1 to " + std::to_string(ttl_max_s)});
  if (!errors.empty()) co_return error::invalid(std::move(errors));

  auto at = ctx_.clock().now();
  reservation r;
  r.id = std::move(req.reservation_id);
  r.location = std::move(req.location);
  r.created_at = r.updated_at = to_rfc3339(at);
  r.expires_at = to_rfc3339(at + std::chrono::seconds(ttl));
  auto job = [r = std::move(r), lines = merge_lines(req.lines), &ctx = ctx_, &c](store::database& db) mutable {
    return db.transaction([&]() -> result<reservation> {
      if (auto existing = sql::find_reservation(db, r.id)) return std::move(*existing);
      if (!sql::location_exists(db, r.location)) return error::not_found("no location has this id");
      if (auto lacking = short_lines(db, r.location, lines); !lacking.empty()) return insufficient(std::move(lacking));
      ledger book(db, ctx, c, r.created_at);
      stock_event data;
      data.reservation_id = r.id;
      for (const auto& l : lines.lines)
        if (!book.move(stock_reserved, l.sku, r.location, 0, l.quantity, l.quantity, data))
          throw std::logic_error("a level changed between its check and its reservation");
      r.lines = std::move(lines.lines);
      sql::insert_reservation(db, r);
      return std::move(r);
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

asio::awaitable<result<reservation>> service::release(release_request req, const bus::call_context& c) {
  std::vector<field_error> errors;
  if (!is_reservation_id(req.reservation_id)) errors.push_back({"reservation_id", "is not a reservation id"});
  check_reason(req.reason, false, errors);
  if (!errors.empty()) co_return error::invalid(std::move(errors));
  if (req.reason.empty()) req.reason = "released";
  auto job = [req = std::move(req), now = ctx_.clock().now_rfc3339(), &ctx = ctx_, &c](store::database& db) mutable {
    return db.transaction([&]() -> result<reservation> {
      auto r = sql::find_reservation(db, req.reservation_id);
      if (!r) return error::not_found("no reservation has this id");
      if (r->status == reservation_status::committed) return error::conflict("reservation committed");
      if (r->status != reservation_status::active) return std::move(*r);
      ledger book(db, ctx, c, now);
      if (is_due(*r, now))
        close_active(db, book, *r, reservation_status::expired, "expired");
      else
        close_active(db, book, *r, reservation_status::released, std::move(req.reason));
      return std::move(*r);
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

asio::awaitable<result<reservation>> service::commit(commit_request req, const bus::call_context& c) {
  if (!is_reservation_id(req.reservation_id)) co_return error::invalid({{"reservation_id", "is not a reservation id"}});
  auto job = [id = std::move(req.reservation_id), now = ctx_.clock().now_rfc3339(), &ctx = ctx_,
              &c](store::database& db) {
    return db.transaction([&]() -> result<reservation> {
      auto r = sql::find_reservation(db, id);
      if (!r) return error::not_found("no reservation has this id");
      switch (r->status) {
        case reservation_status::committed: return std::move(*r);
        case reservation_status::released: return error::conflict("reservation released");
        case reservation_status::expired: return error::conflict("reservation expired");
        case reservation_status::active: break;
      }
      ledger book(db, ctx, c, now);
      if (is_due(*r, now)) {
        // Committed with the refusal: the stock goes back now rather than at the next sweep.
        close_active(db, book, *r, reservation_status::expired, "expired");
        return error::conflict("reservation expired");
      }
      stock_event data;
      data.reservation_id = r->id;
      for (const auto& l : r->lines)
        if (!book.move(stock_committed, l.sku, r->location, -l.quantity, -l.quantity, l.quantity, data))
          throw std::logic_error("a reservation held more than its level's reserved stock");
      if (!sql::close_reservation(db, r->id, reservation_status::committed, std::nullopt, now))
        throw std::logic_error("a reservation was closed twice in one transaction");
      r->status = reservation_status::committed;
      r->updated_at = now;
      return std::move(*r);
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

asio::awaitable<result<reservation>> service::get_reservation(get_reservation_request req, const bus::call_context& c) {
  if (!is_reservation_id(req.reservation_id)) co_return error::invalid({{"reservation_id", "is not a reservation id"}});
  auto job = [id = std::move(req.reservation_id)](store::database& db) { return sql::find_reservation(db, id); };
  auto r = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!r) co_return std::move(r).err();
  if (!r.value()) co_return error::not_found("no reservation has this id");
  co_return std::move(*r.value());
}

asio::awaitable<result<stock_level>> service::adjust(adjust_request req, const bus::call_context& c) {
  std::vector<field_error> errors;
  check_sku(req.sku, "sku", errors);
  check_location(req.location, "location", errors);
  if (req.delta == 0 || req.delta < -quantity_max_ || req.delta > quantity_max_)
    errors.push_back({"delta", "expected a non-zero integer from -" + std::to_string(quantity_max_) + " to " +
                                   std::to_string(quantity_max_)});
  check_reason(req.reason, true, errors);
  if (req.adjustment_id) {
    const auto& id = *req.adjustment_id;
    bool good = !id.empty() && id.size() <= 100 && std::all_of(id.begin(), id.end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == ':' || ch == '-';
    });
    if (!good) errors.push_back({"adjustment_id", "expected 1-100 of [A-Za-z0-9_:-]"});
  }
  if (!errors.empty()) co_return error::invalid(std::move(errors));
  auto now = ctx_.clock().now_rfc3339();
  adjustment a{req.adjustment_id ? *req.adjustment_id : ctx_.clock().new_id("adj"),
               std::move(req.sku),
               std::move(req.location),
               req.delta,
               std::move(req.reason),
               c.who.subject,
               now};
  auto job = [a = std::move(a), &ctx = ctx_, &c](store::database& db) {
    return db.transaction([&]() -> result<stock_level> {
      if (!sql::location_exists(db, a.location)) return error::not_found("no location has this id");
      auto row = sql::find_level(db, a.sku, a.location);
      auto& seen = db.prepare("SELECT 1 FROM adjustments WHERE id = ?");
      seen.bind(1, a.id);
      bool done = seen.step();
      seen.reset();
      if (done) {
        if (!row) return error::not_found("no stock level for this sku at this location");
        return row->level;
      }
      std::int64_t available = row ? row->level.available : 0;
      if (a.delta < 0 && -a.delta > available) return insufficient({{"delta", only_available(available)}});
      sql::ensure_level(db, a.sku, a.location, a.created_at);
      sql::insert_adjustment(db, a);
      ledger book(db, ctx, c, a.created_at);
      stock_event data;
      data.adjustment_id = a.id;
      data.reason = a.reason;
      auto lv = book.move(stock_adjusted, a.sku, a.location, a.delta, 0, a.delta, std::move(data));
      if (!lv) throw std::logic_error("a level changed between its check and its adjustment");
      return std::move(*lv);
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

asio::awaitable<result<level_page>> service::levels(std::optional<std::string> sku, std::optional<std::string> location,
                                                    bool low_only, std::optional<std::int64_t> limit,
                                                    std::string cursor, const bus::call_context& c) {
  std::vector<field_error> errors;
  if (sku) check_sku(*sku, "sku", errors);
  if (location) check_location(*location, "location", errors);
  auto n = page_limit(limit, default_page_limit, page_limit_max_);
  if (!n) errors.insert(errors.end(), n.err().fields.begin(), n.err().fields.end());
  auto after = level_cursor(cursor);
  if (!after) errors.insert(errors.end(), after.err().fields.begin(), after.err().fields.end());
  if (!errors.empty()) co_return error::invalid(std::move(errors));
  auto job = [after = std::move(after).value(), sku = std::move(sku), location = std::move(location), low_only,
              n = *n](store::database& db) {
    return sql::list_levels(db, after.first, after.second, sku, location, low_only, n + 1);
  };
  auto rows = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!rows) co_return std::move(rows).err();
  level_page out;
  out.data = std::move(rows).value();
  if (static_cast<std::int64_t>(out.data.size()) > *n) {
    out.data.resize(static_cast<std::size_t>(*n));
    out.next_cursor = encode_cursor(out.data.back().sku + "\n" + out.data.back().location);
  }
  co_return out;
}

asio::awaitable<result<level_page>> service::get_levels(get_levels_request req, const bus::call_context& c) {
  co_return co_await levels(std::move(req.sku), std::move(req.location), false, req.limit, std::move(req.cursor), c);
}

asio::awaitable<result<level_page>> service::list_low_stock(list_low_stock_request req, const bus::call_context& c) {
  co_return co_await levels(std::nullopt, std::move(req.location), true, req.limit, std::move(req.cursor), c);
}

asio::awaitable<result<stock_level>> service::get_level(get_level_request req, const bus::call_context& c) {
  std::vector<field_error> errors;
  check_sku(req.sku, "sku", errors);
  check_location(req.location, "location", errors);
  if (!errors.empty()) co_return error::invalid(std::move(errors));
  auto job = [req = std::move(req)](store::database& db) { return sql::find_level(db, req.sku, req.location); };
  auto r = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!r) co_return std::move(r).err();
  if (!r.value()) co_return error::not_found("no stock of this sku at this location");
  co_return std::move(r.value()->level);
}

asio::awaitable<result<transfer>> service::create_transfer(create_transfer_request req, const bus::call_context& c) {
  std::vector<field_error> errors;
  check_location(req.from, "from", errors);
  check_location(req.to, "to", errors);
  if (req.from == req.to && !req.to.empty()) errors.push_back({"to", "must differ from from"});
  check_lines(req.lines, quantity_max_, errors);
  if (!errors.empty()) co_return error::invalid(std::move(errors));
  auto now = ctx_.clock().now_rfc3339();
  transfer t;
  t.id = ctx_.clock().new_id("trf");
  t.from = std::move(req.from);
  t.to = std::move(req.to);
  t.created_at = t.updated_at = now;
  auto job = [t = std::move(t), lines = merge_lines(req.lines), &ctx = ctx_, &c](store::database& db) mutable {
    return db.transaction([&]() -> result<transfer> {
      if (!sql::location_exists(db, t.from)) return error::not_found("no location has the id of from");
      if (!sql::location_exists(db, t.to)) return error::not_found("no location has the id of to");
      if (auto lacking = short_lines(db, t.from, lines); !lacking.empty()) return insufficient(std::move(lacking));
      ledger book(db, ctx, c, t.created_at);
      stock_event data;
      data.transfer_id = t.id;
      for (const auto& l : lines.lines) {
        if (!book.move(stock_transferred_out, l.sku, t.from, -l.quantity, 0, l.quantity, data))
          throw std::logic_error("a level changed between its check and its transfer");
        t.lines.push_back({l.sku, l.quantity, 0});
      }
      sql::insert_transfer(db, t);
      return std::move(t);
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

asio::awaitable<result<transfer>> service::receive_transfer(receive_transfer_request req, const bus::call_context& c) {
  std::vector<field_error> errors;
  if (!is_well_formed_id(req.id, "trf")) errors.push_back({"id", "is not a transfer id"});
  check_lines(req.lines, quantity_max_, errors);
  if (!errors.empty()) co_return error::invalid(std::move(errors));
  auto job = [id = std::move(req.id), lines = merge_lines(req.lines), now = ctx_.clock().now_rfc3339(), &ctx = ctx_,
              &c](store::database& db) {
    return db.transaction([&]() -> result<transfer> {
      auto t = sql::find_transfer(db, id);
      if (!t) return error::not_found("no transfer has this id");
      if (t->status == transfer_status::received) return error::conflict("transfer already received");
      if (t->status == transfer_status::canceled) return error::conflict("transfer canceled");
      std::vector<std::size_t> target(lines.lines.size());
      std::vector<field_error> bad;
      for (std::size_t i = 0; i < lines.lines.size(); ++i) {
        auto it = std::find_if(t->lines.begin(), t->lines.end(),
                               [&](const transfer_line& l) { return l.sku == lines.lines[i].sku; });
        if (it == t->lines.end()) {
          bad.push_back({line_field(lines.first_index[i], "sku"), "is not on this transfer"});
          continue;
        }
        target[i] = static_cast<std::size_t>(it - t->lines.begin());
        auto open = it->quantity - it->received;
        if (lines.lines[i].quantity > open)
          bad.push_back(
              {line_field(lines.first_index[i], "quantity"), "only " + std::to_string(open) + " still in transit"});
      }
      if (!bad.empty()) return error::invalid(std::move(bad));
      ledger book(db, ctx, c, now);
      stock_event data;
      data.transfer_id = t->id;
      for (std::size_t i = 0; i < lines.lines.size(); ++i) {
        const auto& l = lines.lines[i];
        sql::ensure_level(db, l.sku, t->to, now);
        if (!book.move(stock_received, l.sku, t->to, l.quantity, 0, l.quantity, data))
          throw std::logic_error("a received quantity was refused by its level");
        t->lines[target[i]].received += l.quantity;
      }
      bool complete = std::all_of(t->lines.begin(), t->lines.end(),
                                  [](const transfer_line& l) { return l.received == l.quantity; });
      t->status = complete ? transfer_status::received : transfer_status::partially_received;
      t->updated_at = now;
      sql::update_transfer(db, *t);
      return std::move(*t);
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

asio::awaitable<result<transfer>> service::get_transfer(get_transfer_request req, const bus::call_context& c) {
  if (!is_well_formed_id(req.id, "trf")) co_return error::not_found("no transfer has this id");
  auto job = [id = std::move(req.id)](store::database& db) { return sql::find_transfer(db, id); };
  auto r = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!r) co_return std::move(r).err();
  if (!r.value()) co_return error::not_found("no transfer has this id");
  co_return std::move(*r.value());
}

asio::awaitable<result<transfer_page>> service::list_transfers(list_transfers_request req, const bus::call_context& c) {
  if (req.location && !is_location_id(*req.location))
    co_return error::invalid({{"location", "expected 1 to 64 of a-z, 0-9, '-'"}});
  auto fetch = [location = std::move(req.location), status = req.status](store::database& db, const std::string& after,
                                                                         std::int64_t n) {
    return sql::list_transfers(db, after, location, status, n);
  };
  page_rules rules{default_page_limit, page_limit_max_, "trf"};
  co_return co_await read_page<transfer>(ctx_.store(), req.limit, std::move(req.cursor), rules, std::move(fetch),
                                         c.deadline);
}

asio::awaitable<result<stock_level>> service::set_threshold(set_threshold_request req, const bus::call_context& c) {
  std::vector<field_error> errors;
  check_sku(req.sku, "sku", errors);
  check_location(req.location, "location", errors);
  if (req.threshold && (*req.threshold < 0 || *req.threshold > quantity_max_))
    errors.push_back({"threshold", "expected null or an integer from 0 to " + std::to_string(quantity_max_)});
  if (!errors.empty()) co_return error::invalid(std::move(errors));
  auto job = [req = std::move(req), now = ctx_.clock().now_rfc3339(), &ctx = ctx_, &c](store::database& db) {
    return db.transaction([&]() -> result<stock_level> {
      if (!sql::location_exists(db, req.location)) return error::not_found("no location has this id");
      sql::ensure_level(db, req.sku, req.location, now);
      sql::set_threshold(db, req.sku, req.location, req.threshold, now);
      ledger book(db, ctx, c, now);
      return book.settle(req.sku, req.location);
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

asio::awaitable<result<location>> service::create_location(create_location_request req, const bus::call_context& c) {
  std::vector<field_error> errors;
  check_location(req.id, "id", errors);
  req.name = trim(req.name);
  auto n = utf8_length(req.name);
  if (n == std::string::npos || n == 0 || n > name_max)
    errors.push_back({"name", "expected 1 to " + std::to_string(name_max) + " characters of valid UTF-8"});
  if (!errors.empty()) co_return error::invalid(std::move(errors));
  location l{std::move(req.id), std::move(req.name), req.kind, ctx_.clock().now_rfc3339()};
  auto job = [l = std::move(l)](store::database& db) {
    return db.transaction([&]() -> result<location> {
      if (sql::location_exists(db, l.id)) return error::conflict("a location with this id already exists");
      sql::insert_location(db, l);
      return l;
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

asio::awaitable<result<location_page>> service::list_locations(list_locations_request req, const bus::call_context& c) {
  std::vector<field_error> errors;
  auto n = page_limit(req.limit, default_page_limit, page_limit_max_);
  if (!n) errors.insert(errors.end(), n.err().fields.begin(), n.err().fields.end());
  std::string after;
  if (!req.cursor.empty()) {
    after = decode_cursor(req.cursor);
    if (!is_location_id(after)) errors.push_back({"cursor", "is not a cursor this list gave"});
  }
  if (!errors.empty()) co_return error::invalid(std::move(errors));
  auto job = [after = std::move(after), n = *n](store::database& db) { return sql::list_locations(db, after, n + 1); };
  auto rows = co_await ctx_.store().run(std::move(job), c.deadline);
  if (!rows) co_return std::move(rows).err();
  location_page out;
  out.data = std::move(rows).value();
  out.next_cursor = trim_page(out.data, *n);
  co_return out;
}

}  // namespace agora::inventory
