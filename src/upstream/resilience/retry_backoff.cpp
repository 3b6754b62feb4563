#include "upstream/resilience/retry_backoff.hpp"

#include <algorithm>
#include <cmath>

namespace voxgate::upstream::resilience {

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry, std::minstd_rand& random) {
    double delay = static_cast<double>(policy.base_delay.count()) * std::pow(policy.multiplier, std::max(0, retry));
    delay = std::min(delay, static_cast<double>(policy.max_delay.count()));
    std::uniform_real_distribution<double> factor(1.0 - policy.jitter, 1.0 + policy.jitter);
    return std::chrono::milliseconds(static_cast<long long>(std::max(0.0, delay * factor(random))));
}

}  // namespace voxgate::upstream::resilience
