#include <customers/api.hpp>

namespace agora::customers {

namespace {

template <class T>
void put_opt(nlohmann::json& j, const char* k, const std::optional<T>& v) {
  if (v) j[k] = *v;
}
template <class T>
void get_opt(const nlohmann::json& j, const char* k, std::optional<T>& v) {
  auto it = j.find(k);
  if (it == j.end() || it->is_null())
    v.reset();
  else
    v = it->get<T>();
}

}  // namespace

void to_json(nlohmann::json& j, const update_me_request& r) {
  j = nlohmann::json::object();
  put_opt(j, "name", r.name);
  put_opt(j, "email", r.email);
  put_opt(j, "password", r.password);
  put_opt(j, "current_password", r.current_password);
  put_opt(j, "if_match", r.if_match);
}

void from_json(const nlohmann::json& j, update_me_request& r) {
  get_opt(j, "name", r.name);
  get_opt(j, "email", r.email);
  get_opt(j, "password", r.password);
  get_opt(j, "current_password", r.current_password);
  get_opt(j, "if_match", r.if_match);
}

void to_json(nlohmann::json& j, const update_account_request& r) {
  j = {{"id", r.id}};
  put_opt(j, "role", r.role);
  put_opt(j, "status", r.status);
  put_opt(j, "if_match", r.if_match);
}

void from_json(const nlohmann::json& j, update_account_request& r) {
  j.at("id").get_to(r.id);
  get_opt(j, "role", r.role);
  get_opt(j, "status", r.status);
  get_opt(j, "if_match", r.if_match);
}

}  // namespace agora::customers
