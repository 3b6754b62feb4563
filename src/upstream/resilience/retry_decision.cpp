#include "upstream/resilience/retry_decision.hpp"

#include "upstream/curl_error.hpp"

namespace voxgate::upstream::resilience {

std::string_view retry_verdict_name(RetryVerdict verdict) {
    switch (verdict) {
        case RetryVerdict::retry: return "retry";
        case RetryVerdict::permanent: return "permanent";
        case RetryVerdict::delivered: return "delivered";
        case RetryVerdict::exhausted: return "exhausted";
        case RetryVerdict::no_time: return "no_time";
    }
    return "permanent";
}

RetryDecision decide_retry(const RetryPolicy& backoff, const FailedAttempt& attempt, std::minstd_rand& random) {
    if (attempt.delivered) return {RetryVerdict::delivered};
    if (!attempt.transient) return {RetryVerdict::permanent};
    if (attempt.retries_made >= attempt.max_retries) return {RetryVerdict::exhausted};
    const auto delay = retry_delay(backoff, attempt.retries_made, attempt.server_delay, random);
    if (delay >= attempt.time_left) return {RetryVerdict::no_time};
    return {RetryVerdict::retry, delay};
}

TransportFailure classify_transport_failure(const error_code& ec) {
    if (is_tls_verification_failure(ec)) return TransportFailure::tls_verification;
    if (is_connect_failure(ec)) return TransportFailure::connect;
    if (ec.category() == transfer_category()) return TransportFailure::malformed;
    return TransportFailure::connection_lost;
}

}  // namespace voxgate::upstream::resilience
