#pragma once

#include <agora/app.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// The embedding harness: the whole app in-process on 127.0.0.1, an ephemeral port and
// a temporary data directory, plus a small blocking HTTP client. For tests and for
// programs that want a real agora to talk to.
namespace agora::testing {

struct options {
  // Settings applied on top of the defaults, as if from flags: {"modules.cart.replicas", 2}.
  std::vector<std::pair<std::string, nlohmann::json>> settings;
  // Modules to host; empty means all_modules().
  std::vector<module_definition> modules;
  // Data directory; empty means a fresh temporary one, removed at destruction.
  std::filesystem::path data_dir;
  int io_threads = 2;
};

struct reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;

  nlohmann::json json() const;  // throws on malformed JSON
  std::string header(std::string_view name) const;  // "" when absent
};

// A keep-alive HTTP/1.1 connection to the harness (or any host:port).
class client {
 public:
  client(std::string host, std::uint16_t port);
  ~client();
  client(client&&) noexcept;

  reply request(std::string_view method, std::string_view target, std::string_view body = {},
                const std::map<std::string, std::string>& headers = {});
  reply get(std::string_view target, const std::map<std::string, std::string>& headers = {});
  reply post(std::string_view target, const nlohmann::json& body, const std::map<std::string, std::string>& headers = {});
  reply put(std::string_view target, const nlohmann::json& body, const std::map<std::string, std::string>& headers = {});
  reply patch(std::string_view target, const nlohmann::json& body, const std::map<std::string, std::string>& headers = {});
  reply del(std::string_view target, const std::map<std::string, std::string>& headers = {});

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

class harness {
 public:
  explicit harness(options opts = {});
  ~harness();  // graceful stop; removes a temporary data directory

  std::uint16_t port() const noexcept;
  const std::filesystem::path& data_dir() const noexcept;
  agora::app& app();
  client connect() const;

  // Stops the app gracefully and starts a new one on the same data directory (and a new
  // port): for durability tests.
  void restart();

 private:
  void boot();

  options opts_;
  std::filesystem::path dir_;
  bool temporary_ = false;
  std::unique_ptr<agora::app> app_;
};

}  // namespace agora::testing
