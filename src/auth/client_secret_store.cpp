#include "auth/client_secret_store.hpp"

#include <cstring>

#include "auth/key_digest.hpp"
#include "protocol/random_bytes.hpp"

namespace voxgate::auth {

std::size_t ClientSecretStore::DigestHash::operator()(const KeyDigest& digest) const noexcept {
    std::size_t hash = 0;
    std::memcpy(&hash, digest.data(), sizeof hash);
    return hash;
}

std::optional<ClientSecretStore::Issued> ClientSecretStore::issue(SecretGrant grant, std::chrono::seconds ttl,
                                                                  Clock::time_point now) {
    // Made before the lock: getrandom and SHA-256 need no shared state.
    Issued issued{std::string(prefix), now + ttl};
    protocol::append_random_hex(issued.value, 32);
    const KeyDigest digest = sha256_of(issued.value);
    auto shared_grant = std::make_shared<const SecretGrant>(std::move(grant));

    std::lock_guard lock(mutex_);
    drop_expired(now);
    if (entries_.size() >= max_live_) return std::nullopt;
    // 256 random bits do not collide; emplace cannot fail but is checked all the same.
    auto expiry = by_expiry_.emplace(issued.expires_at, digest);
    if (!entries_.emplace(digest, Entry{std::move(shared_grant), expiry}).second) {
        by_expiry_.erase(expiry);
        return std::nullopt;
    }
    return issued;
}

ClientSecretStore::Lookup ClientSecretStore::find(std::string_view secret, Clock::time_point now) const {
    const KeyDigest digest = sha256_of(secret);
    std::lock_guard lock(mutex_);
    // A hash lookup on the digest, not a comparison of secrets: what its timing could
    // reveal is about SHA-256 outputs, which says nothing about any other secret.
    auto found = entries_.find(digest);
    if (found == entries_.end()) return {};
    const auto expires_at = found->second.expiry->first;
    if (now >= expires_at) return {State::expired, nullptr, expires_at};
    return {State::valid, found->second.grant, expires_at};
}

bool ClientSecretStore::consume(std::string_view secret, Clock::time_point now) {
    const KeyDigest digest = sha256_of(secret);
    std::lock_guard lock(mutex_);
    auto found = entries_.find(digest);
    if (found == entries_.end()) return false;
    const bool valid = now < found->second.expiry->first;
    if (valid) {  // an expired one stays until drop_expired, so a later use is told "expired"
        by_expiry_.erase(found->second.expiry);
        entries_.erase(found);
    }
    return valid;
}

void ClientSecretStore::drop_expired(Clock::time_point now) {
    while (!by_expiry_.empty() && by_expiry_.begin()->first <= now) {
        entries_.erase(by_expiry_.begin()->second);
        by_expiry_.erase(by_expiry_.begin());
    }
}

std::size_t ClientSecretStore::stored_count() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

}  // namespace voxgate::auth
