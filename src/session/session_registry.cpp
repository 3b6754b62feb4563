#include "session/session_registry.hpp"

#include <bit>

#include "session/conversation.hpp"

namespace voxgate::session {

SessionRegistry::SessionRegistry(std::size_t shard_count)
    : mask_(std::bit_ceil(shard_count < 1 ? std::size_t{1} : shard_count) - 1), shards_(mask_ + 1) {}

bool SessionRegistry::insert(const SessionId& id, std::shared_ptr<Conversation> conversation) {
    auto& shard = shard_for(id);
    std::lock_guard lock(shard.mutex);
    return shard.map.emplace(id, std::move(conversation)).second;
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
    }
    return removed;  // released by the caller, outside the lock
}

std::size_t SessionRegistry::size() const {
    std::size_t total = 0;
    for (auto& shard : shards_) {
        std::lock_guard lock(shard.mutex);
        total += shard.map.size();
    }
    return total;
}

}  // namespace voxgate::session
