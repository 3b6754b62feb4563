#include "server/client_secrets_endpoint.hpp"

#include <algorithm>

#include "auth/client_secret_store.hpp"
#include "auth/key_usage.hpp"
#include "protocol/json_fields.hpp"
#include "protocol/session_settings.hpp"
#include "server/gateway_context.hpp"

namespace voxgate::server {

namespace {

using protocol::Json;
using protocol::OrderedJson;
using protocol::ProtocolError;

HttpResponse json_response(http::status status, const OrderedJson& body, const HttpRequest& request) {
    HttpResponse response{status, request.version()};
    response.set(http::field::server, "voxgate");
    response.set(http::field::content_type, "application/json");
    response.set(http::field::cache_control, "no-store");  // a secret must not sit in a cache
    response.keep_alive(request.keep_alive());
    response.body() = protocol::to_text(body);
    response.body().push_back('\n');
    response.prepare_payload();
    return response;
}

HttpResponse refusal(http::status status, std::string_view type, std::string_view message, const HttpRequest& request) {
    return error_response(status, type, message, request.version(), request.keep_alive());
}

// A 400 for a body that does not decode: type, code, message and param as a Realtime
// error event has them, so a client reads both the same way.
HttpResponse invalid_body(const ProtocolError& error, const HttpRequest& request) {
    OrderedJson body = {{"error", {{"type", "invalid_request_error"}, {"code", error.code}, {"message", error.message}}}};
    body["error"]["param"] = error.param.empty() ? OrderedJson(nullptr) : OrderedJson(error.param);
    return json_response(http::status::bad_request, body, request);
}

// What the body asks for; every field is optional and an empty body is {}.
struct SecretRequest {
    std::optional<protocol::SessionPatch> session;
    std::optional<std::int64_t> seconds;  // expires_after.seconds
};

std::optional<SecretRequest> decode_body(std::string_view text, std::optional<ProtocolError>& error) {
    using protocol::codes::invalid_json;
    using protocol::codes::invalid_value;
    SecretRequest out;
    if (std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }))
        return out;
    if (protocol::nesting_exceeds(text, protocol::max_json_depth)) {
        error = protocol::invalid_request(invalid_json, "the body nests deeper than 64 levels");
        return std::nullopt;
    }
    const Json body = Json::parse(text, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        error = protocol::invalid_request(invalid_json, "the body must be a JSON object");
        return std::nullopt;
    }
    protocol::Fields fields(body, "", error);
    if (const Json* expires_after = fields.object("expires_after")) {
        protocol::Fields expiry = fields.child(*expires_after, "expires_after");
        if (auto anchor = expiry.string("anchor"); anchor && *anchor != "created_at")
            expiry.fail(invalid_value, "anchor", "'expires_after.anchor' must be \"created_at\"");
        out.seconds = expiry.integer("seconds", true);
        if (out.seconds && *out.seconds < 1)
            expiry.fail(invalid_value, "seconds", "'expires_after.seconds' must be at least 1");
    }
    if (const Json* session = fields.get("session"); session && fields.ok())
        out.session = protocol::decode_session_patch(*session, error);
    if (error) return std::nullopt;
    return out;
}

}  // namespace

HttpResponse client_secrets_response(const HttpRequest& request, GatewayContext& gateway,
                                     metrics::ShardMetrics& metrics) {
    using metrics::AuthRejection;
    if (request.method() != http::verb::post) {
        auto response = refusal(http::status::method_not_allowed, "method_not_allowed",
                                std::string(request.method_string()) + " is not allowed on " +
                                    std::string(client_secrets_path) + ": POST a JSON body",
                                request);
        response.set(http::field::allow, "POST");
        return response;
    }
    if (!gateway.authenticator || !gateway.client_secrets)
        return refusal(http::status::not_found, "not_found",
                       "client secrets need auth.mode api_keys; with auth.mode none connect to /v1/realtime "
                       "without a key",
                       request);
    const AuthConfig& auth = gateway.config.auth;
    if (auto origin = request.find(http::field::origin); origin != request.end() && !auth.allowed_origins.empty() &&
        std::find(auth.allowed_origins.begin(), auth.allowed_origins.end(), origin->value()) ==
            auth.allowed_origins.end()) {
        metrics.auth_rejected(AuthRejection::origin_not_allowed);
        return refusal(http::status::forbidden, "origin_not_allowed", "this Origin is not in auth.allowed_origins",
                       request);
    }
    const std::string_view credential = bearer_credential(request[http::field::authorization]);
    if (credential.empty()) {
        metrics.auth_rejected(AuthRejection::missing_api_key);
        auto response = refusal(http::status::unauthorized, "invalid_api_key",
                                "no API key: send 'Authorization: Bearer <key>'", request);
        response.set(http::field::www_authenticate, "Bearer");
        return response;
    }
    auto key = gateway.authenticator->authenticate(credential);
    if (!key) {
        metrics.auth_rejected(AuthRejection::invalid_api_key);
        // An ek_ secret lands here too: a secret cannot renew itself.
        return refusal(http::status::unauthorized, "invalid_api_key",
                       auth::ClientSecretStore::looks_like_secret(credential)
                           ? "a client secret cannot issue client secrets: send an API key"
                           : "incorrect API key provided",
                       request);
    }
    if (gateway.refusing_new_work.load(std::memory_order_relaxed))
        return refusal(http::status::service_unavailable, "unavailable", "server is shutting down", request);

    std::optional<ProtocolError> error;
    auto body = decode_body(request.body(), error);
    if (!body) return invalid_body(*error, request);

    auth::SecretGrant grant;
    grant.key_name = key->name;
    auto settings = protocol::SessionSettings::from_config(gateway.config.sessions);
    grant.model = gateway.config.sessions.default_model;
    if (body->session) {
        if (body->session->model) grant.model = *body->session->model;
        // As session.update would refuse it: a gateway that cannot speak does not promise audio.
        if (body->session->output == protocol::OutputModality::audio && gateway.config.text_to_speech.kind == "none")
            return invalid_body(protocol::invalid_request(protocol::codes::unsupported_modality,
                                                          "this gateway does not speak (text_to_speech.kind is none): "
                                                          "'session.output_modalities' must be [\"text\"]",
                                                          "session.output_modalities"),
                                request);
        protocol::apply_patch(settings, *body->session);
    }
    if (!auth::allows_model(*key, grant.model)) {
        metrics.auth_rejected(AuthRejection::model_not_allowed);
        return refusal(http::status::forbidden, "model_not_allowed",
                       "key '" + key->name + "' may not use model '" + protocol::shortened(grant.model) + "'", request);
    }
    if (protocol::stored_bytes(settings) > gateway.config.limits.max_conversation_bytes) {
        return invalid_body(protocol::invalid_request(protocol::codes::conversation_too_large,
                                                      "the session settings alone exceed limits.max_conversation_bytes",
                                                      "session"),
                            request);
    }
    const OrderedJson session = [&] {
        auto json = protocol::session_json("", grant.model, settings);
        json.erase("id");  // a session has an id once it is opened
        return json;
    }();
    grant.settings = std::make_shared<const protocol::SessionSettings>(std::move(settings));

    auto ttl = auth.client_secret_ttl;
    if (body->seconds) ttl = std::min(ttl, std::chrono::seconds(*body->seconds));
    const auto now = auth::ClientSecretStore::Clock::now();
    auto issued = gateway.client_secrets->issue(std::move(grant), ttl, now);
    if (!issued) {
        metrics.client_secrets_store_full.inc();
        auto response = refusal(http::status::service_unavailable, "client_secret_store_full",
                                "auth.max_client_secrets client secrets are outstanding; retry later", request);
        response.set(http::field::retry_after, "1");
        return response;
    }
    metrics.client_secrets_issued.inc();
    const auto expires_at =
        std::chrono::duration_cast<std::chrono::seconds>(issued->expires_at.time_since_epoch()).count();
    return json_response(http::status::ok,
                         OrderedJson{{"value", std::move(issued->value)}, {"expires_at", expires_at}, {"session", session}},
                         request);
}

}  // namespace voxgate::server
