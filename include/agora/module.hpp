#pragma once

#include <agora/bus.hpp>
#include <agora/clock.hpp>
#include <agora/config.hpp>
#include <agora/http.hpp>
#include <agora/metrics.hpp>
#include <agora/store.hpp>
#include <agora/values.hpp>

#include <boost/asio/awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <concepts>
#include <functional>
#include <memory>
#include <istream>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

// The module API. A module is a folder under modules/ with one public header of
// message types and one declaration (a module_decl) naming everything the runtime
// needs: its bus methods, the HTTP routes mapped onto them, the events it publishes
// and consumes, its migrations, its settings, its replica count and its command-line
// commands.
namespace agora {

namespace asio = boost::asio;

// What one replica of a module is given at start. Lives as long as the replica.
class module_context {
 public:
  module_context(std::string module, int replica, bus::executor ex, bus::bus& b, store::worker& s,
                 metrics::registry& m, const config::config& c, const agora::clock& time = system_time())
      : module_(std::move(module)), replica_(replica), ex_(std::move(ex)), bus_(b), store_(s), metrics_(m),
        config_(c), clock_(time) {}

  const std::string& module() const noexcept { return module_; }
  int replica() const noexcept { return replica_; }
  std::string replica_name() const { return module_ + "#" + std::to_string(replica_); }
  // This replica's strand: its handlers and state run here, one at a time.
  const bus::executor& executor() const noexcept { return ex_; }
  bus::bus& bus() noexcept { return bus_; }
  // The module's store thread, shared by its replicas.
  store::worker& store() noexcept { return store_; }
  metrics::registry& metrics() noexcept { return metrics_; }
  // The time of day for ids, timestamps and expiry; a manual clock in tests.
  const agora::clock& clock() const noexcept { return clock_; }

  // An event envelope of this module ("agora/<module>"): a new id, the trace of the call
  // it answers, `time` (or the clock's now when empty). Write it in the same store
  // transaction as the change it announces (database::enqueue_event).
  bus::event event(std::string_view topic, std::string_view type, std::string subject, nlohmann::json data,
                   const bus::call_context& c, std::string time = {}) const {
    bus::event ev;
    ev.id = clock_.new_id("evt");
    ev.source = "agora/" + module_;
    ev.type = std::string(type);
    ev.subject = std::move(subject);
    ev.time = time.empty() ? clock_.now_rfc3339() : std::move(time);
    ev.topic = std::string(topic);
    if (c.tr) ev.tr = *c.tr;
    ev.data = std::move(data);
    return ev;
  }
  // The value of a setting this module declared (module_decl::setting(h)), stored as
  // modules.<module>.<key>. Throws config::config_error when the module did not declare
  // `h`, which stops the start when read there.
  template <std::derived_from<config::setting_handle> H>
  typename H::value_type get(const H& h) const {
    return config_.get(h, "modules." + module_ + "." + h.key());
  }
  // The value of one of the core's settings (config::core::auth_issuer, say).
  template <std::derived_from<config::setting_handle> H>
  typename H::value_type core_setting(const H& h) const {
    return config_.get(h);
  }
  // modules.<module>.replicas, which the runtime declares for every module.
  int replicas() const { return static_cast<int>(config_.integer("modules." + module_ + ".replicas")); }
  // modules.<module>.durability, which the runtime declares for every module.
  store::durability durability() const {
    return store::durability_from_string(config_.string("modules." + module_ + ".durability"))
        .value_or(store::durability::normal);
  }

 private:

  std::string module_;
  int replica_;
  bus::executor ex_;
  bus::bus& bus_;
  store::worker& store_;
  metrics::registry& metrics_;
  const config::config& config_;
  const agora::clock& clock_;
};

// How a module pages one of its lists.
struct page_rules {
  std::int64_t default_limit = 20;
  std::int64_t max_limit = 100;
  std::string_view id_prefix;  // the listed rows' ids: "prod"
};

// One page of a list in id order: checks limit and cursor (invalid_argument naming
// them), runs fetch(db, after_id, limit + 1) on the store thread (bounded by `deadline`,
// the handler's call_context::deadline), and trims the extra row into next_cursor.
// `fetch` returns std::vector<Row>; Row has an `id`.
template <class Row, class Fetch>
asio::awaitable<result<page<Row>>> read_page(store::worker& store, std::optional<std::int64_t> limit,
                                             std::string cursor, page_rules rules, Fetch fetch,
                                             bus::clock::time_point deadline) {
  auto n = page_limit(limit, rules.default_limit, rules.max_limit);
  if (!n) co_return std::move(n).err();
  auto after = page_after(cursor, rules.id_prefix);
  if (!after) co_return std::move(after).err();
  auto job = [after = std::move(after).value(), n = *n, fetch = std::move(fetch)](store::database& db) {
    return fetch(db, after, n + 1);
  };
  auto rows = co_await store.run(std::move(job), deadline);
  if (!rows) co_return std::move(rows).err();
  page<Row> out;
  out.data = std::move(rows).value();
  out.next_cursor = trim_page(out.data, *n);
  co_return out;
}

// A running replica: what the runtime stops in reverse order.
class module_instance {
 public:
  virtual ~module_instance() = default;
  virtual asio::awaitable<void> start() = 0;
  virtual asio::awaitable<void> stop() = 0;
};

struct event_decl {
  std::string topic;
  std::vector<std::string> types;
};

struct consumer_decl {
  std::string topic;
  std::string group;
};

// What a module command is called with: the words after `agora <module> <name>`, and
// the streams it writes to (stdout and stderr in the binary).
struct command_context {
  std::string module;
  std::string name;
  std::string usage;  // the arguments' synopsis it was declared with
  std::vector<std::string> args;
  std::ostream& out;
  std::ostream& err;
  std::istream& in;  // standard input in the binary (a password, say); empty when embedded

  // Writes "agora <module> <name>: <why>" and the usage line to err; returns 2, the exit
  // code of refused arguments.
  int usage_error(std::string_view why) const {
    err << "agora " << module << ' ' << name << ": " << why << "\nusage: agora " << module << ' ' << name
        << (usage.empty() ? "" : " ") << usage << '\n';
    return 2;
  }
};

// `agora <module> <name> <usage>`, listed by `agora help` with its summary.
struct command_doc {
  std::string name;
  std::string summary;  // one line
  std::string usage;    // the arguments' synopsis: "", "FILE", "[--json]"
};

struct command_decl {
  command_doc doc;
  // Runs the command on a replica this definition's create made.
  std::function<asio::awaitable<int>(module_instance&, command_context&)> run;
};

// What the HTTP side of a route needs from the runtime: the bus, and the options of a
// bus call made for one request.
struct route_env {
  bus::bus& bus;
  std::chrono::milliseconds timeout;  // the longest a bus call may take (bus.request_timeout_ms)

  // The request's trace and principal, and the time it has left before its 504 (at most `timeout`).
  bus::request_options options(const http::request_context& ctx) const {
    auto left = ctx.deadline == std::chrono::steady_clock::time_point::max()
                    ? timeout
                    : std::chrono::duration_cast<std::chrono::milliseconds>(ctx.deadline -
                                                                            std::chrono::steady_clock::now());
    bus::request_options o(std::clamp(left, std::chrono::milliseconds(0), timeout), ctx.tr);
    o.who = ctx.who;
    return o;
  }

  // Calls bus method M on behalf of the request (see options()). Name `req` before
  // co_await-ing this (the GCC 12 rule).
  template <bus::method M>
  asio::awaitable<result<typename M::reply>> call(typename M::request req, const http::request_context& ctx) const {
    return bus.call<M>(std::move(req), options(ctx));
  }
};

// The type-erased declaration the registry holds.
struct module_definition {
  std::string name;
  int replicas = 1;
  store::durability durability = store::durability::normal;  // the default of modules.<name>.durability
  std::vector<std::string> depends_on;
  std::vector<store::migration> migrations;
  std::vector<config::setting> settings;  // keys relative to modules.<name>.
  std::vector<std::string> methods;
  std::vector<event_decl> publishes;
  std::vector<consumer_decl> consumes;
  std::function<std::unique_ptr<module_instance>(module_context&)> create;
  std::vector<std::function<http::route(const route_env&)>> routes;
  std::vector<command_decl> commands;
};

namespace detail {

template <class S>
concept has_start = requires(S& s) { { s.start() } -> std::same_as<asio::awaitable<void>>; };
template <class S>
concept has_stop = requires(S& s) { { s.stop() } -> std::same_as<asio::awaitable<void>>; };

template <bus::method M, class Decode, class Encode>
asio::awaitable<http::response> bus_route(const route_env& env, Decode decode, Encode encode,
                                          http::request_context& ctx) {
  auto req = decode(ctx);
  if (!req) co_return http::problem(req.err());
  auto opts = env.options(ctx);
  auto reply = co_await env.bus.call<M>(std::move(req).value(), std::move(opts));
  if (!reply) co_return http::problem(reply.err());
  co_return encode(reply.value(), ctx);
}

}  // namespace detail

// Declares a module whose replicas are instances of S. S is constructed with a
// module_context& and may have `asio::awaitable<void> start()` / `stop()`.
template <class S>
class module_decl {
 public:
  explicit module_decl(std::string name) { def_.name = std::move(name); }

  module_decl& replicas(int n) {
    def_.replicas = n;
    return *this;
  }
  // The default of modules.<name>.durability, which the runtime declares for every
  // module: full for a module whose committed changes must survive power loss (orders,
  // inventory, sales), normal (the default) otherwise. See store::durability.
  module_decl& durability(store::durability d) {
    def_.durability = d;
    return *this;
  }
  module_decl& depends_on(std::string module) {
    def_.depends_on.push_back(std::move(module));
    return *this;
  }
  module_decl& migrations(std::vector<store::migration> m) {
    def_.migrations = std::move(m);
    return *this;
  }
  // A setting under modules.<name>.<h.key()>, read with module_context::get(h).
  module_decl& setting(const config::setting_handle& h) {
    def_.settings.push_back(h.declaration());
    return *this;
  }

  // A bus method answered by S::fn on the replica's strand.
  template <bus::method M>
  module_decl& handle(asio::awaitable<result<typename M::reply>> (S::*fn)(typename M::request,
                                                                          const bus::call_context&)) {
    def_.methods.emplace_back(M::name);
    binders_.push_back([fn](std::shared_ptr<S> svc, module_context& ctx) {
      ctx.bus().serve(bus::make_responder<M>(ctx.replica_name(), ctx.executor(),
                                             [svc, fn](typename M::request req, const bus::call_context& c) {
                                               return ((*svc).*fn)(std::move(req), c);
                                             }));
      return [method = std::string(M::name), replica = ctx.replica_name(), &b = ctx.bus()] {
        b.unserve(method, replica);
      };
    });
    return *this;
  }

  // An HTTP route mapped onto bus method M. decode: result<M::request>(request_context&);
  // encode: http::response(const M::reply&, request_context&). `doc` carries the
  // method, pattern and OpenAPI fields; its fn is filled in here.
  template <bus::method M, class Decode, class Encode>
  module_decl& route(http::route doc, Decode decode, Encode encode) {
    if (doc.tag.empty()) doc.tag = def_.name;
    def_.routes.push_back([doc = std::move(doc), decode, encode](const route_env& env) {
      http::route r = doc;
      r.fn = [env, decode, encode](http::request_context& ctx) { return detail::bus_route<M>(env, decode, encode, ctx); };
      return r;
    });
    return *this;
  }

  // An HTTP route with its own handler, for what decode/encode cannot express: a
  // streamed body, or another error shape (the OpenAI routes). It still reaches the
  // module only over the bus (env.call<M>(req, ctx)). fn:
  // asio::awaitable<http::response>(const route_env&, http::request_context&).
  template <class F>
  module_decl& http_route(http::route doc, F fn) {
    if (doc.tag.empty()) doc.tag = def_.name;
    def_.routes.push_back([doc = std::move(doc), fn](const route_env& env) {
      http::route r = doc;
      r.fn = [env, fn](http::request_context& ctx) { return fn(env, ctx); };
      return r;
    });
    return *this;
  }

  module_decl& publishes(std::string topic, std::vector<std::string> types) {
    def_.publishes.push_back({std::move(topic), std::move(types)});
    return *this;
  }

  // Events of `topic` handled by S::fn in consumer group `group`. The handler should
  // claim the event id in its store transaction (database::claim_event) so that a
  // redelivery does nothing twice.
  module_decl& consumes(std::string topic, std::string group,
                        asio::awaitable<result<void>> (S::*fn)(const bus::event&)) {
    def_.consumes.push_back({topic, group});
    binders_.push_back([topic, group, fn](std::shared_ptr<S> svc, module_context& ctx) {
      ctx.bus().subscribe(bus::subscription{topic, group, ctx.replica_name(), ctx.executor(),
                                            [svc, fn](const bus::event& ev) { return ((*svc).*fn)(ev); }});
      return std::function<void()>{};
    });
    return *this;
  }

  // A command of the binary, `agora <module> <doc.name> [args]` (app::run_command). S::fn
  // runs on replica 0's strand after this module and the modules it depends on have
  // started (stores open, migrations applied, settings loaded as for serve) and before
  // they stop. It writes its output to ctx.out and problems to ctx.err, and returns the
  // exit code: 0 done, 1 failed, 2 refused arguments (ctx.usage_error).
  module_decl& command(command_doc doc, asio::awaitable<int> (S::*fn)(command_context&)) {
    for (const auto& c : def_.commands)
      if (c.doc.name == doc.name)
        throw std::invalid_argument("module '" + def_.name + "' declares the command '" + doc.name + "' twice");
    def_.commands.push_back({std::move(doc), [fn](module_instance& inst, command_context& ctx) {
                               return ((*static_cast<instance&>(inst).svc).*fn)(ctx);
                             }});
    return *this;
  }

  // Finishes the declaration (it is spent afterwards); chains end with it:
  //   return module_decl<S>("x").handle<m>(&S::f).build();
  module_definition build() {
    def_.create = [binders = std::move(binders_)](module_context& ctx) -> std::unique_ptr<module_instance> {
      auto svc = std::make_shared<S>(ctx);
      auto inst = std::make_unique<instance>(svc);
      for (const auto& bind : binders) {
        if (auto undo = bind(svc, ctx)) inst->undo.push_back(std::move(undo));
      }
      return inst;
    };
    return std::move(def_);
  }

 private:
  struct instance final : module_instance {
    explicit instance(std::shared_ptr<S> s) : svc(std::move(s)) {}
    asio::awaitable<void> start() override {
      if constexpr (detail::has_start<S>) co_await svc->start();
      co_return;
    }
    asio::awaitable<void> stop() override {
      for (auto& u : undo) u();
      if constexpr (detail::has_stop<S>) co_await svc->stop();
      co_return;
    }
    std::shared_ptr<S> svc;
    std::vector<std::function<void()>> undo;
  };

  module_definition def_;
  std::vector<std::function<std::function<void()>(std::shared_ptr<S>, module_context&)>> binders_;
};

}  // namespace agora
