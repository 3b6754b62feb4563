#pragma once
// The wait before a retry (docs/design.md "Resilience"): exponential backoff with jitter, or the
// delay a server asked for. Pure: the caller supplies the random source, so a test can
// pin the jitter.
#include <chrono>
#include <optional>
#include <random>

namespace voxgate::upstream::resilience {

struct RetryPolicy {
    std::chrono::milliseconds base_delay{250};
    double multiplier = 2.0;
    std::chrono::milliseconds max_delay{8000};
    double jitter = 0.25;  // the delay is scaled by a random factor in [1 - jitter, 1 + jitter]
};

// The wait before retry number `retry` (0 for the first): base x multiplier^retry, capped at
// max_delay, scaled by a factor drawn from `random` in [1 - jitter, 1 + jitter]. Jitter
// spreads the retries of many sessions hit by the same outage.
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry, std::minstd_rand& random);

// The server's retry-after when it gave one, else backoff_delay.
inline std::chrono::milliseconds retry_delay(const RetryPolicy& policy, int retry,
                                             std::optional<std::chrono::milliseconds> server_delay,
                                             std::minstd_rand& random) {
    return server_delay ? *server_delay : backoff_delay(policy, retry, random);
}

}  // namespace voxgate::upstream::resilience
