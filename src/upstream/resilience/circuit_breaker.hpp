#pragma once
// A circuit breaker for one provider on one shard (Envoy outlier ejection, nginx
// max_fails/fail_timeout): when a provider keeps failing, stop sending it requests for a
// cool-down instead of making every response pay its timeouts and retries, then let one
// request probe whether it is back.
//
//   closed     requests go through; it opens after `consecutive_failures` failures in a
//              row, or when at least `min_requests` ended within the last `window` and
//              more than `failure_rate` of them failed;
//   open       every request is refused at once (the caller moves on to the next provider
//              of the route) until `cooldown` has passed since it opened;
//   half_open  the first request after the cool-down is the probe, every other one is
//              refused while it runs; its success closes the breaker, its failure opens it
//              again for another cool-down, a probe that ends without a verdict (cancelled
//              by the client, a 4xx) lets the next request probe.
//
// Only provider faults are failures (count_as_failure in the engine): connect errors,
// timeouts, 5xx, 429/529. A client error (4xx) or a cancel is no verdict on the provider.
// Pure: the caller passes the time, so tests drive it with a fake clock.
#include <array>
#include <chrono>
#include <cstdint>

#include "voxgate/config.hpp"

namespace voxgate::upstream::resilience {

enum class CircuitState : std::uint8_t { closed = 0, open = 1, half_open = 2 };
const char* circuit_state_name(CircuitState state);

// enabled, consecutive_failures (5), failure_rate (0.5; 0 = off), min_requests (20, in the
// window before the rate rule applies), window (10 s), cooldown (10 s).
using CircuitBreakerOptions = CircuitBreakerConfig;

class CircuitBreaker {
public:
    using Clock = std::chrono::steady_clock;

    enum class Admission : std::uint8_t {
        allowed,  // closed: go ahead
        probe,    // half-open: go ahead, and report the verdict (record_*) or probe_abandoned()
        refused,  // open, or half-open with a probe already out: fail fast
    };

    explicit CircuitBreaker(CircuitBreakerOptions options = {});

    Admission admit(Clock::time_point now);
    void record_success(Clock::time_point now);
    void record_failure(Clock::time_point now);
    // The probe ended without a verdict: the next request may probe.
    void probe_abandoned() { probe_in_flight_ = false; }

    CircuitState state() const { return state_; }
    // Times the breaker went from closed or half-open to open.
    std::uint64_t times_opened() const { return times_opened_; }

private:
    // The rate window as a ring of buckets, each a tenth of the window: bounded memory, no
    // allocation, outcomes older than the window fall out as their bucket is reused.
    static constexpr std::size_t kBuckets = 10;
    struct Bucket {
        std::int64_t slot = -1;  // which window/kBuckets slice of time it counts
        std::uint32_t successes = 0;
        std::uint32_t failures = 0;
    };

    Bucket& bucket_at(Clock::time_point now);
    void count_in_window(Clock::time_point now, bool failed);
    bool rate_exceeded(Clock::time_point now) const;
    void open(Clock::time_point now);
    void close();

    CircuitBreakerOptions options_;
    CircuitState state_ = CircuitState::closed;
    int consecutive_failures_ = 0;
    bool probe_in_flight_ = false;
    Clock::time_point opened_at_{};
    std::uint64_t times_opened_ = 0;
    std::array<Bucket, kBuckets> buckets_{};
};

}  // namespace voxgate::upstream::resilience
