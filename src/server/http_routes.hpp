#pragma once
// The plain HTTP endpoints on the main port: /healthz, /readyz, /metrics, and the
// JSON error responses shared by every refusal (404, 405, 426, 400, 413, 431, 503).
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "metrics/shard_metrics.hpp"

namespace voxgate::server {

namespace http = boost::beast::http;
using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;

class Shard;

inline constexpr std::string_view realtime_path = "/v1/realtime";

// The path part of a request target, without the query string.
std::string_view target_path(std::string_view target);
metrics::HttpPath classify_path(std::string_view path);

// A JSON error: {"error":{"type":..., "message":...}}.
HttpResponse error_response(http::status status, std::string_view type, std::string_view message,
                            unsigned version, bool keep_alive);

// Answers a request that is not a WebSocket upgrade.
HttpResponse handle_http_request(const HttpRequest& request, Shard& shard);

}  // namespace voxgate::server
