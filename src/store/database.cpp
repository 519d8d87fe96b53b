#include <agora/store.hpp>

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>

namespace agora::store {

namespace {

[[noreturn]] void fail(sqlite3* db, int rc, std::string_view what) {
  throw sqlite_error(rc, fmt::format("{}: {}", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
}

// The core's own tables in every module database; versioned apart from the module's.
constexpr std::string_view core_schema = R"sql(
CREATE TABLE IF NOT EXISTS _agora_migrations (
  version    INTEGER PRIMARY KEY,
  name       TEXT NOT NULL,
  applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS _agora_outbox (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  event      TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS _agora_inbox (
  consumer_group TEXT NOT NULL,
  event_id       TEXT NOT NULL,
  handled_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  PRIMARY KEY (consumer_group, event_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _agora_idempotency (
  scope       TEXT NOT NULL,
  key         TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  outcome     TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS _agora_idempotency_created ON _agora_idempotency(created_at);
CREATE TABLE IF NOT EXISTS _agora_dead_letters (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  event          TEXT NOT NULL,
  consumer_group TEXT NOT NULL,
  attempts       INTEGER NOT NULL,
  last_error     TEXT NOT NULL,
  failed_at      TEXT NOT NULL
);
)sql";

std::int64_t unix_seconds(const agora::clock& c) {
  return std::chrono::duration_cast<std::chrono::seconds>(c.now().time_since_epoch()).count();
}

}  // namespace

std::string_view to_string(durability d) noexcept { return d == durability::full ? "full" : "normal"; }

std::optional<durability> durability_from_string(std::string_view name) noexcept {
  if (name == "full") return durability::full;
  if (name == "normal") return durability::normal;
  return std::nullopt;
}

statement::~statement() { sqlite3_finalize(stmt_); }

statement& statement::bind(int index, std::int64_t v) {
  if (int rc = sqlite3_bind_int64(stmt_, index, v); rc != SQLITE_OK) fail(db_, rc, "bind");
  return *this;
}
statement& statement::bind(int index, double v) {
  if (int rc = sqlite3_bind_double(stmt_, index, v); rc != SQLITE_OK) fail(db_, rc, "bind");
  return *this;
}
statement& statement::bind(int index, std::string_view v) {
  if (int rc = sqlite3_bind_text64(stmt_, index, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      rc != SQLITE_OK)
    fail(db_, rc, "bind");
  return *this;
}
statement& statement::bind(int index, std::nullptr_t) {
  if (int rc = sqlite3_bind_null(stmt_, index); rc != SQLITE_OK) fail(db_, rc, "bind");
  return *this;
}

bool statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3_reset(stmt_);
  fail(db_, rc, "step");
}

std::int64_t statement::int64(int col) const { return sqlite3_column_int64(stmt_, col); }
double statement::real(int col) const { return sqlite3_column_double(stmt_, col); }
std::string statement::text(int col) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
}
std::optional<std::string> statement::opt_text(int col) const {
  if (is_null(col)) return std::nullopt;
  return text(col);
}
std::optional<std::int64_t> statement::opt_int64(int col) const {
  if (is_null(col)) return std::nullopt;
  return int64(col);
}
bool statement::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

void statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

database::database(std::filesystem::path file, std::string module, std::span<const migration> migrations,
                   metrics::registry* metrics, options opts)
    : file_(std::move(file)), module_(std::move(module)), opts_(opts),
      clock_(opts.clock ? opts.clock : &system_time()) {
  if (metrics) {
    tx_duration_ = &metrics->histogram_of("agora_store_transaction_duration_seconds",
                                          "Time from BEGIN to COMMIT of a module's store transaction",
                                          {{"module", module_}});
    tx_failures_ = &metrics->counter_of("agora_store_transaction_failures_total",
                                        "Store transactions rolled back", {{"module", module_}});
    commits_ = &metrics->counter_of("agora_store_commits_total",
                                    "Store transactions committed (under durability full, one sync each)",
                                    {{"module", module_}});
  }
  std::error_code ec;
  if (file_.has_parent_path()) std::filesystem::create_directories(file_.parent_path(), ec);
  int rc = sqlite3_open_v2(file_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw open_error(fmt::format("cannot open {} database '{}': {}", module_, file_.string(), msg));
  }
  try {
    sqlite3_busy_timeout(db_, static_cast<int>(default_busy_timeout.count()));
    exec("PRAGMA journal_mode=WAL");
    exec(opts_.durability == durability::full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    exec("PRAGMA foreign_keys=ON");
    migrate(migrations);
  } catch (const sqlite_error& e) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw open_error(fmt::format("{} database '{}': {}", module_, file_.string(), e.what()));
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

database::~database() {
  cache_.clear();
  if (db_) sqlite3_close(db_);
}

statement& database::prepare(std::string_view sql) {
  auto it = cache_.find(std::string(sql));
  if (it != cache_.end()) {
    it->second->reset();
    return *it->second;
  }
  sqlite3_stmt* s = nullptr;
  if (int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &s,
                                  nullptr);
      rc != SQLITE_OK)
    fail(db_, rc, "prepare");
  auto [pos, _] = cache_.emplace(std::string(sql), std::make_unique<statement>(db_, s));
  return *pos->second;
}

void database::exec(std::string_view sql) {
  std::string text(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw sqlite_error(rc, msg);
  }
}

std::int64_t database::changes() const { return sqlite3_changes64(db_); }

void database::begin() {
  prepare("BEGIN IMMEDIATE").run();
  depth_ = 1;
  pending_events_ = false;
  tx_start_ = std::chrono::steady_clock::now();
}

void database::bound_by(std::chrono::steady_clock::time_point deadline) {
  if (deadline == commit_by_ && deadline == std::chrono::steady_clock::time_point::max()) return;
  commit_by_ = deadline;
  auto wait = default_busy_timeout;
  if (deadline != std::chrono::steady_clock::time_point::max()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    const auto kept = std::min<std::chrono::milliseconds>(left / 10, std::chrono::milliseconds(100));
    wait = std::clamp(left - kept, std::chrono::milliseconds(0), default_busy_timeout);
  }
  sqlite3_busy_timeout(db_, static_cast<int>(wait.count()));
}

void database::commit() {
  if (std::chrono::steady_clock::now() >= commit_by_)
    throw deadline_passed(fmt::format("{} transaction would commit after its caller's deadline", module_));
  prepare("COMMIT").run();
  depth_ = 0;
  if (commits_) commits_->inc();
  if (pending_events_) committed_events_ = true;
  pending_events_ = false;
  if (tx_duration_)
    tx_duration_->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - tx_start_).count());
}

bool database::in_transaction() const noexcept { return db_ && !sqlite3_get_autocommit(db_); }

int database::savepoint() {
  const int sp = depth_;
  prepare(fmt::format("SAVEPOINT agora_sp{}", sp)).run();
  depth_ = sp + 1;
  pending_at_savepoint_.resize(static_cast<std::size_t>(sp) + 1);
  pending_at_savepoint_[static_cast<std::size_t>(sp)] = pending_events_;
  return sp;
}

void database::release(int sp) {
  prepare(fmt::format("RELEASE agora_sp{}", sp)).run();
  depth_ = sp;
}

void database::rollback_to(int sp) {
  if (tx_failures_) tx_failures_->inc();
  if (!in_transaction()) {
    depth_ = 0;
    return;
  }
  depth_ = sp;
  if (static_cast<std::size_t>(sp) < pending_at_savepoint_.size())
    pending_events_ = pending_at_savepoint_[static_cast<std::size_t>(sp)];
  try {
    prepare(fmt::format("ROLLBACK TO agora_sp{}", sp)).run();
    prepare(fmt::format("RELEASE agora_sp{}", sp)).run();
  } catch (const sqlite_error&) {
    rollback();
    throw;
  }
}

void database::rollback() {
  depth_ = 0;
  pending_events_ = false;
  if (tx_failures_) tx_failures_->inc();
  if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

void database::migrate(std::span<const migration> migrations) {
  exec(core_schema);
  int known = 0;
  for (const auto& m : migrations) {
    if (m.version != known + 1)
      throw open_error(fmt::format("{} migrations are not numbered 1, 2, 3...: found {} after {}", module_,
                                   m.version, known));
    known = m.version;
  }
  auto& q = prepare("SELECT COALESCE(MAX(version), 0) FROM _agora_migrations");
  q.step();
  version_ = static_cast<int>(q.int64(0));
  q.reset();
  if (version_ > known)
    throw open_error(fmt::format(
        "{} database '{}' has schema version {} but this binary knows only up to {}: it was written by a newer "
        "agora; use that version or another --data-dir",
        module_, file_.string(), version_, known));
  for (const auto& m : migrations) {
    if (m.version <= version_) continue;
    try {
      transaction([&] {
        exec(m.sql);
        prepare("INSERT INTO _agora_migrations(version, name) VALUES (?, ?)").bind_all(m.version, m.name).run();
      });
    } catch (const sqlite_error& e) {
      throw open_error(fmt::format("{} migration {} ({}) failed: {}", module_, m.version, m.name, e.what()));
    }
    version_ = m.version;
  }
}

void database::enqueue_event(const bus::event& ev) {
  prepare("INSERT INTO _agora_outbox(event) VALUES (?)").bind(1, nlohmann::json(ev).dump()).run();
  pending_events_ = true;
}

bool database::claim_event(std::string_view group, std::string_view event_id) {
  prepare("INSERT OR IGNORE INTO _agora_inbox(consumer_group, event_id) VALUES (?, ?)")
      .bind_all(group, event_id)
      .run();
  return changes() == 1;
}

std::optional<idempotency_hit> database::find_idempotency(std::string_view scope, std::string_view key) {
  auto& q = prepare("SELECT fingerprint, outcome FROM _agora_idempotency WHERE scope = ? AND key = ?");
  q.bind_all(scope, key);
  if (!q.step()) return std::nullopt;
  idempotency_hit hit;
  q.columns(hit.fingerprint, hit.outcome);
  q.reset();
  return hit;
}

void database::record_idempotency(std::string_view scope, std::string_view key, std::string_view fingerprint,
                                  std::string_view outcome) {
  prepare("INSERT INTO _agora_idempotency(scope, key, fingerprint, outcome, created_at) VALUES (?, ?, ?, ?, ?)")
      .bind_all(scope, key, fingerprint, outcome, unix_seconds(*clock_))
      .run();
}

std::int64_t database::sweep_idempotency(std::chrono::seconds retention) {
  prepare("DELETE FROM _agora_idempotency WHERE created_at < ?").bind(1, unix_seconds(*clock_) - retention.count()).run();
  return changes();
}

bool database::take_outbox_signal() noexcept {
  bool r = committed_events_;
  committed_events_ = false;
  return r;
}

}  // namespace agora::store
