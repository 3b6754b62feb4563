#include "speech/speech_upstream.hpp"

#include <utility>

#include <spdlog/spdlog.h>

#include "metrics/shard_metrics.hpp"

namespace voxgate::speech {

namespace resilience = upstream::resilience;

SpeechUpstream::SpeechUpstream(std::string service, const SpeechResilienceConfig& config,
                               metrics::ProviderMetrics* metrics, resilience::RetryPolicy backoff)
    : service_(std::move(service)),
      config_(config),
      metrics_(metrics),
      backoff_(backoff),
      breaker_(config.circuit_breaker),
      budget_(config.retry_budget),
      jitter_random_(std::random_device{}()) {}

void SpeechUpstream::publish_circuit_state(std::uint64_t opened_before) {
    const bool opened = breaker_.times_opened() != opened_before;
    if (metrics_ != nullptr) {
        metrics_->circuit_state.set(static_cast<std::int64_t>(breaker_.state()));
        if (opened) metrics_->circuit_opened.inc();
    }
    if (opened) {
        spdlog::warn("{}: circuit opened after repeated failures of the speech service: requests fail at once "
                     "for {} ms, then one probes",
                     service_, config_.circuit_breaker.cooldown.count());
    }
}

bool SpeechAttempts::admit() {
    auto& up = upstream_;
    const auto admission = up.breaker_.admit(Clock::now());
    if (up.metrics_ != nullptr) up.metrics_->circuit_state.set(static_cast<std::int64_t>(up.breaker_.state()));
    if (admission == resilience::CircuitBreaker::Admission::refused) {
        if (up.metrics_ != nullptr) up.metrics_->circuit_fast_fails.inc();
        release_retry_slot();  // a retry refused by the circuit is over
        return false;
    }
    probing_ = admission == resilience::CircuitBreaker::Admission::probe;
    up.budget_.request_started();
    in_attempt_ = true;
    counted_ = false;
    got_byte_ = false;
    attempt_started_at_ = Clock::now();
    return true;
}

void SpeechAttempts::count(int http_status) {
    if (counted_ || !in_attempt_) return;
    counted_ = true;
    if (upstream_.metrics_ != nullptr) upstream_.metrics_->requests.inc(http_status);
}

void SpeechAttempts::first_byte() {
    if (got_byte_ || !in_attempt_) return;
    got_byte_ = true;
    if (upstream_.metrics_ != nullptr)
        upstream_.metrics_->first_byte_seconds.observe(
            std::chrono::duration<double>(Clock::now() - attempt_started_at_).count());
}

void SpeechAttempts::succeeded() { judge(Verdict::success); }

void SpeechAttempts::failed(bool provider_fault) { judge(provider_fault ? Verdict::failure : Verdict::none); }

void SpeechAttempts::judge(Verdict verdict) {
    if (!in_attempt_) return;
    in_attempt_ = false;
    auto& up = upstream_;
    const auto opened_before = up.breaker_.times_opened();
    if (verdict == Verdict::success) up.breaker_.record_success(Clock::now());
    else if (verdict == Verdict::failure) up.breaker_.record_failure(Clock::now());
    else if (probing_) up.breaker_.probe_abandoned();
    probing_ = false;
    up.budget_.request_ended();
    release_retry_slot();  // the retry is over, whatever came of it
    up.publish_circuit_state(opened_before);
}

resilience::RetryDecision SpeechAttempts::next_retry(resilience::FailedAttempt attempt) {
    auto& up = upstream_;
    attempt.retries_made = retries_made_;
    attempt.max_retries = up.config_.max_retries;
    auto decision = resilience::decide_retry(up.backoff_, attempt, up.jitter_random_);
    if (!decision.retry()) return decision;
    // The budget bounds the retries a storm of failures may add to the service's load.
    if (!up.budget_.try_acquire_retry()) {
        if (up.metrics_ != nullptr) up.metrics_->retries_denied.inc();
        spdlog::debug("{}: the speech service failed; its retry budget is spent, no retry", up.service_);
        return {resilience::RetryVerdict::exhausted};
    }
    holds_retry_ = true;
    ++retries_made_;
    if (up.metrics_ != nullptr) up.metrics_->retries.inc();
    spdlog::debug("{}: the speech service failed, retry {} of {} in {} ms", up.service_, retries_made_,
                  up.config_.max_retries, decision.delay.count());
    return decision;
}

void SpeechAttempts::release_retry_slot() {
    if (!holds_retry_) return;
    holds_retry_ = false;
    upstream_.budget_.retry_ended();
}

void SpeechAttempts::release() {
    judge(Verdict::none);
    release_retry_slot();  // granted, but the request ended during the backoff
}

}  // namespace voxgate::speech
