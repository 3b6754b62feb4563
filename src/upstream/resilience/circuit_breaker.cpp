#include "upstream/resilience/circuit_breaker.hpp"

#include <algorithm>

namespace voxgate::upstream::resilience {

const char* circuit_state_name(CircuitState state) {
    switch (state) {
        case CircuitState::closed: return "closed";
        case CircuitState::open: return "open";
        case CircuitState::half_open: return "half_open";
    }
    return "closed";
}

CircuitBreaker::CircuitBreaker(CircuitBreakerOptions options) : options_(options) {
    options_.consecutive_failures = std::max(1, options_.consecutive_failures);
    options_.window = std::max(options_.window, std::chrono::milliseconds(static_cast<long long>(kBuckets)));
}

CircuitBreaker::Admission CircuitBreaker::admit(Clock::time_point now) {
    if (!options_.enabled) return Admission::allowed;
    switch (state_) {
        case CircuitState::closed:
            return Admission::allowed;
        case CircuitState::open:
            if (now - opened_at_ < options_.cooldown) return Admission::refused;
            state_ = CircuitState::half_open;
            probe_in_flight_ = false;
            [[fallthrough]];
        case CircuitState::half_open:
            if (probe_in_flight_) return Admission::refused;
            probe_in_flight_ = true;
            return Admission::probe;
    }
    return Admission::allowed;
}

void CircuitBreaker::record_success(Clock::time_point now) {
    if (!options_.enabled) return;
    if (state_ == CircuitState::half_open) return close();
    consecutive_failures_ = 0;
    count_in_window(now, false);
}

void CircuitBreaker::record_failure(Clock::time_point now) {
    if (!options_.enabled) return;
    if (state_ == CircuitState::half_open) return open(now);
    if (state_ == CircuitState::open) return;  // a request admitted before it opened
    ++consecutive_failures_;
    count_in_window(now, true);
    if (consecutive_failures_ >= options_.consecutive_failures || rate_exceeded(now)) open(now);
}

CircuitBreaker::Bucket& CircuitBreaker::bucket_at(Clock::time_point now) {
    const auto width = options_.window / static_cast<long long>(kBuckets);
    const std::int64_t slot = now.time_since_epoch() / width;
    Bucket& bucket = buckets_[static_cast<std::size_t>(slot % static_cast<std::int64_t>(kBuckets))];
    if (bucket.slot != slot) bucket = Bucket{slot, 0, 0};
    return bucket;
}

void CircuitBreaker::count_in_window(Clock::time_point now, bool failed) {
    Bucket& bucket = bucket_at(now);
    if (failed) ++bucket.failures;
    else ++bucket.successes;
}

bool CircuitBreaker::rate_exceeded(Clock::time_point now) const {
    if (options_.failure_rate <= 0) return false;
    const auto width = options_.window / static_cast<long long>(kBuckets);
    const std::int64_t current = now.time_since_epoch() / width;
    std::uint64_t failures = 0;
    std::uint64_t total = 0;
    for (const Bucket& bucket : buckets_) {
        if (bucket.slot < 0 || current - bucket.slot >= static_cast<std::int64_t>(kBuckets)) continue;
        failures += bucket.failures;
        total += bucket.failures + bucket.successes;
    }
    return total >= static_cast<std::uint64_t>(std::max(1, options_.min_requests)) &&
           static_cast<double>(failures) > options_.failure_rate * static_cast<double>(total);
}

void CircuitBreaker::open(Clock::time_point now) {
    state_ = CircuitState::open;
    opened_at_ = now;
    probe_in_flight_ = false;
    ++times_opened_;
}

void CircuitBreaker::close() {
    state_ = CircuitState::closed;
    probe_in_flight_ = false;
    consecutive_failures_ = 0;
    buckets_.fill(Bucket{});  // the outage's failures are history now
}

}  // namespace voxgate::upstream::resilience
