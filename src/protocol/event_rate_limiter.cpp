#include "protocol/event_rate_limiter.hpp"

#include <algorithm>

namespace voxgate::protocol {

EventRateLimiter::EventRateLimiter(double events_per_second)
    : rate_(events_per_second), burst_(std::max(1.0, events_per_second)), tokens_(burst_) {}

EventRateLimiter::Verdict EventRateLimiter::on_event(clock::time_point now) {
    if (rate_ <= 0) return Verdict::allow;
    if (!started_) {
        started_ = true;
        last_refill_ = now;
    }
    if (now > last_refill_) {
        const std::chrono::duration<double> elapsed = now - last_refill_;
        tokens_ = std::min(burst_, tokens_ + elapsed.count() * rate_);
        last_refill_ = now;
    }
    if (tokens_ >= 1) {
        tokens_ -= 1;
        return Verdict::allow;
    }
    constexpr auto window = std::chrono::seconds(1);
    if (rejected_in_window_ == 0 || now - window_start_ >= window) {
        // A window right after a window with rejections continues the streak.
        const bool follows = rejected_in_window_ > 0 && now - window_start_ < 2 * window;
        consecutive_windows_ = follows ? consecutive_windows_ + 1 : 1;
        window_start_ = now;
        rejected_in_window_ = 0;
    }
    ++rejected_in_window_;
    if (rejected_in_window_ > burst_ || consecutive_windows_ >= 3) return Verdict::close;
    return Verdict::reject;
}

}  // namespace voxgate::protocol
