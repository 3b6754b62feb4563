#pragma once
// The one token bucket of the gateway (pure, no clock of its own): `capacity` tokens,
// refilled continuously at capacity per `period`. It starts full. Per-key limits, per-address
// handshake and failed-resume limits and the per-session event limit all use it. spend() may take it below zero (a debt): output
// tokens are only known once they have streamed, so they are charged afterwards and the
// debt delays the next response instead of cutting the current one.
#include <chrono>

namespace voxgate::limits {

class TokenBucket {
public:
    using Clock = std::chrono::steady_clock;

    TokenBucket(double capacity, Clock::duration period, Clock::time_point now);

    // Takes n tokens if at least n are available.
    bool try_take(double n, Clock::time_point now);
    // Takes n tokens whatever the level.
    void spend(double n, Clock::time_point now);
    // The level at now (negative while in debt).
    double available(Clock::time_point now);
    // How long until the bucket is full again at now.
    double seconds_until_full(Clock::time_point now);
    double capacity() const { return capacity_; }
    // A reload changed the limit: keep what was used, in the new capacity.
    void set_capacity(double capacity, Clock::time_point now);

private:
    void refill(Clock::time_point now);

    double capacity_;
    double per_second_;
    double level_;
    Clock::time_point updated_;
};

}  // namespace voxgate::limits
