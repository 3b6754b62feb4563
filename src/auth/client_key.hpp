#pragma once
// One client API key as the gateway knows it after authentication: its name (the
// identity sessions are bound to), the SHA-256 of the secret (the secret itself is never
// kept), the models it may use and its limits. Immutable once loaded; a reload of the
// keys file builds new ClientKey objects, while live sessions keep the one they started
// with.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace voxgate::auth {

using KeyDigest = std::array<unsigned char, 32>;  // SHA-256

// Per-key limits; 0 means unlimited.
struct KeyLimits {
    std::uint64_t max_sessions = 0;          // concurrent WebSocket sessions
    std::uint64_t responses_per_minute = 0;  // response.create accepted per minute
    std::uint64_t tokens_per_minute = 0;     // streamed output tokens per minute
};

struct ClientKey {
    std::string name;
    KeyDigest sha256{};
    std::vector<std::string> models;  // allowed client-visible model names; "*" = any
    KeyLimits limits;
};

}  // namespace voxgate::auth
