#pragma once
// SHA-256 of client API keys: the only form in which a key is stored or compared.
#include <optional>
#include <string>
#include <string_view>

#include "auth/client_key.hpp"

namespace voxgate::auth {

KeyDigest sha256_of(std::string_view key);
// 64 lower-case hex digits, as sha256sum prints them.
std::string to_hex(const KeyDigest& digest);
// Accepts exactly 64 hex digits (either case); nullopt otherwise.
std::optional<KeyDigest> digest_from_hex(std::string_view hex);
// Constant-time (CRYPTO_memcmp): how many leading bytes match leaks nothing.
bool same_digest(const KeyDigest& a, const KeyDigest& b);

}  // namespace voxgate::auth
