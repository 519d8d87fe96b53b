#include <agora/auth.hpp>

#include <boost/beast/http/field.hpp>

#include <algorithm>
#include <array>
#include <cctype>

namespace agora::auth {

namespace {

constexpr std::size_t max_credential = 8192;
constexpr std::array<std::string_view, 3> query_credentials{"access_token", "api_key", "apikey"};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// RFC 6750 b64token: ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", then "=" padding.
bool is_b64token(std::string_view v) {
  std::size_t end = v.find_last_not_of('=');
  if (end == std::string_view::npos) return false;
  return std::all_of(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(end + 1), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' ||
           c == '/';
  });
}

std::size_t count_of(const http::request& req, std::string_view name) {
  auto [first, last] = req.equal_range(name);
  return static_cast<std::size_t>(std::distance(first, last));
}

error unauthenticated(std::string message) { return {errc::unauthenticated, std::move(message), {}}; }

}  // namespace

result<credential> read_credential(const http::request_context& ctx) {
  for (const auto& [name, value] : ctx.query)
    for (auto q : query_credentials)
      if (iequals(name, q))
        return error{errc::bad_request,
                     "credentials are not accepted in the query string; send Authorization: Bearer or X-API-Key",
                     {{name, "not accepted in the query string"}}};
  const std::size_t auth_headers = count_of(ctx.req, "Authorization");
  const std::size_t key_headers = count_of(ctx.req, "X-API-Key");
  if (auth_headers > 1 || key_headers > 1)
    return error{errc::bad_request, "a credential header was sent more than once", {}};
  if (auth_headers && key_headers)
    return error{errc::bad_request, "send one credential: Authorization or X-API-Key, not both", {}};
  credential c;
  std::string_view value;
  if (auth_headers) {
    std::string_view header = ctx.req["Authorization"];
    std::size_t space = header.find(' ');
    if (space == std::string_view::npos || !iequals(header.substr(0, space), "Bearer"))
      return unauthenticated("the Authorization scheme must be Bearer");
    value = header.substr(space + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  } else if (key_headers) {
    value = ctx.req["X-API-Key"];
  } else {
    return c;
  }
  if (value.empty()) return unauthenticated("the credential is empty");
  if (value.size() > max_credential) return unauthenticated("the credential is too long");
  if (!is_b64token(value)) return unauthenticated("the credential holds characters a token never has");
  c.value.assign(value);
  c.type = auth_headers && std::count(value.begin(), value.end(), '.') == 2 ? credential::kind::token
                                                                            : credential::kind::api_key;
  return c;
}

namespace {

struct guard_state {
  std::shared_ptr<authenticator> auth;
  metrics::counter* anonymous;
  metrics::counter* authenticated;
  metrics::counter* refused_401;
  metrics::counter* refused_403;
  metrics::counter* bad_request;
  metrics::counter* unavailable;
};

std::string quoted(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20) out.push_back(c);
  return out;
}

http::response refuse_401(http::error_shape shape, std::string_view detail, bool bad_credential) {
  auto res = http::error_response(shape, 401, detail, bad_credential ? "invalid_api_key" : "missing_credentials");
  std::string challenge = "Bearer realm=\"agora\"";
  if (bad_credential) challenge += ", error=\"invalid_token\", error_description=\"" + quoted(detail) + "\"";
  res.set(boost::beast::http::field::www_authenticate, challenge);
  return res;
}

asio::awaitable<http::response> run_guard(std::shared_ptr<guard_state> s, http::request_context& ctx,
                                          const http::next_fn& next) {
  const http::route& r = *ctx.matched;
  if (!r.who.reads_credentials) {
    s->anonymous->inc();
    co_return co_await next(ctx);
  }
  auto cred = read_credential(ctx);
  if (!cred) {
    if (cred.err().code == errc::bad_request) {
      s->bad_request->inc();
      auto res = http::error_response(r.errors, 400, cred.err().message, "invalid_request");
      co_return res;
    }
    s->refused_401->inc();
    co_return refuse_401(r.errors, cred.err().message, true);
  }
  if (cred->type != credential::kind::none) {
    auto who = co_await s->auth->authenticate(*cred, ctx.tr, ctx.deadline);
    if (!who) {
      if (who.err().code == errc::unauthenticated) {
        s->refused_401->inc();
        co_return refuse_401(r.errors, who.err().message, true);
      }
      s->unavailable->inc();
      auto res = http::error_response(r.errors, 503, "credentials cannot be checked now; try again shortly");
      co_return res;
    }
    ctx.who = std::move(who).value();
  }
  switch (decide(r.who, ctx.who)) {
    case access_decision::unauthenticated: {
      s->refused_401->inc();
      co_return refuse_401(r.errors, "this route needs credentials: Authorization: Bearer <token> or X-API-Key", false);
    }
    case access_decision::forbidden: {
      s->refused_403->inc();
      auto res = http::error_response(r.errors, 403, "these credentials do not allow this route", "insufficient_scope");
      res.set(boost::beast::http::field::www_authenticate, "Bearer realm=\"agora\", error=\"insufficient_scope\"");
      co_return res;
    }
    case access_decision::allow: break;
  }
  (ctx.who.authenticated() ? s->authenticated : s->anonymous)->inc();
  co_return co_await next(ctx);
}

}  // namespace

http::filter guard(std::shared_ptr<authenticator> a, metrics::registry& m) {
  auto outcome = [&m](std::string_view o) {
    return &m.counter_of("agora_auth_decisions_total", "Requests by what the auth filter decided",
                         {{"outcome", std::string(o)}});
  };
  auto s = std::make_shared<guard_state>(guard_state{std::move(a), outcome("anonymous"), outcome("authenticated"),
                                                     outcome("unauthenticated"), outcome("forbidden"),
                                                     outcome("bad_request"), outcome("unavailable")});
  return [s](http::request_context& ctx, const http::next_fn& next) { return run_guard(s, ctx, next); };
}

}  // namespace agora::auth
