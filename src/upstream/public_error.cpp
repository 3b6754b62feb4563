#include "upstream/public_error.hpp"

namespace voxgate::upstream {

PublicError public_error(const UpstreamError& error) {
    if (error.code == "upstream_timeout") {
        return {"timeout", "upstream_timeout", "the model provider did not answer in time; try again"};
    }
    if (error.code == "upstream_overloaded") {
        return {"server_error", "upstream_overloaded", "the model providers are busy; try again shortly"};
    }
    if (error.code == "upstream_unavailable") {
        return {"server_error", "upstream_unavailable", "the model provider is unavailable; try again later"};
    }
    if (error.code == "upstream_malformed" || error.code == "upstream_truncated") {
        return {"server_error", "upstream_malformed", "the model provider sent a reply that could not be read; try again"};
    }
    // The gateway's own transport codes say what kind of failure it was, nothing about where.
    for (const char* code : {"upstream_connect_failed", "upstream_connection_lost", "upstream_tls_error"}) {
        if (error.code == code) return {"server_error", code, "the model provider failed; try again"};
    }
    if (error.http_status == 400 || error.http_status == 422) {
        if (error.code == "context_length_exceeded") {
            return {"invalid_request_error", "context_length_exceeded",
                    "the conversation is too long for the model; shorten it and try again"};
        }
        return {"invalid_request_error", "upstream_request_rejected", "the model provider rejected the request"};
    }
    if (error.http_status == 429) {
        return {"rate_limit_error", "upstream_rate_limited", "the model provider is rate limiting requests; try again shortly"};
    }
    return {"server_error", "upstream_error", "the model provider failed; try again"};
}

}  // namespace voxgate::upstream
