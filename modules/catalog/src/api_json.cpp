#include <catalog/api.hpp>

#include <stdexcept>

namespace agora::catalog {

using json = nlohmann::json;

std::string_view to_string(product_status s) noexcept { return s == product_status::archived ? "archived" : "active"; }

std::optional<product_status> product_status_from_string(std::string_view s) noexcept {
  if (s == "active") return product_status::active;
  if (s == "archived") return product_status::archived;
  return std::nullopt;
}

bool is_tax_class(std::string_view s) noexcept { return s == tax_standard || s == tax_reduced || s == tax_zero; }

void to_json(json& j, const product_status& v) { j = to_string(v); }
void from_json(const json& j, product_status& v) {
  auto s = product_status_from_string(j.get<std::string>());
  if (!s) throw std::invalid_argument("status: expected active or archived");
  v = *s;
}

void to_json(json& j, const product_reply& v) { j = v.item; }
void from_json(const json& j, product_reply& v) {
  j.get_to(v.item);
  v.json.reset();
}

}  // namespace agora::catalog
