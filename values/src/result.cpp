#include <agora/result.hpp>

#include <array>

namespace agora {

namespace {
struct code_info {
  errc code;
  std::string_view name;
  int status;
};
constexpr std::array<code_info, 12> codes{{
    {errc::invalid_argument, "invalid_argument", 422},
    {errc::bad_request, "bad_request", 400},
    {errc::unauthenticated, "unauthenticated", 401},
    {errc::permission_denied, "permission_denied", 403},
    {errc::not_found, "not_found", 404},
    {errc::conflict, "conflict", 409},
    {errc::failed_precondition, "failed_precondition", 412},
    {errc::resource_exhausted, "resource_exhausted", 429},
    {errc::cancelled, "cancelled", 499},
    {errc::internal, "internal", 500},
    {errc::unavailable, "unavailable", 503},
    {errc::deadline_exceeded, "deadline_exceeded", 504},
}};
}  // namespace

std::string_view to_string(errc code) noexcept {
  for (const auto& c : codes)
    if (c.code == code) return c.name;
  return "internal";
}

errc errc_from_string(std::string_view name) noexcept {
  for (const auto& c : codes)
    if (c.name == name) return c.code;
  return errc::internal;
}

int http_status(errc code) noexcept {
  for (const auto& c : codes)
    if (c.code == code) return c.status;
  return 500;
}

error error::invalid(std::vector<field_error> fields, std::string message) {
  return {errc::invalid_argument, std::move(message), std::move(fields)};
}

void to_json(nlohmann::json& j, const error& e) {
  j = {{"code", to_string(e.code)}, {"message", e.message}};
  if (!e.fields.empty()) {
    auto& f = j["fields"] = nlohmann::json::array();
    for (const auto& fe : e.fields) f.push_back({{"field", fe.field}, {"message", fe.message}});
  }
  if (e.retry_after_s > 0) j["retry_after_s"] = e.retry_after_s;
}

void from_json(const nlohmann::json& j, error& e) {
  e.code = errc_from_string(j.at("code").get<std::string>());
  e.message = j.value("message", "");
  e.fields.clear();
  if (auto it = j.find("fields"); it != j.end())
    for (const auto& f : *it) e.fields.push_back({f.at("field").get<std::string>(), f.value("message", "")});
  e.retry_after_s = j.value("retry_after_s", std::int64_t{0});
}

}  // namespace agora
