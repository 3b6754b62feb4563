#include "upstream/resilience/retry_budget.hpp"

#include <algorithm>
#include <cmath>

namespace voxgate::upstream::resilience {

std::size_t RetryBudget::allowed_retries() const {
    const auto share = static_cast<std::size_t>(std::floor(options_.fraction * static_cast<double>(active_requests_)));
    return std::max(options_.min_retries, share);
}

bool RetryBudget::try_acquire_retry() {
    if (retries_in_flight_ >= allowed_retries()) return false;
    ++retries_in_flight_;
    return true;
}

}  // namespace voxgate::upstream::resilience
