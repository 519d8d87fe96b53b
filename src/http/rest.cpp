#include <agora/idempotency.hpp>
#include <agora/rest.hpp>

#include <boost/beast/http/field.hpp>

#include <algorithm>
#include <charconv>
#include <limits>

namespace agora::http {

namespace {

using json = nlohmann::json;
namespace bhttp = boost::beast::http;

std::string_view trim_view(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::int64_t> strong_tag_version(std::string_view tag) {
  if (tag.size() < 3 || tag.front() != '"' || tag.back() != '"') return std::nullopt;
  auto digits = tag.substr(1, tag.size() - 2);
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc{} || end != digits.data() + digits.size() || v < 0) return std::nullopt;
  return v;
}

// Calls f(tag) for each entry of a comma-separated entity-tag list.
template <class F>
void for_each_tag(std::string_view header, F f) {
  while (!header.empty()) {
    auto comma = header.find(',');
    auto tag = trim_view(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    if (!tag.empty()) f(tag);
  }
}

}  // namespace

object_reader::object_reader(const json& obj, std::string prefix, std::initializer_list<std::string_view> known,
                             std::vector<field_error>& errors)
    : obj_(obj), prefix_(std::move(prefix)), errors_(errors) {
  if (!obj_.is_object()) {
    errors_.push_back({prefix_.empty() ? "body" : prefix_, "expected an object"});
    ok_ = false;
    return;
  }
  for (const auto& [key, value] : obj_.items())
    if (std::find(known.begin(), known.end(), key) == known.end()) errors_.push_back({name(key), "unknown field"});
}

std::string object_reader::name(std::string_view key) const {
  return prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key);
}

void object_reader::fail(std::string_view key, std::string message) {
  errors_.push_back({name(key), std::move(message)});
}

const json* object_reader::member(std::string_view key, bool required) {
  if (!ok_) return nullptr;
  auto it = obj_.find(key);
  if (it == obj_.end()) {
    if (required) fail(key, "is required");
    return nullptr;
  }
  return &*it;
}

std::optional<std::string> object_reader::string(std::string_view key, bool required) {
  const json* v = member(key, required);
  if (!v) return std::nullopt;
  if (!v->is_string()) {
    fail(key, "expected a string");
    return std::nullopt;
  }
  return v->get<std::string>();
}

nullable_patch<std::string> object_reader::nullable_string(std::string_view key) {
  const json* v = member(key, false);
  if (!v) return std::nullopt;
  if (v->is_null()) return std::optional<std::string>{};
  if (!v->is_string()) {
    fail(key, "expected a string or null");
    return std::nullopt;
  }
  return std::optional<std::string>{v->get<std::string>()};
}

std::optional<std::int64_t> object_reader::integer(std::string_view key, bool required) {
  const json* v = member(key, required);
  if (!v) return std::nullopt;
  if (v->is_number_unsigned()) {
    if (v->get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      fail(key, "integer out of range");
      return std::nullopt;
    }
    return static_cast<std::int64_t>(v->get<std::uint64_t>());
  }
  if (!v->is_number_integer()) {
    fail(key, "expected an integer");
    return std::nullopt;
  }
  return v->get<std::int64_t>();
}

std::optional<bool> object_reader::boolean(std::string_view key, bool required) {
  const json* v = member(key, required);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) {
    fail(key, "expected true or false");
    return std::nullopt;
  }
  return v->get<bool>();
}

std::optional<double> object_reader::number(std::string_view key, bool required) {
  const json* v = member(key, required);
  if (!v) return std::nullopt;
  if (!v->is_number()) {
    fail(key, "expected a number");
    return std::nullopt;
  }
  return v->get<double>();
}

std::optional<std::vector<std::string>> object_reader::string_list(std::string_view key, bool required) {
  const json* v = member(key, required);
  if (!v) return std::nullopt;
  if (!v->is_array() || !std::all_of(v->begin(), v->end(), [](const json& e) { return e.is_string(); })) {
    fail(key, "expected an array of strings");
    return std::nullopt;
  }
  return v->get<std::vector<std::string>>();
}

std::optional<money> object_reader::money_value(std::string_view key, bool required) {
  const json* v = member(key, required);
  if (!v) return std::nullopt;
  object_reader inner(*v, name(key), {"amount", "currency"}, errors_);
  if (!inner.ok()) return std::nullopt;
  auto amount = inner.integer("amount", true);
  auto currency = inner.string("currency", true);
  if (!amount || !currency) return std::nullopt;
  return money{*amount, std::move(*currency)};
}

std::vector<field_error> merge_field_errors(std::vector<field_error> type_errors,
                                            std::vector<field_error> value_errors) {
  for (auto& e : value_errors) {
    bool seen =
        std::any_of(type_errors.begin(), type_errors.end(), [&](const field_error& t) { return t.field == e.field; });
    if (!seen) type_errors.push_back(std::move(e));
  }
  return type_errors;
}

std::string path_param(const request_context& ctx, std::string_view name) {
  return std::string(ctx.param(name).value_or(""));
}

void read_limit_query(const request_context& ctx, std::optional<std::int64_t>& limit,
                      std::vector<field_error>& errors) {
  auto text = ctx.query_param("limit");
  if (!text) return;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (text->empty() || ec != std::errc{} || end != text->data() + text->size())
    errors.push_back({"limit", "expected an integer"});
  else
    limit = v;
}

void read_page_query(const request_context& ctx, std::optional<std::int64_t>& limit, std::string& cursor,
                     std::vector<field_error>& errors) {
  read_limit_query(ctx, limit, errors);
  if (auto text = ctx.query_param("cursor")) cursor = std::string(*text);
}

std::vector<query_param_doc> page_query_docs(std::string_view limit_setting, std::int64_t default_limit) {
  return {{"limit", "integer",
           "Items per page: 1 to " + std::string(limit_setting) + "; default " + std::to_string(default_limit)},
          {"cursor", "string", "The next_cursor of the previous page"}};
}

nlohmann::json page_schema(nlohmann::json item) {
  using json = nlohmann::json;
  return {{"type", "object"},
          {"required", json::array({"data", "next_cursor"})},
          {"properties",
           {{"data", {{"type", "array"}, {"items", std::move(item)}}},
            {"next_cursor",
             {{"type", json::array({"string", "null"})},
              {"description", "Pass as cursor for the next page; null on the last"}}}}}};
}

nlohmann::json money_schema() {
  using json = nlohmann::json;
  return {{"type", "object"},
          {"required", json::array({"amount", "currency"})},
          {"additionalProperties", false},
          {"properties",
           {{"amount",
             {{"type", "integer"},
              {"minimum", 0},
              {"maximum", money_amount_max},
              {"description", "Minor units of the currency (cents for EUR); never a float"}}},
            {"currency", {{"type", "string"}, {"pattern", "^[A-Z]{3}$"}, {"description", "Active ISO 4217 code"}}}}}};
}

std::string etag(std::int64_t version) {
  std::string out;
  out.reserve(22);
  out.push_back('"');
  out += std::to_string(version);
  out.push_back('"');
  return out;
}

std::optional<version_match> parse_if_match(std::string_view header) {
  version_match m;
  bool any = false;
  for_each_tag(header, [&](std::string_view tag) {
    if (tag == "*") any = true;
    if (auto v = strong_tag_version(tag)) m.any_of.push_back(*v);
  });
  if (any) return std::nullopt;
  return m;
}

std::optional<version_match> if_match(const request_context& ctx) {
  auto h = ctx.header("If-Match");
  if (!h) return std::nullopt;
  return parse_if_match(*h);
}

bool if_none_match(std::string_view header, std::int64_t version) {
  bool hit = false;
  for_each_tag(header, [&](std::string_view tag) {
    if (tag == "*") hit = true;
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (strong_tag_version(tag) == version) hit = true;
  });
  return hit;
}

response json_text(int status, std::string body) {
  response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = std::move(body);
  return res;
}

response json_body(int status, const json& body) {
  return json_text(status, body.dump(-1, ' ', false, json::error_handler_t::replace));
}

response no_content() { return response{bhttp::status::no_content, 11}; }

void add_degraded(response& res, std::string_view reason) {
  auto it = res.find("X-Degraded");
  if (it == res.end()) {
    res.set("X-Degraded", reason);
    return;
  }
  std::string list(it->value());
  bool present = false;
  for_each_tag(list, [&](std::string_view r) { present = present || r == reason; });
  if (present) return;
  list.append(", ").append(reason);
  res.set("X-Degraded", list);
}

result<std::optional<std::string>> idempotency_key(const request_context& ctx) {
  auto [first, last] = ctx.req.equal_range(idempotency::header);
  if (first == last) return std::optional<std::string>{};
  if (std::next(first) != last)
    return error{errc::bad_request, "send Idempotency-Key at most once", {{std::string(idempotency::header), "sent more than once"}}};
  std::string key(first->value());
  if (auto ok = idempotency::check_key(key); !ok) return std::move(ok).err();
  return std::optional<std::string>{std::move(key)};
}

}  // namespace agora::http
