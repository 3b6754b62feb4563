#include "session/session_registry.hpp"

#include <algorithm>
#include <bit>
#include <utility>

#include "session/conversation.hpp"

namespace voxgate::session {

SessionRegistry::SessionRegistry(std::size_t shard_count)
    : mask_(std::bit_ceil(shard_count < 1 ? std::size_t{1} : shard_count) - 1), shards_(mask_ + 1) {}

bool SessionRegistry::insert(const SessionId& id, std::shared_ptr<Conversation> conversation) {
    auto& shard = shard_for(id);
    std::lock_guard lock(shard.mutex);
    const bool inserted = shard.map.emplace(id, std::move(conversation)).second;
    if (inserted) size_.fetch_add(1, std::memory_order_relaxed);
    return inserted;
}

std::shared_ptr<Conversation> SessionRegistry::find(const SessionId& id) const {
    auto& shard = shard_for(id);
    std::lock_guard lock(shard.mutex);
    auto it = shard.map.find(id);
    return it == shard.map.end() ? nullptr : it->second;
}

std::shared_ptr<Conversation> SessionRegistry::erase(const SessionId& id) {
    std::shared_ptr<Conversation> removed;
    auto& shard = shard_for(id);
    {
        std::lock_guard lock(shard.mutex);
        auto it = shard.map.find(id);
        if (it == shard.map.end()) return nullptr;
        removed = std::move(it->second);
        shard.map.erase(it);
        size_.fetch_sub(1, std::memory_order_relaxed);
    }
    return removed;  // released by the caller, outside the lock
}

std::size_t SessionRegistry::make_room(std::size_t max_stored) {
    if (size() < max_stored) return 0;
    // Phase 1: when each detached conversation left, shard by shard under its lock.
    std::vector<std::pair<Clock::time_point, SessionId>> detached;
    for (auto& shard : shards_) {
        std::lock_guard lock(shard.mutex);
        for (const auto& [id, conversation] : shard.map)
            if (!conversation->owner) detached.emplace_back(conversation->detached_at, id);
    }
    // Phase 2: the oldest batch, each erased only if it is still detached (a client may
    // have resumed it in between).
    const std::size_t over = size() >= max_stored ? size() - max_stored + 1 : 0;
    const std::size_t batch = std::min(detached.size(), std::max(over, max_stored / 100 + 1));
    std::nth_element(detached.begin(), detached.begin() + static_cast<std::ptrdiff_t>(batch), detached.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::size_t evicted = 0;
    for (std::size_t i = 0; i < batch; ++i) {
        std::shared_ptr<Conversation> doomed;  // released outside the lock
        auto& shard = shard_for(detached[i].second);
        std::lock_guard lock(shard.mutex);
        auto it = shard.map.find(detached[i].second);
        if (it == shard.map.end() || it->second->owner) continue;
        doomed = std::move(it->second);
        shard.map.erase(it);
        size_.fetch_sub(1, std::memory_order_relaxed);
        ++evicted;
    }
    return evicted;
}

}  // namespace voxgate::session
