#include "protocol/event_rate_limiter.hpp"

#include <algorithm>

namespace voxgate::protocol {

namespace {

// The burst refills in burst / rate seconds. The bucket starts full and is dated at the
// clock's epoch, so the first event finds it full whatever clock the caller uses.
limits::TokenBucket bucket_for(double rate, double burst) {
    const auto refill = rate > 0 ? std::chrono::duration<double>(burst / rate) : std::chrono::duration<double>(1);
    return {burst, std::chrono::duration_cast<limits::TokenBucket::Clock::duration>(refill), {}};
}

}  // namespace

EventRateLimiter::EventRateLimiter(double events_per_second)
    : tokens_(bucket_for(events_per_second, std::max(1.0, events_per_second))),
      enabled_(events_per_second > 0) {}

EventRateLimiter::Verdict EventRateLimiter::on_event(clock::time_point now) {
    if (!enabled_) return Verdict::allow;
    if (tokens_.try_take(1, now)) return Verdict::allow;
    constexpr auto window = std::chrono::seconds(1);
    if (rejected_in_window_ == 0 || now - window_start_ >= window) {
        // A window right after a window with rejections continues the streak.
        const bool follows = rejected_in_window_ > 0 && now - window_start_ < 2 * window;
        consecutive_windows_ = follows ? consecutive_windows_ + 1 : 1;
        window_start_ = now;
        rejected_in_window_ = 0;
    }
    ++rejected_in_window_;
    if (rejected_in_window_ > tokens_.capacity() || consecutive_windows_ >= 3) return Verdict::close;
    return Verdict::reject;
}

}  // namespace voxgate::protocol
