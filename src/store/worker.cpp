#include <agora/log.hpp>
#include <agora/store.hpp>

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <iterator>

namespace agora::store {

error to_error(std::exception_ptr e, std::string_view module) {
  try {
    std::rethrow_exception(e);
  } catch (const deadline_passed&) {
    return error::timeout("the store could not finish before the caller's deadline; nothing was written");
  } catch (const sqlite_error& ex) {
    int primary = ex.code() & 0xff;
    if (primary == SQLITE_CONSTRAINT) return error::conflict("the change conflicts with existing data");
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
      return error::unavailable("the store is busy; retry");
    log::error("store", "sqlite failure", {{"module", module}, {"error", ex.what()}});
    return error::internal("store failure");
  } catch (const std::exception& ex) {
    log::error("store", "store job failed", {{"module", module}, {"error", ex.what()}});
    return error::internal("store failure");
  } catch (...) {
    return error::internal("store failure");
  }
}

worker::worker(std::string module, std::filesystem::path file, std::vector<migration> migrations,
               metrics::registry& metrics, options opts)
    : module_(std::move(module)), file_(std::move(file)), migrations_(std::move(migrations)), metrics_(metrics),
      opts_(opts) {
  if (opts_.group_commit_max == 0) opts_.group_commit_max = 1;
  group_size_ = &metrics_.histogram_of("agora_store_group_size", "Store jobs run in one transaction (group commit)",
                                       {{"module", module_}},
                                       {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096});
}

worker::~worker() { stop(); }

void worker::start() {
  if (thread_.joinable()) return;
  work_.emplace(io_.get_executor());
  std::promise<void> opened;
  thread_ = std::thread([this, &opened] {
    try {
      db_ = std::make_unique<database>(file_, module_, migrations_, &metrics_, opts_);
      opened.set_value();
    } catch (...) {
      opened.set_exception(std::current_exception());
      return;
    }
    io_.run();
    db_.reset();
  });
  try {
    opened.get_future().get();
  } catch (...) {
    thread_.join();
    work_.reset();
    throw;
  }
}

void worker::stop() {
  if (!thread_.joinable()) return;
  work_.reset();
  thread_.join();
}

error worker::refused_late() {
  return error::timeout("the store job was still queued at the caller's deadline; nothing was run");
}

void worker::submit(std::unique_ptr<job> j) {
  queued_.fetch_add(1, std::memory_order_relaxed);
  bool start_draining = false;
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(j));
    if (!draining_) draining_ = start_draining = true;
  }
  if (start_draining) asio::post(io_, [this] { drain(); });
}

void worker::drain() {
  std::vector<std::unique_ptr<job>> batch;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (jobs_.empty()) {
        draining_ = false;
        return;
      }
      const auto n = std::min(jobs_.size(), opts_.group_commit_max);
      batch.assign(std::make_move_iterator(jobs_.begin()), std::make_move_iterator(jobs_.begin() + n));
      jobs_.erase(jobs_.begin(), jobs_.begin() + n);
    }
    queued_.fetch_sub(batch.size(), std::memory_order_relaxed);
    auto rest = run_group(batch);
    batch.clear();
    if (!rest.empty()) {
      queued_.fetch_add(rest.size(), std::memory_order_relaxed);
      std::lock_guard lock(mutex_);
      for (auto it = rest.rbegin(); it != rest.rend(); ++it) jobs_.push_front(std::move(*it));
    }
  }
}

void worker::run_alone(job& j) {
  if (j.deadline != time_point::max() && std::chrono::steady_clock::now() >= j.deadline) {
    j.fail(refused_late());
    j.deliver();
    return;
  }
  db_->bound_by(j.deadline);
  j.execute(*db_, module_);
  // A job that left a transaction open (it began one by hand and threw) must not leak
  // it into the next job.
  if (db_->in_transaction() || db_->depth_ != 0) db_->rollback();
  db_->bound_by(time_point::max());
  group_size_->observe(1);
  after_job();
  j.deliver();
}

std::vector<std::unique_ptr<worker::job>> worker::run_group(std::vector<std::unique_ptr<job>>& batch) {
  std::vector<std::unique_ptr<job>> rest;
  if (opts_.group_commit_max <= 1) {
    for (auto& j : batch) run_alone(*j);
    return rest;
  }
  auto now = std::chrono::steady_clock::now();
  std::vector<job*> live;
  auto earliest = time_point::max();
  for (auto& j : batch) {
    if (j->deadline != time_point::max() && now >= j->deadline) {
      j->fail(refused_late());
      continue;
    }
    live.push_back(j.get());
    earliest = std::min(earliest, j->deadline);
  }
  auto answer_all = [&] {
    for (auto& j : batch)
      if (j) j->deliver();
  };
  if (live.empty()) {
    answer_all();
    return rest;
  }
  auto& db = *db_;
  db.bound_by(earliest);
  try {
    db.begin();
  } catch (...) {
    auto e = to_error(std::current_exception(), module_);
    db.rollback();
    db.bound_by(time_point::max());
    for (auto* j : live) j->fail(e);
    answer_all();
    return rest;
  }
  std::vector<job*> ran;  // members whose changes the COMMIT keeps
  auto commit_by = time_point::max();   // the earliest deadline of the members that ran
  auto grow_until = time_point::max();  // the same, less the time each kept for the commit
  std::optional<error> lost;  // SQLite ended the transaction: every member gets this
  std::size_t next = 0;
  std::size_t executed = 0;
  for (; next < live.size(); ++next) {
    auto* j = live[next];
    now = std::chrono::steady_clock::now();
    if (j->deadline != time_point::max() && now >= j->deadline) {
      j->fail(refused_late());
      continue;
    }
    if (now >= grow_until) break;
    ++executed;
    int sp = 0;
    try {
      sp = db.savepoint();
    } catch (...) {
      lost = to_error(std::current_exception(), module_);
      break;
    }
    const bool ok = j->execute(db, module_);
    if (!db.in_transaction()) {
      lost = ok ? error::internal("store failure") : j->failure();
      break;
    }
    if (ok) {
      try {
        db.release(sp);
        ran.push_back(j);
        if (j->deadline != time_point::max()) {
          const auto kept = std::min<std::chrono::steady_clock::duration>((j->deadline - now) / 10,
                                                                          std::chrono::milliseconds(100));
          commit_by = std::min(commit_by, j->deadline);
          grow_until = std::min(grow_until, j->deadline - kept);
        }
      } catch (...) {
        auto e = to_error(std::current_exception(), module_);
        j->fail(e);
        try {
          if (db.in_transaction()) db.rollback_to(sp);
        } catch (...) {
        }
        if (!db.in_transaction()) {
          lost = e;
          break;
        }
      }
    } else {
      try {
        db.rollback_to(sp);
      } catch (...) {
        lost = to_error(std::current_exception(), module_);
        break;
      }
    }
  }
  // The jobs not run go back to the head of the queue, in order.
  auto unrun_from = lost ? next + 1 : next;
  if (unrun_from < live.size()) {
    std::vector<job*> unrun(live.begin() + static_cast<std::ptrdiff_t>(unrun_from), live.end());
    for (auto& j : batch)
      if (j && std::find(unrun.begin(), unrun.end(), j.get()) != unrun.end()) rest.push_back(std::move(j));
  }
  if (lost) {
    db.rollback();
    for (auto* j : ran) j->fail(*lost);
    if (next < live.size()) live[next]->fail(*lost);
  } else {
    db.bound_by(commit_by);
    try {
      db.commit();
      group_size_->observe(static_cast<double>(executed));
    } catch (const deadline_passed&) {
      db.rollback();
      now = std::chrono::steady_clock::now();
      for (auto* j : ran)
        j->fail(now >= j->deadline
                    ? error::timeout("the store could not finish before the caller's deadline; nothing was written")
                    : error::unavailable("the store could not commit this change before another caller's deadline; "
                                         "nothing was written; retry"));
    } catch (...) {
      auto e = to_error(std::current_exception(), module_);
      db.rollback();
      for (auto* j : ran) j->fail(e);
    }
  }
  db.bound_by(time_point::max());
  after_job();
  answer_all();
  return rest;
}

void worker::after_job() {
  if (db_ && db_->take_outbox_signal() && on_outbox_) on_outbox_();
}

}  // namespace agora::store
