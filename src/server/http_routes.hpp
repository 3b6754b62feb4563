#pragma once
// The plain HTTP endpoints on the main port: /healthz, /readyz, /metrics, the browser
// console (/ and /console), POST /v1/realtime/client_secrets, and the
// JSON error responses shared by every refusal (404, 405, 426, 400, 413, 431, 503).
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "metrics/shard_metrics.hpp"

namespace voxgate::server {

namespace http = boost::beast::http;
using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;

class Shard;
class MetricsService;

inline constexpr std::string_view realtime_path = "/v1/realtime";
inline constexpr std::string_view twilio_path = "/v1/twilio";

// The path part of a request target, without the query string.
std::string_view target_path(std::string_view target);
metrics::HttpPath classify_path(std::string_view path);

// A JSON error: {"error":{"type":..., "message":...}}.
HttpResponse error_response(http::status status, std::string_view type, std::string_view message,
                            unsigned version, bool keep_alive);

// `text` without leading and trailing spaces and tabs (HTTP's optional whitespace).
std::string_view trim_blanks(std::string_view text);
// The credential of an "Authorization: Bearer <credential>" value (scheme in any case,
// blanks trimmed); "" for any other value.
std::string_view bearer_credential(std::string_view authorization);

// Answers a request that is not a WebSocket upgrade. nullopt means an authorized GET or
// HEAD of /metrics: the caller collects off its thread (MetricsService::async_scrape)
// and answers with metrics_response.
std::optional<HttpResponse> handle_http_request(const HttpRequest& request, Shard& shard);

// /metrics before anything is collected, on either port: 401 without the bearer token
// (metrics.bearer_token_env), 405 for a method other than GET and HEAD; nullopt when the
// scrape may go ahead.
std::optional<HttpResponse> metrics_refusal(const HttpRequest& request, const MetricsService& service);
// A scrape's text as the 200 response to `request` (no body for HEAD).
HttpResponse metrics_response(const HttpRequest& request, std::string text);
// The whole of the metrics.listen port: /metrics as above, /healthz, 404 for the rest.
std::optional<HttpResponse> metrics_port_response(const HttpRequest& request,
                                                  const MetricsService& service);

}  // namespace voxgate::server
