#pragma once

#include <inference/api.hpp>

#include <agora/http.hpp>
#include <agora/store.hpp>

#include <optional>
#include <string>
#include <vector>

// Stored conversations: their SQL (run on the module's store thread) and their
// HTTP/JSON form (problem+json errors, like every non-OpenAI route).
namespace agora::inference::conversations {

namespace sql {
void insert(store::database& db, const conversation& c, const std::string& caller);
// With its messages; nullopt when absent or another caller's.
std::optional<conversation> find(store::database& db, const std::string& id, const std::string& caller);
std::vector<conversation> list(store::database& db, const std::string& caller, const std::string& after,
                               std::int64_t limit);
bool remove(store::database& db, const std::string& id, const std::string& caller);
// 1 + its number of messages; nullopt when absent or another caller's.
std::optional<std::int64_t> version_of(store::database& db, const std::string& id, const std::string& caller);
// Appends messages after the last one; false when the conversation is gone.
bool append(store::database& db, const std::string& id, const std::vector<chat_turn>& turns, const std::string& now);
}  // namespace sql

inline constexpr std::int64_t default_page_limit = 20;
inline constexpr std::int64_t max_page_limit = 100;
inline constexpr std::size_t title_max_bytes = 200;

result<create_conversation_request> decode_create(http::request_context& ctx);
result<conversation_ref> decode_ref(http::request_context& ctx);
result<list_conversations_request> decode_list(http::request_context& ctx);
http::response encode_created(const conversation& c, http::request_context& ctx);
http::response encode(const conversation& c, http::request_context& ctx);
http::response encode_page(const conversation_page& p, http::request_context& ctx);
http::response encode_deleted(const conversation_deleted& d, http::request_context& ctx);

http::route create_route();
http::route get_route();
http::route list_route();
http::route delete_route();

}  // namespace agora::inference::conversations
