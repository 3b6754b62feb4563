#pragma once
// What one shard knows about the health of one speech service of kind openai
// (speech_to_text or text_to_speech), and how its requests retry: the LLM providers'
// pieces (upstream/resilience/), one set per shard per service.
//
//   circuit breaker  opens after speech_*.circuit_breaker.consecutive_failures provider faults
//                    in a row (or the failure rate); while open every request fails at once
//                    without reaching the service; after cooldown_ms one request probes;
//   retries          resilience::decide_retry: transient failures (connect errors, lost
//                    connections, 408 409 429 5xx 529) up to max_retries, with backoff or the
//                    server's retry-after, never past the request's deadline (timeout_ms) and
//                    never after output was delivered (text-to-speech audio);
//   retry budget     retries in flight <= max(min_retries, fraction x attempts in flight).
//
// A request walks its attempts with a SpeechAttempts:
//     SpeechAttempts attempts(upstream);
//     if (!attempts.admit()) -> fail fast (circuit open)
//     ... attempt ... attempts.succeeded() | attempts.failed(fault)
//     decision = attempts.next_retry({transient, delivered, retry-after, time left})
//     decision.retry() -> wait decision.delay, admit() again; else fail
// Shard thread only.
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>

#include "upstream/resilience/circuit_breaker.hpp"
#include "upstream/resilience/retry_backoff.hpp"
#include "upstream/resilience/retry_budget.hpp"
#include "upstream/resilience/retry_decision.hpp"
#include "voxgate/config.hpp"

namespace voxgate::metrics {
struct ProviderMetrics;
}

namespace voxgate::speech {

class SpeechUpstream {
public:
    using Clock = std::chrono::steady_clock;

    // `service` names it in logs and errors ("speech_to_text"); `metrics` may be null.
    SpeechUpstream(std::string service, const SpeechResilienceConfig& config, metrics::ProviderMetrics* metrics,
                   upstream::resilience::RetryPolicy backoff = {});

    const std::string& service() const { return service_; }
    const SpeechResilienceConfig& config() const { return config_; }
    upstream::resilience::CircuitState circuit_state() const { return breaker_.state(); }

private:
    friend class SpeechAttempts;
    void publish_circuit_state(std::uint64_t opened_before);

    std::string service_;
    SpeechResilienceConfig config_;
    metrics::ProviderMetrics* metrics_;
    upstream::resilience::RetryPolicy backoff_;
    upstream::resilience::CircuitBreaker breaker_;
    upstream::resilience::RetryBudget budget_;
    std::minstd_rand jitter_random_;
};

// One request's attempts against a SpeechUpstream: what it holds of the breaker and the
// budget, released once, whatever way the request ends (destruction included).
class SpeechAttempts {
public:
    using Clock = SpeechUpstream::Clock;

    explicit SpeechAttempts(SpeechUpstream& upstream) : upstream_(upstream) {}
    ~SpeechAttempts() { release(); }
    SpeechAttempts(const SpeechAttempts&) = delete;
    SpeechAttempts& operator=(const SpeechAttempts&) = delete;

    // Before every attempt: false when the circuit is open (counted as a fast fail); the
    // request then fails without touching the service.
    bool admit();
    // The attempt's HTTP status (0: none, a transport failure or timeout), once per attempt.
    void count(int http_status);
    // The attempt's first response byte arrived.
    void first_byte();
    // The attempt's verdict on the service (once; later calls are ignored): it answered, or
    // it failed. `provider_fault` (resilience::is_provider_fault) counts against the breaker;
    // a failure that is no verdict (a 4xx) lets the next request probe.
    void succeeded();
    void failed(bool provider_fault);
    // After failed(): retry (the caller waits `delay`, then admit()s again) or give up.
    // `retries_made` and `max_retries` are filled in here; a retry the budget denies is
    // returned as `exhausted`.
    upstream::resilience::RetryDecision next_retry(upstream::resilience::FailedAttempt attempt);
    int retries_made() const { return retries_made_; }
    // The request ends (cancelled, or done): no verdict on an attempt still unjudged.
    void release();

private:
    enum class Verdict : std::uint8_t { success, failure, none };
    void judge(Verdict verdict);
    void release_retry_slot();

    SpeechUpstream& upstream_;
    Clock::time_point attempt_started_at_{};
    int retries_made_ = 0;
    bool in_attempt_ = false;   // admitted, not judged: holds one of the budget's active requests
    bool probing_ = false;      // the attempt is the breaker's half-open probe
    bool holds_retry_ = false;  // a granted retry not yet judged
    bool counted_ = false;
    bool got_byte_ = false;
};

}  // namespace voxgate::speech
