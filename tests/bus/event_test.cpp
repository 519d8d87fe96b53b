#include <agora/bus.hpp>

#include <catch2/catch.hpp>

using agora::bus::event;

TEST_CASE("an event survives a JSON round trip with CloudEvents field names", "[bus]") {
  event e;
  e.id = "evt_1";
  e.source = "agora/orders";
  e.type = "order.placed";
  e.subject = "ord_42";
  e.time = "2024-05-01T10:00:00.000Z";
  e.topic = "orders.events";
  e.partition_key = "cus_7";
  e.tr = {"req_9", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"};
  e.data = {{"total", {{"amount", 1250}, {"currency", "EUR"}}}};

  const nlohmann::json j = e;
  CHECK(j.at("specversion") == "1.0");
  CHECK(j.at("datacontenttype") == "application/json");
  CHECK(j.at("partitionkey") == "cus_7");
  CHECK(j.at("requestid") == "req_9");
  CHECK(j.at("traceparent") == e.tr.traceparent);
  CHECK(j.at("topic") == "orders.events");

  const auto back = j.get<event>();
  CHECK(back.id == e.id);
  CHECK(back.source == e.source);
  CHECK(back.type == e.type);
  CHECK(back.subject == e.subject);
  CHECK(back.time == e.time);
  CHECK(back.topic == e.topic);
  CHECK(back.partition_key == e.partition_key);
  CHECK(back.tr.request_id == e.tr.request_id);
  CHECK(back.tr.traceparent == e.tr.traceparent);
  CHECK(back.data == e.data);
  CHECK(back.key() == "cus_7");
}

TEST_CASE("optional CloudEvents attributes may be absent", "[bus]") {
  const auto j = nlohmann::json::parse(R"({"specversion":"1.0","id":"a","source":"s","type":"t"})");
  const auto e = j.get<event>();
  CHECK(e.subject.empty());
  CHECK(e.partition_key.empty());
  CHECK(e.data.is_null());
}

TEST_CASE("an event of another CloudEvents version is refused", "[bus]") {
  const auto j = nlohmann::json::parse(R"({"specversion":"0.3","id":"a","source":"s","type":"t"})");
  CHECK_THROWS(j.get<event>());
  CHECK_THROWS(nlohmann::json::parse(R"({"specversion":"1.0","source":"s","type":"t"})").get<event>());
}
