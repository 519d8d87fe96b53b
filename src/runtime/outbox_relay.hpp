#pragma once

#include <agora/bus.hpp>
#include <agora/metrics.hpp>
#include <agora/store.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace agora::runtime {

namespace asio = boost::asio;

// Publishes a module's committed outbox rows in order and deletes each row once every
// consumer group has settled its event. At start it republishes whatever the outbox
// still holds, so events committed before a crash are delivered after it; consumers'
// inboxes make the repeat harmless.
class outbox_relay : public std::enable_shared_from_this<outbox_relay> {
 public:
  outbox_relay(std::string module, store::worker& store, bus::bus& b, bus::executor ex, metrics::registry& m);

  void start();
  // Thread-safe: new rows were committed.
  void notify();
  // Waits until every row is published and settled, or the deadline. True when empty.
  asio::awaitable<bool> flush(bus::clock::time_point deadline);
  asio::awaitable<void> stop();

 private:
  asio::awaitable<void> loop();
  asio::awaitable<bool> flush_here(bus::clock::time_point deadline);
  asio::awaitable<void> stop_here();
  asio::awaitable<void> delete_settled();
  void settle(std::int64_t seq);

  std::string module_;
  store::worker& store_;
  bus::bus& bus_;
  bus::executor ex_;
  asio::steady_timer wake_;
  std::int64_t last_seq_ = 0;
  std::set<std::int64_t> unsettled_;
  std::vector<std::int64_t> settled_;
  bool dirty_ = true;
  bool stopping_ = false;
  bool running_ = false;
  metrics::counter& published_;
  metrics::gauge& pending_;
};

}  // namespace agora::runtime
