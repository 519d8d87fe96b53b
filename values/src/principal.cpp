#include <agora/principal.hpp>

#include <array>
#include <utility>

namespace agora {

namespace {

constexpr std::array<std::pair<principal_kind, std::string_view>, 4> kinds{{
    {principal_kind::anonymous, "anonymous"},
    {principal_kind::customer, "customer"},
    {principal_kind::staff, "staff"},
    {principal_kind::api_key, "api_key"},
}};

}  // namespace

std::string_view to_string(principal_kind k) noexcept {
  for (const auto& [kind, name] : kinds)
    if (kind == k) return name;
  return "anonymous";
}

std::optional<principal_kind> principal_kind_from(std::string_view name) noexcept {
  for (const auto& [kind, n] : kinds)
    if (n == name) return kind;
  return std::nullopt;
}

void to_json(nlohmann::json& j, const principal& p) {
  j = {{"subject", p.subject},
       {"kind", to_string(p.kind)},
       {"roles", p.roles},
       {"scopes", p.scopes},
       {"key_id", p.key_id}};
}

void from_json(const nlohmann::json& j, principal& p) {
  p = principal{};
  p.subject = j.value("subject", std::string());
  auto kind = principal_kind_from(j.value("kind", std::string("anonymous")));
  if (!kind) throw std::invalid_argument("principal: unknown kind");
  p.kind = *kind;
  p.roles = j.value("roles", std::vector<std::string>{});
  p.scopes = j.value("scopes", std::vector<std::string>{});
  p.key_id = j.value("key_id", std::string());
}

access_decision decide(const access& a, const principal& p) noexcept {
  if (a.open) return access_decision::allow;
  if (!p.authenticated()) return access_decision::unauthenticated;
  if (!a.roles.empty() &&
      std::none_of(a.roles.begin(), a.roles.end(), [&](const std::string& r) { return p.has_role(r); }))
    return access_decision::forbidden;
  if (!p.scopes.empty() && (a.scope.empty() || !p.allows_scope(a.scope))) return access_decision::forbidden;
  return access_decision::allow;
}

}  // namespace agora
