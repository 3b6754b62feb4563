// The pure resilience pieces of every upstream family (src/upstream/resilience/), driven with
// explicit times: backoff, the retry decision, the retry budget, the circuit breaker and the
// pending limit.
#include <gtest/gtest.h>

#include "upstream/resilience/circuit_breaker.hpp"
#include "upstream/resilience/pending_limit.hpp"
#include "upstream/resilience/retry_backoff.hpp"
#include "upstream/resilience/retry_budget.hpp"
#include "upstream/resilience/retry_decision.hpp"
#include "upstream/curl_error.hpp"

namespace voxgate::upstream::resilience {
namespace {

using std::chrono::milliseconds;
using Admission = CircuitBreaker::Admission;
const CircuitBreaker::Clock::time_point t0 = CircuitBreaker::Clock::time_point{} + std::chrono::hours(1);

TEST(RetryBackoff, GrowsExponentiallyUpToTheCapWithinTheJitter) {
    RetryPolicy policy;  // 250 ms x 2^n, cap 8 s, +-25 %
    std::minstd_rand random(7);
    for (int retry = 0; retry < 10; ++retry) {
        const double nominal = std::min(250.0 * (1 << retry), 8000.0);
        for (int sample = 0; sample < 50; ++sample) {
            const auto delay = backoff_delay(policy, retry, random).count();
            EXPECT_GE(delay, static_cast<long long>(nominal * 0.75) - 1) << retry;
            EXPECT_LE(delay, static_cast<long long>(nominal * 1.25)) << retry;
        }
    }
}

TEST(RetryBackoff, AServersRetryAfterReplacesTheBackoff) {
    std::minstd_rand random(1);
    EXPECT_EQ(retry_delay(RetryPolicy{}, 3, milliseconds(1500), random), milliseconds(1500));
    RetryPolicy no_jitter;
    no_jitter.jitter = 0;
    EXPECT_EQ(retry_delay(no_jitter, 1, std::nullopt, random), milliseconds(500));
}

// decide_retry: one test per branch, each where exactly that reason applies.

RetryPolicy no_jitter_policy() {
    RetryPolicy policy;  // 250 ms x 2^n
    policy.jitter = 0;
    return policy;
}

FailedAttempt transient_failure() {
    FailedAttempt attempt;
    attempt.max_retries = 2;
    attempt.transient = true;
    attempt.time_left = std::chrono::seconds(30);
    return attempt;
}

TEST(RetryDecision, ATransientFailureWithRetriesAndTimeLeftIsRetriedAfterTheBackoff) {
    std::minstd_rand random(1);
    FailedAttempt attempt = transient_failure();
    auto decision = decide_retry(no_jitter_policy(), attempt, random);
    EXPECT_TRUE(decision.retry());
    EXPECT_EQ(decision.verdict, RetryVerdict::retry);
    EXPECT_EQ(decision.delay, milliseconds(250));
    attempt.retries_made = 1;  // the second retry waits twice as long
    EXPECT_EQ(decide_retry(no_jitter_policy(), attempt, random).delay, milliseconds(500));
}

TEST(RetryDecision, AServersRetryAfterIsTheDelay) {
    std::minstd_rand random(1);
    FailedAttempt attempt = transient_failure();
    attempt.server_delay = milliseconds(1200);
    const auto decision = decide_retry(RetryPolicy{}, attempt, random);
    EXPECT_TRUE(decision.retry());
    EXPECT_EQ(decision.delay, milliseconds(1200));
}

TEST(RetryDecision, APermanentFailureIsNeverRetried) {
    std::minstd_rand random(1);
    FailedAttempt attempt = transient_failure();
    attempt.transient = false;  // a 400, a TLS verification failure, an exhausted quota
    const auto decision = decide_retry(RetryPolicy{}, attempt, random);
    EXPECT_FALSE(decision.retry());
    EXPECT_EQ(decision.verdict, RetryVerdict::permanent);
    EXPECT_EQ(decision.delay, milliseconds(0));
}

TEST(RetryDecision, AfterOutputWasDeliveredNothingIsRetriedWhateverTheFailure) {
    std::minstd_rand random(1);
    FailedAttempt attempt = transient_failure();
    attempt.delivered = true;
    EXPECT_EQ(decide_retry(RetryPolicy{}, attempt, random).verdict, RetryVerdict::delivered);
    attempt.transient = false;  // delivered is the first reason: the caller must not move on either
    EXPECT_EQ(decide_retry(RetryPolicy{}, attempt, random).verdict, RetryVerdict::delivered);
}

TEST(RetryDecision, UsedRetriesEndTheRetrying) {
    std::minstd_rand random(1);
    FailedAttempt attempt = transient_failure();
    attempt.retries_made = 2;
    EXPECT_EQ(decide_retry(RetryPolicy{}, attempt, random).verdict, RetryVerdict::exhausted);
    attempt.retries_made = 0;
    attempt.max_retries = 0;  // max_retries 0: never
    EXPECT_EQ(decide_retry(RetryPolicy{}, attempt, random).verdict, RetryVerdict::exhausted);
}

TEST(RetryDecision, ARetryThatCouldNotStartBeforeTheDeadlineIsNotMade) {
    std::minstd_rand random(1);
    FailedAttempt attempt = transient_failure();
    attempt.time_left = milliseconds(250);  // the delay is 250 ms: nothing left for the attempt
    EXPECT_EQ(decide_retry(no_jitter_policy(), attempt, random).verdict, RetryVerdict::no_time);
    attempt.time_left = milliseconds(251);
    EXPECT_TRUE(decide_retry(no_jitter_policy(), attempt, random).retry());
    attempt.time_left = -milliseconds(5);  // already past it
    EXPECT_EQ(decide_retry(no_jitter_policy(), attempt, random).verdict, RetryVerdict::no_time);
    attempt.time_left = std::chrono::seconds(1);
    attempt.server_delay = milliseconds(2000);  // the server asks for longer than there is
    EXPECT_EQ(decide_retry(no_jitter_policy(), attempt, random).verdict, RetryVerdict::no_time);
}

TEST(RetryDecision, VerdictsHaveStableNames) {
    EXPECT_EQ(retry_verdict_name(RetryVerdict::retry), "retry");
    EXPECT_EQ(retry_verdict_name(RetryVerdict::delivered), "delivered");
    EXPECT_EQ(retry_verdict_name(RetryVerdict::permanent), "permanent");
    EXPECT_EQ(retry_verdict_name(RetryVerdict::exhausted), "exhausted");
    EXPECT_EQ(retry_verdict_name(RetryVerdict::no_time), "no_time");
}

TEST(TransportFailure, ConnectAndLostConnectionsAreTransientTlsVerificationAndOurRefusalsAreNot) {
    const auto refused = make_error_code(CURLE_COULDNT_CONNECT);
    const auto dns = make_error_code(CURLE_COULDNT_RESOLVE_HOST);
    const auto connect_timeout = make_error_code(CURLE_OPERATION_TIMEDOUT);
    const auto certificate = make_error_code(CURLE_PEER_FAILED_VERIFICATION);
    const auto reset = make_error_code(CURLE_RECV_ERROR);
    const auto headers = make_error_code(transfer_errc::response_headers_too_large);
    EXPECT_EQ(classify_transport_failure(refused), TransportFailure::connect);
    EXPECT_EQ(classify_transport_failure(dns), TransportFailure::connect);
    EXPECT_EQ(classify_transport_failure(connect_timeout), TransportFailure::connect);
    EXPECT_EQ(classify_transport_failure(certificate), TransportFailure::tls_verification);
    EXPECT_EQ(classify_transport_failure(reset), TransportFailure::connection_lost);
    EXPECT_EQ(classify_transport_failure(headers), TransportFailure::malformed);
    EXPECT_TRUE(is_transient(TransportFailure::connect));
    EXPECT_TRUE(is_transient(TransportFailure::connection_lost));
    EXPECT_FALSE(is_transient(TransportFailure::tls_verification));
    EXPECT_FALSE(is_transient(TransportFailure::malformed));
}

TEST(RetryBudget, AllowsTheMinimumWhateverTheLoad) {
    RetryBudget budget;  // 20 %, min 3
    budget.request_started();
    EXPECT_TRUE(budget.try_acquire_retry());
    EXPECT_TRUE(budget.try_acquire_retry());
    EXPECT_TRUE(budget.try_acquire_retry());
    EXPECT_FALSE(budget.try_acquire_retry());
    budget.retry_ended();
    EXPECT_TRUE(budget.try_acquire_retry());  // one ended: room for one more
}

TEST(RetryBudget, RetriesInFlightStayAtTheFractionOfActiveRequests) {
    RetryBudget budget(RetryBudgetOptions{0.2, 3});
    for (int i = 0; i < 100; ++i) budget.request_started();
    int granted = 0;
    for (int i = 0; i < 100; ++i) granted += budget.try_acquire_retry() ? 1 : 0;
    EXPECT_EQ(granted, 20);
    EXPECT_EQ(budget.retries_in_flight(), 20u);
    for (int i = 0; i < 90; ++i) budget.request_ended();  // load falls to 10: back to the minimum
    EXPECT_EQ(budget.allowed_retries(), 3u);
    EXPECT_FALSE(budget.try_acquire_retry());
}

TEST(RetryBudget, UnbalancedEndsNeverWrapAround) {
    RetryBudget budget;
    budget.request_ended();
    budget.retry_ended();
    EXPECT_EQ(budget.active_requests(), 0u);
    EXPECT_EQ(budget.retries_in_flight(), 0u);
}

TEST(CircuitBreaker, OpensAfterConsecutiveFailuresAndRefusesUntilTheCooldown) {
    CircuitBreaker breaker;  // 5 in a row, 10 s cool-down
    for (int i = 0; i < 4; ++i) {
        ASSERT_EQ(breaker.admit(t0), Admission::allowed);
        breaker.record_failure(t0);
    }
    EXPECT_EQ(breaker.state(), CircuitState::closed);
    breaker.record_failure(t0);
    EXPECT_EQ(breaker.state(), CircuitState::open);
    EXPECT_EQ(breaker.times_opened(), 1u);
    EXPECT_EQ(breaker.admit(t0 + milliseconds(9999)), Admission::refused);
    EXPECT_EQ(breaker.state(), CircuitState::open);
}

TEST(CircuitBreaker, ASuccessResetsTheConsecutiveCount) {
    CircuitBreaker breaker;
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 4; ++i) breaker.record_failure(t0);
        breaker.record_success(t0);
    }
    // 12 failures, never 5 in a row; 80 % failed but fewer than min_requests (20) ended.
    EXPECT_EQ(breaker.state(), CircuitState::closed);
}

TEST(CircuitBreaker, HalfOpenLetsOneProbeThroughAndItsSuccessCloses) {
    CircuitBreaker breaker;
    for (int i = 0; i < 5; ++i) breaker.record_failure(t0);
    const auto later = t0 + milliseconds(10000);
    EXPECT_EQ(breaker.admit(later), Admission::probe);
    EXPECT_EQ(breaker.state(), CircuitState::half_open);
    EXPECT_EQ(breaker.admit(later), Admission::refused);  // one probe at a time
    breaker.record_success(later);
    EXPECT_EQ(breaker.state(), CircuitState::closed);
    EXPECT_EQ(breaker.admit(later), Admission::allowed);
    // The outage's failures are forgotten: it takes 5 new ones to open again.
    for (int i = 0; i < 4; ++i) breaker.record_failure(later);
    EXPECT_EQ(breaker.state(), CircuitState::closed);
}

TEST(CircuitBreaker, AFailedProbeOpensForAnotherCooldown) {
    CircuitBreaker breaker;
    for (int i = 0; i < 5; ++i) breaker.record_failure(t0);
    const auto probe_at = t0 + milliseconds(10000);
    ASSERT_EQ(breaker.admit(probe_at), Admission::probe);
    breaker.record_failure(probe_at + milliseconds(50));
    EXPECT_EQ(breaker.state(), CircuitState::open);
    EXPECT_EQ(breaker.times_opened(), 2u);
    EXPECT_EQ(breaker.admit(probe_at + milliseconds(5000)), Admission::refused);
    EXPECT_EQ(breaker.admit(probe_at + milliseconds(10050)), Admission::probe);
}

TEST(CircuitBreaker, AnAbandonedProbeLetsTheNextRequestProbe) {
    CircuitBreaker breaker;
    for (int i = 0; i < 5; ++i) breaker.record_failure(t0);
    const auto later = t0 + milliseconds(10000);
    ASSERT_EQ(breaker.admit(later), Admission::probe);
    breaker.probe_abandoned();  // the client cancelled it
    EXPECT_EQ(breaker.state(), CircuitState::half_open);
    EXPECT_EQ(breaker.admit(later), Admission::probe);
}

TEST(CircuitBreaker, OpensOnAFailureRateOverTheWindow) {
    CircuitBreakerOptions options;
    options.consecutive_failures = 100;  // only the rate rule
    options.failure_rate = 0.5;
    options.min_requests = 20;
    CircuitBreaker breaker(options);
    // Alternating: 50 % is not over 50 %.
    for (int i = 0; i < 10; ++i) {
        breaker.record_success(t0 + milliseconds(i * 10));
        breaker.record_failure(t0 + milliseconds(i * 10));
    }
    EXPECT_EQ(breaker.state(), CircuitState::closed);
    breaker.record_failure(t0 + milliseconds(200));  // 11 of 21
    EXPECT_EQ(breaker.state(), CircuitState::open);
}

TEST(CircuitBreaker, FailuresOlderThanTheWindowDoNotCount) {
    CircuitBreakerOptions options;
    options.consecutive_failures = 100;
    options.min_requests = 4;
    CircuitBreaker breaker(options);  // 10 s window
    for (int i = 0; i < 3; ++i) breaker.record_failure(t0);
    breaker.record_success(t0 + milliseconds(1));
    // 3 of 4 failed, but the first three are 11 s old when the next outcome comes in.
    breaker.record_failure(t0 + milliseconds(11000));
    EXPECT_EQ(breaker.state(), CircuitState::closed);
}

TEST(CircuitBreaker, DisabledAlwaysAdmits) {
    CircuitBreakerOptions options;
    options.enabled = false;
    CircuitBreaker breaker(options);
    for (int i = 0; i < 50; ++i) breaker.record_failure(t0);
    EXPECT_EQ(breaker.admit(t0), Admission::allowed);
    EXPECT_EQ(breaker.state(), CircuitState::closed);
}

TEST(PendingLimit, AdmitsUpToTheLimitAndAgainAfterARelease) {
    PendingLimit limit(2);
    EXPECT_TRUE(limit.try_admit());
    EXPECT_TRUE(limit.try_admit());
    EXPECT_FALSE(limit.try_admit());
    limit.release();
    EXPECT_TRUE(limit.try_admit());
    EXPECT_EQ(limit.pending(), 2u);
}

}  // namespace
}  // namespace voxgate::upstream::resilience
