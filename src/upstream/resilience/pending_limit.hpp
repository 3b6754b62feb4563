#pragma once
// Admission control for one provider on one shard (Envoy's circuit_breakers
// max_pending_requests): at most `max_pending` requests may wait for the provider's response
// head at once. Past it, a new response does not join curl's queue, where its first-token
// clock would run out while it waits for a connection (and its retry would join the back
// of the same queue: a metastable overload); it goes to the next provider or fails with
// `upstream_overloaded` at once.
#include <cstddef>

namespace voxgate::upstream::resilience {

class PendingLimit {
public:
    explicit PendingLimit(std::size_t max_pending = 256) : max_pending_(max_pending) {}

    bool try_admit() {
        if (pending_ >= max_pending_) return false;
        ++pending_;
        return true;
    }
    void release() {
        if (pending_ > 0) --pending_;
    }
    std::size_t pending() const { return pending_; }
    std::size_t max_pending() const { return max_pending_; }

private:
    std::size_t max_pending_;
    std::size_t pending_ = 0;
};

}  // namespace voxgate::upstream::resilience
