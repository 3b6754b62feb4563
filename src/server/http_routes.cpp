#include "server/http_routes.hpp"

#include <boost/beast/core/string.hpp>

#include "console/console_page.hpp"
#include "protocol/json_text.hpp"
#include "server/client_secrets_endpoint.hpp"
#include "server/gateway_context.hpp"
#include "server/metrics_service.hpp"
#include "server/shard.hpp"

namespace voxgate::server {

std::string_view target_path(std::string_view target) { return target.substr(0, target.find('?')); }

metrics::HttpPath classify_path(std::string_view path) {
    using metrics::HttpPath;
    if (path == "/healthz") return HttpPath::healthz;
    if (path == "/readyz") return HttpPath::readyz;
    if (path == "/metrics") return HttpPath::metrics;
    if (path == realtime_path) return HttpPath::realtime;
    if (path == twilio_path) return HttpPath::twilio;
    if (path == client_secrets_path) return HttpPath::client_secrets;
    if (path == "/" || path == "/console") return HttpPath::console;
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

// Every endpoint here is GET and HEAD only.
std::optional<HttpResponse> refuse_method(const HttpRequest& request, std::string_view path) {
    if (request.method() == http::verb::get || request.method() == http::verb::head) return std::nullopt;
    auto response = error_response(http::status::method_not_allowed, "method_not_allowed",
                                   std::string(request.method_string()) + " is not allowed on " + std::string(path),
                                   request.version(), request.keep_alive());
    response.set(http::field::allow, "GET, HEAD");
    return response;
}

// The page carries its own policy (console_page.hpp); the other headers keep it out of
// frames, stop MIME sniffing and keep the gateway's address out of Referer headers.
HttpResponse console_response(const HttpRequest& request) {
    auto response = text_response(http::status::ok, "text/html; charset=utf-8",
                                  std::string(console::console_html()), request);
    response.set("Content-Security-Policy", console::content_security_policy());
    response.set(http::field::x_frame_options, "DENY");
    response.set("X-Content-Type-Options", "nosniff");
    response.set("Referrer-Policy", "no-referrer");
    return response;
}

}  // namespace

std::string_view trim_blanks(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

std::string_view bearer_credential(std::string_view authorization) {
    constexpr std::string_view scheme = "bearer ";
    authorization = trim_blanks(authorization);
    if (authorization.size() <= scheme.size() || !boost::beast::iequals(authorization.substr(0, scheme.size()), scheme))
        return {};
    return trim_blanks(authorization.substr(scheme.size()));
}

std::optional<HttpResponse> metrics_refusal(const HttpRequest& request, const MetricsService& service) {
    const bool keep_alive = request.keep_alive();
    if (auto refusal = refuse_method(request, "/metrics")) return refusal;
    if (!service.authorized(request[http::field::authorization])) {
        auto response = error_response(http::status::unauthorized, "unauthorized",
                                       "/metrics needs 'Authorization: Bearer <token>' (metrics.bearer_token_env)",
                                       request.version(), keep_alive);
        response.set(http::field::www_authenticate, "Bearer");
        return response;
    }
    return std::nullopt;
}

HttpResponse metrics_response(const HttpRequest& request, std::string text) {
    return text_response(http::status::ok, "text/plain; version=0.0.4; charset=utf-8", std::move(text), request);
}

std::optional<HttpResponse> metrics_port_response(const HttpRequest& request,
                                                  const MetricsService& service) {
    const auto path = target_path(request.target());
    if (path == "/metrics") return metrics_refusal(request, service);
    if (path == "/healthz") return text_response(http::status::ok, "text/plain", "ok\n", request);
    return error_response(http::status::not_found, "not_found", "this port serves only /metrics and /healthz",
                          request.version(), false);
}

std::optional<HttpResponse> handle_http_request(const HttpRequest& request, Shard& shard) {
    auto path = target_path(request.target());
    auto route = classify_path(path);
    auto& gateway = shard.gateway();
    // With metrics.listen the client port has no /metrics at all.
    if (route == metrics::HttpPath::metrics && !(gateway.metrics_service && gateway.metrics_service->on_client_port()))
        route = metrics::HttpPath::other;
    bool keep_alive = request.keep_alive();
    if (route == metrics::HttpPath::metrics) return metrics_refusal(request, *gateway.metrics_service);
    if (route == metrics::HttpPath::console && !gateway.config.console.enabled) route = metrics::HttpPath::other;
    if (route == metrics::HttpPath::twilio && !gateway.config.twilio.enabled) route = metrics::HttpPath::other;
    if (route == metrics::HttpPath::client_secrets) return client_secrets_response(request, gateway, shard.metrics());
    if (route == metrics::HttpPath::other)
        return error_response(http::status::not_found, "not_found", "no route for " + std::string(path),
                              request.version(), keep_alive);
    if (auto refusal = refuse_method(request, path)) return refusal;
    switch (route) {
        case metrics::HttpPath::healthz:
            return text_response(http::status::ok, "text/plain", "ok\n", request);
        case metrics::HttpPath::readyz:
            if (gateway.draining.load(std::memory_order_relaxed))
                return text_response(http::status::service_unavailable, "text/plain", "draining\n", request);
            return text_response(http::status::ok, "text/plain", "ready\n", request);
        case metrics::HttpPath::metrics: break;  // answered above
        case metrics::HttpPath::client_secrets: break;  // answered above
        case metrics::HttpPath::console: return console_response(request);
        case metrics::HttpPath::realtime:
        case metrics::HttpPath::twilio: {
            auto response = error_response(http::status::upgrade_required, "upgrade_required",
                                           std::string(path) + " speaks WebSocket: send an Upgrade request",
                                           request.version(), keep_alive);
            response.set(http::field::upgrade, "websocket");
            return response;
        }
        case metrics::HttpPath::other: break;
    }
    return error_response(http::status::not_found, "not_found", "no route", request.version(), keep_alive);
}

}  // namespace voxgate::server
