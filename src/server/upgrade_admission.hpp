#pragma once
// What a /v1/realtime upgrade must pass before the 101, in order: a browser Origin in
// auth.allowed_origins; with auth.mode api_keys a valid key (Authorization: Bearer, or
// the openai-insecure-api-key.<key> subprotocol browsers use), a ?model= the key may
// use, and a free session slot of the key. A refusal is an HTTP error with a JSON reason
// (401 invalid_api_key, 403 origin_not_allowed / model_not_allowed, 429
// rate_limit_exceeded); the key itself never appears in it or in a log. A resume
// (?session_id=) from an address that used up its failed resumes is refused with 429; a
// full session store (sessions.max_stored, all live) with 503 session_store_full.
// An ephemeral client secret ("ek_...", POST /v1/realtime/client_secrets) is accepted
// wherever a key is: it stands for its key, opens one new session (401 once used or
// expired, 403 resume_not_allowed with ?session_id=) and brings that session's settings.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/gateway_context.hpp"
#include "server/http_routes.hpp"

namespace voxgate::server {

// The prefix of the subprotocol that carries a client key (docs/wire-protocols.md 1.1).
inline constexpr std::string_view api_key_subprotocol_prefix = "openai-insecure-api-key.";

// The tokens of Sec-WebSocket-Protocol, trimmed, in order.
std::vector<std::string_view> offered_subprotocols(const HttpRequest& request);

// info.query and info.peer_address must be set. On success sets info.key and
// info.session_lease (api_keys mode), and info.grant for a client secret; otherwise returns the
// refusal to send and counts it in `metrics`.
std::optional<UpgradeRefusal> admit_upgrade(const HttpRequest& request, UpgradeInfo& info,
                                            GatewayContext& gateway, metrics::ShardMetrics& metrics);

// sessions.max_stored alone (part of admit_upgrade): makes room for a new session or
// refuses with 503 session_store_full. For endpoints with an admission of their own.
std::optional<UpgradeRefusal> admit_session_room(const UpgradeInfo& info, GatewayContext& gateway,
                                                 metrics::ShardMetrics& metrics);

}  // namespace voxgate::server
