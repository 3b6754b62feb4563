#include "limits/token_bucket.hpp"

#include <algorithm>

namespace voxgate::limits {

TokenBucket::TokenBucket(double capacity, Clock::duration period, Clock::time_point now)
    : capacity_(capacity),
      per_second_(capacity / std::chrono::duration<double>(period).count()),
      level_(capacity),
      updated_(now) {}

void TokenBucket::refill(Clock::time_point now) {
    if (now <= updated_) return;  // a clock read on another shard may be a little older
    level_ = std::min(capacity_, level_ + per_second_ * std::chrono::duration<double>(now - updated_).count());
    updated_ = now;
}

bool TokenBucket::try_take(double n, Clock::time_point now) {
    refill(now);
    if (level_ < n) return false;
    level_ -= n;
    return true;
}

void TokenBucket::spend(double n, Clock::time_point now) {
    refill(now);
    level_ -= n;
}

double TokenBucket::available(Clock::time_point now) {
    refill(now);
    return level_;
}

double TokenBucket::seconds_until_full(Clock::time_point now) {
    refill(now);
    return per_second_ > 0 ? (capacity_ - level_) / per_second_ : 0;
}

void TokenBucket::set_capacity(double capacity, Clock::time_point now) {
    refill(now);
    const double period_seconds = capacity_ / per_second_;
    level_ -= capacity_ - capacity;  // the same amount used, out of the new capacity
    capacity_ = capacity;
    per_second_ = capacity / period_seconds;
}

}  // namespace voxgate::limits
