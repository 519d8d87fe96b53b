#pragma once

#include <agora/bus.hpp>
#include <agora/metrics.hpp>
#include <agora/store.hpp>
#include <agora/task_group.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>

#include <cstdint>
#include <map>
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
// Dead letters are kept here too, so that no event is lost at a restart: when a group
// dead-letters an event, the relay writes the letter to the module's _agora_dead_letters
// in the same transaction that deletes the event's outbox row (until then the row stays,
// and a crash republishes the event). load_dead_letters() lists them on the bus again at
// start; a replay that its group handles deletes the row, one buried again updates it.
// (A replay made in the moment between the burial and that write may leave the row: the
// letter then shows again after a restart, at least once, never lost.)
//
// Everything below runs on `ex` (a strand). The relay sleeps only when, in the same strand
// turn, it has nothing to delete and nothing to read; a settle or a notify that lands later
// cuts that sleep short. Without a notify it rereads the outbox every `idle_reread`.
class outbox_relay : public std::enable_shared_from_this<outbox_relay> {
 public:
  outbox_relay(std::string module, store::worker& store, bus::bus& b, bus::executor ex, metrics::registry& m,
               std::chrono::milliseconds idle_reread = std::chrono::seconds(5));

  // Lists the dead letters kept from earlier runs on the bus again (call before start(),
  // once the module's consumers have subscribed); returns how many.
  asio::awaitable<std::size_t> load_dead_letters();
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
  class keeper;
  void forget_letter(std::int64_t id);
  void update_letter(std::int64_t id, const bus::dead_letter& now);
  asio::awaitable<void> forget_row(std::int64_t id);
  asio::awaitable<void> update_row(std::int64_t id, int attempts, std::string last_error, std::string failed_at);
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
  std::map<std::int64_t, std::vector<bus::dead_letter>> buried_;  // by outbox seq, until its row is deleted
  std::shared_ptr<bus::dead_letter_keeper> keeper_;
  bool dirty_ = true;
  bool running_ = false;
  metrics::counter& published_;
  metrics::gauge& pending_;
};

}  // namespace agora::runtime
