#pragma once

#include <nlohmann/json.hpp>

#include <concepts>
#include <optional>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

// JSON forms of message types, declared once per type as a list of fields:
//
//   struct money { std::int64_t amount = 0; std::string currency; };
//   constexpr auto json_fields(const money*) {
//     return std::tuple{agora::json_field("amount", &money::amount),
//                       agora::json_field("currency", &money::currency)};
//   }
//
// Declare json_fields in the type's namespace, next to the type (it is found by
// argument-dependent lookup); nlohmann::json then converts the type both ways. The rules,
// by member type:
//   - a plain member is required when read and always written;
//     json_field(..., agora::json_default) keeps the member's initial value when absent;
//   - std::optional<T> is written as null when empty; absent or null reads as empty;
//   - std::optional<std::optional<T>> (a patch that can clear) is omitted when empty,
//     written as null when it holds an empty optional, and read back the same way.
namespace agora {

struct json_default_t {
  explicit json_default_t() = default;
};
inline constexpr json_default_t json_default{};

// One entry of a field list: the JSON name and the member it maps to.
template <class Owner, class M>
struct json_member {
  std::string_view name;
  M Owner::*ptr;
  bool has_default = false;
};

template <class Owner, class M>
constexpr json_member<Owner, M> json_field(std::string_view name, M Owner::*ptr) {
  return {name, ptr, false};
}
template <class Owner, class M>
constexpr json_member<Owner, M> json_field(std::string_view name, M Owner::*ptr, json_default_t) {
  return {name, ptr, true};
}

namespace detail::json {

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class M>
void put(nlohmann::json& j, std::string_view name, const M& v) {
  if constexpr (is_optional<M>::value) {
    if constexpr (is_optional<typename M::value_type>::value) {
      if (!v) return;                                       // a patch not given: omitted
      if (*v) j[std::string(name)] = **v; else j[std::string(name)] = nullptr;
    } else {
      if (v) j[std::string(name)] = *v; else j[std::string(name)] = nullptr;
    }
  } else {
    j[std::string(name)] = v;
  }
}

template <class M>
void get(const nlohmann::json& j, std::string_view name, M& v, bool has_default) {
  auto it = j.find(name);
  if constexpr (is_optional<M>::value) {
    if constexpr (is_optional<typename M::value_type>::value) {
      if (it == j.end())
        v.reset();
      else if (it->is_null())
        v.emplace(std::nullopt);
      else
        v.emplace(it->template get<typename M::value_type::value_type>());
    } else {
      if (it == j.end() || it->is_null())
        v.reset();
      else
        v = it->template get<typename M::value_type>();
    }
  } else {
    if (it == j.end()) {
      if (has_default) return;
      throw nlohmann::json::out_of_range::create(403, "missing field '" + std::string(name) + "'", &j);
    }
    it->get_to(v);
  }
}

}  // namespace detail::json

// True for a type with a json_fields declaration.
template <class T>
concept has_json_fields = requires(const T* p) { json_fields(p); };

}  // namespace agora

namespace nlohmann {

template <class T>
  requires agora::has_json_fields<T>
struct adl_serializer<T> {
  static void to_json(json& j, const T& v) {
    j = json::object();
    std::apply([&](const auto&... f) { (agora::detail::json::put(j, f.name, v.*(f.ptr)), ...); },
               json_fields(static_cast<const T*>(nullptr)));
  }
  static void from_json(const json& j, T& v) {
    if (!j.is_object()) throw json::type_error::create(302, "expected an object", &j);
    std::apply([&](const auto&... f) { (agora::detail::json::get(j, f.name, v.*(f.ptr), f.has_default), ...); },
               json_fields(static_cast<const T*>(nullptr)));
  }
};

}  // namespace nlohmann
