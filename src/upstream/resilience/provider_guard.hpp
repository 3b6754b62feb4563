#pragma once
// What one shard knows about the health of one provider: its circuit breaker, its retry
// budget and its pending-request limit, built from the provider's config. The engine keeps
// one per provider and asks it before every attempt (docs/design.md "Resilience").
#include <cstdint>
#include <string_view>

#include "upstream/resilience/circuit_breaker.hpp"
#include "upstream/resilience/pending_limit.hpp"
#include "upstream/resilience/retry_budget.hpp"
#include "voxgate/config.hpp"

namespace voxgate::upstream::resilience {

struct ProviderGuard {
    explicit ProviderGuard(const ProviderConfig& config)
        : breaker(config.circuit_breaker), retries(config.retry_budget), pending(config.max_pending_requests) {}

    CircuitBreaker breaker;
    RetryBudget retries;
    PendingLimit pending;
};

// Whether a failed attempt says something about the provider's health (circuit breaker):
// it could not be reached (connect error, connection lost), it was too slow (timeout), it
// failed (5xx, an in-stream server error) or it was overloaded (429, 529). A request the
// provider refused as wrong (4xx), a TLS or configuration problem, and a cancel are not.
inline bool is_provider_fault(int http_status, std::string_view code, bool retryable) {
    if (http_status >= 500 || http_status == 429) return true;
    if (http_status != 0) return false;
    return code == "upstream_connect_failed" || code == "upstream_timeout" || code == "upstream_connection_lost" ||
           retryable;
}

}  // namespace voxgate::upstream::resilience
