#pragma once
// Client event rate limit (limits.max_events_per_second): a token bucket refilled at the
// rate, holding at most max(1, rate) tokens (the burst). An event without a token is
// rejected (`rate_limit_exceeded`); a client that keeps going is closed (1008): more
// rejections within one second than the burst (it sends about twice the rate), or
// rejections in 3 consecutive seconds. Pure: the caller passes the time.
#include <chrono>
#include <cstdint>

#include "limits/token_bucket.hpp"

namespace voxgate::protocol {

class EventRateLimiter {
public:
    using clock = std::chrono::steady_clock;
    enum class Verdict : std::uint8_t { allow, reject, close };

    // events_per_second <= 0 disables the limit.
    explicit EventRateLimiter(double events_per_second);

    Verdict on_event(clock::time_point now);

private:
    limits::TokenBucket tokens_;  // capacity = the burst; unused when the limit is off
    clock::time_point window_start_{};  // start of the current one-second rejection window
    std::uint32_t rejected_in_window_ = 0;
    std::uint32_t consecutive_windows_ = 0;
    bool enabled_;
};

}  // namespace voxgate::protocol
