#include "server/http_routes.hpp"

#include "protocol/json_text.hpp"
#include "server/gateway_context.hpp"
#include "server/shard.hpp"

namespace voxgate::server {

std::string_view target_path(std::string_view target) { return target.substr(0, target.find('?')); }

metrics::HttpPath classify_path(std::string_view path) {
    using metrics::HttpPath;
    if (path == "/healthz") return HttpPath::healthz;
    if (path == "/readyz") return HttpPath::readyz;
    if (path == "/metrics") return HttpPath::metrics;
    if (path == realtime_path) return HttpPath::realtime;
    return HttpPath::other;
}

HttpResponse error_response(http::status status, std::string_view type, std::string_view message,
                            unsigned version, bool keep_alive) {
    HttpResponse response{status, version};
    response.set(http::field::server, "voxgate");
    response.set(http::field::content_type, "application/json");
    response.keep_alive(keep_alive);
    // The message may echo request bytes (the path): to_text replaces invalid UTF-8
    // instead of throwing, so no request target can turn a 404 into a crash.
    protocol::OrderedJson body = {{"error", {{"type", type}, {"message", message}}}};
    response.body() = protocol::to_text(body);
    response.body().push_back('\n');
    response.prepare_payload();
    return response;
}

namespace {

HttpResponse text_response(http::status status, std::string_view content_type, std::string body,
                           const HttpRequest& request) {
    HttpResponse response{status, request.version()};
    response.set(http::field::server, "voxgate");
    response.set(http::field::content_type, content_type);
    response.set(http::field::cache_control, "no-store");
    response.keep_alive(request.keep_alive());
    response.body() = std::move(body);
    response.prepare_payload();
    if (request.method() == http::verb::head) response.body().clear();  // Content-Length stays
    return response;
}

}  // namespace

HttpResponse handle_http_request(const HttpRequest& request, Shard& shard) {
    auto path = target_path(request.target());
    auto route = classify_path(path);
    bool keep_alive = request.keep_alive();
    if (route == metrics::HttpPath::other)
        return error_response(http::status::not_found, "not_found", "no route for " + std::string(path),
                              request.version(), keep_alive);
    if (request.method() != http::verb::get && request.method() != http::verb::head) {
        auto response = error_response(http::status::method_not_allowed, "method_not_allowed",
                                       std::string(request.method_string()) + " is not allowed on " +
                                           std::string(path),
                                       request.version(), keep_alive);
        response.set(http::field::allow, "GET, HEAD");
        return response;
    }
    auto& gateway = shard.gateway();
    switch (route) {
        case metrics::HttpPath::healthz:
            return text_response(http::status::ok, "text/plain", "ok\n", request);
        case metrics::HttpPath::readyz:
            if (gateway.draining.load(std::memory_order_relaxed))
                return text_response(http::status::service_unavailable, "text/plain", "draining\n", request);
            return text_response(http::status::ok, "text/plain", "ready\n", request);
        case metrics::HttpPath::metrics:
            return text_response(http::status::ok, "text/plain; version=0.0.4; charset=utf-8",
                                 gateway.collector ? gateway.collector->scrape() : std::string{}, request);
        case metrics::HttpPath::realtime: {
            auto response = error_response(http::status::upgrade_required, "upgrade_required",
                                           "/v1/realtime speaks WebSocket: send an Upgrade request",
                                           request.version(), keep_alive);
            response.set(http::field::upgrade, "websocket");
            return response;
        }
        case metrics::HttpPath::other: break;
    }
    return error_response(http::status::not_found, "not_found", "no route", request.version(), keep_alive);
}

}  // namespace voxgate::server
