#pragma once
// Admission of accepted TCP connections (nginx limit_conn / limit_req, Envoy's
// global_downstream_max_connections), decided at accept, before a byte is read:
//  - limits.max_connections: every TCP connection of the process (HTTP, TLS detection,
//    handshakes, WebSockets, closing ones), counted increment-then-check so shards that
//    accept in parallel can never overshoot it;
//  - limits.max_connections_per_ip and limits.max_handshakes_per_second_per_ip (a token
//    bucket per client address).
// A connection holds its ConnectionSlot for as long as its socket lives: the object that
// owns the socket owns the slot, and the counts drop when it dies.
//
// Per-address state is bounded: an entry exists only while its address has connections
// or a bucket that has not refilled yet, and the table has a fixed capacity. The table is
// sharded by address; a shard's mutex is held only to update one entry, never across I/O.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "limits/token_bucket.hpp"
#include "voxgate/config.hpp"
#include "voxgate/net.hpp"
#include "voxgate/peer_key.hpp"

namespace voxgate::metrics {
class Gauge;
}

namespace voxgate::server {

class ConnectionAdmission;

enum class Admission : std::uint8_t { admitted, max_connections, max_connections_per_ip, handshake_rate, peer_table_full };

// Move-only proof that one accepted connection is counted; releases the count when it dies.
class ConnectionSlot {
public:
    ConnectionSlot() = default;
    ConnectionSlot(ConnectionSlot&& other) noexcept { *this = std::move(other); }
    ConnectionSlot& operator=(ConnectionSlot&& other) noexcept;
    ConnectionSlot(const ConnectionSlot&) = delete;
    ConnectionSlot& operator=(const ConnectionSlot&) = delete;
    ~ConnectionSlot() { release(); }

    explicit operator bool() const { return owner_ != nullptr; }

private:
    friend class ConnectionAdmission;
    void release() noexcept;

    ConnectionAdmission* owner_ = nullptr;
    metrics::Gauge* open_gauge_ = nullptr;  // the accepting shard's voxgate_tcp_connections_open
    PeerKey peer_{};
    bool per_peer_ = false;
};

class ConnectionAdmission {
public:
    using clock = std::chrono::steady_clock;

    // Counts a connection from `peer` and returns its slot, or the limit that refuses it
    // (then nothing stays counted). `open_gauge` is the accepting shard's gauge.
    Admission admit(const asio::ip::address& peer, const LimitsConfig& limits, clock::time_point now,
                    metrics::Gauge& open_gauge, ConnectionSlot& slot);

    std::int64_t open_connections() const { return open_.load(std::memory_order_relaxed); }
    std::size_t tracked_peers() const;  // entries of the per-address table (tests, debugging)

private:
    friend class ConnectionSlot;

    struct PeerState {
        std::uint32_t connections = 0;
        limits::TokenBucket handshakes;  // `rate` tokens refilled per second; used when rate > 0
    };
    struct alignas(64) Shard {
        mutable std::mutex mutex;
        std::unordered_map<PeerKey, PeerState, PeerKeyHash> peers;
        clock::time_point last_prune{};
    };
    static constexpr std::size_t shard_count = 64;

    Shard& shard_of(const PeerKey& key);
    void release(const PeerKey& key) noexcept;
    // Drops the entries of `shard` that carry no connection and a full bucket.
    static void prune(Shard& shard, clock::time_point now);
    static bool idle_and_refilled(PeerState& state, clock::time_point now);

    std::atomic<std::int64_t> open_{0};
    std::array<Shard, shard_count> shards_;
};

}  // namespace voxgate::server
