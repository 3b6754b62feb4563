#pragma once
// ClientSecretStore: the ephemeral client secrets ("ek_...") that POST
// /v1/realtime/client_secrets hands out, so a browser never holds a long-lived key. A
// secret stands for one client key (by name: the key's current models and limits apply,
// and a key removed from the keys file takes its secrets with it), carries the session's
// initial settings, opens one new session and expires after its TTL.
//
// Only the SHA-256 of a secret is kept, like the client keys themselves: a heap dump or
// a debugger shows no usable secret. The store is shared by every shard; its mutex is
// held for one map operation (O(log n)), never across I/O or random-number generation.
// It holds at most `max_live` secrets: past that issue() refuses until some expire or are
// used, so minting secrets in a loop cannot grow memory.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "auth/client_key.hpp"
#include "protocol/session_settings.hpp"

namespace voxgate::auth {

// What a secret lets its bearer do: open one session as `key_name`, starting with `model`
// and `settings`.
struct SecretGrant {
    std::string key_name;
    std::string model;
    std::shared_ptr<const protocol::SessionSettings> settings;  // never null
};

class ClientSecretStore {
public:
    // Wall time: expires_at is reported to the client as unix seconds.
    using Clock = std::chrono::system_clock;

    static constexpr std::string_view prefix = "ek_";
    // True for a credential shaped like one of ours (it may still be unknown).
    static bool looks_like_secret(std::string_view credential) { return credential.starts_with(prefix); }

    explicit ClientSecretStore(std::size_t max_live) : max_live_(max_live) {}

    struct Issued {
        std::string value;  // "ek_" + 64 hex digits (256 random bits); the only copy
        Clock::time_point expires_at;
    };
    // A new secret for `grant`, valid for `ttl` from `now`; nullopt when max_live secrets
    // are live (expired ones are dropped first).
    std::optional<Issued> issue(SecretGrant grant, std::chrono::seconds ttl, Clock::time_point now);

    enum class State : std::uint8_t { valid, expired, unknown };
    struct Lookup {
        State state = State::unknown;
        std::shared_ptr<const SecretGrant> grant;  // set when valid
        Clock::time_point expires_at{};            // set when valid or expired
    };
    // What `secret` is now, without using it up.
    Lookup find(std::string_view secret, Clock::time_point now) const;
    // Uses a valid secret up: true for exactly one caller; false when it is unknown,
    // expired or was used by a concurrent handshake first.
    bool consume(std::string_view secret, Clock::time_point now);

    // Secrets stored: live ones, and expired ones until the next issue() drops them.
    std::size_t stored_count() const;
    std::size_t max_live() const { return max_live_; }

private:
    struct DigestHash {
        // The digest of a random secret is itself uniform: its first bytes are a hash.
        std::size_t operator()(const KeyDigest& digest) const noexcept;
    };
    using ByExpiry = std::multimap<Clock::time_point, KeyDigest>;
    struct Entry {
        std::shared_ptr<const SecretGrant> grant;
        ByExpiry::iterator expiry;
    };
    void drop_expired(Clock::time_point now);  // mutex_ held

    const std::size_t max_live_;
    mutable std::mutex mutex_;
    std::unordered_map<KeyDigest, Entry, DigestHash> entries_;  // guarded by mutex_
    ByExpiry by_expiry_;                                        // guarded by mutex_
};

}  // namespace voxgate::auth
