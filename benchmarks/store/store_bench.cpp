// Store throughput: small insert jobs per second through store::worker from 1, 16, 64
// and 256 concurrent writers (coroutines), with synchronous=full grouped (group commit),
// full ungrouped (group_commit_max 1: one transaction and one sync per job, the anchor)
// and normal grouped. Prints a markdown table with each figure's ratio to the anchor.
#include <agora/metrics.hpp>
#include <agora/store.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace store = agora::store;
using bench_clock = std::chrono::steady_clock;

const std::vector<store::migration> schema = {
    {1, "init", "CREATE TABLE items (id INTEGER PRIMARY KEY, writer INTEGER NOT NULL, n INTEGER NOT NULL, "
                "note TEXT NOT NULL);"}};

struct config {
  std::string name;
  store::durability durability;
  std::size_t group_max;
};

struct cell {
  double jobs_per_s = 0;
  double mean_group = 0;
};

cell measure(const std::filesystem::path& dir, const config& c, int writers, std::chrono::milliseconds length) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  agora::metrics::registry m;
  store::options o;
  o.durability = c.durability;
  o.group_commit_max = c.group_max;
  store::worker w("bench", dir / "bench.db", schema, m, o);
  w.start();
  asio::io_context io(1);
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> done{0};
  for (int i = 0; i < writers; ++i) {
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          std::int64_t n = 0;
          while (!stop.load(std::memory_order_relaxed)) {
            auto job = [i, n](store::database& db) {
              db.transaction([&] {
                db.prepare("INSERT INTO items(writer, n, note) VALUES (?, ?, ?)")
                    .bind_all(static_cast<std::int64_t>(i), n, "a small row")
                    .run();
              });
            };
            auto r = co_await w.run(std::move(job));
            if (!r) {
              std::fprintf(stderr, "job failed: %s\n", r.err().message.c_str());
              std::exit(1);
            }
            ++n;
            done.fetch_add(1, std::memory_order_relaxed);
          }
        },
        asio::detached);
  }
  std::thread runner([&] { io.run(); });
  // Warm up, then count over `length`.
  std::this_thread::sleep_for(length / 5);
  const auto start_jobs = done.load();
  const auto start = bench_clock::now();
  auto& sizes = m.histogram_of("agora_store_group_size", "", {{"module", "bench"}},
                               {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096});
  const auto start_groups = sizes.count();
  const auto start_sum = sizes.sum();
  std::this_thread::sleep_for(length);
  const auto jobs = done.load() - start_jobs;
  const double secs = std::chrono::duration<double>(bench_clock::now() - start).count();
  const auto groups = sizes.count() - start_groups;
  const double grouped_jobs = sizes.sum() - start_sum;
  stop = true;
  runner.join();
  w.stop();
  cell out;
  out.jobs_per_s = static_cast<double>(jobs) / secs;
  out.mean_group = groups ? grouped_jobs / static_cast<double>(groups) : 0;
  return out;
}

std::string thousands(double v) {
  auto s = fmt::format("{:.0f}", v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<std::size_t>(i), " ");
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : "store-bench-data";
  const auto length = std::chrono::milliseconds(argc > 2 ? std::atoi(argv[2]) : 2000);
  const std::vector<int> writers = {1, 16, 64, 256};
  const std::vector<config> configs = {{"full, ungrouped (anchor)", store::durability::full, 1},
                                       {"full, grouped (max 64)", store::durability::full, 64},
                                       {"normal, ungrouped", store::durability::normal, 1},
                                       {"normal, grouped (max 64)", store::durability::normal, 64}};
  std::map<std::pair<std::string, int>, cell> results;
  for (int n : writers)
    for (const auto& c : configs) results[{c.name, n}] = measure(dir, c, n, length);
  std::filesystem::remove_all(dir);

  std::printf("| configuration | writers | jobs/s | mean jobs per commit | ratio to full ungrouped |\n");
  std::printf("|---|---|---|---|---|\n");
  for (int n : writers) {
    const double anchor = results[{configs[0].name, n}].jobs_per_s;
    for (const auto& c : configs) {
      const auto& r = results[{c.name, n}];
      std::printf("| %s | %d | %s | %.1f | %.2f |\n", c.name.c_str(), n, thousands(r.jobs_per_s).c_str(),
                  r.mean_group, anchor > 0 ? r.jobs_per_s / anchor : 0.0);
    }
  }
  return 0;
}
