#pragma once
// What one client key uses right now, shared by its sessions on every shard: open
// sessions (an atomic counter) and the per-minute buckets for responses and streamed
// output tokens (behind one small mutex, held for a few arithmetic operations, never
// across I/O). Limits come with each call, from the ClientKey the session holds.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "auth/client_key.hpp"
#include "limits/token_bucket.hpp"
#include "protocol/server_events.hpp"

namespace voxgate::auth {

using limits::TokenBucket;

using RateLimitState = protocol::RateLimit;  // what rate_limits.updated reports

class KeyUsage {
public:
    using Clock = TokenBucket::Clock;

    // Takes a session slot unless max_sessions (0 = unlimited) are open.
    bool try_open_session(std::uint64_t max_sessions);
    void close_session();
    std::uint64_t open_sessions() const { return open_sessions_.load(std::memory_order_relaxed); }

    // Which per-minute limit refused a response; nullopt = the response may start (and
    // has used one request).
    enum class Limit : std::uint8_t { responses_per_minute, tokens_per_minute };
    std::optional<Limit> admit_response(const KeyLimits& limits, Clock::time_point now);
    // Charges the output tokens a response streamed.
    void charge_tokens(const KeyLimits& limits, std::uint64_t tokens, Clock::time_point now);
    // The configured per-minute limits and what is left of them.
    std::vector<RateLimitState> rate_limits(const KeyLimits& limits, Clock::time_point now);

private:
    TokenBucket* bucket(std::optional<TokenBucket>& slot, std::uint64_t per_minute, Clock::time_point now);

    std::atomic<std::uint64_t> open_sessions_{0};
    std::mutex mutex_;
    std::optional<TokenBucket> responses_;  // guarded by mutex_
    std::optional<TokenBucket> tokens_;     // guarded by mutex_
};

// One open session of a key: holds its slot until destroyed.
class SessionLease {
public:
    explicit SessionLease(std::shared_ptr<KeyUsage> usage) : usage_(std::move(usage)) {}
    ~SessionLease() { usage_->close_session(); }
    SessionLease(const SessionLease&) = delete;
    SessionLease& operator=(const SessionLease&) = delete;

private:
    std::shared_ptr<KeyUsage> usage_;
};

}  // namespace voxgate::auth
