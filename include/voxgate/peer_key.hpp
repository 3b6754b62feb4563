#pragma once
// A client address as a fixed-size map key: IPv6 bytes, IPv4 as v4-mapped, so one client
// is one key whichever family its socket used. Per-address tables (connection admission,
// failed resumes) key on it.
#include <array>
#include <cstdint>
#include <functional>
#include <string_view>

#include <boost/asio/ip/address.hpp>

namespace voxgate {

using PeerKey = std::array<std::uint8_t, 16>;

inline PeerKey peer_key_of(const boost::asio::ip::address& address) {
    namespace ip = boost::asio::ip;
    auto v6 = address.is_v4() ? ip::make_address_v6(ip::v4_mapped, address.to_v4()) : address.to_v6();
    return v6.to_bytes();
}

struct PeerKeyHash {
    std::size_t operator()(const PeerKey& key) const noexcept {
        return std::hash<std::string_view>{}(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
    }
};

}  // namespace voxgate
