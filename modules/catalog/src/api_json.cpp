#include <catalog/api.hpp>

#include <stdexcept>

namespace agora::catalog {

namespace {

using json = nlohmann::json;

template <class T>
void put_optional(json& j, const char* key, const std::optional<T>& v) {
  if (v)
    j[key] = *v;
  else
    j[key] = nullptr;
}

template <class T>
void get_optional(const json& j, const char* key, std::optional<T>& v) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null())
    v.reset();
  else
    v = it->template get<T>();
}

template <class T>
void put_patch(json& j, const char* key, const nullable_patch<T>& v) {
  if (!v) return;
  if (*v)
    j[key] = **v;
  else
    j[key] = nullptr;
}

template <class T>
void get_patch(const json& j, const char* key, nullable_patch<T>& v) {
  auto it = j.find(key);
  if (it == j.end())
    v.reset();
  else if (it->is_null())
    v.emplace(std::nullopt);
  else
    v.emplace(it->template get<T>());
}

// Present-only optionals: absent means "not given", which differs from null for patches.
template <class T>
void put_present(json& j, const char* key, const std::optional<T>& v) {
  if (v) j[key] = *v;
}

template <class T>
void get_present(const json& j, const char* key, std::optional<T>& v) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null())
    v.reset();
  else
    v = it->template get<T>();
}

}  // namespace

std::string_view to_string(product_status s) noexcept { return s == product_status::archived ? "archived" : "active"; }

std::optional<product_status> product_status_from_string(std::string_view s) noexcept {
  if (s == "active") return product_status::active;
  if (s == "archived") return product_status::archived;
  return std::nullopt;
}

void to_json(json& j, const money& v) { j = json{{"amount", v.amount}, {"currency", v.currency}}; }
void from_json(const json& j, money& v) {
  j.at("amount").get_to(v.amount);
  j.at("currency").get_to(v.currency);
}

void to_json(json& j, const product_status& v) { j = to_string(v); }
void from_json(const json& j, product_status& v) {
  auto s = product_status_from_string(j.get<std::string>());
  if (!s) throw std::invalid_argument("status: expected active or archived");
  v = *s;
}

void to_json(json& j, const product& v) {
  j = json{{"id", v.id},
           {"sku", v.sku},
           {"name", v.name},
           {"description", v.description},
           {"price", v.price},
           {"category_id", nullptr},
           {"status", v.status},
           {"version", v.version},
           {"created_at", v.created_at},
           {"updated_at", v.updated_at}};
  put_optional(j, "category_id", v.category_id);
}
void from_json(const json& j, product& v) {
  j.at("id").get_to(v.id);
  j.at("sku").get_to(v.sku);
  j.at("name").get_to(v.name);
  v.description = j.value("description", std::string());
  j.at("price").get_to(v.price);
  get_optional(j, "category_id", v.category_id);
  j.at("status").get_to(v.status);
  j.at("version").get_to(v.version);
  j.at("created_at").get_to(v.created_at);
  j.at("updated_at").get_to(v.updated_at);
}

void to_json(json& j, const category& v) {
  j = json{{"id", v.id},
           {"name", v.name},
           {"parent_id", nullptr},
           {"description", v.description},
           {"version", v.version},
           {"created_at", v.created_at},
           {"updated_at", v.updated_at}};
  put_optional(j, "parent_id", v.parent_id);
}
void from_json(const json& j, category& v) {
  j.at("id").get_to(v.id);
  j.at("name").get_to(v.name);
  get_optional(j, "parent_id", v.parent_id);
  v.description = j.value("description", std::string());
  j.at("version").get_to(v.version);
  j.at("created_at").get_to(v.created_at);
  j.at("updated_at").get_to(v.updated_at);
}

void to_json(json& j, const product_reply& v) { to_json(j, v.item); }
void from_json(const json& j, product_reply& v) {
  from_json(j, v.item);
  v.json.reset();
}

void to_json(json& j, const create_product_request& v) {
  j = json{{"sku", v.sku}, {"name", v.name}, {"description", v.description}, {"price", v.price}, {"status", v.status}};
  put_present(j, "category_id", v.category_id);
}
void from_json(const json& j, create_product_request& v) {
  j.at("sku").get_to(v.sku);
  j.at("name").get_to(v.name);
  v.description = j.value("description", std::string());
  j.at("price").get_to(v.price);
  get_present(j, "category_id", v.category_id);
  v.status = j.contains("status") ? j.at("status").get<product_status>() : product_status::active;
}

void to_json(json& j, const get_product_request& v) { j = json{{"id", v.id}}; }
void from_json(const json& j, get_product_request& v) { j.at("id").get_to(v.id); }

void to_json(json& j, const list_products_request& v) {
  j = json{{"cursor", v.cursor}};
  put_present(j, "limit", v.limit);
  put_present(j, "category_id", v.category_id);
  put_present(j, "status", v.status);
}
void from_json(const json& j, list_products_request& v) {
  get_present(j, "limit", v.limit);
  v.cursor = j.value("cursor", std::string());
  get_present(j, "category_id", v.category_id);
  get_present(j, "status", v.status);
}

void to_json(json& j, const product_page& v) {
  j = json{{"data", v.data}};
  put_optional(j, "next_cursor", v.next_cursor);
}
void from_json(const json& j, product_page& v) {
  j.at("data").get_to(v.data);
  get_optional(j, "next_cursor", v.next_cursor);
}

void to_json(json& j, const search_products_request& v) {
  j = json{{"query", v.query}};
  put_present(j, "limit", v.limit);
  put_present(j, "status", v.status);
  put_present(j, "category_id", v.category_id);
}
void from_json(const json& j, search_products_request& v) {
  j.at("query").get_to(v.query);
  get_present(j, "limit", v.limit);
  get_present(j, "status", v.status);
  get_present(j, "category_id", v.category_id);
}

void to_json(json& j, const search_hit& v) {
  j = json{{"product", v.item}, {"score", v.score}, {"snippet", v.snippet}};
}
void from_json(const json& j, search_hit& v) {
  j.at("product").get_to(v.item);
  j.at("score").get_to(v.score);
  v.snippet = j.value("snippet", std::string());
}

void to_json(json& j, const search_results& v) { j = json{{"data", v.data}, {"all_words", v.all_words}}; }
void from_json(const json& j, search_results& v) {
  j.at("data").get_to(v.data);
  v.all_words = j.value("all_words", true);
}

void to_json(json& j, const update_product_request& v) {
  j = json{{"id", v.id}};
  put_present(j, "expected_version", v.expected_version);
  put_present(j, "sku", v.sku);
  put_present(j, "name", v.name);
  put_present(j, "description", v.description);
  put_present(j, "price", v.price);
  put_patch(j, "category_id", v.category_id);
  put_present(j, "status", v.status);
}
void from_json(const json& j, update_product_request& v) {
  j.at("id").get_to(v.id);
  get_present(j, "expected_version", v.expected_version);
  get_present(j, "sku", v.sku);
  get_present(j, "name", v.name);
  get_present(j, "description", v.description);
  get_present(j, "price", v.price);
  get_patch(j, "category_id", v.category_id);
  get_present(j, "status", v.status);
}

void to_json(json& j, const delete_product_request& v) {
  j = json{{"id", v.id}};
  put_present(j, "expected_version", v.expected_version);
}
void from_json(const json& j, delete_product_request& v) {
  j.at("id").get_to(v.id);
  get_present(j, "expected_version", v.expected_version);
}

void to_json(json& j, const deleted& v) { j = json{{"id", v.id}, {"version", v.version}}; }
void from_json(const json& j, deleted& v) {
  j.at("id").get_to(v.id);
  j.at("version").get_to(v.version);
}

void to_json(json& j, const create_category_request& v) {
  j = json{{"name", v.name}, {"description", v.description}};
  put_present(j, "parent_id", v.parent_id);
}
void from_json(const json& j, create_category_request& v) {
  j.at("name").get_to(v.name);
  get_present(j, "parent_id", v.parent_id);
  v.description = j.value("description", std::string());
}

void to_json(json& j, const get_category_request& v) { j = json{{"id", v.id}}; }
void from_json(const json& j, get_category_request& v) { j.at("id").get_to(v.id); }

void to_json(json& j, const list_categories_request& v) {
  j = json{{"cursor", v.cursor}};
  put_present(j, "limit", v.limit);
  put_present(j, "parent_id", v.parent_id);
}
void from_json(const json& j, list_categories_request& v) {
  get_present(j, "limit", v.limit);
  v.cursor = j.value("cursor", std::string());
  get_present(j, "parent_id", v.parent_id);
}

void to_json(json& j, const category_page& v) {
  j = json{{"data", v.data}};
  put_optional(j, "next_cursor", v.next_cursor);
}
void from_json(const json& j, category_page& v) {
  j.at("data").get_to(v.data);
  get_optional(j, "next_cursor", v.next_cursor);
}

void to_json(json& j, const update_category_request& v) {
  j = json{{"id", v.id}};
  put_present(j, "expected_version", v.expected_version);
  put_present(j, "name", v.name);
  put_patch(j, "parent_id", v.parent_id);
  put_present(j, "description", v.description);
}
void from_json(const json& j, update_category_request& v) {
  j.at("id").get_to(v.id);
  get_present(j, "expected_version", v.expected_version);
  get_present(j, "name", v.name);
  get_patch(j, "parent_id", v.parent_id);
  get_present(j, "description", v.description);
}

void to_json(json& j, const delete_category_request& v) {
  j = json{{"id", v.id}};
  put_present(j, "expected_version", v.expected_version);
}
void from_json(const json& j, delete_category_request& v) {
  j.at("id").get_to(v.id);
  get_present(j, "expected_version", v.expected_version);
}

}  // namespace agora::catalog
