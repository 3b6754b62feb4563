#pragma once
// POST /v1/realtime/client_secrets: trades a client API key (Authorization: Bearer) for
// an ephemeral client secret that a browser may hold, as OpenAI's service does. The
// answer is {"value":"ek_...","expires_at":<unix seconds>,"session":{...}}; the request
// body may carry {"session":{...}} (the session's initial settings, checked exactly as a
// session.update is) and {"expires_after":{"anchor":"created_at","seconds":N}}, N capped
// at auth.client_secret_ttl_seconds. A secret cannot mint another: only a key is accepted
// here. With auth.mode none there is no key to bind a secret to, so the endpoint answers
// 404 (clients connect without one), instead of handing out credentials that mean nothing.
#include "server/http_routes.hpp"

namespace voxgate::server {

struct GatewayContext;

inline constexpr std::string_view client_secrets_path = "/v1/realtime/client_secrets";

HttpResponse client_secrets_response(const HttpRequest& request, GatewayContext& gateway,
                                     metrics::ShardMetrics& metrics);

}  // namespace voxgate::server
