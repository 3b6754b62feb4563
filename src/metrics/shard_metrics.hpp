#pragma once
// Per-shard metric handles. Each shard thread updates its own ShardMetrics with
// relaxed atomics (no lock, no label hashing on the hot path); the /metrics handler
// sums all shards into prometheus-cpp families at scrape time (metrics/collector.hpp).
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace voxgate::metrics {

class Counter {
public:
    void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> value_{0};
};

class Gauge {
public:
    void add(std::int64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
    void sub(std::int64_t n = 1) noexcept { value_.fetch_sub(n, std::memory_order_relaxed); }
    void set(std::int64_t n) noexcept { value_.store(n, std::memory_order_relaxed); }
    std::int64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::int64_t> value_{0};
};

// Fixed-bucket histogram written by one shard thread. Observations are per response,
// never per token (docs/style.md, "Metrics").
class Histogram {
public:
    explicit Histogram(std::span<const double> upper_bounds);
    void observe(double value) noexcept;

    struct Snapshot {
        std::vector<std::uint64_t> bucket_counts;  // non-cumulative, last = +Inf
        std::uint64_t count = 0;
        double sum = 0;
    };
    Snapshot snapshot() const;
    std::span<const double> upper_bounds() const { return upper_bounds_; }

private:
    std::vector<double> upper_bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // upper_bounds_.size() + 1
    std::atomic<std::uint64_t> count_{0};
    std::atomic<double> sum_{0};
};

// Latency buckets in seconds, from 100 us to 30 s.
std::span<const double> latency_buckets();

enum class HttpPath : std::uint8_t { healthz, readyz, metrics, realtime, client_secrets, console, twilio, other };
inline constexpr std::size_t http_path_count = 8;
const char* http_path_label(HttpPath path);

enum class ResponseStatus : std::uint8_t { completed, cancelled, incomplete, failed };
inline constexpr std::size_t response_status_count = 4;
const char* response_status_label(ResponseStatus status);

// Why a /v1/realtime client was refused (voxgate_auth_rejections_total{reason}).
// The client_secret_* reasons are handshakes presenting an "ek_" secret that is unknown
// (never issued, used, or its key removed), expired, or offered for a resume.
enum class AuthRejection : std::uint8_t {
    missing_api_key,
    invalid_api_key,
    origin_not_allowed,
    model_not_allowed,
    client_secret_unknown,
    client_secret_expired,
    client_secret_resume,
    twilio_signature,  // /v1/twilio without a valid X-Twilio-Signature
};
inline constexpr std::size_t auth_rejection_count = 8;
const char* auth_rejection_label(AuthRejection reason);

// Which per-key limit refused a session or response (voxgate_rate_limited_total{limit}).
enum class KeyLimit : std::uint8_t { max_sessions, responses_per_minute, tokens_per_minute };
inline constexpr std::size_t key_limit_count = 3;
const char* key_limit_label(KeyLimit limit);

// HTTP status codes are counted in a flat table indexed by code (100..599); scrape
// emits only the non-zero ones, so label cardinality stays bounded by what happened.
class StatusCodeCounters {
public:
    static constexpr int transport_error = 0;  // upstream: no HTTP status (connect/TLS/reset)
    void inc(int status) noexcept { slots_[slot(status)].inc(); }
    template <class Visit>
    void for_each_nonzero(Visit&& visit) const {
        for (std::size_t i = 0; i < slots_.size(); ++i)
            if (auto v = slots_[i].value()) visit(i == 0 ? 0 : static_cast<int>(i) + 99, v);
    }

private:
    static std::size_t slot(int status) noexcept {
        return status >= 100 && status <= 599 ? static_cast<std::size_t>(status - 99) : 0;
    }
    std::array<Counter, 501> slots_;
};

// Why the gateway refused or closed a connection on its own (voxgate_connections_closed_total{reason}).
enum class ConnectionClose : std::uint8_t {
    max_connections,         // refused at accept: limits.max_connections
    max_connections_per_ip,  // refused at accept: limits.max_connections_per_ip
    handshake_rate,          // refused at accept: limits.max_handshakes_per_second_per_ip
    peer_table_full,         // refused at accept: too many distinct client addresses tracked
    handshake_timeout,       // accept -> TLS -> HTTP request -> upgrade took too long
    idle_timeout,            // nothing received for limits.idle_timeout_seconds
    slow_client,             // no write progress for limits.slow_client_timeout_seconds
    message_timeout,         // a started message did not complete in limits.message_timeout_seconds
    ping_rate,               // more than limits.max_pings_per_second
    send_queue_overflow,     // send queue past 8x limits.send_queue_bytes
    close_timeout,           // the peer did not answer our close frame in time
};
inline constexpr std::size_t connection_close_count = 11;
const char* connection_close_label(ConnectionClose reason);

struct ProviderMetrics {
    StatusCodeCounters requests;  // voxgate_upstream_requests_total{provider,code}
    Histogram first_byte_seconds{latency_buckets()};
    // Resilience (upstream/resilience/): this shard's view of the provider.
    Gauge circuit_state;            // 0 closed, 1 open, 2 half-open (resilience::CircuitState)
    Counter circuit_opened;         // closed/half-open -> open
    Counter circuit_fast_fails;     // attempts refused because the circuit was open
    Counter retries_denied;         // retries the retry budget refused
    Gauge pending_requests;         // sent, waiting for the response head
    Counter overloaded;             // attempts refused at max_pending_requests
    // Speech services only (the LLM engine counts its retries in ShardMetrics::upstream_retries).
    Counter retries;                // voxgate_speech_retries_total{provider}
};

// The speech services of kind openai appear in the upstream families under these provider
// labels (voxgate_upstream_requests_total{provider="speech_to_text"}, ...).
enum class SpeechService : std::uint8_t { speech_to_text, text_to_speech };
inline constexpr std::size_t speech_service_count = 2;
const char* speech_service_label(SpeechService service);

struct alignas(64) ShardMetrics {
    explicit ShardMetrics(std::size_t provider_count) : providers(provider_count) {}

    // transport (issue: gateway core)
    Gauge connections_active;  // open WebSocket connections
    Counter connections_total;
    Counter ws_messages_received;
    Counter ws_messages_sent;
    Counter ws_bytes_sent;
    Counter ws_writes;  // transport writes carrying them: frames queued together share one
    Gauge tcp_connections_open;  // every accepted TCP connection still open
    Gauge ws_send_queue_bytes;   // bytes queued for WebSocket clients, all connections
    Counter ws_backpressure;     // times a client's send queue crossed its high-water mark
    Counter accept_errors;       // accept() failures (EMFILE, ENOMEM...)
    std::array<Counter, connection_close_count> connections_closed;
    void connection_closed(ConnectionClose reason) noexcept {
        connections_closed[static_cast<std::size_t>(reason)].inc();
    }
    std::array<StatusCodeCounters, http_path_count> http_requests;
    // exceptions stopped by the barrier (metrics/failure_barrier.hpp)
    Counter internal_errors;
    void http_request(HttpPath path, int status) noexcept {
        http_requests[static_cast<std::size_t>(path)].inc(status);
    }

    // realtime responses
    Gauge responses_active;  // responses streaming now; shutdown drains these
    std::array<Counter, response_status_count> responses;
    void response_done(ResponseStatus status) noexcept { responses[static_cast<std::size_t>(status)].inc(); }
    Histogram response_first_token_seconds{latency_buckets()};
    Histogram response_duration_seconds{latency_buckets()};
    Histogram gateway_overhead_seconds{latency_buckets()};
    Counter tokens_streamed;
    Counter sessions_resumed;
    Counter resumes_failed;   // ?session_id= of an unknown, expired or another key's session
    Counter resumes_refused;  // resume handshakes refused: the address used up its failed resumes
    Counter sessions_evicted;     // detached conversations evicted at sessions.max_stored
    Counter sessions_store_full;  // handshakes refused: sessions.max_stored live sessions
    // Twilio Media Streams (session/twilio_bridge.hpp)
    Counter twilio_streams;       // calls whose `start` opened a session
    Counter twilio_marks_skipped; // audio sent without a mark: the bridge's outstanding marks were full
    // per-conversation bounds (limits.max_conversation_bytes, max_response_bytes, history caps)
    Counter conversation_items_evicted;
    Counter conversation_too_large;  // events refused: the item or settings alone do not fit
    Counter responses_size_limited;  // responses ended incomplete at limits.max_response_bytes
    // input audio
    Counter input_audio_buffer_full;   // appends refused at limits.max_input_audio_seconds
    Counter input_audio_committed;     // utterances committed (by hand or by server VAD)
    Counter transcriptions_completed;
    Counter transcriptions_failed;     // recogniser error, busy (speech_to_text.max_pending) or off
    Histogram stt_seconds{latency_buckets()};  // utterance committed -> transcript back
    Counter input_audio_ms;            // audio appended by clients, in milliseconds
    // spoken replies
    Histogram time_to_first_audio_seconds{latency_buckets()};  // speech_stopped -> first audio delta queued
    Counter output_audio_ms;           // reply audio queued to clients, in milliseconds
    Counter speech_failed;             // responses whose speech failed (text_to_speech error or busy)
    // spoken output (text_to_speech providers)
    Histogram tts_first_byte_seconds{latency_buckets()};  // synthesize() -> its first audio on the shard
    Counter tts_busy;  // syntheses refused at text_to_speech.max_pending (speech_busy)

    // client authentication and per-key limits
    std::array<Counter, auth_rejection_count> auth_rejections;
    void auth_rejected(AuthRejection reason) noexcept { auth_rejections[static_cast<std::size_t>(reason)].inc(); }
    std::array<Counter, key_limit_count> rate_limited;
    Counter client_secrets_issued;      // POST /v1/realtime/client_secrets answered 200
    Counter client_secrets_store_full;  // refused with 503: auth.max_client_secrets stored
    void rate_limit_hit(KeyLimit limit) noexcept { rate_limited[static_cast<std::size_t>(limit)].inc(); }

    // upstream; providers indexed as in Config::providers
    std::vector<ProviderMetrics> providers;
    // The speech services' requests, retries and circuit breaker, indexed by SpeechService.
    std::array<ProviderMetrics, speech_service_count> speech_upstreams;
    ProviderMetrics& speech_upstream(SpeechService service) { return speech_upstreams[static_cast<std::size_t>(service)]; }
    Counter upstream_retries;
    Counter upstream_fallbacks;
};

}  // namespace voxgate::metrics
