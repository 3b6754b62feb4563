#include "session/session_id.hpp"

#include "protocol/random_bytes.hpp"

namespace voxgate::session {

SessionId SessionId::random() {
    // The id is the resume credential: 128 bits from the OS CSPRNG, never derived from
    // anything a client sees (conversation and item ids are drawn separately).
    SessionId id;
    protocol::random_bytes(id.bytes);
    return id;
}

std::optional<SessionId> SessionId::parse(std::string_view text) {
    constexpr std::string_view prefix = "sess_";
    if (text.size() != prefix.size() + 32 || text.substr(0, prefix.size()) != prefix) return std::nullopt;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    SessionId id;
    for (std::size_t i = 0; i < 16; ++i) {
        int hi = nibble(text[prefix.size() + 2 * i]);
        int lo = nibble(text[prefix.size() + 2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        id.bytes[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return id;
}

std::string SessionId::str() const {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out = "sess_";
    out.reserve(5 + 32);
    for (auto b : bytes) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0xf]);
    }
    return out;
}

}  // namespace voxgate::session
