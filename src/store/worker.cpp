#include <agora/log.hpp>
#include <agora/store.hpp>

#include <fmt/format.h>
#include <sqlite3.h>

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
      opts_(opts) {}

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

void worker::after_job() {
  if (db_ && db_->take_outbox_signal() && on_outbox_) on_outbox_();
}

}  // namespace agora::store
