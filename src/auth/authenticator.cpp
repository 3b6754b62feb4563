#include "auth/authenticator.hpp"

#include "auth/key_digest.hpp"
#include "auth/key_usage.hpp"
#include "config/config_loader.hpp"

namespace voxgate::auth {

Authenticator::Authenticator(std::string keys_file)
    : Authenticator(keys_file, config::load_keys_file(keys_file)) {}

Authenticator::Authenticator(std::string keys_file, std::vector<ClientKey> keys)
    : keys_file_(std::move(keys_file)), keys_(with_usage(std::move(keys), nullptr)) {}

std::shared_ptr<const KeySet> Authenticator::current() const {
    std::lock_guard lock(mutex_);
    return keys_;
}

std::shared_ptr<const KeySet> Authenticator::with_usage(std::vector<ClientKey> keys,
                                                        const std::shared_ptr<const KeySet>& previous) {
    auto set = std::make_shared<KeySet>();
    for (auto& key : keys) {
        if (previous)
            for (const auto& old : *previous)
                if (old->name == key.name) key.usage = old->usage;
        if (!key.usage) key.usage = std::make_shared<KeyUsage>();
        set->push_back(std::make_shared<const ClientKey>(std::move(key)));
    }
    return set;
}

std::shared_ptr<const ClientKey> Authenticator::authenticate(std::string_view secret) const {
    if (secret.empty()) return nullptr;
    const KeyDigest digest = sha256_of(secret);
    std::shared_ptr<const ClientKey> found;
    // Held for the whole loop: in `for (... : *current())` the shared_ptr temporary dies
    // before the loop runs, and a concurrent reload() could free the set under it (TSan
    // found this in Binary.SighupReloadsTheKeysFile...).
    const auto keys = current();
    for (const auto& key : *keys)
        if (same_digest(key->sha256, digest) && !found) found = key;  // no early exit
    return found;
}

std::shared_ptr<const ClientKey> Authenticator::find_by_name(std::string_view name) const {
    const auto keys = current();  // held for the loop, as in authenticate()
    for (const auto& key : *keys)
        if (key->name == name) return key;
    return nullptr;
}

std::optional<std::string> Authenticator::reload() {
    std::shared_ptr<const KeySet> fresh;
    try {
        fresh = with_usage(config::load_keys_file(keys_file_), current());
    } catch (const std::exception& error) {
        return std::string(error.what());
    }
    std::lock_guard lock(mutex_);
    keys_ = std::move(fresh);
    return std::nullopt;
}

std::size_t Authenticator::key_count() const { return current()->size(); }

}  // namespace voxgate::auth
