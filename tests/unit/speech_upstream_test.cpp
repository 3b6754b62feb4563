// SpeechAttempts over a SpeechUpstream without sockets: the bookkeeping the openai speech
// services do around each attempt (breaker verdicts, the retry budget, the metrics).
#include <gtest/gtest.h>

#include <chrono>

#include "metrics/shard_metrics.hpp"
#include "speech/speech_upstream.hpp"

namespace voxgate::speech {
namespace {

using namespace std::chrono_literals;
using upstream::resilience::CircuitState;
using upstream::resilience::FailedAttempt;
using upstream::resilience::RetryVerdict;

FailedAttempt transient_with_time() {
    FailedAttempt attempt;
    attempt.transient = true;
    attempt.time_left = 30s;
    return attempt;
}

TEST(SpeechAttempts, ARetryTheBudgetDeniesIsNotMadeAndIsCounted) {
    SpeechResilienceConfig config;
    config.retry_budget.fraction = 0;
    config.retry_budget.min_retries = 1;  // one retry in flight at a time on this shard
    metrics::ProviderMetrics metrics;
    SpeechUpstream upstream("text_to_speech", config, &metrics);

    SpeechAttempts first(upstream), second(upstream);
    ASSERT_TRUE(first.admit());
    ASSERT_TRUE(second.admit());
    first.failed(true);
    second.failed(true);
    EXPECT_TRUE(first.next_retry(transient_with_time()).retry());
    EXPECT_EQ(second.next_retry(transient_with_time()).verdict, RetryVerdict::exhausted);  // denied
    EXPECT_EQ(metrics.retries.value(), 1u);
    EXPECT_EQ(metrics.retries_denied.value(), 1u);
    EXPECT_EQ(second.retries_made(), 0);

    // The granted retry ends with its attempt's verdict: the budget has room again.
    ASSERT_TRUE(first.admit());
    first.succeeded();
    ASSERT_TRUE(second.admit());
    second.failed(true);
    EXPECT_TRUE(second.next_retry(transient_with_time()).retry());
}

TEST(SpeechAttempts, MaxRetriesAndTheVerdictsReachTheBreakerAndItsMetrics) {
    SpeechResilienceConfig config;
    config.max_retries = 1;
    config.circuit_breaker.consecutive_failures = 2;
    config.circuit_breaker.cooldown = 1h;
    metrics::ProviderMetrics metrics;
    SpeechUpstream upstream("speech_to_text", config, &metrics);

    SpeechAttempts request(upstream);
    ASSERT_TRUE(request.admit());
    request.count(503);
    request.failed(true);
    ASSERT_TRUE(request.next_retry(transient_with_time()).retry());
    ASSERT_TRUE(request.admit());
    request.count(503);
    request.failed(true);
    EXPECT_EQ(request.next_retry(transient_with_time()).verdict, RetryVerdict::exhausted);  // max_retries 1
    EXPECT_EQ(upstream.circuit_state(), CircuitState::open);
    EXPECT_EQ(metrics.circuit_opened.value(), 1u);
    EXPECT_EQ(metrics.circuit_state.value(), 1);

    SpeechAttempts refused(upstream);
    EXPECT_FALSE(refused.admit());
    EXPECT_EQ(metrics.circuit_fast_fails.value(), 1u);
    std::uint64_t with_503 = 0;
    metrics.requests.for_each_nonzero([&](int code, std::uint64_t n) {
        if (code == 503) with_503 = n;
    });
    EXPECT_EQ(with_503, 2u);
}

TEST(SpeechAttempts, AFailureThatIsNoVerdictNeverOpensTheCircuitAndAReleaseHoldsNothing) {
    SpeechResilienceConfig config;
    config.circuit_breaker.consecutive_failures = 1;
    SpeechUpstream upstream("speech_to_text", config, nullptr);  // no metrics: nothing to count
    for (int i = 0; i < 5; ++i) {
        SpeechAttempts request(upstream);
        ASSERT_TRUE(request.admit());
        request.failed(false);  // a 4xx
    }
    EXPECT_EQ(upstream.circuit_state(), CircuitState::closed);
    {
        SpeechAttempts cancelled(upstream);
        ASSERT_TRUE(cancelled.admit());
    }  // destroyed mid-attempt: no verdict
    EXPECT_EQ(upstream.circuit_state(), CircuitState::closed);
}

}  // namespace
}  // namespace voxgate::speech
