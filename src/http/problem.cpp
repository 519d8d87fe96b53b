#include <agora/http.hpp>

#include <boost/beast/http/field.hpp>

#include <string>

namespace agora::http {

namespace {

constexpr std::string_view problem_base = "https://agora.dev/problems/";

// The type slug follows the status: one problem type per status, named after its reason.
std::string problem_type(int status) {
  std::string type(problem_base);
  for (char c : reason(status)) {
    if (c >= 'A' && c <= 'Z')
      type.push_back(static_cast<char>(c - 'A' + 'a'));
    else if (c == ' ' || c == '-')
      type.push_back('-');
    else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
      type.push_back(c);
  }
  return type;
}

}  // namespace

std::string_view reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: break;
  }
  if (status >= 100 && status < 200) return "Informational";
  if (status >= 200 && status < 300) return "Success";
  if (status >= 300 && status < 400) return "Redirection";
  if (status >= 400 && status < 500) return "Client Error";
  return "Server Error";
}

response json_response(int status, const nlohmann::json& body) {
  response res{static_cast<beast::http::status>(status), 11};
  res.set(beast::http::field::content_type, "application/json");
  res.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  res.prepare_payload();
  return res;
}

response problem(int status, std::string_view detail, const std::vector<field_error>& fields) {
  nlohmann::json body = {
      {"type", problem_type(status)},
      {"title", reason(status)},
      {"status", status},
      {"detail", detail},
  };
  if (!fields.empty()) {
    auto& errors = body["errors"] = nlohmann::json::array();
    for (const auto& f : fields) errors.push_back({{"field", f.field}, {"message", f.message}});
  }
  response res{static_cast<beast::http::status>(status), 11};
  res.set(beast::http::field::content_type, "application/problem+json");
  if (status == 429 || status == 503) res.set(beast::http::field::retry_after, "1");
  res.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  res.prepare_payload();
  return res;
}

response error_response(error_shape shape, int status, std::string_view detail, std::string_view code) {
  if (shape == error_shape::problem) return problem(status, detail);
  std::string_view type = "invalid_request_error";
  switch (status) {
    case 401: type = "authentication_error"; break;
    case 403: type = "permission_error"; break;
    case 404: type = "not_found_error"; break;
    case 429: type = "rate_limit_exceeded"; break;
    default:
      if (status >= 500) type = "server_error";
  }
  nlohmann::json body = {{"error",
                          {{"message", detail},
                           {"type", type},
                           {"param", nullptr},
                           {"code", code.empty() ? nlohmann::json(nullptr) : nlohmann::json(code)}}}};
  response res{static_cast<beast::http::status>(status), 11};
  res.set(beast::http::field::content_type, "application/json");
  if (status == 429 || status == 503) res.set(beast::http::field::retry_after, "1");
  res.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  res.prepare_payload();
  return res;
}

// An internal error's message is for the log, not the client: it may name a table or a file.
response problem(const error& e) {
  if (e.code == errc::internal) return problem(http_status(e.code), "internal error", e.fields);
  auto res = problem(http_status(e.code), e.message, e.fields);
  if (e.retry_after_s > 0) res.set(beast::http::field::retry_after, std::to_string(e.retry_after_s));
  return res;
}

}  // namespace agora::http
