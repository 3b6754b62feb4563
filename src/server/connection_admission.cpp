#include "server/connection_admission.hpp"

#include <algorithm>
#include <functional>
#include <string_view>

#include "metrics/shard_metrics.hpp"

namespace voxgate::server {

namespace {

// Entries the table may hold: enough for max_connections distinct addresses plus as many
// recently seen ones, at least 256 per shard.
std::size_t capacity_for(const LimitsConfig& limits, std::size_t shards) {
    return std::max<std::size_t>(256, (2 * limits.max_connections + shards - 1) / shards);
}

}  // namespace

ConnectionSlot& ConnectionSlot::operator=(ConnectionSlot&& other) noexcept {
    if (this != &other) {
        release();
        owner_ = std::exchange(other.owner_, nullptr);
        open_gauge_ = std::exchange(other.open_gauge_, nullptr);
        peer_ = other.peer_;
        per_peer_ = std::exchange(other.per_peer_, false);
    }
    return *this;
}

void ConnectionSlot::release() noexcept {
    auto* owner = std::exchange(owner_, nullptr);
    if (!owner) return;
    if (per_peer_) owner->release(peer_);
    owner->open_.fetch_sub(1, std::memory_order_relaxed);
    if (open_gauge_) open_gauge_->sub();
    open_gauge_ = nullptr;
    per_peer_ = false;
}

ConnectionAdmission::Shard& ConnectionAdmission::shard_of(const PeerKey& key) {
    // The low bits pick the bucket inside the map; take the shard from the high bits.
    return shards_[(PeerKeyHash{}(key) >> 40) % shard_count];
}

Admission ConnectionAdmission::admit(const asio::ip::address& peer, const LimitsConfig& limits,
                                     clock::time_point now, metrics::Gauge& open_gauge, ConnectionSlot& slot) {
    // Increment first, then check: two shards accepting at once can never both take the last slot.
    if (open_.fetch_add(1, std::memory_order_relaxed) >= static_cast<std::int64_t>(limits.max_connections)) {
        open_.fetch_sub(1, std::memory_order_relaxed);
        return Admission::max_connections;
    }
    open_gauge.add();
    ConnectionSlot counted;
    counted.owner_ = this;
    counted.open_gauge_ = &open_gauge;

    const auto per_ip = limits.max_connections_per_ip;
    const auto rate = static_cast<double>(limits.max_handshakes_per_second_per_ip);
    if (per_ip == 0 && rate == 0) {
        slot = std::move(counted);
        return Admission::admitted;
    }
    const auto capacity = capacity_for(limits, shard_count);

    counted.peer_ = peer_key_of(peer);
    auto& shard = shard_of(counted.peer_);
    std::lock_guard lock(shard.mutex);
    auto found = shard.peers.find(counted.peer_);
    if (found == shard.peers.end()) {
        if (shard.peers.size() >= capacity && now - shard.last_prune >= std::chrono::milliseconds(50)) {
            shard.last_prune = now;
            prune(shard, now);
        }
        if (shard.peers.size() >= capacity) return Admission::peer_table_full;
        // The bucket holds at most `rate` tokens (one second of handshakes), refilled at `rate`/s.
        found = shard.peers.emplace(counted.peer_, PeerState{0, limits::TokenBucket(rate, std::chrono::seconds(1), now)})
                    .first;
    }
    auto& state = found->second;
    if (rate > 0 && state.handshakes.available(now) < 1) return Admission::handshake_rate;
    if (per_ip > 0 && state.connections >= per_ip) return Admission::max_connections_per_ip;
    if (rate > 0) state.handshakes.spend(1, now);
    ++state.connections;
    counted.per_peer_ = true;
    slot = std::move(counted);
    return Admission::admitted;
}

void ConnectionAdmission::prune(Shard& shard, clock::time_point now) {
    for (auto it = shard.peers.begin(); it != shard.peers.end();)
        it = idle_and_refilled(it->second, now) ? shard.peers.erase(it) : std::next(it);
}

bool ConnectionAdmission::idle_and_refilled(PeerState& state, clock::time_point now) {
    return state.connections == 0 && state.handshakes.seconds_until_full(now) <= 0;
}

void ConnectionAdmission::release(const PeerKey& key) noexcept {
    auto& shard = shard_of(key);
    std::lock_guard lock(shard.mutex);
    auto found = shard.peers.find(key);
    if (found == shard.peers.end()) return;
    auto& state = found->second;
    if (state.connections > 0) --state.connections;
    if (state.connections > 0) return;
    // Keep the entry while its bucket is still refilling, or closing and reconnecting
    // would hand out a fresh bucket each time.
    if (idle_and_refilled(state, clock::now())) shard.peers.erase(found);
}

std::size_t ConnectionAdmission::tracked_peers() const {
    std::size_t total = 0;
    for (const auto& shard : shards_) {
        std::lock_guard lock(shard.mutex);
        total += shard.peers.size();
    }
    return total;
}

}  // namespace voxgate::server
