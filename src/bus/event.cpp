#include <agora/bus.hpp>

#include <stdexcept>

namespace agora::bus {
namespace {

void put_if(nlohmann::json& j, const char* name, const std::string& value) {
  if (!value.empty()) j[name] = value;
}

std::string optional_string(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return {};
  return it->get<std::string>();
}

}  // namespace

void to_json(nlohmann::json& j, const event& e) {
  j = nlohmann::json{{"specversion", "1.0"},
                     {"id", e.id},
                     {"source", e.source},
                     {"type", e.type},
                     {"datacontenttype", "application/json"},
                     {"data", e.data}};
  put_if(j, "subject", e.subject);
  put_if(j, "time", e.time);
  put_if(j, "topic", e.topic);
  put_if(j, "partitionkey", e.partition_key);
  put_if(j, "requestid", e.tr.request_id);
  put_if(j, "traceparent", e.tr.traceparent);
}

void from_json(const nlohmann::json& j, event& e) {
  if (auto v = j.at("specversion").get<std::string>(); v != "1.0")
    throw std::invalid_argument("unsupported CloudEvents specversion: " + v);
  if (auto ct = optional_string(j, "datacontenttype"); !ct.empty() && ct != "application/json")
    throw std::invalid_argument("unsupported datacontenttype: " + ct);
  e.id = j.at("id").get<std::string>();
  e.source = j.at("source").get<std::string>();
  e.type = j.at("type").get<std::string>();
  e.subject = optional_string(j, "subject");
  e.time = optional_string(j, "time");
  e.topic = optional_string(j, "topic");
  e.partition_key = optional_string(j, "partitionkey");
  e.tr.request_id = optional_string(j, "requestid");
  e.tr.traceparent = optional_string(j, "traceparent");
  auto it = j.find("data");
  e.data = it == j.end() ? nlohmann::json() : *it;
}

}  // namespace agora::bus
