#pragma once
// One client API key as the gateway knows it after authentication: its name (the
// identity sessions are bound to), the SHA-256 of the secret (the secret itself is never
// kept), the models it may use and its limits. Immutable once loaded; a reload of the
// keys file builds new ClientKey objects, while live sessions keep the one they started
// with.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace voxgate::auth {

class KeyUsage;  // key_usage.hpp

using KeyDigest = std::array<unsigned char, 32>;  // SHA-256

// Per-key limits; 0 means unlimited. The defaults bound a key whose entry names none;
// tokens are unlimited by default because what a token costs depends on the model.
struct KeyLimits {
    std::uint64_t max_sessions = 100;          // concurrent WebSocket sessions
    std::uint64_t responses_per_minute = 600;  // response.create accepted per minute
    std::uint64_t tokens_per_minute = 0;       // streamed output tokens per minute
};

struct ClientKey {
    std::string name;
    KeyDigest sha256{};
    std::vector<std::string> models;  // allowed client-visible model names; "*" = any
    KeyLimits limits;
    // What the key's sessions use now, across shards. Shared by every version of the key
    // with this name, so a reload of the keys file keeps the counts.
    std::shared_ptr<KeyUsage> usage;
};

// "*" in models allows any model.
bool allows_model(const ClientKey& key, std::string_view model);

}  // namespace voxgate::auth
