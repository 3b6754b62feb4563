#include "metrics/collector.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include <prometheus/text_serializer.h>

namespace voxgate::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(std::string name, std::string help, MetricType type) {
    MetricFamily f;
    f.name = std::move(name);
    f.help = std::move(help);
    f.type = type;
    return f;
}

ClientMetric scalar(MetricType type, double value, std::vector<ClientMetric::Label> labels = {}) {
    ClientMetric m;
    m.label = std::move(labels);
    if (type == MetricType::Counter) m.counter.value = value;
    else m.gauge.value = value;
    return m;
}

template <class Read>
void add_sum(std::vector<MetricFamily>& out, const std::vector<const ShardMetrics*>& shards, std::string name,
             std::string help, MetricType type, Read read) {
    double total = 0;
    for (auto* shard : shards) total += static_cast<double>(read(*shard));
    auto f = family(std::move(name), std::move(help), type);
    f.metric.push_back(scalar(type, total));
    out.push_back(std::move(f));
}

ClientMetric merged_histogram(const std::vector<const Histogram*>& parts, std::vector<ClientMetric::Label> labels) {
    ClientMetric m;
    m.label = std::move(labels);
    if (parts.empty()) return m;
    auto bounds = parts.front()->upper_bounds();
    std::vector<std::uint64_t> counts(bounds.size() + 1, 0);
    for (auto* part : parts) {
        auto snap = part->snapshot();
        for (std::size_t i = 0; i < counts.size(); ++i) counts[i] += snap.bucket_counts[i];
        m.histogram.sample_count += snap.count;
        m.histogram.sample_sum += snap.sum;
    }
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        cumulative += counts[i];
        double bound = i < bounds.size() ? bounds[i] : std::numeric_limits<double>::infinity();
        m.histogram.bucket.push_back({cumulative, bound});
    }
    // Buckets are read one by one while shards keep writing: keep the count consistent
    // with the +Inf bucket so the exposition is never self-contradictory.
    m.histogram.sample_count = cumulative;
    return m;
}

template <class Select>
void add_histogram(std::vector<MetricFamily>& out, const std::vector<const ShardMetrics*>& shards, std::string name,
                   std::string help, Select select) {
    std::vector<const Histogram*> parts;
    for (auto* shard : shards) parts.push_back(&select(*shard));
    auto f = family(std::move(name), std::move(help), MetricType::Histogram);
    f.metric.push_back(merged_histogram(parts, {}));
    out.push_back(std::move(f));
}

// One counter family with one label whose values are an enum's: every value is exposed,
// zero included, so a dashboard sees the series before the first event.
template <class Enum, class Read>
void add_by_label(std::vector<MetricFamily>& out, const std::vector<const ShardMetrics*>& shards, std::string name,
                  std::string help, std::string label, std::size_t count, const char* (*label_of)(Enum), Read read) {
    auto f = family(std::move(name), std::move(help), MetricType::Counter);
    for (std::size_t i = 0; i < count; ++i) {
        double total = 0;
        for (auto* shard : shards) total += static_cast<double>(read(*shard, i));
        f.metric.push_back(scalar(MetricType::Counter, total, {{label, label_of(static_cast<Enum>(i))}}));
    }
    out.push_back(std::move(f));
}

}  // namespace

Collector::Collector(std::vector<const ShardMetrics*> shards, std::vector<std::string> provider_names,
                     std::function<std::size_t()> sessions_active, std::vector<SpeechService> speech_services)
    : shards_(std::move(shards)), sessions_active_(std::move(sessions_active)) {
    for (std::size_t p = 0; p < provider_names.size(); ++p) upstreams_.push_back({std::move(provider_names[p]), p, {}});
    for (SpeechService service : speech_services) upstreams_.push_back({speech_service_label(service), 0, service});
}

const ProviderMetrics* Collector::UpstreamRow::of(const ShardMetrics& shard) const {
    if (speech) return &shard.speech_upstreams[static_cast<std::size_t>(*speech)];
    return provider < shard.providers.size() ? &shard.providers[provider] : nullptr;
}

std::vector<MetricFamily> Collector::collect() const {
    std::vector<MetricFamily> out;
    add_sum(out, shards_, "voxgate_connections_active", "Open WebSocket connections.", MetricType::Gauge,
            [](const ShardMetrics& s) { return s.connections_active.value(); });
    add_sum(out, shards_, "voxgate_connections_total", "WebSocket connections accepted.", MetricType::Counter,
            [](const ShardMetrics& s) { return s.connections_total.value(); });
    add_sum(out, shards_, "voxgate_internal_errors_total",
            "Exceptions stopped at an event-loop entry; each ended only its own connection, session or transfer.",
            MetricType::Counter, [](const ShardMetrics& s) { return s.internal_errors.value(); });
    add_sum(out, shards_, "voxgate_tcp_connections_open",
            "Accepted TCP connections still open (HTTP, handshaking, WebSocket, closing).", MetricType::Gauge,
            [](const ShardMetrics& s) { return s.tcp_connections_open.value(); });
    add_sum(out, shards_, "voxgate_ws_send_queue_bytes", "Bytes queued for WebSocket clients, not yet written.",
            MetricType::Gauge, [](const ShardMetrics& s) { return s.ws_send_queue_bytes.value(); });
    add_sum(out, shards_, "voxgate_ws_backpressure_total",
            "Times a client's send queue crossed limits.send_queue_bytes and its upstream was paused.",
            MetricType::Counter, [](const ShardMetrics& s) { return s.ws_backpressure.value(); });
    add_sum(out, shards_, "voxgate_accept_errors_total", "accept() failures (out of descriptors or memory).",
            MetricType::Counter, [](const ShardMetrics& s) { return s.accept_errors.value(); });
    add_by_label(out, shards_, "voxgate_connections_closed_total",
                 "Connections the gateway refused at accept or closed on a limit, by reason.", "reason",
                 connection_close_count, &connection_close_label,
                 [](const ShardMetrics& s, std::size_t i) { return s.connections_closed[i].value(); });
    add_sum(out, shards_, "voxgate_ws_messages_received_total", "WebSocket messages received from clients.",
            MetricType::Counter, [](const ShardMetrics& s) { return s.ws_messages_received.value(); });
    add_sum(out, shards_, "voxgate_ws_messages_sent_total", "WebSocket messages written to clients.",
            MetricType::Counter, [](const ShardMetrics& s) { return s.ws_messages_sent.value(); });
    add_sum(out, shards_, "voxgate_ws_bytes_sent_total", "WebSocket payload bytes written to clients.",
            MetricType::Counter, [](const ShardMetrics& s) { return s.ws_bytes_sent.value(); });
    add_sum(out, shards_, "voxgate_ws_writes_total",
            "Writes to client connections; frames queued together share one (messages sent / writes = frames per write).",
            MetricType::Counter, [](const ShardMetrics& s) { return s.ws_writes.value(); });
    {
        auto f = family("voxgate_sessions_active", "Conversations held (live or resumable).", MetricType::Gauge);
        f.metric.push_back(scalar(MetricType::Gauge, sessions_active_ ? static_cast<double>(sessions_active_()) : 0));
        out.push_back(std::move(f));
    }
    {
        auto f = family("voxgate_http_requests_total", "HTTP requests by path and status code.", MetricType::Counter);
        for (std::size_t p = 0; p < http_path_count; ++p) {
            std::vector<std::uint64_t> by_code(600, 0);
            for (auto* shard : shards_)
                shard->http_requests[p].for_each_nonzero([&](int code, std::uint64_t v) { by_code[code] += v; });
            for (int code = 0; code < 600; ++code)
                if (by_code[code])
                    f.metric.push_back(scalar(MetricType::Counter, static_cast<double>(by_code[code]),
                                              {{"code", std::to_string(code)},
                                               {"path", http_path_label(static_cast<HttpPath>(p))}}));
        }
        out.push_back(std::move(f));
    }
    add_by_label(out, shards_, "voxgate_responses_total", "Realtime responses by final status.", "status",
                 response_status_count, &response_status_label,
                 [](const ShardMetrics& s, std::size_t i) { return s.responses[i].value(); });
    add_histogram(out, shards_, "voxgate_response_first_token_seconds",
                  "Client response.create to first delta written.",
                  [](const ShardMetrics& s) -> const Histogram& { return s.response_first_token_seconds; });
    add_histogram(out, shards_, "voxgate_response_duration_seconds", "Client response.create to response.done.",
                  [](const ShardMetrics& s) -> const Histogram& { return s.response_duration_seconds; });
    add_histogram(out, shards_, "voxgate_gateway_overhead_seconds",
                  "From the upstream bytes carrying the first token reaching voxgate to that delta written, per response.",
                  [](const ShardMetrics& s) -> const Histogram& { return s.gateway_overhead_seconds; });
    add_sum(out, shards_, "voxgate_tokens_streamed_total", "Text deltas written to clients.", MetricType::Counter,
            [](const ShardMetrics& s) { return s.tokens_streamed.value(); });
    add_by_label(out, shards_, "voxgate_auth_rejections_total",
                 "Realtime clients refused by authentication or authorization, by reason.", "reason",
                 auth_rejection_count, &auth_rejection_label,
                 [](const ShardMetrics& s, std::size_t i) { return s.auth_rejections[i].value(); });
    add_by_label(out, shards_, "voxgate_rate_limited_total",
                 "Sessions (at the handshake) and responses refused by a per-key limit, by limit.", "limit",
                 key_limit_count, &key_limit_label,
                 [](const ShardMetrics& s, std::size_t i) { return s.rate_limited[i].value(); });
    add_sum(out, shards_, "voxgate_client_secrets_issued_total",
            "Ephemeral client secrets issued by POST /v1/realtime/client_secrets.", MetricType::Counter,
            [](const ShardMetrics& s) { return s.client_secrets_issued.value(); });
    add_sum(out, shards_, "voxgate_client_secrets_store_full_total",
            "Client secret requests refused with 503: auth.max_client_secrets secrets stored.", MetricType::Counter,
            [](const ShardMetrics& s) { return s.client_secrets_store_full.value(); });
    add_sum(out, shards_, "voxgate_sessions_resumed_total", "Sessions resumed by a reconnecting client.",
            MetricType::Counter, [](const ShardMetrics& s) { return s.sessions_resumed.value(); });
    add_sum(out, shards_, "voxgate_sessions_resume_failed_total",
            "Resumes naming an unknown, expired or another key's session (a new session was started).",
            MetricType::Counter, [](const ShardMetrics& s) { return s.resumes_failed.value(); });
    add_sum(out, shards_, "voxgate_sessions_resume_refused_total",
            "Resume handshakes refused with 429: the address used up limits.max_failed_resumes_per_minute_per_ip.",
            MetricType::Counter, [](const ShardMetrics& s) { return s.resumes_refused.value(); });
    add_sum(out, shards_, "voxgate_sessions_evicted_total",
            "Detached (resumable) conversations evicted because the store held sessions.max_stored.",
            MetricType::Counter, [](const ShardMetrics& s) { return s.sessions_evicted.value(); });
    add_sum(out, shards_, "voxgate_sessions_store_full_total",
            "Handshakes refused with 503: sessions.max_stored conversations, all live.", MetricType::Counter,
            [](const ShardMetrics& s) { return s.sessions_store_full.value(); });
    add_sum(out, shards_, "voxgate_twilio_streams_total", "Twilio Media Streams whose start opened a session.",
            MetricType::Counter, [](const ShardMetrics& s) { return s.twilio_streams.value(); });
    add_sum(out, shards_, "voxgate_twilio_marks_skipped_total",
            "Audio sent to Twilio without a playback mark: the call's outstanding marks were at their cap.",
            MetricType::Counter, [](const ShardMetrics& s) { return s.twilio_marks_skipped.value(); });
    add_sum(out, shards_, "voxgate_conversation_items_evicted_total",
            "Oldest conversation items evicted to keep a conversation within its item, character and byte caps.",
            MetricType::Counter, [](const ShardMetrics& s) { return s.conversation_items_evicted.value(); });
    add_sum(out, shards_, "voxgate_conversation_too_large_total",
            "Client events refused because one item or the session settings alone exceed limits.max_conversation_bytes.",
            MetricType::Counter, [](const ShardMetrics& s) { return s.conversation_too_large.value(); });
    add_sum(out, shards_, "voxgate_input_audio_buffer_full_total",
            "input_audio_buffer.append refused: the buffer holds limits.max_input_audio_seconds of audio.",
            MetricType::Counter, [](const ShardMetrics& s) { return s.input_audio_buffer_full.value(); });
    add_sum(out, shards_, "voxgate_input_audio_committed_total",
            "Input audio utterances committed, by the client or by server VAD.", MetricType::Counter,
            [](const ShardMetrics& s) { return s.input_audio_committed.value(); });
    add_sum(out, shards_, "voxgate_transcriptions_completed_total", "Committed utterances transcribed.",
            MetricType::Counter, [](const ShardMetrics& s) { return s.transcriptions_completed.value(); });
    add_sum(out, shards_, "voxgate_transcriptions_failed_total",
            "Committed utterances whose transcription failed (recogniser error, busy, or speech_to_text off).",
            MetricType::Counter, [](const ShardMetrics& s) { return s.transcriptions_failed.value(); });
    add_histogram(out, shards_, "voxgate_stt_seconds", "From an utterance committed to its transcript back.",
                  [](const ShardMetrics& s) -> const Histogram& { return s.stt_seconds; });
    add_sum(out, shards_, "voxgate_input_audio_seconds_total", "Input audio appended by clients, in seconds.",
            MetricType::Counter, [](const ShardMetrics& s) { return double(s.input_audio_ms.value()) / 1000; });
    add_histogram(out, shards_, "voxgate_time_to_first_audio_seconds",
                  "From input_audio_buffer.speech_stopped to the reply's first audio delta queued to the client.",
                  [](const ShardMetrics& s) -> const Histogram& { return s.time_to_first_audio_seconds; });
    add_sum(out, shards_, "voxgate_output_audio_seconds_total", "Reply audio queued to clients, in seconds.",
            MetricType::Counter, [](const ShardMetrics& s) { return double(s.output_audio_ms.value()) / 1000; });
    add_sum(out, shards_, "voxgate_speech_failed_total",
            "Spoken responses ended failed because text-to-speech failed or was busy.", MetricType::Counter,
            [](const ShardMetrics& s) { return s.speech_failed.value(); });
    add_histogram(out, shards_, "voxgate_tts_first_byte_seconds",
                  "Text-to-speech request to its first audio chunk on the session's thread.",
                  [](const ShardMetrics& s) -> const Histogram& { return s.tts_first_byte_seconds; });
    add_sum(out, shards_, "voxgate_tts_busy_total",
            "Syntheses refused with speech_busy (text_to_speech.max_pending).", MetricType::Counter,
            [](const ShardMetrics& s) { return s.tts_busy.value(); });
    add_sum(out, shards_, "voxgate_responses_size_limited_total",
            "Responses ended incomplete at limits.max_response_bytes.", MetricType::Counter,
            [](const ShardMetrics& s) { return s.responses_size_limited.value(); });
    add_sum(out, shards_, "voxgate_upstream_retries_total", "Upstream request retries (before the first token).",
            MetricType::Counter, [](const ShardMetrics& s) { return s.upstream_retries.value(); });
    add_sum(out, shards_, "voxgate_upstream_fallbacks_total", "Responses moved to the next provider of a route.",
            MetricType::Counter, [](const ShardMetrics& s) { return s.upstream_fallbacks.value(); });
    {
        auto requests = family("voxgate_upstream_requests_total",
                               "Upstream requests by provider and HTTP status (0 = no HTTP response).",
                               MetricType::Counter);
        auto first_byte = family("voxgate_upstream_first_byte_seconds",
                                 "Upstream request start to first response body byte.", MetricType::Histogram);
        for (const UpstreamRow& row : upstreams_) {
            std::vector<std::uint64_t> by_code(600, 0);
            std::vector<const Histogram*> parts;
            for (auto* shard : shards_) {
                const ProviderMetrics* metrics = row.of(*shard);
                if (metrics == nullptr) continue;
                metrics->requests.for_each_nonzero([&](int code, std::uint64_t v) { by_code[code] += v; });
                parts.push_back(&metrics->first_byte_seconds);
            }
            for (int code = 0; code < 600; ++code)
                if (by_code[code])
                    requests.metric.push_back(scalar(MetricType::Counter, static_cast<double>(by_code[code]),
                                                     {{"code", std::to_string(code)}, {"provider", row.label}}));
            first_byte.metric.push_back(merged_histogram(parts, {{"provider", row.label}}));
        }
        out.push_back(std::move(requests));
        out.push_back(std::move(first_byte));
    }
    collect_provider_resilience(out);
    collect_process_metrics(out);
    return out;
}

// Each shard has its own breaker per provider; the exposition shows the worst one, open
// before half-open before closed, so one sick shard is visible without a shard label.
void Collector::collect_provider_resilience(std::vector<MetricFamily>& out) const {
    auto state = family("voxgate_upstream_circuit_state",
                        "Circuit breaker per provider, worst shard: 0 closed, 1 open, 2 half-open.", MetricType::Gauge);
    auto opened = family("voxgate_upstream_circuit_opened_total", "Times a provider's circuit breaker opened.",
                         MetricType::Counter);
    auto fast_fails = family("voxgate_upstream_circuit_fast_fails_total",
                             "Attempts refused at once because the provider's circuit was open.", MetricType::Counter);
    auto denied = family("voxgate_upstream_retries_denied_total",
                         "Retries the provider's retry budget refused (the response moved on instead).",
                         MetricType::Counter);
    auto pending = family("voxgate_upstream_pending_requests",
                          "Upstream requests sent and waiting for the response head.", MetricType::Gauge);
    auto overloaded = family("voxgate_upstream_overloaded_total",
                             "Attempts refused because max_pending_requests were already waiting.", MetricType::Counter);
    auto speech_retries = family("voxgate_speech_retries_total",
                                 "Retries of speech-to-text and text-to-speech requests after a transient failure.",
                                 MetricType::Counter);
    const auto severity = [](std::int64_t value) { return value == 1 ? 2 : value == 2 ? 1 : 0; };
    for (const UpstreamRow& row : upstreams_) {
        std::int64_t worst = 0;
        double opened_sum = 0, fast_fail_sum = 0, denied_sum = 0, pending_sum = 0, overloaded_sum = 0, retry_sum = 0;
        for (auto* shard : shards_) {
            const ProviderMetrics* metrics = row.of(*shard);
            if (metrics == nullptr) continue;
            if (severity(metrics->circuit_state.value()) > severity(worst)) worst = metrics->circuit_state.value();
            opened_sum += static_cast<double>(metrics->circuit_opened.value());
            fast_fail_sum += static_cast<double>(metrics->circuit_fast_fails.value());
            denied_sum += static_cast<double>(metrics->retries_denied.value());
            pending_sum += static_cast<double>(metrics->pending_requests.value());
            overloaded_sum += static_cast<double>(metrics->overloaded.value());
            retry_sum += static_cast<double>(metrics->retries.value());
        }
        const std::vector<ClientMetric::Label> labels{{"provider", row.label}};
        state.metric.push_back(scalar(MetricType::Gauge, static_cast<double>(worst), labels));
        opened.metric.push_back(scalar(MetricType::Counter, opened_sum, labels));
        fast_fails.metric.push_back(scalar(MetricType::Counter, fast_fail_sum, labels));
        denied.metric.push_back(scalar(MetricType::Counter, denied_sum, labels));
        if (row.speech) {
            // A speech service has no pending limit of its own here (its max_pending refuses
            // with transcription_busy / speech_busy), but it has its own retry count.
            speech_retries.metric.push_back(scalar(MetricType::Counter, retry_sum, labels));
            continue;
        }
        pending.metric.push_back(scalar(MetricType::Gauge, pending_sum, labels));
        overloaded.metric.push_back(scalar(MetricType::Counter, overloaded_sum, labels));
    }
    for (auto* f : {&state, &opened, &fast_fails, &denied, &pending, &overloaded, &speech_retries})
        out.push_back(std::move(*f));
}

std::string Collector::scrape() const { return prometheus::TextSerializer{}.Serialize(collect()); }

void collect_process_metrics(std::vector<MetricFamily>& out) {
    static const long ticks_per_second = ::sysconf(_SC_CLK_TCK);
    static const long page_size = ::sysconf(_SC_PAGESIZE);

    // /proc/self/stat: fields after the parenthesised command name; see proc(5).
    std::ifstream stat_file("/proc/self/stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
    auto close_paren = stat.rfind(')');
    std::vector<std::string> fields;
    if (close_paren != std::string::npos) {
        std::istringstream rest(stat.substr(close_paren + 2));
        for (std::string field; rest >> field;) fields.push_back(field);
    }
    // fields[0] is field 3 (state): utime = field 14, stime = 15, starttime = 22, vsize = 23, rss = 24.
    auto field = [&](int number) -> double {
        std::size_t index = static_cast<std::size_t>(number - 3);
        return index < fields.size() ? std::strtod(fields[index].c_str(), nullptr) : 0.0;
    };
    double boot_time = 0;
    {
        std::ifstream proc_stat("/proc/stat");
        for (std::string key; proc_stat >> key;) {
            if (key == "btime") {
                proc_stat >> boot_time;
                break;
            }
        }
    }
    std::size_t open_fds = 0;
    if (DIR* dir = ::opendir("/proc/self/fd")) {
        while (auto* entry = ::readdir(dir))
            if (entry->d_name[0] != '.') ++open_fds;
        ::closedir(dir);
        if (open_fds > 0) --open_fds;  // the directory stream's own descriptor
    }
    rlimit fd_limit{};
    ::getrlimit(RLIMIT_NOFILE, &fd_limit);

    auto add = [&](const char* name, const char* help, MetricType type, double value) {
        auto f = family(name, help, type);
        f.metric.push_back(scalar(type, value));
        out.push_back(std::move(f));
    };
    add("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", MetricType::Counter,
        (field(14) + field(15)) / static_cast<double>(ticks_per_second));
    add("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
        field(24) * static_cast<double>(page_size));
    add("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge, field(23));
    add("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, static_cast<double>(open_fds));
    add("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
        static_cast<double>(fd_limit.rlim_cur));
    add("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", MetricType::Gauge,
        boot_time + field(22) / static_cast<double>(ticks_per_second));
}

}  // namespace voxgate::metrics
