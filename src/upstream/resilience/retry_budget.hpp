#pragma once
// A retry budget for one provider on one shard, the way Envoy's `retry_budget` bounds retry
// amplification: retries in flight may be at most max(min_retries, fraction x active
// requests). One response retrying after a blip is always allowed (min_retries); a 429 or
// 5xx storm across hundreds of sessions cannot triple the load on the sick provider,
// because most of those retries are denied and the responses move on to the next provider.
//
// "Active requests" are the attempts to this provider in flight now (sent, not yet ended);
// "retries in flight" are the responses that were granted a retry and have not yet finished
// that retry attempt (backing off, or its request in flight). Pure counting: no clock.
#include <cstddef>

#include "voxgate/config.hpp"

namespace voxgate::upstream::resilience {

// fraction (0.2) of the active requests; min_retries (3) always allowed, whatever the load.
using RetryBudgetOptions = RetryBudgetConfig;

class RetryBudget {
public:
    explicit RetryBudget(RetryBudgetOptions options = {}) : options_(options) {}

    void request_started() { ++active_requests_; }
    void request_ended() {
        if (active_requests_ > 0) --active_requests_;
    }

    // Grants a retry (the caller must call retry_ended() once it is over) or denies it.
    bool try_acquire_retry();
    void retry_ended() {
        if (retries_in_flight_ > 0) --retries_in_flight_;
    }

    std::size_t allowed_retries() const;
    std::size_t active_requests() const { return active_requests_; }
    std::size_t retries_in_flight() const { return retries_in_flight_; }

private:
    RetryBudgetOptions options_;
    std::size_t active_requests_ = 0;
    std::size_t retries_in_flight_ = 0;
};

}  // namespace voxgate::upstream::resilience
