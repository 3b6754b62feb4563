#pragma once
// Authenticator: the client keys of auth.mode api_keys, and the one question the
// handshake asks: which key (if any) is this secret? The set is immutable and swapped
// whole by reload(), so a handshake on any shard reads it under a mutex held only to copy
// one shared_ptr. Sessions keep the ClientKey they authenticated with; a reload applies
// to new handshakes only. Usage records (open sessions, buckets) stay with the key name
// across reloads.
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/client_key.hpp"

namespace voxgate::auth {

using KeySet = std::vector<std::shared_ptr<const ClientKey>>;

class Authenticator {
public:
    // Loads keys_file; throws config::ConfigError when it is unusable (start-up).
    explicit Authenticator(std::string keys_file);
    // For tests: a set given directly (reload() then reads keys_file, may be "").
    Authenticator(std::string keys_file, std::vector<ClientKey> keys);

    // The key whose SHA-256 matches `secret`, or null. Every key is compared, in constant
    // time each, so the answer's timing says nothing about which bytes matched.
    std::shared_ptr<const ClientKey> authenticate(std::string_view secret) const;

    // The current key named `name`, or null (a reload removed it). Client secrets are
    // bound to a name, so a key's removal also ends the secrets issued for it.
    std::shared_ptr<const ClientKey> find_by_name(std::string_view name) const;

    // Reads keys_file again. On success the new set serves new handshakes and nullopt is
    // returned; otherwise the old set stays and the reason comes back (for the log).
    std::optional<std::string> reload();

    std::size_t key_count() const;

private:
    // Attaches usage records: the previous set's for the same name, else new ones.
    static std::shared_ptr<const KeySet> with_usage(std::vector<ClientKey> keys,
                                                    const std::shared_ptr<const KeySet>& previous);
    std::shared_ptr<const KeySet> current() const;

    const std::string keys_file_;
    mutable std::mutex mutex_;
    std::shared_ptr<const KeySet> keys_;  // guarded by mutex_
};

}  // namespace voxgate::auth
