#include <agora/app.hpp>
#include <agora/auth.hpp>
#include <agora/local_bus.hpp>
#include <agora/log.hpp>
#include <agora/task_group.hpp>

#include "runtime/outbox_relay.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

namespace agora {

namespace {

// The enabled modules in dependency order; with `with_dependencies`, also the modules they
// depend on, enabled or not.
std::vector<const module_definition*> start_order(const std::vector<module_definition>& all,
                                                  const std::vector<std::string>& enabled, bool with_dependencies) {
  std::map<std::string, const module_definition*> by_name;
  for (const auto& m : all) by_name[m.name] = &m;
  bool every = std::find(enabled.begin(), enabled.end(), "*") != enabled.end();
  std::set<std::string> wanted;
  if (every) {
    for (const auto& m : all) wanted.insert(m.name);
  } else {
    for (const auto& name : enabled) {
      if (!by_name.count(name))
        throw std::runtime_error(fmt::format("config: modules.enabled names '{}', which this binary does not ship", name));
      wanted.insert(name);
    }
  }
  std::vector<const module_definition*> order;
  std::set<std::string> done, visiting;
  std::function<void(const std::string&)> visit = [&](const std::string& name) {
    if (done.count(name)) return;
    if (visiting.count(name)) throw std::runtime_error(fmt::format("module dependency cycle through '{}'", name));
    visiting.insert(name);
    for (const auto& dep : by_name.at(name)->depends_on) {
      if (!by_name.count(dep)) throw std::runtime_error(fmt::format("module '{}' depends on unknown module '{}'", name, dep));
      if (with_dependencies || wanted.count(dep)) visit(dep);
    }
    visiting.erase(name);
    done.insert(name);
    order.push_back(by_name.at(name));
  };
  for (const auto& m : all)
    if (wanted.count(m.name)) visit(m.name);
  return order;
}

bus::options bus_options(const config::config& c) {
  using namespace config::core;
  bus::options o;
  o.queue_capacity = static_cast<std::size_t>(c.get(bus_queue_capacity));
  o.on_full = c.get(bus_on_full) == "fail" ? bus::overflow::fail : bus::overflow::block;
  o.partitions = static_cast<std::size_t>(c.get(bus_partitions));
  o.max_attempts = static_cast<int>(c.get(bus_max_attempts));
  o.backoff_initial = std::chrono::milliseconds(c.get(bus_backoff_initial_ms));
  o.backoff_max = std::chrono::milliseconds(c.get(bus_backoff_max_ms));
  o.dead_letter_capacity = static_cast<std::size_t>(c.get(bus_dead_letter_capacity));
  o.max_in_flight_requests = static_cast<std::size_t>(c.get(bus_max_in_flight_requests));
  return o;
}

http::server_options server_options(const config::config& c, int threads) {
  using namespace config::core;
  http::server_options o;
  o.address = c.get(server_address);
  o.port = static_cast<std::uint16_t>(c.get(server_port));
  o.io_threads = threads;
  o.header_limit = static_cast<std::size_t>(c.get(header_limit_bytes));
  o.body_limit = static_cast<std::size_t>(c.get(body_limit_bytes));
  o.read_timeout = std::chrono::milliseconds(c.get(read_timeout_ms));
  o.idle_timeout = std::chrono::milliseconds(c.get(idle_timeout_ms));
  o.handler_timeout = std::chrono::milliseconds(c.get(handler_timeout_ms));
  o.max_connections = static_cast<std::size_t>(c.get(max_connections));
  o.max_connections_per_client = static_cast<std::size_t>(c.get(max_connections_per_client));
  return o;
}

// A dead letter's sequence number: decimal digits only (no sign, no space), within 64 bits.
std::optional<std::uint64_t> parse_sequence(std::string_view text) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
    return std::nullopt;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

access admin_only() { return access::any_role({std::string(roles::admin)}, "admin"); }

// Forgets a module's idempotency keys older than the retention, at start and then every
// `every`, until the task group stops it.
asio::awaitable<void> sweep_idempotency(store::worker& store, std::chrono::seconds retention,
                                        std::chrono::seconds every) {
  // Stopping is the task group's cancellation: it ends the timer's wait, never a sweep's job.
  co_await asio::this_coro::throw_if_cancelled(false);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    auto job = [retention](store::database& db) { return db.sweep_idempotency(retention); };
    auto swept = co_await store.run(std::move(job));
    if (!swept)
      log::warn("store", "idempotency sweep failed; retried at the next one",
                {{"module", store.module()}, {"error", swept.err().message}});
    else if (*swept > 0)
      log::debug("store", "idempotency keys swept", {{"module", store.module()}, {"keys", *swept}});
    auto cancel = co_await asio::this_coro::cancellation_state;
    if (cancel.cancelled() != asio::cancellation_type::none) co_return;
    timer.expires_after(every);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
  }
}

template <class T>
T wait(asio::io_context& io, asio::any_io_executor ex, asio::awaitable<T> a) {
  return asio::co_spawn(ex, std::move(a), asio::use_future).get();
}

}  // namespace

struct app::impl {
  struct running_module {
    const module_definition* def = nullptr;
    std::unique_ptr<store::worker> store;
    std::shared_ptr<runtime::outbox_relay> relay;
    std::vector<std::unique_ptr<module_context>> contexts;
    std::vector<std::unique_ptr<module_instance>> instances;
    std::vector<bus::executor> strands;
  };

  config::config cfg;
  std::vector<module_definition> defs;
  const clock* time = &system_time();
  int threads = 1;
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> pool;
  metrics::registry metrics;
  std::unique_ptr<bus::bus> bus;
  http::router router;
  std::unique_ptr<http::server> server;
  std::shared_ptr<auth::identity_authenticator> authenticator;
  std::vector<running_module> modules;
  task_group sweeps;
  std::string openapi_doc;
  // Set by run_command: start only this module and its dependencies, without the HTTP
  // listener and the outbox relays.
  std::optional<std::string> command_module;
  std::atomic<bool> is_ready{false};
  std::atomic<bool> started{false};
  std::mutex mutex;
  std::condition_variable cv;
  bool stop_requested = false;
  bool in_run = false;
  bool shut_down = false;

  impl(config::config c, std::vector<module_definition> d) : cfg(std::move(c)), defs(std::move(d)) {}

  void add_core_routes();
  void shutdown(bool graceful);
};

void app::impl::add_core_routes() {
  using http::verb;
  router.add({verb::get, "/healthz",
              [](http::request_context&) -> asio::awaitable<http::response> {
                co_return http::json_response(200, {{"status", "ok"}});
              },
              "getHealth", "Liveness: the process is up", "operations", nullptr,
              {{200, {{"type", "object"}, {"properties", {{"status", {{"type", "string"}}}}}}}}, {}, {}, "application/json",
              true, false, access::anyone()});
  router.add({verb::get, "/readyz",
              [this](http::request_context&) -> asio::awaitable<http::response> {
                if (is_ready.load()) co_return http::json_response(200, {{"status", "ready"}});
                auto r = http::problem(503, "agora is starting or stopping");
                co_return r;
              },
              "getReadiness", "Readiness: modules started and accepting traffic", "operations", nullptr,
              {{200, {{"type", "object"}, {"properties", {{"status", {{"type", "string"}}}}}}}}, {}, {}, "application/json",
              true, false, access::anyone()});
  router.add({verb::get, "/metrics",
              [this](http::request_context&) -> asio::awaitable<http::response> {
                http::response res{boost::beast::http::status::ok, 11};
                res.set(boost::beast::http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
                res.body() = metrics.expose();
                res.prepare_payload();
                co_return res;
              },
              "getMetrics", "Prometheus metrics", "operations", nullptr,
              {{200, {{"type", "string"}}}}, {}, {}, "text/plain", true, false,
              cfg.get(config::core::auth_metrics_public) ? access::anyone()
                                                        : access::any_role({std::string(roles::admin)}, "metrics")});
  router.add({verb::get, "/openapi.json",
              [this](http::request_context&) -> asio::awaitable<http::response> {
                http::response res{boost::beast::http::status::ok, 11};
                res.set(boost::beast::http::field::content_type, "application/json");
                res.body() = openapi_doc;
                res.prepare_payload();
                co_return res;
              },
              "getOpenApi", "This OpenAPI 3.1 document", "operations", nullptr, {{200, {{"type", "object"}}}}, {}, {},
              "application/json", true, false, access::anyone()});
  router.add({verb::get, "/v1/admin/bus",
              [this](http::request_context&) -> asio::awaitable<http::response> {
                co_return http::json_response(200, bus->stats());
              },
              "getBusStats", "Bus queues, consumers and responders", "admin", nullptr, {{200, {{"type", "object"}}}}, {}, {},
              "application/json", true, false, admin_only()});
  router.add({verb::get, "/v1/admin/dead-letters",
              [this](http::request_context&) -> asio::awaitable<http::response> {
                nlohmann::json out = nlohmann::json::array();
                for (const auto& d : bus->dead_letters())
                  out.push_back({{"seq", d.seq}, {"group", d.group}, {"attempts", d.attempts},
                                 {"failed_at", d.failed_at}, {"last_error", d.last_error}, {"event", *d.ev},
                                 {"durable", d.kept_id != 0}});
                co_return http::json_response(200, {{"data", out}});
              },
              "listDeadLetters", "Events that exhausted their deliveries", "admin", nullptr,
              {{200, {{"type", "object"}}}}, {}, {}, "application/json", true, false, admin_only()});
  router.add({verb::post, "/v1/admin/dead-letters/{seq}/replay",
              [this](http::request_context& ctx) -> asio::awaitable<http::response> {
                auto seq = parse_sequence(ctx.param("seq").value_or(""));
                if (!seq)
                  co_return http::problem(400, "seq must be a dead letter's number",
                                          {{"seq", "expected digits only, at most 2^64-1"}});
                auto r = bus->replay(*seq);
                if (!r) co_return http::problem(r.err());
                co_return http::json_response(202, {{"replayed", *seq}});
              },
              "replayDeadLetter", "Put a dead letter back on its group's queue", "admin", nullptr,
              {{202, {{"type", "object"}}}}, {}, {}, "application/json", true, false, admin_only()});
}

app::app(config::config cfg, std::vector<module_definition> modules)
    : impl_(std::make_unique<impl>(std::move(cfg), std::move(modules))) {
  std::set<std::string> names;
  for (const auto& m : impl_->defs)
    if (!names.insert(m.name).second) throw std::invalid_argument(fmt::format("module '{}' registered twice", m.name));
}

app::~app() {
  if (impl_->started.load()) impl_->shutdown(true);
}

void app::start() {
  auto& s = *impl_;
  auto level = log::level_from_string(s.cfg.get(config::core::log_level));
  // A command's stdout and stderr are for its user: the runtime's info lines stay out.
  if (s.command_module && level == log::level::info) level = log::level::warn;
  log::global().set_level(level);
  s.threads = static_cast<int>(s.cfg.get(config::core::io_threads));
  if (s.threads <= 0) s.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  s.work.emplace(s.io.get_executor());
  for (int i = 0; i < s.threads; ++i) s.pool.emplace_back([&s] { s.io.run(); });
  s.started = true;
  try {
    s.bus = bus::make_local_bus(s.io.get_executor(), bus_options(s.cfg), s.metrics);
    std::filesystem::path data_dir = s.cfg.get(config::core::data_dir);
    auto order = s.command_module ? start_order(s.defs, {*s.command_module}, true)
                                  : start_order(s.defs, s.cfg.get(config::core::modules_enabled), false);
    for (const auto* def : order) {
      auto& rm = s.modules.emplace_back();
      rm.def = def;
      store::options so;
      so.durability = store::durability_from_string(s.cfg.string("modules." + def->name + ".durability"))
                          .value_or(store::durability::normal);
      so.group_commit_max = static_cast<std::size_t>(s.cfg.get(config::core::store_group_commit_max));
      so.clock = s.time;
      rm.store =
          std::make_unique<store::worker>(def->name, data_dir / (def->name + ".db"), def->migrations, s.metrics, so);
      rm.store->start();
      // Without relays a command's events stay in the outbox for the next serve, whose
      // consumers are all subscribed before anything is published.
      if (!s.command_module) {
        rm.relay = std::make_shared<runtime::outbox_relay>(def->name, *rm.store, *s.bus,
                                                            asio::make_strand(s.io.get_executor()), s.metrics);
        rm.store->on_outbox([relay = rm.relay] { relay->notify(); });
      }
      int replicas = static_cast<int>(s.cfg.integer("modules." + def->name + ".replicas"));
      for (int i = 0; i < replicas; ++i) {
        auto strand = asio::make_strand(s.io.get_executor());
        rm.strands.push_back(strand);
        rm.contexts.push_back(
            std::make_unique<module_context>(def->name, i, strand, *s.bus, *rm.store, s.metrics, s.cfg, *s.time));
        rm.instances.push_back(def->create(*rm.contexts.back()));
        wait(s.io, strand, rm.instances.back()->start());
      }
      log::info("runtime", "module started",
                {{"module", def->name}, {"replicas", replicas}, {"schema_version", def->migrations.size()},
                 {"durability", store::to_string(so.durability)}, {"group_commit_max", so.group_commit_max}});
    }
    if (s.command_module) return;
    auth::identity_options ao;
    ao.issuer = s.cfg.get(config::core::auth_issuer);
    ao.audience = s.cfg.get(config::core::auth_audience);
    ao.leeway = std::chrono::seconds(s.cfg.get(config::core::auth_leeway_s));
    ao.api_key_cache = std::chrono::seconds(s.cfg.get(config::core::auth_api_key_cache_s));
    auto auth_strand = asio::make_strand(s.io.get_executor());
    s.authenticator = std::make_shared<auth::identity_authenticator>(*s.bus, auth_strand, ao, *s.time, s.metrics);
    wait(s.io, auth_strand, s.authenticator->start("server"));
    s.router.use(auth::guard(s.authenticator, s.metrics));
    s.add_core_routes();
    route_env env{*s.bus, std::chrono::milliseconds(s.cfg.get(config::core::bus_request_timeout_ms))};
    for (const auto& rm : s.modules)
      for (const auto& make : rm.def->routes) s.router.add(make(env));
    s.openapi_doc = s.router.openapi("agora", "0.1.0").dump(2);
    s.server = std::make_unique<http::server>(s.io, server_options(s.cfg, s.threads), s.router, s.metrics);
    s.server->start();
    for (auto& rm : s.modules) {
      wait(s.io, rm.strands.front(), rm.relay->load_dead_letters());
      rm.relay->start();
    }
    const std::chrono::seconds retention(s.cfg.get(config::core::store_idempotency_retention_s));
    const std::chrono::seconds every(s.cfg.get(config::core::store_idempotency_sweep_s));
    for (auto& rm : s.modules)
      s.sweeps.spawn(asio::make_strand(s.io.get_executor()), sweep_idempotency(*rm.store, retention, every),
                     "idempotency sweep of " + rm.def->name);
    s.is_ready = true;
    // Always written, whatever the level: scripts and people read the port from it.
    log::global().write(log::level::info, "runtime",
                        fmt::format("listening on {}:{}", s.cfg.string("server.address"), s.server->port()),
              {{"address", s.cfg.string("server.address")}, {"port", s.server->port()}, {"io_threads", s.threads},
               {"data_dir", data_dir.string()}});
  } catch (...) {
    s.shutdown(false);
    throw;
  }
}

int app::run_command(std::string_view module, std::string_view command, std::vector<std::string> args,
                     std::ostream& out, std::ostream& err) {
  std::istringstream nothing;
  return run_command(module, command, std::move(args), out, err, nothing);
}

int app::run_command(std::string_view module, std::string_view command, std::vector<std::string> args,
                     std::ostream& out, std::ostream& err, std::istream& in) {
  auto& s = *impl_;
  auto def = std::find_if(s.defs.begin(), s.defs.end(), [&](const module_definition& d) { return d.name == module; });
  if (def == s.defs.end()) {
    err << "agora: unknown module '" << module << "' (agora help lists the commands)\n";
    return 2;
  }
  auto cmd = std::find_if(def->commands.begin(), def->commands.end(),
                          [&](const command_decl& c) { return c.doc.name == command; });
  if (cmd == def->commands.end()) {
    err << "agora: the " << module << " module has no command '" << command << "' (agora help lists the commands)\n";
    return 2;
  }
  if (s.started.load()) throw std::logic_error("app::run_command after start()");
  s.command_module = def->name;
  start();
  auto rm = std::find_if(s.modules.begin(), s.modules.end(), [&](const auto& m) { return m.def == &*def; });
  command_context ctx{def->name, cmd->doc.name, cmd->doc.usage, std::move(args), out, err, in};
  int code = 1;
  try {
    code = wait(s.io, rm->strands.front(), cmd->run(*rm->instances.front(), ctx));
  } catch (const std::exception& e) {
    err << "agora " << module << ' ' << command << ": " << e.what() << '\n';
  }
  stop();
  return code;
}

void app::use_clock(const clock& c) {
  if (impl_->started.load()) throw std::logic_error("app::use_clock after start()");
  impl_->time = &c;
}

std::uint16_t app::port() const noexcept { return impl_->server ? impl_->server->port() : 0; }

void app::run(bool handle_signals) {
  auto& s = *impl_;
  std::optional<asio::signal_set> signals;
  if (handle_signals) {
    signals.emplace(s.io, SIGINT, SIGTERM);
    signals->async_wait([this](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      log::info("runtime", "signal received; shutting down", {{"signal", sig}});
      {
        std::lock_guard lock(impl_->mutex);
        impl_->stop_requested = true;
      }
      impl_->cv.notify_all();
    });
  }
  {
    std::unique_lock lock(s.mutex);
    s.in_run = true;
    s.cv.wait(lock, [&] { return s.stop_requested; });
  }
  if (signals) {
    boost::system::error_code ec;
    signals->cancel(ec);
  }
  s.shutdown(true);
  std::lock_guard lock(s.mutex);
  s.in_run = false;
}

void app::stop() {
  auto& s = *impl_;
  {
    std::lock_guard lock(s.mutex);
    s.stop_requested = true;
    if (s.in_run) {
      s.cv.notify_all();
      return;
    }
  }
  s.shutdown(true);
}

void app::impl::shutdown(bool graceful) {
  {
    std::lock_guard lock(mutex);
    if (shut_down || !started.load()) return;
    shut_down = true;
  }
  is_ready = false;
  auto deadline = bus::clock::now() + std::chrono::milliseconds(cfg.integer("shutdown.deadline_ms"));
  auto ex = io.get_executor();
  try {
    if (server) wait(io, ex, server->shutdown(graceful ? deadline : bus::clock::now()));
    if (graceful) {
      for (auto& rm : modules) {
        if (!rm.relay) continue;
        bool flushed = wait(io, ex, rm.relay->flush(deadline));
        if (!flushed) log::warn("runtime", "outbox not empty at shutdown; it is published at the next start", {{"module", rm.def->name}});
      }
    }
    wait(io, ex, sweeps.stop());
    if (bus) wait(io, ex, bus->drain(graceful ? deadline : bus::clock::now()));
    for (auto it = modules.rbegin(); it != modules.rend(); ++it) {
      if (it->relay) wait(io, ex, it->relay->stop());
      for (std::size_t i = it->instances.size(); i-- > 0;) wait(io, it->strands[i], it->instances[i]->stop());
    }
  } catch (const std::exception& e) {
    log::error("runtime", "error during shutdown", {{"error", e.what()}});
  }
  for (auto it = modules.rbegin(); it != modules.rend(); ++it) {
    if (it->store) it->store->stop();
    log::info("runtime", "module stopped", {{"module", it->def->name}});
  }
  work.reset();
  io.stop();
  for (auto& t : pool)
    if (t.joinable()) t.join();
  pool.clear();
  log::info("runtime", "stopped");
}

bool app::ready() const noexcept { return impl_->is_ready.load(); }
bus::bus& app::message_bus() { return *impl_->bus; }
metrics::registry& app::metrics() { return impl_->metrics; }
const config::config& app::settings() const { return impl_->cfg; }

store::worker* app::module_store(std::string_view module) {
  for (auto& rm : impl_->modules)
    if (rm.def->name == module) return rm.store.get();
  return nullptr;
}

std::vector<config::setting> all_settings(const std::vector<module_definition>& modules) {
  auto out = config::core_settings();
  for (const auto& m : modules) {
    std::string prefix = "modules." + m.name + ".";
    out.push_back({.key = prefix + "replicas",
                   .kind = config::type::integer,
                   .default_value = m.replicas,
                   .description = "Replicas of the " + m.name + " module",
                   .min = 1,
                   .max = 64});
    out.push_back({.key = prefix + "durability",
                   .kind = config::type::string,
                   .default_value = std::string(store::to_string(m.durability)),
                   .description = "How the " + m.name +
                                  " store syncs a commit: full (survives power loss) or normal (survives a crash "
                                  "of the process)",
                   .choices = {"normal", "full"}});
    for (auto s : m.settings) {
      s.key = prefix + s.key;
      out.push_back(std::move(s));
    }
  }
  return out;
}

}  // namespace agora
