#pragma once

#include <agora/bus.hpp>
#include <agora/clock.hpp>
#include <agora/config.hpp>
#include <agora/http.hpp>
#include <agora/metrics.hpp>
#include <agora/module.hpp>
#include <agora/store.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <istream>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

// The whole store in one object: the io threads, the bus, every enabled module with its
// store, the HTTP server. `agora serve` is a thin main around it; tests and other
// programs embed it (see agora/testing.hpp for a ready harness).
namespace agora {

class app {
 public:
  // `modules` is the explicit list of module factories the binary knows (all_modules()).
  // Registering two modules with one name is fatal (std::invalid_argument).
  app(config::config cfg, std::vector<module_definition> modules);
  ~app();
  app(const app&) = delete;
  app& operator=(const app&) = delete;

  // Opens the stores (migrations), starts the modules in dependency order, binds the
  // HTTP port and starts the io threads. Throws std::runtime_error with a clear message
  // on failure (nothing is left running then).
  void start();
  std::uint16_t port() const noexcept;

  // `agora <module> <command> [args]`, in place of start(): starts `module` and the
  // modules it depends on (whatever modules.enabled says) with their stores and the bus,
  // without the HTTP listener and without outbox relays (events the command commits stay
  // in the outbox until the next start()), runs the command (module_decl::command) with
  // `args`, then shuts down. Returns the command's exit code, or 2 with a message on
  // `err` when the module or the command does not exist. Throws like start() when the
  // modules cannot start. Runtime logs below warn are not written (unless log.level is debug).
  int run_command(std::string_view module, std::string_view command, std::vector<std::string> args,
                  std::ostream& out, std::ostream& err);
  // The same, with `in` as the command's standard input (the other reads an empty one).
  int run_command(std::string_view module, std::string_view command, std::vector<std::string> args,
                  std::ostream& out, std::ostream& err, std::istream& in);

  // The clock every module takes the time of day from (system_time() unless set). Call
  // before start(); the clock must outlive the app. Tests and the demo seeder pass a
  // manual_clock.
  void use_clock(const clock& c);

  // Blocks until stop() is called or (when handle_signals) SIGINT/SIGTERM arrives, then
  // shuts down gracefully: stop accepting, finish in-flight requests, flush the outboxes,
  // drain the bus, stop modules in reverse order, close the databases.
  void run(bool handle_signals = true);
  // Asks run() to return (thread-safe, idempotent). When run() is not in use, does the
  // whole shutdown itself before returning.
  void stop();

  bool ready() const noexcept;
  bus::bus& message_bus();
  metrics::registry& metrics();
  const config::config& settings() const;
  // The store (database thread) of a started module; nullptr when it is not hosted.
  // For tests that look at a module's rows.
  store::worker* module_store(std::string_view module);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Every module this binary ships, in one explicit list.
std::vector<module_definition> all_modules();

// Every setting of the core and of those modules, for the config loader.
std::vector<config::setting> all_settings(const std::vector<module_definition>& modules);

}  // namespace agora
