#include <agora/ids.hpp>
#include <agora/local_bus.hpp>
#include <agora/store.hpp>

#include "runtime/outbox_relay.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using agora::store::database;

struct gate {
  explicit gate(asio::io_context& io) : ch(io, 0) {}
  asio::awaitable<void> wait() { co_await ch.async_receive(asio::as_tuple(asio::use_awaitable)); }
  void open() { ch.close(); }
  asio::experimental::concurrent_channel<void(boost::system::error_code)> ch;
};

template <class F>
void until(F f) {
  while (!f()) std::this_thread::yield();
}

agora::bus::event event_for(std::string subject) {
  agora::bus::event ev;
  ev.id = agora::new_id("evt");
  ev.source = "agora/relaytest";
  ev.type = "thing.happened";
  ev.subject = std::move(subject);
  ev.topic = "relaytest.things";
  ev.time = agora::now_rfc3339();
  return ev;
}

}  // namespace

// The race behind slow shutdowns: a settle that landed while the relay was deleting
// earlier rows was noticed only at the next idle reread (5 s in production). Here the
// reread is an hour away, so only a relay that sees the settle itself can flush.
TEST_CASE("a settle that lands while settled rows are being deleted is deleted without waiting for a reread",
          "[e2e][outbox]") {
  const auto dir = std::filesystem::temp_directory_path() / agora::new_id("agora-relay-test");
  agora::metrics::registry reg;
  asio::io_context io{4};
  auto work = asio::make_work_guard(io);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&] { io.run(); });
  {
    auto bus = agora::bus::make_local_bus(io.get_executor(), {}, reg);
    agora::store::worker store("relaytest", dir / "relaytest.db", {}, reg);
    store.start();
    auto relay = std::make_shared<agora::runtime::outbox_relay>("relaytest", store, *bus, asio::make_strand(io),
                                                                 reg, std::chrono::hours(1));
    store.on_outbox([relay] { relay->notify(); });
    auto& unsettled = reg.gauge_of("agora_outbox_unsettled", "", {{"module", "relaytest"}});

    gate first(io), second(io);
    std::atomic<int> handling{0};
    agora::bus::subscription s;
    s.topic = "relaytest.things";
    s.group = "g";
    s.consumer = "g#0";
    s.ex = asio::make_strand(io);
    s.handler = [&](const agora::bus::event& ev) -> asio::awaitable<agora::result<void>> {
      ++handling;
      if (ev.subject == "first") co_await first.wait();
      else co_await second.wait();
      co_return agora::ok();
    };
    bus->subscribe(std::move(s));
    relay->start();

    auto commit = [](database& db) {
      db.transaction([&] {
        db.enqueue_event(event_for("first"));
        db.enqueue_event(event_for("second"));
      });
    };
    REQUIRE(store.run_sync(commit));
    until([&] { return handling.load() == 2; });
    CHECK(unsettled.value() == 2);

    // Hold the store thread so that the relay's delete of the first row waits behind it.
    std::promise<void> unblock;
    std::atomic<bool> blocking{false};
    auto hold = [&](database&) {
      blocking = true;
      unblock.get_future().wait();
    };
    auto held = asio::co_spawn(io, store.run(hold), asio::use_future);
    until([&] { return blocking.load(); });

    first.open();
    until([&] { return store.queued() == 1; });  // the delete of the first row
    second.open();
    until([&] { return unsettled.value() == 0; });  // the second settled meanwhile
    unblock.set_value();
    REQUIRE(held.get());

    auto flushed = asio::co_spawn(io, relay->flush(agora::bus::clock::now() + 10s), asio::use_future).get();
    CHECK(flushed);
    auto left = store.run_sync([](database& db) {
      auto& q = db.prepare("SELECT COUNT(*) FROM _agora_outbox");
      q.step();
      return q.int64(0);
    });
    REQUIRE(left);
    CHECK(*left == 0);

    asio::co_spawn(io, relay->stop(), asio::use_future).get();
    asio::co_spawn(io, bus->drain(agora::bus::clock::now() + 5s), asio::use_future).get();
    store.stop();
  }
  work.reset();
  for (auto& t : threads) t.join();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}
