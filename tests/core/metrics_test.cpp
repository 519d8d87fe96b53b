#include <agora/metrics.hpp>

#include <catch2/catch.hpp>

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

TEST_CASE("the same name and labels give the same instrument; another type is refused", "[metrics]") {
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
