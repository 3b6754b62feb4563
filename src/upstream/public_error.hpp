#pragma once
// What a client may learn about an upstream failure (issue 8, section 5): a stable type and
// code and a fixed, generic message. Never the provider's own words (its error body may
// quote our key, an org or project id, quota and billing state), never curl's text (host
// names and IPs of internal services), never a configuration hint. The full detail goes
// to the log, with the session id, by whoever holds the session.
//
//   code                       type                    when
//   upstream_timeout           timeout                 connect, first token, idle or total time ran out
//   upstream_rate_limited      rate_limit_error        the provider answered 429 (after retries and fallback)
//   upstream_overloaded        server_error            max_pending_requests reached on every provider of the route
//   upstream_unavailable       server_error            every provider's circuit breaker is open
//   upstream_request_rejected  invalid_request_error   400/422: the request itself was refused
//   context_length_exceeded    invalid_request_error   a 400 that says so: the client can shorten its input
//   upstream_malformed         server_error            a stream that could not be read, or was cut short
//   upstream_connect_failed,   server_error            the transport failed (the gateway's own codes;
//   upstream_connection_lost,                          the message is the generic one below)
//   upstream_tls_error
//   upstream_error             server_error            everything else: 401/403/404, 5xx, in-stream errors
#include <string>

#include "upstream/provider_codec.hpp"

namespace voxgate::upstream {

struct PublicError {
    std::string type;
    std::string code;
    std::string message;
};

PublicError public_error(const UpstreamError& error);

}  // namespace voxgate::upstream
