#include "server/twilio_admission.hpp"

#include "protocol/twilio/signature.hpp"
#include "server/upgrade_admission.hpp"

namespace voxgate::server {

std::optional<UpgradeRefusal> admit_twilio_upgrade(const HttpRequest& request, UpgradeInfo& info,
                                                   GatewayContext& gateway, metrics::ShardMetrics& metrics) {
    const TwilioConfig& twilio = gateway.config.twilio;
    if (!twilio.verifies_signatures()) return admit_upgrade(request, info, gateway, metrics);
    const std::string_view presented = request["X-Twilio-Signature"];
    const std::string url = twilio.public_url + std::string(request.target());
    if (presented.empty() || !protocol::twilio::signature_matches(twilio.auth_token, url, presented)) {
        metrics.auth_rejected(metrics::AuthRejection::twilio_signature);
        // The URL is what the operator needs to compare with the TwiML <Stream url>; it holds no secret.
        return UpgradeRefusal{http::status::forbidden, "invalid_signature",
                              presented.empty() ? "missing X-Twilio-Signature (twilio.auth_token_env is configured)"
                                                : "X-Twilio-Signature does not match " + url +
                                                      " (check twilio.public_url and the auth token)"};
    }
    return admit_session_room(info, gateway, metrics);
}

}  // namespace voxgate::server
