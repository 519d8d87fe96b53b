// Load driver for benchmarks/checkout/run.sh: shoppers over HTTP against a running agora.
//
//   agora_checkout_bench setup  PORT ADMIN_EMAIL ADMIN_PASSWORD SKUS STOCK
//   agora_checkout_bench run    PORT CLIENTS SECONDS SKUS
//   agora_checkout_bench search PORT CLIENTS SECONDS
//
// `run` signs up CLIENTS shoppers, then each, on its own thread and connection, loops for
// SECONDS: create a cart, add one or two lines, check out (with an Idempotency-Key), then
// read the order back (a simple call). It prints one JSON line of figures. `search`
// loops GET /v1/products/search?q= over words of the seeded names.
#include <agora/testing.hpp>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

double ms(steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

int setup(std::uint16_t port, const std::string& email, const std::string& password, int skus, int stock) {
  agora::testing::client admin("127.0.0.1", port);
  admin.authorize(agora::testing::login(admin, email, password));
  for (int i = 0; i < skus; ++i) {
    auto sku = "BENCH-" + std::to_string(i);
    auto p = admin.post("/v1/products", {{"sku", sku},
                                         {"name", "Bench item " + std::to_string(i)},
                                         {"price", {{"amount", 199 + i}, {"currency", "EUR"}}}});
    if (p.status != 201 && p.status != 409) {
      std::fprintf(stderr, "product %s: %d %s\n", sku.c_str(), p.status, p.body.c_str());
      return 1;
    }
    auto a = admin.post("/v1/inventory/adjustments",
                        {{"sku", sku}, {"location", "web"}, {"delta", stock}, {"reason", "benchmark stock"}});
    if (a.status != 201) {
      std::fprintf(stderr, "stock %s: %d %s\n", sku.c_str(), a.status, a.body.c_str());
      return 1;
    }
  }
  return 0;
}

int run(std::uint16_t port, int clients, int seconds, int skus) {
  static std::atomic<int> run_id{static_cast<int>(std::random_device{}() % 1000000)};
  int tag = run_id++;
  std::vector<std::string> tokens(clients);
  {
    std::vector<std::thread> ts;
    std::atomic<int> next{0};
    for (int t = 0; t < 16; ++t)
      ts.emplace_back([&] {
        agora::testing::client c("127.0.0.1", port);
        for (int i = next++; i < clients; i = next++) {
          auto email = "bench" + std::to_string(tag) + "-" + std::to_string(i) + "@example.com";
          c.authorize("");
          c.post("/v1/auth/register", {{"email", email}, {"password", "correct horse battery"}, {"name", "Bench"}});
          tokens[i] = agora::testing::login(c, email, "correct horse battery");
        }
      });
    for (auto& t : ts) t.join();
  }

  std::mutex mu;
  std::vector<double> checkout_ms, flow_ms, simple_ms;
  std::atomic<std::int64_t> ok{0}, refused{0}, failed{0};
  std::barrier start(clients + 1);
  steady::time_point began, until;
  std::vector<std::thread> ts;
  for (int i = 0; i < clients; ++i)
    ts.emplace_back([&, i] {
      agora::testing::client c("127.0.0.1", port, std::chrono::seconds(30));
      c.authorize(tokens[i]);
      std::mt19937 rng(static_cast<unsigned>(i));
      std::vector<double> mine_checkout, mine_flow, mine_simple;
      start.arrive_and_wait();
      for (int n = 0; steady::now() < until; ++n) {
        auto t0 = steady::now();
        auto cart = c.post("/v1/carts", json::object());
        if (cart.status != 201 && cart.status != 200) {
          ++failed;
          continue;
        }
        auto id = cart.json().at("id").get<std::string>();
        int lines = 1 + static_cast<int>(rng() % 2);
        bool added = true;
        for (int l = 0; l < lines && added; ++l) {
          auto sku = "BENCH-" + std::to_string(rng() % static_cast<unsigned>(skus));
          added = c.post("/v1/carts/" + id + "/lines", {{"sku", sku}, {"quantity", 1}}).status / 100 == 2;
        }
        if (!added) {
          ++failed;
          continue;
        }
        auto t1 = steady::now();
        auto key = "bench-" + std::to_string(tag) + "-" + std::to_string(i) + "-" + std::to_string(n);
        auto order = c.post("/v1/orders", {{"cart_id", id}}, {{"Idempotency-Key", key}});
        auto t2 = steady::now();
        if (order.status == 201) {
          ++ok;
        } else if (order.status == 409) {
          ++refused;
        } else {
          ++failed;
          continue;
        }
        mine_checkout.push_back(ms(t2 - t1));
        mine_flow.push_back(ms(t2 - t0));
        if (order.status == 201) {
          auto t3 = steady::now();
          c.get("/v1/orders/" + order.json().at("id").get<std::string>());
          mine_simple.push_back(ms(steady::now() - t3));
        }
      }
      std::lock_guard lock(mu);
      checkout_ms.insert(checkout_ms.end(), mine_checkout.begin(), mine_checkout.end());
      flow_ms.insert(flow_ms.end(), mine_flow.begin(), mine_flow.end());
      simple_ms.insert(simple_ms.end(), mine_simple.begin(), mine_simple.end());
    });
  began = steady::now();
  until = began + std::chrono::seconds(seconds);
  start.arrive_and_wait();
  for (auto& t : ts) t.join();
  double secs = std::chrono::duration<double>(steady::now() - began).count();
  json out = {{"clients", clients},
              {"seconds", secs},
              {"checkouts", ok.load()},
              {"refused", refused.load()},
              {"failed", failed.load()},
              {"checkouts_per_s", static_cast<double>(ok.load()) / secs},
              {"checkout_p50_ms", pct(checkout_ms, 0.50)},
              {"checkout_p99_ms", pct(checkout_ms, 0.99)},
              {"flow_p50_ms", pct(flow_ms, 0.50)},
              {"flow_p99_ms", pct(flow_ms, 0.99)},
              {"flow_max_ms", pct(flow_ms, 1.0)},
              {"simple_p95_ms", pct(simple_ms, 0.95)}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

int search(std::uint16_t port, int clients, int seconds) {
  static const std::vector<std::string> words{"mug",  "blue",  "cotton", "lamp", "oak", "steel", "shirt", "green",
                                              "bowl", "linen", "desk",   "wool", "red", "glass", "small", "large"};
  std::mutex mu;
  std::vector<double> lat;
  std::atomic<std::int64_t> errors{0};
  auto until = steady::now() + std::chrono::seconds(seconds);
  std::vector<std::thread> ts;
  for (int i = 0; i < clients; ++i)
    ts.emplace_back([&, i] {
      agora::testing::client c("127.0.0.1", port);
      std::mt19937 rng(static_cast<unsigned>(i));
      std::vector<double> mine;
      while (steady::now() < until) {
        auto q = words[rng() % words.size()];
        if (rng() % 2) q += "+" + words[rng() % words.size()];
        auto t0 = steady::now();
        auto r = c.get("/v1/products/search?q=" + q);
        mine.push_back(ms(steady::now() - t0));
        if (r.status != 200) ++errors;
      }
      std::lock_guard lock(mu);
      lat.insert(lat.end(), mine.begin(), mine.end());
    });
  for (auto& t : ts) t.join();
  json out = {{"clients", clients},       {"requests", lat.size()},
              {"errors", errors.load()},  {"per_s", static_cast<double>(lat.size()) / seconds},
              {"p50_ms", pct(lat, 0.50)}, {"p99_ms", pct(lat, 0.99)}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  try {
    if (a.size() == 6 && a[0] == "setup")
      return setup(static_cast<std::uint16_t>(std::stoi(a[1])), a[2], a[3], std::stoi(a[4]), std::stoi(a[5]));
    if (a.size() == 5 && a[0] == "run")
      return run(static_cast<std::uint16_t>(std::stoi(a[1])), std::stoi(a[2]), std::stoi(a[3]), std::stoi(a[4]));
    if (a.size() == 4 && a[0] == "search")
      return search(static_cast<std::uint16_t>(std::stoi(a[1])), std::stoi(a[2]), std::stoi(a[3]));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "agora_checkout_bench: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr,
               "usage: agora_checkout_bench setup PORT ADMIN_EMAIL ADMIN_PASSWORD SKUS STOCK\n"
               "       agora_checkout_bench run PORT CLIENTS SECONDS SKUS\n"
               "       agora_checkout_bench search PORT CLIENTS SECONDS\n");
  return 2;
}
