#include <agora/testing.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <set>
#include <stdexcept>

namespace agora::testing {

std::vector<bus::event> event_log::events() const {
  std::lock_guard lock(mutex_);
  return events_;
}

std::size_t event_log::size() const {
  std::lock_guard lock(mutex_);
  return events_.size();
}

std::vector<bus::event> event_log::wait_for(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  arrived_.wait_for(lock, timeout, [&] { return events_.size() >= n; });
  return events_;
}

void event_log::clear() {
  std::lock_guard lock(mutex_);
  events_.clear();
}

void event_log::add(const bus::event& ev) {
  {
    std::lock_guard lock(mutex_);
    events_.push_back(ev);
  }
  arrived_.notify_all();
}

namespace {

// The module under test and, transitively, the modules it depends on, by name.
std::vector<std::string> with_dependencies(const module_definition& module, const std::vector<module_definition>& known) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  std::function<void(const module_definition&)> visit = [&](const module_definition& m) {
    if (!seen.insert(m.name).second) return;
    out.push_back(m.name);
    for (const auto& dep : m.depends_on) {
      auto it = std::find_if(known.begin(), known.end(), [&](const module_definition& k) { return k.name == dep; });
      if (it == known.end())
        throw std::invalid_argument(fmt::format("module_fixture: '{}' depends on '{}', which is not known", m.name, dep));
      visit(*it);
    }
  };
  visit(module);
  return out;
}

}  // namespace

module_fixture::module_fixture(module_definition module, fixture_options opts)
    : name_(module.name), clock_(opts.start_time) {
  auto known = opts.known.empty() ? all_modules() : std::move(opts.known);
  auto same = std::find_if(known.begin(), known.end(), [&](const module_definition& k) { return k.name == name_; });
  if (same != known.end()) known.erase(same);
  known.push_back(std::move(module));
  hosted_ = with_dependencies(known.back(), known);

  options h;
  h.modules = std::move(known);
  h.data_dir = std::move(opts.data_dir);
  h.io_threads = opts.io_threads;
  h.clock = &clock_;
  h.settings.emplace_back("modules.enabled", hosted_);
  for (auto& s : opts.settings) h.settings.push_back(std::move(s));

  work_.emplace(io_.get_executor());
  thread_ = std::thread([this] { io_.run(); });
  try {
    harness_ = std::make_unique<harness>(std::move(h));
  } catch (...) {
    work_.reset();
    thread_.join();
    throw;
  }
}

module_fixture::~module_fixture() {
  harness_.reset();
  work_.reset();
  thread_.join();
}

event_log& module_fixture::subscribe(std::string topic) {
  logs_.push_back(std::make_unique<event_log>(std::move(topic)));
  subscribe_log(logs_.size() - 1);
  return *logs_.back();
}

void module_fixture::subscribe_log(std::size_t index) {
  auto& log = *logs_[index];
  auto group = fmt::format("testing.{}.{}", log.topic(), index);
  bus().subscribe(bus::subscription{log.topic(), group, group + "#0", io_.get_executor(),
                                    [&log](const bus::event& ev) -> asio::awaitable<result<void>> {
                                      log.add(ev);
                                      co_return ok();
                                    }});
}

bool module_fixture::settle(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (const auto& name : hosted_) {
    for (;;) {
      auto rows = store(name).run_sync([](store::database& db) {
        auto& q = db.prepare("SELECT COUNT(*) FROM _agora_outbox");
        q.step();
        auto n = q.int64(0);
        q.reset();
        return n;
      });
      if (rows && *rows == 0) break;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      // The relay has no completion signal to wait on; its rows go within milliseconds.
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  return true;
}

bus::bus& module_fixture::bus() { return harness_->app().message_bus(); }

store::worker& module_fixture::store() { return store(name_); }

store::worker& module_fixture::store(std::string_view module) {
  auto* s = harness_->app().module_store(module);
  if (!s) throw std::invalid_argument(fmt::format("module_fixture: module '{}' is not hosted", module));
  return *s;
}

metrics::registry& module_fixture::metrics() { return harness_->app().metrics(); }
agora::app& module_fixture::app() { return harness_->app(); }
const std::filesystem::path& module_fixture::data_dir() const noexcept { return harness_->data_dir(); }
std::uint16_t module_fixture::port() const noexcept { return harness_->port(); }
client module_fixture::connect() const { return harness_->connect(); }
client module_fixture::connect_as_admin() const { return harness_->connect_as_admin(); }

void module_fixture::restart() {
  harness_->restart();
  for (std::size_t i = 0; i < logs_.size(); ++i) subscribe_log(i);
}

}  // namespace agora::testing
