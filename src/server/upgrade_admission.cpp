#include "server/upgrade_admission.hpp"

#include <algorithm>
#include <tuple>
#include <variant>

#include <boost/beast/core/string.hpp>

#include "auth/authenticator.hpp"
#include "auth/key_usage.hpp"

namespace voxgate::server {

namespace {

// The secret from "Authorization: Bearer <key>", else from the key subprotocol; "" if none.
std::string_view presented_key(const HttpRequest& request) {
    if (auto bearer = bearer_credential(request[http::field::authorization]); !bearer.empty()) return bearer;
    for (auto token : offered_subprotocols(request))
        if (token.starts_with(api_key_subprotocol_prefix)) return token.substr(api_key_subprotocol_prefix.size());
    return {};
}

std::string shortened(std::string_view text) {
    return text.size() <= 80 ? std::string(text) : std::string(text.substr(0, 77)) + "...";
}

// sessions.max_stored, checked before the 101 so that a full store costs the client one
// HTTP answer: the oldest detached conversations make room; if every stored conversation
// is live, 503. A resume of a stored conversation needs no room. The check and the
// insert are not one step, so the store can overshoot by the handshakes in flight at
// that moment (bounded by limits.max_connections).
std::optional<UpgradeRefusal> make_room_for_a_session(const UpgradeInfo& info, GatewayContext& gateway,
                                                      metrics::ShardMetrics& metrics) {
    const auto max_stored = gateway.config.sessions.max_stored;
    if (gateway.registry.size() < max_stored) return std::nullopt;
    if (auto id = session::SessionId::parse(query_value(info.query, "session_id")); id && gateway.registry.find(*id))
        return std::nullopt;
    metrics.sessions_evicted.inc(gateway.registry.make_room(max_stored));
    if (gateway.registry.size() < max_stored) return std::nullopt;
    metrics.sessions_store_full.inc();
    return UpgradeRefusal{http::status::service_unavailable, "session_store_full",
                          "the gateway holds sessions.max_stored live sessions; retry later"};
}

using KeyAndGrant = std::pair<std::shared_ptr<const auth::ClientKey>, std::shared_ptr<const auth::SecretGrant>>;

// An "ek_" secret: the key it was issued for (as the keys file has it now) and its
// session, or why it cannot open this session. It is not used up here (admit_upgrade
// does that last).
std::variant<UpgradeRefusal, KeyAndGrant> redeem_client_secret(std::string_view secret, const UpgradeInfo& info,
                                                                GatewayContext& gateway,
                                                                metrics::ShardMetrics& metrics) {
    using metrics::AuthRejection;
    const auto found = gateway.client_secrets->find(secret, auth::ClientSecretStore::Clock::now());
    std::shared_ptr<const auth::ClientKey> key;
    if (found.state == auth::ClientSecretStore::State::valid) key = gateway.authenticator->find_by_name(found.grant->key_name);
    if (found.state == auth::ClientSecretStore::State::expired) {
        metrics.auth_rejected(AuthRejection::client_secret_expired);
        return UpgradeRefusal{http::status::unauthorized, "invalid_api_key",
                              "this client secret has expired: ask POST /v1/realtime/client_secrets for a new one"};
    }
    if (!key) {  // never issued, already used, dropped after expiry, or its key was removed
        metrics.auth_rejected(AuthRejection::client_secret_unknown);
        return UpgradeRefusal{http::status::unauthorized, "invalid_api_key",
                              "unknown client secret: it was used, has expired, was never issued or its key "
                              "was removed"};
    }
    // A secret opens a new session only: a page that holds one must not be able to take
    // over a conversation by its id.
    if (!query_value(info.query, "session_id").empty()) {
        metrics.auth_rejected(AuthRejection::client_secret_resume);
        return UpgradeRefusal{http::status::forbidden, "resume_not_allowed",
                              "a client secret opens new sessions only: resume with the API key"};
    }
    return KeyAndGrant{std::move(key), found.grant};
}

}  // namespace

std::optional<UpgradeRefusal> admit_session_room(const UpgradeInfo& info, GatewayContext& gateway,
                                                 metrics::ShardMetrics& metrics) {
    return make_room_for_a_session(info, gateway, metrics);
}

std::vector<std::string_view> offered_subprotocols(const HttpRequest& request) {
    std::vector<std::string_view> tokens;
    std::string_view offered = request[http::field::sec_websocket_protocol];
    while (!offered.empty()) {
        const auto comma = offered.find(',');
        if (auto token = trim_blanks(offered.substr(0, comma)); !token.empty()) tokens.push_back(token);
        if (comma == std::string_view::npos) break;
        offered.remove_prefix(comma + 1);
    }
    return tokens;
}

std::optional<UpgradeRefusal> admit_upgrade(const HttpRequest& request, UpgradeInfo& info,
                                            GatewayContext& gateway, metrics::ShardMetrics& metrics) {
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
    if (gateway.resume_failures && !query_value(info.query, "session_id").empty() &&
        !gateway.resume_failures->may_try(info.peer_address, std::chrono::steady_clock::now())) {
        metrics.resumes_refused.inc();
        return UpgradeRefusal{http::status::too_many_requests, "rate_limit_exceeded",
                              "too many resumes of unknown sessions from this address "
                              "(limits.max_failed_resumes_per_minute_per_ip); retry later"};
    }
    if (auto refusal = make_room_for_a_session(info, gateway, metrics)) return refusal;
    if (!gateway.authenticator) return std::nullopt;  // auth.mode none

    const std::string_view secret = presented_key(request);
    if (secret.empty()) {
        metrics.auth_rejected(AuthRejection::missing_api_key);
        return UpgradeRefusal{http::status::unauthorized, "invalid_api_key",
                              "no API key: send 'Authorization: Bearer <key>' or the subprotocol "
                              "'openai-insecure-api-key.<key>'"};
    }
    std::shared_ptr<const auth::SecretGrant> grant;
    auto key = gateway.authenticator->authenticate(secret);
    if (!key && gateway.client_secrets && auth::ClientSecretStore::looks_like_secret(secret)) {
        auto redeemed = redeem_client_secret(secret, info, gateway, metrics);
        if (auto* refusal = std::get_if<UpgradeRefusal>(&redeemed)) return std::move(*refusal);
        std::tie(key, grant) = std::get<KeyAndGrant>(std::move(redeemed));
    }
    if (!key) {
        metrics.auth_rejected(AuthRejection::invalid_api_key);
        return UpgradeRefusal{http::status::unauthorized, "invalid_api_key", "incorrect API key provided"};
    }
    // A resumed session keeps its model when ?model= is absent; that model was allowed to
    // this key when the session began (resume is bound to the key).
    std::string model = query_value(info.query, "model");
    if (model.empty() && grant) model = grant->model;
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
    auto lease = std::make_shared<auth::SessionLease>(key->usage);
    // Used up only now that the session will open, so a refusal above (a model the key
    // may not use, its sessions all open) leaves the secret for a retry; of two
    // handshakes racing with one secret, one gets here first and the other is refused.
    if (grant && !gateway.client_secrets->consume(secret, auth::ClientSecretStore::Clock::now())) {
        metrics.auth_rejected(AuthRejection::client_secret_unknown);
        return UpgradeRefusal{http::status::unauthorized, "invalid_api_key",
                              "this client secret was just used by another connection"};
    }
    info.session_lease = std::move(lease);
    info.key = std::move(key);
    info.grant = std::move(grant);
    return std::nullopt;
}

}  // namespace voxgate::server
