#include "metrics/shard_metrics.hpp"

#include <algorithm>

namespace voxgate::metrics {

Histogram::Histogram(std::span<const double> upper_bounds)
    : upper_bounds_(upper_bounds.begin(), upper_bounds.end()),
      buckets_(new std::atomic<std::uint64_t>[upper_bounds.size() + 1]) {
    for (std::size_t i = 0; i <= upper_bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double value) noexcept {
    auto bucket = static_cast<std::size_t>(
        std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) - upper_bounds_.begin());
    buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    // One writer per shard: a load + store is enough, the scraper only reads.
    sum_.store(sum_.load(std::memory_order_relaxed) + value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
    Snapshot snap;
    snap.bucket_counts.resize(upper_bounds_.size() + 1);
    for (std::size_t i = 0; i <= upper_bounds_.size(); ++i)
        snap.bucket_counts[i] = buckets_[i].load(std::memory_order_relaxed);
    snap.count = count_.load(std::memory_order_relaxed);
    snap.sum = sum_.load(std::memory_order_relaxed);
    return snap;
}

std::span<const double> latency_buckets() {
    static constexpr double bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10, 30};
    return bounds;
}

const char* http_path_label(HttpPath path) {
    switch (path) {
        case HttpPath::healthz: return "/healthz";
        case HttpPath::readyz: return "/readyz";
        case HttpPath::metrics: return "/metrics";
        case HttpPath::realtime: return "/v1/realtime";
        case HttpPath::client_secrets: return "/v1/realtime/client_secrets";
        case HttpPath::console: return "/console";
        case HttpPath::twilio: return "/v1/twilio";
        case HttpPath::other: break;
    }
    return "other";
}

const char* response_status_label(ResponseStatus status) {
    switch (status) {
        case ResponseStatus::completed: return "completed";
        case ResponseStatus::cancelled: return "cancelled";
        case ResponseStatus::incomplete: return "incomplete";
        case ResponseStatus::failed: break;
    }
    return "failed";
}

const char* connection_close_label(ConnectionClose reason) {
    switch (reason) {
        case ConnectionClose::max_connections: return "max_connections";
        case ConnectionClose::max_connections_per_ip: return "max_connections_per_ip";
        case ConnectionClose::handshake_rate: return "handshake_rate";
        case ConnectionClose::peer_table_full: return "peer_table_full";
        case ConnectionClose::handshake_timeout: return "handshake_timeout";
        case ConnectionClose::idle_timeout: return "idle_timeout";
        case ConnectionClose::slow_client: return "slow_client";
        case ConnectionClose::message_timeout: return "message_timeout";
        case ConnectionClose::ping_rate: return "ping_rate";
        case ConnectionClose::send_queue_overflow: return "send_queue_overflow";
        case ConnectionClose::close_timeout: break;
    }
    return "close_timeout";
}

const char* auth_rejection_label(AuthRejection reason) {
    switch (reason) {
        case AuthRejection::missing_api_key: return "missing_api_key";
        case AuthRejection::invalid_api_key: return "invalid_api_key";
        case AuthRejection::origin_not_allowed: return "origin_not_allowed";
        case AuthRejection::model_not_allowed: return "model_not_allowed";
        case AuthRejection::client_secret_unknown: return "client_secret_unknown";
        case AuthRejection::client_secret_expired: return "client_secret_expired";
        case AuthRejection::client_secret_resume: return "client_secret_resume";
        case AuthRejection::twilio_signature: break;
    }
    return "twilio_signature";
}

const char* key_limit_label(KeyLimit limit) {
    switch (limit) {
        case KeyLimit::max_sessions: return "max_sessions";
        case KeyLimit::responses_per_minute: return "responses_per_minute";
        case KeyLimit::tokens_per_minute: break;
    }
    return "tokens_per_minute";
}

const char* speech_service_label(SpeechService service) {
    return service == SpeechService::speech_to_text ? "speech_to_text" : "text_to_speech";
}

}  // namespace voxgate::metrics
