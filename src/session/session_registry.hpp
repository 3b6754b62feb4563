#pragma once
// SessionRegistry: session id -> Conversation, sharded to keep contention low
// (docs/design.md, "Sessions"). Each shard is a small mutex and a hash map; the lock is held
// only for insert, find, erase and the short visitor calls below, never across I/O.
#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "session/session_id.hpp"

namespace voxgate::session {

struct Conversation;

class SessionRegistry {
public:
    // shard_count is rounded up to a power of two so a shard is picked with a mask.
    explicit SessionRegistry(std::size_t shard_count = 64);

    // False if the id is already present (the existing entry is kept).
    bool insert(const SessionId& id, std::shared_ptr<Conversation> conversation);
    std::shared_ptr<Conversation> find(const SessionId& id) const;
    // Returns the removed conversation, or null if absent.
    std::shared_ptr<Conversation> erase(const SessionId& id);
    // Calls visit(Conversation&) under the shard lock and returns true if the id exists.
    // For short reads/writes of fields that the registry lock guards (ownership hand-over).
    template <class Visitor>
    bool with(const SessionId& id, Visitor&& visit) {
        auto& shard = shard_for(id);
        std::lock_guard lock(shard.mutex);
        auto it = shard.map.find(id);
        if (it == shard.map.end()) return false;
        visit(*it->second);
        return true;
    }
    // Removes every entry for which expired(const Conversation&) is true, shard by shard;
    // returns how many were removed. The removed conversations are released outside the lock.
    template <class Predicate>
    std::size_t erase_if(Predicate&& expired) {
        std::size_t removed = 0;
        for (auto& shard : shards_) {
            std::vector<std::shared_ptr<Conversation>> doomed;
            {
                std::lock_guard lock(shard.mutex);
                for (auto it = shard.map.begin(); it != shard.map.end();) {
                    if (expired(static_cast<const Conversation&>(*it->second))) {
                        doomed.push_back(std::move(it->second));
                        it = shard.map.erase(it);
                    } else {
                        ++it;
                    }
                }
            }
            removed += doomed.size();
            size_.fetch_sub(doomed.size(), std::memory_order_relaxed);
        }
        return removed;
    }
    // Entries held, live and detached (an atomic read: cheap enough for every scrape).
    std::size_t size() const { return size_.load(std::memory_order_relaxed); }

    // sessions.max_stored: when the registry holds `max_stored` or more, evicts the detached
    // (resumable, nobody connected) conversations that left longest ago, a batch of 1% of
    // `max_stored` at a time so that a full registry costs one scan per batch, not per
    // session. Returns how many were evicted; size() < max_stored afterwards unless every
    // conversation is live.
    std::size_t make_room(std::size_t max_stored);

private:
    struct alignas(64) Shard {  // one cache line per lock: shards do not false-share
        mutable std::mutex mutex;
        std::unordered_map<SessionId, std::shared_ptr<Conversation>, SessionIdHash> map;
    };
    Shard& shard_for(const SessionId& id) const {
        // The hash uses the first 8 bytes; the shard index uses the last byte so the two
        // stay independent.
        return shards_[id.bytes[15] & mask_];
    }

    std::size_t mask_;
    mutable std::vector<Shard> shards_;
    std::atomic<std::size_t> size_{0};
};

}  // namespace voxgate::session
