// The per-address admission table: bounded, and it forgets addresses that went quiet.
// Pure: the caller passes the time.
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "metrics/shard_metrics.hpp"
#include "server/connection_admission.hpp"

namespace voxgate::server {
namespace {

using namespace std::chrono_literals;

asio::ip::address nth_address(std::uint32_t base, std::uint32_t i) { return asio::ip::address_v4(base + i); }

TEST(ConnectionAdmission, CountsAreReleasedWhenTheSlotsDie) {
    ConnectionAdmission admission;
    LimitsConfig limits;
    limits.max_connections = 3;
    metrics::Gauge open;
    auto now = std::chrono::steady_clock::now();
    std::vector<ConnectionSlot> slots(4);
    for (std::uint32_t i = 0; i < 3; ++i)
        EXPECT_EQ(admission.admit(nth_address(0x0a000000, i), limits, now, open, slots[i]), Admission::admitted);
    EXPECT_EQ(admission.admit(nth_address(0x0a000000, 3), limits, now, open, slots[3]), Admission::max_connections);
    EXPECT_FALSE(slots[3]);
    EXPECT_EQ(open.value(), 3);
    slots.clear();
    EXPECT_EQ(admission.open_connections(), 0);
    EXPECT_EQ(open.value(), 0);
}

TEST(ConnectionAdmission, PerAddressConnectionsAndHandshakeRate) {
    ConnectionAdmission admission;
    LimitsConfig limits;
    limits.max_connections_per_ip = 2;
    limits.max_handshakes_per_second_per_ip = 3;
    metrics::Gauge open;
    auto now = std::chrono::steady_clock::now();
    auto peer = asio::ip::make_address("192.0.2.1");
    ConnectionSlot a, b, c, d;
    EXPECT_EQ(admission.admit(peer, limits, now, open, a), Admission::admitted);
    EXPECT_EQ(admission.admit(peer, limits, now, open, b), Admission::admitted);
    EXPECT_EQ(admission.admit(peer, limits, now, open, c), Admission::max_connections_per_ip);
    a = ConnectionSlot{};
    EXPECT_EQ(admission.admit(peer, limits, now, open, c), Admission::admitted);  // third token
    b = ConnectionSlot{};
    EXPECT_EQ(admission.admit(peer, limits, now, open, d), Admission::handshake_rate);  // bucket empty
    EXPECT_EQ(admission.admit(peer, limits, now + 1s, open, d), Admission::admitted);  // refilled
    EXPECT_EQ(admission.open_connections(), 2);
}

TEST(ConnectionAdmission, AddressTableIsBoundedAndForgetsQuietAddresses) {
    ConnectionAdmission admission;
    LimitsConfig limits;
    limits.max_connections = 1000;  // table capacity: 256 entries per shard, 64 shards
    limits.max_connections_per_ip = 10;
    limits.max_handshakes_per_second_per_ip = 50;
    metrics::Gauge open;
    // release() reads the real clock: admitting "an hour from now" keeps every bucket
    // refilling however slowly this loop runs.
    auto now = std::chrono::steady_clock::now() + 1h;
    // Many addresses, one connection each, closed at once: their buckets are still
    // refilling, so their entries stay, until the table is full.
    int table_full = 0;
    for (std::uint32_t i = 0; i < 100000; ++i) {
        ConnectionSlot slot;
        if (admission.admit(nth_address(0x0a000000, i), limits, now, open, slot) == Admission::peer_table_full)
            ++table_full;
    }
    EXPECT_GT(table_full, 0);
    EXPECT_LE(admission.tracked_peers(), 64u * 256u);
    EXPECT_EQ(admission.open_connections(), 0);
    // A second later every one of those buckets has refilled: a full shard forgets them.
    ConnectionSlot later;
    EXPECT_EQ(admission.admit(nth_address(0x0b000000, 0), limits, now + 2s, open, later), Admission::admitted);
    EXPECT_LT(admission.tracked_peers(), 64u * 256u);
}

}  // namespace
}  // namespace voxgate::server
