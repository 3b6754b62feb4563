#pragma once
// Conversation: the compact state of one realtime session (design.md, "Sessions").
// It lives in the SessionRegistry so a client can reconnect and resume it.
//
// Threading: the fields below are owned by the shard thread of the connection that
// currently owns the conversation. The ownership fields (owner_*) are guarded by the
// SessionRegistry shard lock and touched only inside SessionRegistry::with().
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "session/session_id.hpp"

namespace voxgate::session {

struct Conversation {
    SessionId id;
    std::chrono::steady_clock::time_point created_at = std::chrono::steady_clock::now();
    // When the last connection detached; a detached conversation expires after
    // sessions.resume_ttl. time_point{} while a connection owns it.
    std::chrono::steady_clock::time_point detached_at{};
    // Guarded by the registry lock: a token identifying the owning connection (0 = none).
    std::uint64_t owner_token = 0;
};

}  // namespace voxgate::session
