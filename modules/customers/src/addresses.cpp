#include "address_rules.hpp"
#include "address_store.hpp"
#include "service.hpp"

#include <agora/ids.hpp>

#include <algorithm>

namespace agora::customers {

namespace {

constexpr std::int64_t address_page_default = 20;
constexpr std::int64_t address_page_max = 100;

bool has_control_char(std::string_view s) noexcept {
  return std::any_of(s.begin(), s.end(), [](char ch) {
    auto u = static_cast<unsigned char>(ch);
    return u < 0x20 || u == 0x7f;
  });
}

// Trims `v` and checks it is valid UTF-8 of min..max characters without control characters.
void check_text(std::string& v, const char* field, std::size_t min, std::size_t max, std::vector<field_error>& out) {
  v = trim(v);
  auto n = utf8_length(v);
  if (n == std::string_view::npos)
    out.push_back({field, "must be valid UTF-8"});
  else if (n < min || n > max)
    out.push_back({field, min == 0 ? "must be at most " + std::to_string(max) + " characters"
                                   : "must be " + std::to_string(min) + " to " + std::to_string(max) +
                                         " characters after trimming"});
  else if (has_control_char(v))
    out.push_back({field, "must not contain control characters"});
}

// An optional text field: trimmed, absent when empty, else at most `max` characters.
void check_optional(std::optional<std::string>& v, const char* field, std::size_t max, std::vector<field_error>& out) {
  if (!v) return;
  if (trim(*v).empty()) {
    v.reset();
    return;
  }
  check_text(*v, field, 1, max, out);
}

void check_postal_code(std::string& v, std::vector<field_error>& out) {
  v = trim(v);
  auto allowed = [](char ch) {
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == ' ' || ch == '-';
  };
  if (v.empty() || v.size() > 20 || !std::all_of(v.begin(), v.end(), allowed))
    out.push_back({"postal_code", "must be 1 to 20 characters of A-Z, a-z, 0-9, space or '-'"});
}

void check_country(std::string& v, std::vector<field_error>& out) {
  v = trim(v);
  if (v.size() != 2 || !std::all_of(v.begin(), v.end(), [](char ch) { return ch >= 'A' && ch <= 'Z'; }))
    out.push_back({"country", "must be an ISO 3166-1 alpha-2 code in upper case, like DE"});
}

void check_phone(std::optional<std::string>& v, std::vector<field_error>& out) {
  if (!v) return;
  *v = trim(*v);
  if (v->empty()) {
    v.reset();
    return;
  }
  auto allowed = [](char ch) {
    return (ch >= '0' && ch <= '9') || ch == ' ' || ch == '+' || ch == '-' || ch == '(' || ch == ')';
  };
  bool digit = std::any_of(v->begin(), v->end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  if (v->size() > 32 || !digit || !std::all_of(v->begin(), v->end(), allowed))
    out.push_back({"phone", "must be at most 32 of digits, spaces, '+', '-', '(' and ')', with a digit"});
}

// A patch of an optional field: a value is checked like one; an empty value clears it.
template <class Check>
void check_patch(nullable_patch<std::string>& v, Check check) {
  if (!v || !*v) return;
  check(*v);
}

void check_kind(std::string_view kind, std::vector<field_error>& out) {
  if (!is_address_kind(kind)) out.push_back({"kind", "must be shipping or billing"});
}

// Clears the account's default of `kind` (but `except_id`): the address it was, changed.
std::optional<address> take_default(store::database& db, const std::string& owner, const std::string& kind,
                                    const std::string& except_id, const std::string& at) {
  auto d = sql::find_default_address(db, owner, kind, except_id);
  if (!d) return std::nullopt;
  d->is_default = false;
  d->version += 1;
  d->updated_at = at;
  sql::update_address(db, *d);
  return d;
}

}  // namespace

bool is_address_kind(std::string_view kind) noexcept { return kind == "shipping" || kind == "billing"; }

std::vector<field_error> normalize_and_validate(create_address_request& r) {
  std::vector<field_error> out;
  check_kind(r.kind, out);
  check_text(r.recipient, "recipient", 1, 200, out);
  check_text(r.line1, "line1", 1, 200, out);
  check_optional(r.line2, "line2", 200, out);
  check_text(r.city, "city", 1, 100, out);
  check_optional(r.region, "region", 100, out);
  check_postal_code(r.postal_code, out);
  check_country(r.country, out);
  check_phone(r.phone, out);
  return out;
}

std::vector<field_error> normalize_and_validate(update_address_request& r) {
  std::vector<field_error> out;
  if (r.kind) check_kind(*r.kind, out);
  if (r.recipient) check_text(*r.recipient, "recipient", 1, 200, out);
  if (r.line1) check_text(*r.line1, "line1", 1, 200, out);
  check_patch(r.line2, [&](std::optional<std::string>& v) { check_optional(v, "line2", 200, out); });
  if (r.city) check_text(*r.city, "city", 1, 100, out);
  check_patch(r.region, [&](std::optional<std::string>& v) { check_optional(v, "region", 100, out); });
  if (r.postal_code) check_postal_code(*r.postal_code, out);
  if (r.country) check_country(*r.country, out);
  check_patch(r.phone, [&](std::optional<std::string>& v) { check_phone(v, out); });
  return out;
}

bus::event service::address_event(std::string_view type, const std::string& account_id, const address& a,
                                   const bus::call_context& c) const {
  auto ev = ctx_.event(addresses_topic, type, a.id,
                       {{"id", a.id},
                        {"account_id", account_id},
                        {"kind", a.kind},
                        {"is_default", a.is_default},
                        {"country", a.country}},
                       c, a.updated_at);
  ev.partition_key = account_id;  // an account's address events in order (a default moves in two)
  return ev;
}

asio::awaitable<result<address>> service::create_address(create_address_request req, const bus::call_context& c) {
  if (auto m = me_of(c); !m) co_return std::move(m).err();
  if (auto errors = normalize_and_validate(req); !errors.empty()) co_return error::invalid(std::move(errors));
  auto at = now();
  address a{ctx_.clock().new_id("adr"),
            req.kind,
            req.is_default,
            req.recipient,
            req.line1,
            req.line2,
            req.city,
            req.region,
            req.postal_code,
            req.country,
            req.phone,
            1,
            at,
            at};
  auto job = [this, a = std::move(a), owner = c.who.subject, at, c](store::database& db) {
    return db.transaction([&]() -> result<address> {
      address row = a;
      if (sql::count_addresses(db, owner) >= addresses_per_account_max)
        return error::conflict("an account holds at most " + std::to_string(addresses_per_account_max) +
                               " addresses");
      if (sql::count_addresses(db, owner, row.kind) == 0) row.is_default = true;
      if (row.is_default) {
        if (auto old = take_default(db, owner, row.kind, row.id, at))
          db.enqueue_event(address_event(address_updated, owner, *old, c));
      }
      sql::insert_address(db, owner, row);
      db.enqueue_event(address_event(address_created, owner, row, c));
      return row;
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

asio::awaitable<result<address_page>> service::list_addresses(list_addresses_request req,
                                                              const bus::call_context& c) {
  if (auto m = me_of(c); !m) co_return std::move(m).err();
  if (req.kind && !is_address_kind(*req.kind)) co_return error::invalid({{"kind", "must be shipping or billing"}});
  auto fetch = [owner = c.who.subject, kind = req.kind](store::database& db, const std::string& after, std::int64_t n) {
    return sql::list_addresses(db, owner, after, kind, n);
  };
  page_rules rules{address_page_default, address_page_max, "adr"};
  co_return co_await read_page<address>(ctx_.store(), req.limit, std::move(req.cursor), rules, std::move(fetch),
                                        c.deadline);
}

asio::awaitable<result<address>> service::get_address(get_address_request req, const bus::call_context& c) {
  if (auto m = me_of(c); !m) co_return std::move(m).err();
  if (!is_well_formed_id(req.id, "adr")) co_return error::not_found("no address has this id");
  auto find = [owner = c.who.subject, id = req.id](store::database& db) { return sql::find_address(db, owner, id); };
  auto r = co_await ctx_.store().run(std::move(find), c.deadline);
  if (!r) co_return std::move(r).err();
  if (!*r) co_return error::not_found("no address has this id");
  co_return std::move(**r);
}

asio::awaitable<result<address>> service::update_address(update_address_request req, const bus::call_context& c) {
  if (auto m = me_of(c); !m) co_return std::move(m).err();
  if (!is_well_formed_id(req.id, "adr")) co_return error::not_found("no address has this id");
  if (auto errors = normalize_and_validate(req); !errors.empty()) co_return error::invalid(std::move(errors));
  auto at = now();
  auto job = [this, req = std::move(req), owner = c.who.subject, at, c](store::database& db) {
    return db.transaction([&]() -> result<address> {
      auto cur = sql::find_address(db, owner, req.id);
      if (!cur) return error::not_found("no address has this id");
      if (req.expected_version && !req.expected_version->matches(cur->version))
        return version_mismatch("address", cur->version);
      address a = *cur;
      if (req.kind) a.kind = *req.kind;
      if (req.is_default) a.is_default = *req.is_default;
      if (req.recipient) a.recipient = *req.recipient;
      if (req.line1) a.line1 = *req.line1;
      if (req.line2) a.line2 = *req.line2;
      if (req.city) a.city = *req.city;
      if (req.region) a.region = *req.region;
      if (req.postal_code) a.postal_code = *req.postal_code;
      if (req.country) a.country = *req.country;
      if (req.phone) a.phone = *req.phone;
      if (a == *cur) return a;
      a.version += 1;
      a.updated_at = at;
      if (a.is_default && (!cur->is_default || a.kind != cur->kind)) {
        if (auto old = take_default(db, owner, a.kind, a.id, at))
          db.enqueue_event(address_event(address_updated, owner, *old, c));
      }
      sql::update_address(db, a);
      db.enqueue_event(address_event(address_updated, owner, a, c));
      return a;
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

asio::awaitable<result<address_removed>> service::delete_address(delete_address_request req,
                                                                 const bus::call_context& c) {
  if (auto m = me_of(c); !m) co_return std::move(m).err();
  if (!is_well_formed_id(req.id, "adr")) co_return error::not_found("no address has this id");
  auto at = now();
  auto job = [this, req = std::move(req), owner = c.who.subject, at, c](store::database& db) {
    return db.transaction([&]() -> result<address_removed> {
      auto cur = sql::find_address(db, owner, req.id);
      if (!cur) return error::not_found("no address has this id");
      if (req.expected_version && !req.expected_version->matches(cur->version))
        return version_mismatch("address", cur->version);
      sql::delete_address(db, cur->id);
      cur->updated_at = at;
      db.enqueue_event(address_event(address_deleted, owner, *cur, c));
      return address_removed{cur->id, cur->version};
    });
  };
  co_return co_await ctx_.store().run(std::move(job), c.deadline);
}

}  // namespace agora::customers
