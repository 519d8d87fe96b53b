#include <agora/metrics.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

using agora::metrics::registry;

TEST_CASE("counters, gauges and histograms render as Prometheus text", "[metrics]") {
  registry r;
  r.counter_of("agora_test_events_total", "Events", {{"kind", "a"}}).inc(3);
  r.gauge_of("agora_test_depth", "Depth").set(2.5);
  auto& h = r.histogram_of("agora_test_duration_seconds", "Duration", {{"route", "/x"}}, {0.1, 1.0});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  r.gauge_callback("agora_test_computed", "Computed", {}, [] { return 42.0; });
  auto text = r.expose();
  CHECK(text.find("# TYPE agora_test_events_total counter\nagora_test_events_total{kind=\"a\"} 3\n") != std::string::npos);
  CHECK(text.find("agora_test_depth 2.5\n") != std::string::npos);
  CHECK(text.find("agora_test_duration_seconds_bucket{route=\"/x\",le=\"0.1\"} 1\n") != std::string::npos);
  CHECK(text.find("agora_test_duration_seconds_bucket{route=\"/x\",le=\"1\"} 2\n") != std::string::npos);
  CHECK(text.find("agora_test_duration_seconds_bucket{route=\"/x\",le=\"+Inf\"} 3\n") != std::string::npos);
  CHECK(text.find("agora_test_duration_seconds_count{route=\"/x\"} 3\n") != std::string::npos);
  CHECK(text.find("agora_test_computed 42\n") != std::string::npos);
}

TEST_CASE("the same name and labels give the same instrument, and another type is refused", "[metrics]") {
  registry r;
  auto& a = r.counter_of("agora_x_total", "x", {{"k", "1"}});
  auto& b = r.counter_of("agora_x_total", "x", {{"k", "1"}});
  CHECK(&a == &b);
  CHECK_THROWS(r.gauge_of("agora_x_total", "x"));
  CHECK_THROWS(r.counter_of("bad name", "x"));
}

TEST_CASE("label values are escaped", "[metrics]") {
  registry r;
  r.counter_of("agora_esc_total", "e", {{"path", "a\"b\\c\nd"}}).inc();
  CHECK(r.expose().find(R"(agora_esc_total{path="a\"b\\c\nd"} 1)") != std::string::npos);
}

TEST_CASE("counting from many threads loses nothing", "[metrics]") {
  registry r;
  auto& c = r.counter_of("agora_race_total", "r");
  auto& h = r.histogram_of("agora_race_seconds", "r");
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 100000; ++i) {
        c.inc();
        h.observe(0.001);
      }
    });
  for (auto& t : ts) t.join();
  CHECK(c.value() == 400000);
  CHECK(h.count() == 400000);
  CHECK(h.sum() == Approx(400.0));
}

TEST_CASE("removing the series of a label value leaves no line and no entry behind", "[metrics]") {
  registry r;
  r.counter_of("agora_keep_total", "k", {{"model", "a"}}).inc();
  const auto baseline = r.expose();
  const auto baseline_series = r.series_count();
  for (int round = 0; round < 3; ++round) {
    r.counter_of("agora_keep_total", "k", {{"model", "b"}}).inc();
    r.histogram_of("agora_b_seconds", "b", {{"model", "b"}, {"reason", "x"}}).observe(0.1);
    r.gauge_of("agora_b_depth", "b", {{"model", "b"}}).set(3);
    r.gauge_callback("agora_b_computed", "b", {{"model", "b"}}, [] { return 1.0; });
    CHECK(r.expose() != baseline);
    CHECK(r.remove_series("model", "b") == 4);
    CHECK(r.expose() == baseline);
    CHECK(r.series_count() == baseline_series);
  }
  CHECK(r.counter_of("agora_keep_total", "k", {{"model", "b"}}).value() == 0);  // starts afresh
}

TEST_CASE("a handle outlives the removal of its series, and scrapes and removals race safely with counting",
          "[metrics]") {
  registry r;
  auto c = r.counter_handle("agora_gone_total", "g", {{"model", "m"}});
  auto h = r.histogram_handle("agora_gone_seconds", "g", {{"model", "m"}});
  CHECK(c.get() == &r.counter_of("agora_gone_total", "g", {{"model", "m"}}));
  std::atomic<bool> done{false};
  std::thread counting([&] {
    for (int i = 0; i < 200000; ++i) {
      c->inc();
      h->observe(0.01);
    }
    done = true;
  });
  std::thread churning([&] {
    while (!done) {
      r.counter_of("agora_gone_total", "g", {{"model", "other"}}).inc();
      (void)r.expose();
      r.remove_series("model", "other");
    }
  });
  r.remove_series("model", "m");
  counting.join();
  churning.join();
  CHECK(c->value() == 200000);
  CHECK(h->count() == 200000);
  CHECK(r.expose().find("model=\"m\"") == std::string::npos);
  CHECK(r.series_count() == 0);
}
