#include "session/resume_failures.hpp"

#include <algorithm>

namespace voxgate::session {

ResumeFailures::ResumeFailures(std::size_t per_minute, std::size_t capacity)
    : per_minute_(static_cast<double>(per_minute)),
      capacity_per_shard_(std::max<std::size_t>(1, capacity / shard_count)) {}

bool ResumeFailures::may_try(const asio::ip::address& peer, Clock::time_point now) {
    if (per_minute_ == 0) return true;
    const auto key = peer_key_of(peer);
    auto& shard = shard_of(key);
    std::lock_guard lock(shard.mutex);
    auto found = shard.peers.find(key);
    return found == shard.peers.end() || found->second.available(now) >= 1;
}

void ResumeFailures::record_failure(const asio::ip::address& peer, Clock::time_point now) {
    if (per_minute_ == 0) return;
    const auto key = peer_key_of(peer);
    auto& shard = shard_of(key);
    std::lock_guard lock(shard.mutex);
    auto found = shard.peers.find(key);
    if (found == shard.peers.end()) {
        if (shard.peers.size() >= capacity_per_shard_)
            for (auto it = shard.peers.begin(); it != shard.peers.end();)
                it = it->second.seconds_until_full(now) <= 0 ? shard.peers.erase(it) : std::next(it);
        if (shard.peers.size() >= capacity_per_shard_) {
            ++shard.untracked;
            return;
        }
        found = shard.peers.emplace(key, limits::TokenBucket(per_minute_, std::chrono::minutes(1), now)).first;
    }
    found->second.spend(1, now);
}

std::size_t ResumeFailures::tracked() const {
    std::size_t total = 0;
    for (const auto& shard : shards_) {
        std::lock_guard lock(shard.mutex);
        total += shard.peers.size();
    }
    return total;
}

std::uint64_t ResumeFailures::untracked() const {
    std::uint64_t total = 0;
    for (const auto& shard : shards_) {
        std::lock_guard lock(shard.mutex);
        total += shard.untracked;
    }
    return total;
}

}  // namespace voxgate::session
