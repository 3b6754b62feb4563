#include "server/upgrade_admission.hpp"

#include <algorithm>

#include <boost/beast/core/string.hpp>

#include "auth/authenticator.hpp"
#include "auth/key_usage.hpp"

namespace voxgate::server {

namespace {

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

// The secret from "Authorization: Bearer <key>", else from the key subprotocol; "" if none.
std::string_view presented_key(const HttpRequest& request) {
    constexpr std::string_view bearer = "bearer ";
    const std::string_view authorization = trim(request[http::field::authorization]);
    if (authorization.size() > bearer.size() &&
        boost::beast::iequals(authorization.substr(0, bearer.size()), bearer))
        return trim(authorization.substr(bearer.size()));
    for (auto token : offered_subprotocols(request))
        if (token.starts_with(api_key_subprotocol_prefix)) return token.substr(api_key_subprotocol_prefix.size());
    return {};
}

std::string shortened(std::string_view text) {
    return text.size() <= 80 ? std::string(text) : std::string(text.substr(0, 77)) + "...";
}

}  // namespace

std::vector<std::string_view> offered_subprotocols(const HttpRequest& request) {
    std::vector<std::string_view> tokens;
    std::string_view offered = request[http::field::sec_websocket_protocol];
    while (!offered.empty()) {
        const auto comma = offered.find(',');
        if (auto token = trim(offered.substr(0, comma)); !token.empty()) tokens.push_back(token);
        if (comma == std::string_view::npos) break;
        offered.remove_prefix(comma + 1);
    }
    return tokens;
}

std::optional<UpgradeRefusal> admit_upgrade(const HttpRequest& request, UpgradeInfo& info,
                                            const GatewayContext& gateway, metrics::ShardMetrics& metrics) {
    using metrics::AuthRejection;
    const AuthConfig& auth = gateway.config.auth;
    // Browsers always send Origin on a WebSocket upgrade; other clients usually do not,
    // and they cannot be driven by a foreign page (cross-site WebSocket hijacking).
    if (auto origin = request.find(http::field::origin); origin != request.end() && !auth.allowed_origins.empty()) {
        const std::string_view value = origin->value();
        if (std::find(auth.allowed_origins.begin(), auth.allowed_origins.end(), value) == auth.allowed_origins.end()) {
            metrics.auth_rejected(AuthRejection::origin_not_allowed);
            return UpgradeRefusal{http::status::forbidden, "origin_not_allowed",
                                  "Origin '" + shortened(value) + "' is not in auth.allowed_origins"};
        }
    }
    if (!gateway.authenticator) return std::nullopt;  // auth.mode none

    const std::string_view secret = presented_key(request);
    if (secret.empty()) {
        metrics.auth_rejected(AuthRejection::missing_api_key);
        return UpgradeRefusal{http::status::unauthorized, "invalid_api_key",
                              "no API key: send 'Authorization: Bearer <key>' or the subprotocol "
                              "'openai-insecure-api-key.<key>'"};
    }
    auto key = gateway.authenticator->authenticate(secret);
    if (!key) {
        metrics.auth_rejected(AuthRejection::invalid_api_key);
        return UpgradeRefusal{http::status::unauthorized, "invalid_api_key", "incorrect API key provided"};
    }
    // A resumed session keeps its model when ?model= is absent; that model was allowed to
    // this key when the session began (resume is bound to the key).
    std::string model = query_value(info.query, "model");
    if (model.empty() && query_value(info.query, "session_id").empty()) model = gateway.config.sessions.default_model;
    if (!model.empty() && !auth::allows_model(*key, model)) {
        metrics.auth_rejected(AuthRejection::model_not_allowed);
        return UpgradeRefusal{http::status::forbidden, "model_not_allowed",
                              "key '" + key->name + "' may not use model '" + shortened(model) + "'"};
    }
    if (!key->usage->try_open_session(key->limits.max_sessions)) {
        metrics.rate_limit_hit(metrics::KeyLimit::max_sessions);
        return UpgradeRefusal{http::status::too_many_requests, "rate_limit_exceeded",
                              "key '" + key->name + "' has " + std::to_string(key->limits.max_sessions) +
                                  " sessions open (limits.max_sessions)"};
    }
    info.session_lease = std::make_shared<auth::SessionLease>(key->usage);
    info.key = std::move(key);
    return std::nullopt;
}

}  // namespace voxgate::server
