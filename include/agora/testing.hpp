#pragma once

#include <agora/app.hpp>
#include <agora/bus.hpp>
#include <agora/clock.hpp>
#include <agora/module.hpp>
#include <agora/store.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

// The test kit. Two shapes of the same thing, the real agora::app in-process on
// 127.0.0.1 with a temporary data directory:
//   harness         the app over HTTP, with a small keep-alive client;
//   module_fixture  one module and the modules it depends on, driven over the bus with
//                   a manual clock, its store, its metrics and the events it publishes.
// Neither depends on a test framework.
namespace agora::testing {

struct options {
  // Settings applied on top of the defaults, as if from flags: {"modules.cart.replicas", 2}.
  std::vector<std::pair<std::string, nlohmann::json>> settings;
  // Modules to host; empty means all_modules().
  std::vector<module_definition> modules;
  // Data directory; empty means a fresh temporary one, removed at destruction.
  std::filesystem::path data_dir;
  int io_threads = 2;
  // The clock the modules read the time of day from; nullptr means the system's. It
  // must outlive the harness.
  const agora::clock* clock = nullptr;
};

// One HTTP reply, or the reason there is none. A transport failure (connection
// refused, reset, timeout, malformed reply) is not thrown: it comes back as status 0
// with `error` saying what happened, so a test can assert on it.
struct reply {
  int status = 0;     // 0: no HTTP reply arrived; see error
  std::string error;  // empty when a reply arrived
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;

  nlohmann::json json() const;  // throws on malformed JSON (an empty body included)
  // The `field` of each entry of a problem's `errors` (empty when there are none, or the
  // body is not a problem): what a 422 names.
  std::set<std::string> error_fields() const;
  std::string header(std::string_view name) const;  // "" when absent
};

// A keep-alive HTTP/1.1 connection to the harness (or any host:port). It connects on
// the first request and again on the first request after the connection was lost (a
// server restart, an idle close): a request that finds its reused connection closed
// before any reply byte is sent once more on a new one. Every request is bounded by
// the timeout. Not thread-safe: one client per thread.
class client {
 public:
  client(std::string host, std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(60));
  ~client();
  client(client&&) noexcept;
  client& operator=(client&&) noexcept;

  reply request(std::string_view method, std::string_view target, std::string_view body = {},
                const std::map<std::string, std::string>& headers = {});
  reply get(std::string_view target, const std::map<std::string, std::string>& headers = {});
  reply post(std::string_view target, const nlohmann::json& body, const std::map<std::string, std::string>& headers = {});
  reply put(std::string_view target, const nlohmann::json& body, const std::map<std::string, std::string>& headers = {});
  reply patch(std::string_view target, const nlohmann::json& body, const std::map<std::string, std::string>& headers = {});
  reply del(std::string_view target, const std::map<std::string, std::string>& headers = {});

  void set_timeout(std::chrono::milliseconds timeout);
  // Sends `Authorization: Bearer <credential>` with every request from now on (unless a
  // request names Authorization or X-API-Key itself); empty: stop sending it.
  void authorize(std::string credential);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// The first admin every harness and module_fixture that hosts the customers module
// starts with (modules.customers.admin_email/admin_password), and the cheap Argon2id cost
// they hash with (tests make many accounts; the real cost is a setting).
inline constexpr std::string_view admin_email = "admin@agora.test";
inline constexpr std::string_view admin_password = "harness-admin-password";

// Logs in over HTTP and answers the access token; throws std::runtime_error naming the
// status and body when the login is refused.
std::string login(client& c, std::string_view email, std::string_view password);

class harness {
 public:
  // Starts the app; throws std::runtime_error (the app's message) when it cannot.
  explicit harness(options opts = {});
  ~harness();  // graceful stop; removes a temporary data directory

  std::uint16_t port() const noexcept;
  const std::filesystem::path& data_dir() const noexcept;
  agora::app& app();
  client connect() const;
  // A client signed in as the first admin (admin_email); needs the customers module.
  client connect_as_admin() const;

  // Stops the app gracefully and starts a new one on the same data directory and the
  // same port, so clients made before keep working: for durability tests. Throws
  // std::runtime_error when the new app cannot start (the port taken meanwhile, say).
  void restart();

 private:
  void boot();

  options opts_;
  std::filesystem::path dir_;
  bool temporary_ = false;
  std::uint16_t port_ = 0;
  std::unique_ptr<agora::app> app_;
};

// The events one test consumer group received on one topic, in arrival order (which
// is publish order for events with the same partition key). Thread-safe.
class event_log {
 public:
  explicit event_log(std::string topic) : topic_(std::move(topic)) {}

  const std::string& topic() const noexcept { return topic_; }
  std::vector<bus::event> events() const;
  std::size_t size() const;
  // The events once at least `n` have arrived, or whatever arrived within `timeout`.
  std::vector<bus::event> wait_for(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  void clear();

  void add(const bus::event& ev);  // the subscription's handler

 private:
  std::string topic_;
  mutable std::mutex mutex_;
  mutable std::condition_variable arrived_;
  std::vector<bus::event> events_;
};

struct fixture_options {
  // Settings on top of the defaults: {"modules.catalog.cache_size", 0}.
  std::vector<std::pair<std::string, nlohmann::json>> settings;
  // Where the module's dependencies are looked up by name; empty means all_modules().
  // The module under test replaces an entry of the same name.
  std::vector<module_definition> known;
  // Data directory; empty means a fresh temporary one, removed at destruction.
  std::filesystem::path data_dir;
  int io_threads = 1;
  // Where the manual clock starts.
  agora::clock::time_point start_time = manual_clock().now();
};

// One module under test on the real runtime: an agora::app with modules.enabled set to
// the module and (transitively) the modules it depends on, a temporary data directory
// with each module's store migrated, a local bus, a metrics registry, a manual clock
// that only the test moves, and the HTTP routes served on 127.0.0.1 (connect()).
//
//   agora::testing::module_fixture f(agora::catalog::module());
//   auto created = f.call<agora::catalog::create_product>(req);   // result<reply>
//   f.clock().advance(std::chrono::hours(1));
//   auto& log = f.subscribe("catalog.products");                  // events from now on
class module_fixture {
 public:
  explicit module_fixture(module_definition module, fixture_options opts = {});
  ~module_fixture();  // graceful stop, then the data directory goes
  module_fixture(const module_fixture&) = delete;
  module_fixture& operator=(const module_fixture&) = delete;

  // Sends one request over the bus, as another module would, and waits for the reply
  // (or the request's deadline). Call from the test's thread, not from a handler.
  template <bus::method M>
  result<typename M::reply> call(typename M::request req, bus::request_options opts = {}) {
    // use_future needs a default-constructible value, which result<T> is not.
    auto task = [](bus::bus& b, typename M::request r,
                   bus::request_options o) -> asio::awaitable<std::optional<result<typename M::reply>>> {
      co_return co_await b.call<M>(std::move(r), std::move(o));
    };
    auto op = task(bus(), std::move(req), std::move(opts));
    return *asio::co_spawn(io_, std::move(op), asio::use_future).get();
  }

  // Records every event published on `topic` from now on, in a consumer group of its
  // own. The log lives as long as the fixture and follows it across restart(); events
  // a restarted app republishes from its outbox while starting may be missed.
  event_log& subscribe(std::string topic);

  // Waits until every event the hosted modules committed so far has been published
  // and settled by every group (their outboxes are empty): after it, each event_log
  // holds them all. False when `timeout` passes first.
  bool settle(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  const std::string& name() const noexcept { return name_; }
  bus::bus& bus();
  // The module's store (its database thread); look at rows with run_sync.
  store::worker& store();
  store::worker& store(std::string_view module);
  manual_clock& clock() noexcept { return clock_; }
  metrics::registry& metrics();
  agora::app& app();
  const std::filesystem::path& data_dir() const noexcept;
  // The module's routes (and the core's: /metrics, /openapi.json) over HTTP.
  std::uint16_t port() const noexcept;
  client connect() const;
  // A client signed in as the first admin (when customers is hosted).
  client connect_as_admin() const;

  // Stops the app gracefully and starts it again on the same data and port.
  void restart();

 private:
  void subscribe_log(std::size_t index);

  std::string name_;
  manual_clock clock_;
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
  std::vector<std::unique_ptr<event_log>> logs_;
  std::unique_ptr<harness> harness_;
  std::vector<std::string> hosted_;
};

}  // namespace agora::testing
