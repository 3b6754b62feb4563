#pragma once
// Failed resume attempts per client address (limits.max_failed_resumes_per_minute_per_ip).
// A session id is 128 random bits, so guessing one is hopeless; this makes trying costly
// too, and makes a client stuck in a reconnect loop with a stale id visible in metrics.
// Each address has a token bucket of `per_minute` failures refilled over a minute; an
// address whose bucket is empty has its resume handshakes refused with 429 until it
// refills. Thread-safe (one short mutex per shard of the table, never held across I/O);
// the table is bounded: entries whose bucket is full again are dropped, and when the table
// is still full a new address is not tracked (counted in `untracked()`).
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "limits/token_bucket.hpp"
#include "voxgate/net.hpp"
#include "voxgate/peer_key.hpp"

namespace voxgate::session {

class ResumeFailures {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::size_t shard_count = 16;

    // per_minute 0 turns the limit off (nothing is tracked). `capacity` bounds the table.
    explicit ResumeFailures(std::size_t per_minute, std::size_t capacity = 65536);

    // False when `peer` has used up its failed resumes for now.
    bool may_try(const asio::ip::address& peer, Clock::time_point now);
    // A resume from `peer` named an id that does not exist (or belongs to another key).
    void record_failure(const asio::ip::address& peer, Clock::time_point now);

    std::size_t tracked() const;  // addresses in the table (tests)
    std::uint64_t untracked() const;

private:
    struct alignas(64) Shard {
        mutable std::mutex mutex;
        std::unordered_map<PeerKey, limits::TokenBucket, PeerKeyHash> peers;
        std::uint64_t untracked = 0;
    };
    Shard& shard_of(const PeerKey& key) { return shards_[(PeerKeyHash{}(key) >> 40) % shard_count]; }

    double per_minute_;
    std::size_t capacity_per_shard_;
    std::array<Shard, shard_count> shards_;
};

}  // namespace voxgate::session
