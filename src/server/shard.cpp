#include "server/shard.hpp"

#include <algorithm>
#include <cctype>

#include "server/gateway_context.hpp"
#include "session/conversation_expiry.hpp"
#include "session/realtime_session.hpp"
#include "upstream/response_source.hpp"

namespace voxgate::server {

namespace {
std::chrono::milliseconds sweep_threshold(const LimitsConfig& limits) {
    // Nothing needs a look before its ping is due; HTTP keep-alive connections use the same idle budget.
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::min(limits.ping_interval, limits.idle_timeout));
}
}  // namespace

Shard::Shard(std::size_t index, GatewayContext& gateway)
    : index_(index),
      gateway_(gateway),
      metrics_(gateway.config.providers.size()),
      sweeper_(ioc_, std::chrono::milliseconds(250), sweep_threshold(gateway.config.limits),
                metrics_.internal_errors) {}

Shard::~Shard() {
    // Destroy queued handlers (and the connections they keep alive) first: they refer to
    // the members below.
    ioc_.shutdown();
}

void Shard::set_realtime_context(std::unique_ptr<session::RealtimeContext> context) {
    realtime_context_ = std::move(context);
}

void Shard::set_conversation_expiry(std::unique_ptr<session::ConversationExpiry> expiry) {
    expiry_ = std::move(expiry);
}

const WsEndpoint* find_ws_endpoint(const GatewayContext& gateway, std::string_view path) {
    for (const auto& endpoint : gateway.ws_endpoints)
        if (endpoint.path == path) return &endpoint;
    return nullptr;
}

WsEndpoint* find_ws_endpoint(GatewayContext& gateway, std::string_view path) {
    for (auto& endpoint : gateway.ws_endpoints)
        if (endpoint.path == path) return &endpoint;
    return nullptr;
}

std::string served_ws_paths(const GatewayContext& gateway) {
    std::string paths;
    for (const auto& endpoint : gateway.ws_endpoints) paths.append(paths.empty() ? "" : ", ").append(endpoint.path);
    return paths;
}

std::string query_value(const QueryParams& query, std::string_view name) {
    for (const auto& [key, value] : query)
        if (key == name) return value;
    return {};
}

QueryParams parse_query(std::string_view query) {
    QueryParams params;
    auto decode = [](std::string_view in) {
        std::string out;
        out.reserve(in.size());
        for (std::size_t i = 0; i < in.size(); ++i) {
            char c = in[i];
            if (c == '+') {
                out.push_back(' ');
            } else if (c == '%' && i + 2 < in.size() &&
                       std::isxdigit(static_cast<unsigned char>(in[i + 1])) &&
                       std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
                out.push_back(static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16)));
                i += 2;
            } else {
                out.push_back(c);
            }
        }
        return out;
    };
    while (!query.empty()) {
        auto amp = query.find('&');
        auto pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty()) continue;
        auto eq = pair.find('=');
        if (eq == std::string_view::npos) params.emplace_back(decode(pair), std::string{});
        else params.emplace_back(decode(pair.substr(0, eq)), decode(pair.substr(eq + 1)));
    }
    return params;
}

}  // namespace voxgate::server
