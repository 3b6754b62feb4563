#pragma once
// A session id: 16 random bytes, shown to clients as "sess_" + 32 lowercase hex digits.
#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace voxgate::session {

struct SessionId {
    std::array<std::uint8_t, 16> bytes{};

    static SessionId random();
    static std::optional<SessionId> parse(std::string_view text);  // "sess_<32 hex>"
    std::string str() const;

    friend bool operator==(const SessionId&, const SessionId&) = default;
};

struct SessionIdHash {
    std::size_t operator()(const SessionId& id) const noexcept {
        // The bytes are random: any 8 of them are a good hash.
        std::size_t h;
        std::memcpy(&h, id.bytes.data(), sizeof h);
        return h;
    }
};

}  // namespace voxgate::session
