#pragma once

#include <agora/bus.hpp>
#include <agora/clock.hpp>
#include <agora/metrics.hpp>
#include <agora/result.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/associated_executor.hpp>

#include <cstdint>
#include <deque>
#include <mutex>
#include <filesystem>
#include <functional>
#include <future>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

// A module's storage: one SQLite file (WAL), embedded numbered migrations, cached
// prepared statements, a transactional outbox and an inbox. All SQLite work runs on
// the module's own store thread (`worker`), never on an io thread.
namespace agora::store {

namespace asio = boost::asio;

struct migration {
  int version;            // 1, 2, 3 ... applied in order, each in its own transaction
  std::string_view name;  // "init"
  std::string_view sql;
};

// Thrown by store code on an SQLite failure; `worker::run` turns it into a typed error
// (constraint violations become conflict, busy/locked unavailable, the rest internal).
class sqlite_error : public std::runtime_error {
 public:
  sqlite_error(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

// Thrown by `database` when a transaction bounded by a deadline would commit after it;
// the transaction rolls back and `worker::run` answers deadline_exceeded.
class deadline_passed : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Stops the start: a database from a newer binary, a failed migration, an unopenable file.
class open_error : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// How hard a commit presses its changes to disk (PRAGMA synchronous). In WAL mode,
// `normal` syncs only at checkpoints: a commit survives a crash of the process but the
// last ones may be lost at a power loss; `full` syncs the WAL at every commit, so a
// committed change survives power loss too. Group commit (worker) shares one sync
// between the jobs committed together.
enum class durability { normal, full };

std::string_view to_string(durability d) noexcept;
// "normal" or "full"; nothing for any other name.
std::optional<durability> durability_from_string(std::string_view name) noexcept;

// How a module's store is opened and run.
struct options {
  store::durability durability = store::durability::normal;
  // The most jobs committed in one transaction (worker); 1 turns group commit off.
  std::size_t group_commit_max = 64;
  // The time of day for created_at stamps the core writes (idempotency keys, dead
  // letters) and for the retention sweep; the system clock when null.
  const agora::clock* clock = nullptr;
};

// What an idempotency key was recorded with (database::record_idempotency).
struct idempotency_hit {
  std::string fingerprint;
  std::string outcome;
};

// A cached prepared statement, reset and unbound each time `database::prepare` hands it out.
class statement {
 public:
  statement(sqlite3* db, sqlite3_stmt* s) : db_(db), stmt_(s) {}
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement();

  statement& bind(int index, std::int64_t v);
  statement& bind(int index, int v) { return bind(index, static_cast<std::int64_t>(v)); }
  statement& bind(int index, double v);
  statement& bind(int index, std::string_view v);
  statement& bind(int index, const std::string& v) { return bind(index, std::string_view(v)); }
  statement& bind(int index, const char* v) { return bind(index, std::string_view(v)); }
  statement& bind(int index, std::nullptr_t);
  template <class T>
  statement& bind(int index, const std::optional<T>& v) {
    return v ? bind(index, *v) : bind(index, nullptr);
  }
  // Binds every argument in order from index 1.
  template <class... A>
  statement& bind_all(const A&... args) {
    int i = 1;
    (bind(i++, args), ...);
    return *this;
  }

  bool step();  // true: a row is ready; false: done
  void run() { while (step()) {} }

  std::int64_t int64(int col) const;
  double real(int col) const;
  std::string text(int col) const;
  std::optional<std::string> opt_text(int col) const;
  std::optional<std::int64_t> opt_int64(int col) const;
  bool is_null(int col) const;

  // Reads the current row's columns, from the first, into `out...` in order, each by its
  // type (std::string, std::optional<std::string>, std::int64_t, std::optional<std::int64_t>,
  // double): the SELECT's column list and this call name the same fields in the same order.
  template <class... T>
  void columns(T&... out) const {
    int col = 0;
    (read_column(col++, out), ...);
  }

  void reset();

 private:
  void read_column(int col, std::string& v) const { v = text(col); }
  void read_column(int col, std::optional<std::string>& v) const { v = opt_text(col); }
  void read_column(int col, std::int64_t& v) const { v = int64(col); }
  void read_column(int col, std::optional<std::int64_t>& v) const { v = opt_int64(col); }
  void read_column(int col, double& v) const { v = real(col); }

  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

// One connection. Not thread-safe: it belongs to one store thread.
class database {
 public:
  // Opens or creates `file`, sets WAL, foreign keys and a busy timeout, then applies
  // the core's tables and the module's migrations. Throws open_error when the file
  // holds a newer schema than this binary knows, naming both versions.
  database(std::filesystem::path file, std::string module, std::span<const migration> migrations,
           metrics::registry* metrics = nullptr, options opts = {});
  ~database();
  database(const database&) = delete;
  database& operator=(const database&) = delete;

  statement& prepare(std::string_view sql);
  void exec(std::string_view sql);
  std::int64_t changes() const;
  int schema_version() const { return version_; }
  const std::filesystem::path& file() const noexcept { return file_; }
  const std::string& module() const noexcept { return module_; }
  store::durability durability() const noexcept { return opts_.durability; }
  // The time of day the core's stamps come from (options::clock).
  const agora::clock& clock() const noexcept { return *clock_; }

  // The busy timeout a connection has when no deadline bounds its work.
  static constexpr std::chrono::milliseconds default_busy_timeout{5000};

  // Bounds what runs next by `deadline` (time_point::max(): unbounded, the default):
  // SQLite waits for a lock at most until shortly before it (a tenth of the time left,
  // at most 100 ms, is kept for the work and the commit), and a transaction that would
  // commit at or after it rolls back and throws deadline_passed. `worker::run` sets it
  // around each job.
  void bound_by(std::chrono::steady_clock::time_point deadline);

  // Runs f inside BEGIN IMMEDIATE ... COMMIT; rolls back if f throws. A nested call (f
  // runs inside another transaction, or a job inside the worker's group) is a SAVEPOINT:
  // if f throws, its own changes roll back and the exception goes on to the caller, who
  // may catch it and keep the outer transaction's other changes. Records
  // agora_store_transaction_duration_seconds and agora_store_commits_total.
  template <class F>
  auto transaction(F&& f) -> decltype(f()) {
    if (depth_ > 0) {
      const int sp = savepoint();
      try {
        if constexpr (std::is_void_v<decltype(f())>) {
          f();
          release(sp);
          return;
        } else {
          auto r = f();
          release(sp);
          return r;
        }
      } catch (...) {
        rollback_to(sp);
        throw;
      }
    }
    begin();
    try {
      if constexpr (std::is_void_v<decltype(f())>) {
        f();
        commit();
      } else {
        auto r = f();
        commit();
        return r;
      }
    } catch (...) {
      rollback();
      throw;
    }
  }
  // True inside BEGIN ... COMMIT (SQLite ends a transaction by itself on some failures:
  // a full disk, an I/O error).
  bool in_transaction() const noexcept;

  // Outbox: call inside a transaction; the event is published after the commit.
  void enqueue_event(const bus::event& ev);
  // Inbox: records that `group` handled `event_id`; false if it already had (then
  // the handler must do nothing). Call inside the transaction of the handler's effects.
  bool claim_event(std::string_view group, std::string_view event_id);
  // True (and cleared) when a committed transaction enqueued events since the last call.
  bool take_outbox_signal() noexcept;

  // Idempotency keys (core table _agora_idempotency, one row per scope and key): what
  // was recorded for `key` in `scope` ("orders.checkout"), if anything. See
  // <agora/idempotency.hpp> for the whole protocol (idempotency::recall).
  std::optional<idempotency_hit> find_idempotency(std::string_view scope, std::string_view key);
  // Records `key` with the request's fingerprint and the outcome to answer a replay
  // with, stamped with clock()'s now. Call inside the transaction of the effect, so the
  // key exists exactly when the effect committed; a key already recorded throws
  // sqlite_error (a constraint: conflict), which rolls the effect back.
  void record_idempotency(std::string_view scope, std::string_view key, std::string_view fingerprint,
                          std::string_view outcome);
  // Deletes the keys recorded more than `retention` before clock()'s now; returns how many.
  std::int64_t sweep_idempotency(std::chrono::seconds retention);

 private:
  friend class worker;
  void begin();
  void commit();
  void rollback();
  // SAVEPOINT at the current depth; returns that depth, which release and rollback_to take.
  // Remembers whether events were pending, so that rolling back to it forgets the events
  // enqueued since.
  int savepoint();
  void release(int sp);
  // Undoes what followed savepoint `sp` and closes it; when SQLite already ended the
  // whole transaction, only forgets the depth.
  void rollback_to(int sp);
  void migrate(std::span<const migration> migrations);

  sqlite3* db_ = nullptr;
  std::filesystem::path file_;
  std::string module_;
  options opts_;
  const agora::clock* clock_;
  int version_ = 0;
  int depth_ = 0;
  bool pending_events_ = false;
  bool committed_events_ = false;
  std::vector<bool> pending_at_savepoint_;
  std::unordered_map<std::string, std::unique_ptr<statement>> cache_;
  metrics::histogram* tx_duration_ = nullptr;
  metrics::counter* tx_failures_ = nullptr;
  metrics::counter* commits_ = nullptr;
  std::chrono::steady_clock::time_point tx_start_;
  std::chrono::steady_clock::time_point commit_by_ = std::chrono::steady_clock::time_point::max();
};

template <class T>
struct unwrap_result {
  using type = T;
};
template <class T>
struct unwrap_result<result<T>> {
  using type = T;
};

// Converts the exception a store job threw into the error a handler returns.
error to_error(std::exception_ptr e, std::string_view module);

// The module's store thread: owns the database and runs jobs in submission order.
//
// Group commit (options::group_commit_max > 1). The thread takes the jobs queued at that
// moment, up to group_commit_max, and runs them in ONE transaction (BEGIN IMMEDIATE),
// each job inside its own SAVEPOINT, so that one sync commits them all:
// - a job that throws rolls back to its savepoint: its changes and the events it
//   enqueued are gone, its caller gets its error, the others are untouched;
// - a job's own db.transaction() is a savepoint inside its job's (nested ones too);
// - read-only jobs share the group like the others (they see the earlier members'
//   changes, as they would have after their commits);
// - every caller is answered only after the COMMIT succeeded; if the COMMIT (or the
//   BEGIN) fails, or SQLite ends the transaction itself (an I/O error, a full disk),
//   every member that had run gets that error and nothing of the group is written.
// Deadlines keep the guarantees of run(f, deadline) below:
// - a member still queued at its deadline is refused (deadline_exceeded) and runs nothing;
// - the group commits only while the deadline of every member that ran is ahead: before
//   each next job the thread checks the earliest of them (less a tenth of the time left,
//   at most 100 ms, kept for the commit); when it is near, the group stops growing and
//   commits, and the jobs not run yet go back to the head of the queue for the next group
//   (each job runs once; jobs are never re-run);
// - if, at COMMIT, a member's deadline has passed all the same (a job ran past it), the
//   whole group rolls back: the members whose deadline passed get deadline_exceeded, the
//   others unavailable ("retry"), and nothing of the group is written. So no change
//   commits after its caller's deadline and no caller learns of a failure for a change
//   that was committed.
// With group_commit_max = 1 each job runs alone, outside any transaction of the worker's,
// and its own db.transaction() commits by itself, as before group commit.
// Metrics: agora_store_group_size (jobs per group), agora_store_commits_total.
class worker {
 public:
  worker(std::string module, std::filesystem::path file, std::vector<migration> migrations,
         metrics::registry& metrics, options opts = {});
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  // Starts the thread and opens the database there; rethrows open_error here.
  void start();
  // Finishes queued jobs, closes the database, joins the thread.
  void stop();

  // Called on the store thread after a job whose transaction enqueued events.
  void on_outbox(std::function<void()> notify) { on_outbox_ = std::move(notify); }

  // Runs f(database&) on the store thread and resumes the caller on its own executor
  // with f's value (or result) — or the typed error an exception became.
  template <class F>
  auto run(F f) -> asio::awaitable<result<typename unwrap_result<std::invoke_result_t<F, database&>>::type>> {
    return run(std::move(f), std::chrono::steady_clock::time_point::max());
  }

  // The same for a caller that gives up at `deadline` (a bus handler passes its
  // call_context's deadline). A job still queued at the deadline is refused with
  // deadline_exceeded and runs nothing; one that starts waits for SQLite's locks only
  // until shortly before the deadline (then: unavailable) and does not commit after it
  // (then: deadline_exceeded, rolled back; see database::bound_by and the group rules
  // above). So the caller never learns of a failure for a change that was committed.
  template <class F>
  auto run(F f, std::chrono::steady_clock::time_point deadline)
      -> asio::awaitable<result<typename unwrap_result<std::invoke_result_t<F, database&>>::type>> {
    using R = result<typename unwrap_result<std::invoke_result_t<F, database&>>::type>;
    return asio::async_initiate<const asio::use_awaitable_t<>, void(R)>(
        [this, deadline](auto handler, F fn) {
          auto ex = asio::get_associated_executor(handler);
          auto done = [handler = std::move(handler), ex](R r) mutable {
            asio::post(ex, [handler = std::move(handler), r = std::move(r)]() mutable {
              std::move(handler)(std::move(r));
            });
          };
          submit(std::make_unique<job_of<R, F, decltype(done)>>(std::move(fn), std::move(done), deadline));
        },
        asio::use_awaitable, std::move(f));
  }

  // Runs f on the store thread and waits for it (for start-up and tests only).
  template <class F>
  auto run_sync(F f) {
    using R = result<typename unwrap_result<std::invoke_result_t<F, database&>>::type>;
    std::promise<R> p;
    auto done = [&p](R r) { p.set_value(std::move(r)); };
    submit(std::make_unique<job_of<R, F, decltype(done)>>(std::move(f), std::move(done),
                                                          std::chrono::steady_clock::time_point::max()));
    return p.get_future().get();
  }

  const std::string& module() const noexcept { return module_; }
  const store::options& settings() const noexcept { return opts_; }
  std::size_t queued() const noexcept { return queued_.load(std::memory_order_relaxed); }

 private:
  using time_point = std::chrono::steady_clock::time_point;

  struct job {
    explicit job(time_point d) : deadline(d) {}
    virtual ~job() = default;
    // Runs the function; false when it threw (the result is then the error it became).
    virtual bool execute(database& db, const std::string& module) = 0;
    virtual void fail(error e) = 0;
    // The error its result holds (after execute or fail).
    virtual error failure() const = 0;
    // Hands the result to the caller; called once.
    virtual void deliver() = 0;
    time_point deadline;
  };

  template <class R, class F, class Done>
  struct job_of final : job {
    job_of(F f, Done d, time_point deadline) : job(deadline), fn(std::move(f)), done(std::move(d)) {}
    bool execute(database& db, const std::string& module) override {
      try {
        if constexpr (std::is_void_v<std::invoke_result_t<F, database&>>) {
          fn(db);
          out.emplace();
        } else {
          out.emplace(fn(db));
        }
        return true;
      } catch (...) {
        out.emplace(to_error(std::current_exception(), module));
        return false;
      }
    }
    void fail(error e) override { out.emplace(std::move(e)); }
    error failure() const override {
      if (out && !*out) return out->err();
      return error::internal("store failure");
    }
    void deliver() override { done(std::move(*out)); }
    F fn;
    Done done;
    std::optional<R> out;
  };

  void submit(std::unique_ptr<job> j);
  void drain();
  // Runs `batch` (as one group, or one by one when group commit is off) and answers its
  // callers; returns the jobs it did not run, for the head of the queue.
  std::vector<std::unique_ptr<job>> run_group(std::vector<std::unique_ptr<job>>& batch);
  void run_alone(job& j);
  void after_job();
  error refused_late();

  std::string module_;
  std::filesystem::path file_;
  std::vector<migration> migrations_;
  metrics::registry& metrics_;
  options opts_;
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
  std::unique_ptr<database> db_;
  std::function<void()> on_outbox_;
  std::atomic<std::size_t> queued_{0};
  std::mutex mutex_;
  std::deque<std::unique_ptr<job>> jobs_;
  bool draining_ = false;
  metrics::histogram* group_size_ = nullptr;
};

}  // namespace agora::store
