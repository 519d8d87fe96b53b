#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Who is calling. The HTTP layer fills one in for every request (anonymous when no
// credential came), and it travels on every bus call made for that request, so a handler
// knows who asked and answers another customer's ids with 404.
namespace agora {

enum class principal_kind { anonymous, customer, staff, api_key };

std::string_view to_string(principal_kind k) noexcept;
std::optional<principal_kind> principal_kind_from(std::string_view name) noexcept;

// The roles of the platform. An account has one; staff roles include what the ones
// below them may do only where a route says so (routes list every role they accept).
namespace roles {
inline constexpr std::string_view customer = "customer";
inline constexpr std::string_view clerk = "clerk";  // till staff
inline constexpr std::string_view manager = "manager";
inline constexpr std::string_view admin = "admin";
}  // namespace roles

struct principal {
  // The account the call acts for: a customer or staff account id; for an API key, the
  // account that owns the key (so "own data" means the owner's). Empty when anonymous.
  std::string subject;
  principal_kind kind = principal_kind::anonymous;
  std::vector<std::string> roles;
  // An API key's scopes: when not empty, the key reaches only routes whose scope is
  // listed. Tokens carry none (unrestricted within their roles).
  std::vector<std::string> scopes;
  std::string key_id;  // the API key's id (kind api_key), or the token's jti

  bool authenticated() const noexcept { return kind != principal_kind::anonymous; }
  bool has_role(std::string_view r) const noexcept { return std::find(roles.begin(), roles.end(), r) != roles.end(); }
  bool is_staff() const noexcept {
    return has_role(roles::clerk) || has_role(roles::manager) || has_role(roles::admin);
  }
  // A restricted key holds `scope`; an unrestricted principal holds every scope.
  bool allows_scope(std::string_view scope) const noexcept {
    return scopes.empty() || std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
  }
  // The name usage and quotas are counted under: "cus_…", "key_…" or "anonymous".
  std::string usage_subject() const {
    if (kind == principal_kind::api_key && !key_id.empty()) return key_id;
    return subject.empty() ? std::string("anonymous") : subject;
  }
};

void to_json(nlohmann::json& j, const principal& p);
void from_json(const nlohmann::json& j, principal& p);

// Who may call a route. Routes are closed by default: a route that says nothing needs
// an authenticated principal. `roles` (any one of them) narrows it; `scope` is what a
// restricted API key must hold.
struct access {
  bool open = false;
  std::vector<std::string> roles;
  std::string scope;
  // false: the guard does not look at credentials at all (the caller stays anonymous).
  // For the token endpoints: a client whose access token expired must still reach
  // refresh, even when its HTTP stack sends the stale token with every request.
  bool reads_credentials = true;

  static access anyone() { return {true, {}, {}, true}; }
  static access token_endpoint() { return {true, {}, {}, false}; }
  static access signed_in(std::string scope = {}) { return {false, {}, std::move(scope), true}; }
  static access any_role(std::vector<std::string> r, std::string scope = {}) {
    return {false, std::move(r), std::move(scope), true};
  }
};

// The refusal a principal gets from a route guarded by `a`: none, unauthenticated (401)
// or permission_denied (403).
enum class access_decision { allow, unauthenticated, forbidden };
access_decision decide(const access& a, const principal& p) noexcept;

}  // namespace agora
