#pragma once

#include <agora/bus.hpp>
#include <agora/metrics.hpp>
#include <agora/store.hpp>
#include <agora/task_group.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>

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
//
// Everything below runs on `ex` (a strand). The relay sleeps only when, in the same strand
// turn, it has nothing to delete and nothing to read; a settle or a notify that lands later
// cuts that sleep short. Without a notify it rereads the outbox every `idle_reread`.
class outbox_relay : public std::enable_shared_from_this<outbox_relay> {
 public:
  outbox_relay(std::string module, store::worker& store, bus::bus& b, bus::executor ex, metrics::registry& m,
               std::chrono::milliseconds idle_reread = std::chrono::seconds(5));

  void start();
  // Thread-safe: new rows were committed.
  void notify();
  // Waits until every row read so far is published, settled and deleted, or the
  // deadline, or the relay's end. True when nothing is left to publish or settle.
  asio::awaitable<bool> flush(bus::clock::time_point deadline);
  // Ends the loop (it deletes what has settled first) and waits for it.
  asio::awaitable<void> stop();

 private:
  static asio::awaitable<void> run(std::shared_ptr<outbox_relay> self);
  asio::awaitable<void> loop();
  asio::awaitable<bool> flush_here(bus::clock::time_point deadline);
  asio::awaitable<void> delete_settled();
  void settle(std::int64_t seq);
  bool busy() const noexcept { return dirty_ || !unsettled_.empty() || !settled_.empty(); }
  void wake_flushers();

  std::string module_;
  store::worker& store_;
  bus::bus& bus_;
  bus::executor ex_;
  std::chrono::milliseconds idle_reread_;
  asio::steady_timer wake_;
  std::set<asio::steady_timer*> flushers_;
  task_group tasks_;
  std::int64_t last_seq_ = 0;
  std::set<std::int64_t> unsettled_;
  std::vector<std::int64_t> settled_;
  bool dirty_ = true;
  bool running_ = false;
  metrics::counter& published_;
  metrics::gauge& pending_;
};

}  // namespace agora::runtime
