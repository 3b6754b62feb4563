#pragma once
// The one retry decision for every upstream family (llm, stt, tts; docs/design.md
// "Resilience"): after an attempt failed, retry the same upstream after a delay, or give up.
//
//   output already delivered give up: a retry would repeat what the consumer has (the first
//                            LLM token, the first TTS audio byte), whatever the failure;
//   not transient            give up: the same request would fail the same way (4xx, TLS
//                            verification, a malformed reply, an exhausted quota);
//   retries_made >= max      give up: this request's retries are used;
//   delay >= time left       give up: the retry could not finish before the deadline;
//   else                     retry after the server's retry-after, else backoff_delay.
//
// The order is the order of the checks, so a verdict says the first reason that applied.
// Whether the shard's retry budget still grants the retry is the caller's next question
// (RetryBudget), asked only for a `retry` verdict. Pure: the caller supplies the time left
// and the random source.
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string_view>

#include "upstream/resilience/retry_backoff.hpp"
#include "voxgate/net.hpp"

namespace voxgate::upstream::resilience {

// One failed attempt of a request, as the decision needs it.
struct FailedAttempt {
    int retries_made = 0;    // retries of this request before the attempt that failed
    int max_retries = 0;     // the upstream's max_retries
    bool transient = false;  // the failure may pass (is_retryable_status, is_transient(TransportFailure), a codec)
    bool delivered = false;  // output of this request already reached the consumer
    std::optional<std::chrono::milliseconds> server_delay;  // retry-after (parse_retry_after: bounded)
    std::chrono::steady_clock::duration time_left{};        // until the request's deadline (may be negative)
};

enum class RetryVerdict : std::uint8_t { retry, delivered, permanent, exhausted, no_time };
std::string_view retry_verdict_name(RetryVerdict verdict);

struct RetryDecision {
    RetryVerdict verdict = RetryVerdict::permanent;
    std::chrono::milliseconds delay{0};  // the wait before the retry; 0 unless verdict is retry
    bool retry() const { return verdict == RetryVerdict::retry; }
};

// `random` is drawn from only when the delay is computed (a transient failure with retries
// and output left).
RetryDecision decide_retry(const RetryPolicy& backoff, const FailedAttempt& attempt, std::minstd_rand& random);

// What a transport failure (error_code of a Transfer) means for a retry and for the breaker.
enum class TransportFailure : std::uint8_t {
    tls_verification,  // certificate or host name did not verify: configuration, never retried
    connect,           // DNS, TCP connect, TLS handshake: nothing reached the server
    malformed,         // our Transfer refused the reply (headers too large...): never retried
    connection_lost,   // reset or cut after the request went out
};
TransportFailure classify_transport_failure(const error_code& ec);
inline bool is_transient(TransportFailure failure) {
    return failure == TransportFailure::connect || failure == TransportFailure::connection_lost;
}

}  // namespace voxgate::upstream::resilience
