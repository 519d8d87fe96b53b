#pragma once

#include <agora/http.hpp>
#include <agora/module.hpp>

#include <chrono>

// The OpenAI-compatible HTTP routes. They parse and answer in OpenAI's shapes (errors
// included, since that is what OpenAI clients parse) and reach the module over the bus.
namespace agora::inference::http_api {

namespace asio = boost::asio;

// POST /v1/chat/completions and POST /v1/completions, whole or streamed (SSE).
asio::awaitable<http::response> chat_completions(const route_env& env, http::request_context& ctx);
asio::awaitable<http::response> completions(const route_env& env, http::request_context& ctx);
// GET /v1/models and GET /v1/models/{id}.
asio::awaitable<http::response> models(const route_env& env, http::request_context& ctx);
asio::awaitable<http::response> model(const route_env& env, http::request_context& ctx);
// Run-time registry (agora extensions, OpenAI error shape): POST /v1/models,
// DELETE /v1/models/{id}, POST /v1/models/{id}/default, PUT /v1/models/{id}/fallback.
asio::awaitable<http::response> register_model(const route_env& env, http::request_context& ctx);
asio::awaitable<http::response> unload_model(const route_env& env, http::request_context& ctx);
asio::awaitable<http::response> set_default_model(const route_env& env, http::request_context& ctx);
// PUT /v1/models/{id}/fallback {"fallback": "other" | null}.
asio::awaitable<http::response> set_fallback_model(const route_env& env, http::request_context& ctx);

}  // namespace agora::inference::http_api
