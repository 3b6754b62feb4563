#pragma once
// Who may open /v1/twilio. With twilio.auth_token configured: only Twilio, proven by
// X-Twilio-Signature = base64(HMAC-SHA1(token, twilio.public_url + request target));
// missing or wrong -> 403 invalid_signature before the upgrade (the session store's room is
// then checked as for any session). The call's session has no client key, so per-key
// limits do not apply to it. Without a token: exactly /v1/realtime's admission (auth.mode:
// open with none, a key with api_keys, which Twilio itself cannot send, so a signed set-up
// is what a real number needs).
#include <optional>

#include "server/gateway_context.hpp"

namespace voxgate::server {

std::optional<UpgradeRefusal> admit_twilio_upgrade(const HttpRequest& request, UpgradeInfo& info,
                                                   GatewayContext& gateway, metrics::ShardMetrics& metrics);

}  // namespace voxgate::server
