// What the gateway adds to a model's latency, end to end: many Realtime sessions at once
// against an in-process gateway (TestGateway: the real Runtime, shards, sessions, upstream
// engine and curl, on 127.0.0.1) routed to a MockUpstream that streams at a fixed pace over
// plain HTTP. The mock, the gateway and the clients share this machine's cores, so the
// numbers are an upper bound on the gateway's own cost.
//
// Per run: `sessions` client threads each connect, then do `turns` turns
// (conversation.item.create + response.create, read to response.done) at the same time.
// Reported:
//   - from /metrics: p50/p90/p99 of voxgate_gateway_overhead_seconds and
//     voxgate_response_first_token_seconds, estimated from the histogram buckets with
//     linear interpolation inside the bucket that holds the rank (as Prometheus'
//     histogram_quantile does), so they are only as fine as the buckets;
//   - measured at the client: (response.create sent -> first response.output_text.delta
//     read) minus the mock's configured first-token delay, median/p90/p99 over all turns.
//     That difference is everything that is not the model: client->gateway frame, event
//     decoding, the provider request through curl, the mock's own handling, the SSE
//     decoding and the frame back to the client.
// Caveat, seen in the numbers: voxgate_gateway_overhead_seconds is taken from the provider's
// first body byte to the first delta, and both providers send a preamble (OpenAI's role
// chunk, Anthropic's message_start) before the model's first token, so that metric
// contains the model's own first-token wait (here the mock's first_ms). The client-side
// difference is the figure that isolates what the gateway path adds.
//
// The whole thing runs `runs` times, each with a fresh gateway and mock; medians of the
// runs are printed last.
//
//   bench_realtime_overhead [--runs N] [--sessions N] [--turns N] [--tokens N]
//                           [--first-ms N] [--gap-ms N] [--threads N]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <limits>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_stats.hpp"
#include "support/mock_upstream.hpp"
#include "support/test_gateway.hpp"
#include "support/ws_client.hpp"

namespace {

using namespace voxgate;
using namespace voxgate::test;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Settings {
    int runs = 3;
    int sessions = 100;
    int turns = 10;
    int tokens = 20;
    int first_ms = 20;
    int gap_ms = 5;
    unsigned threads = 2;  // gateway shards
};

Settings parse(int argc, char** argv) {
    Settings settings;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        const int value = std::atoi(argv[i + 1]);
        if (flag == "--runs") settings.runs = value;
        else if (flag == "--sessions") settings.sessions = value;
        else if (flag == "--turns") settings.turns = value;
        else if (flag == "--tokens") settings.tokens = value;
        else if (flag == "--first-ms") settings.first_ms = value;
        else if (flag == "--gap-ms") settings.gap_ms = value;
        else if (flag == "--threads") settings.threads = static_cast<unsigned>(value);
        else {
            std::fprintf(stderr, "unknown flag %s\n", argv[i]);
            std::exit(2);
        }
    }
    return settings;
}

Config gateway_config(const MockUpstream& mock, const Settings& settings) {
    Config config = test_config();
    config.server.threads = settings.threads;
    config.log.level = "warn";
    ProviderConfig provider;
    provider.name = "mock";
    provider.kind = "openai";
    provider.base_url = mock.base_url() + "/v1";
    provider.api_key = "sk-bench-dummy";
    provider.timeouts.first_token = std::chrono::seconds(60);
    provider.timeouts.idle = std::chrono::seconds(60);
    provider.timeouts.total = std::chrono::seconds(300);
    config.providers = {provider};
    config.routes = {{"*", {"mock"}}};
    return config;
}

// A start line for the client threads: every session connects before any turn begins.
class StartLine {
public:
    explicit StartLine(int parties) : waiting_(parties) {}
    void arrive_and_wait() {
        std::unique_lock lock(mutex_);
        if (--waiting_ == 0) cv_.notify_all();
        cv_.wait(lock, [&] { return waiting_ <= 0; });
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    int waiting_;
};

struct SessionResult {
    std::vector<double> first_delta_extra_ms;  // per turn: client first-delta latency - first_ms
    int completed = 0;
    int failed = 0;
    std::string error;
};

void run_session(std::uint16_t port, const Settings& settings, StartLine& start, SessionResult& result) {
    std::unique_ptr<WsClient> client;
    try {
        client = WsClient::connect(port, {.read_timeout = std::chrono::seconds(120)});
        if (client->read_json().value("type", "") != "session.created") throw std::runtime_error("no session.created");
    } catch (const std::exception& e) {
        result.error = e.what();
        start.arrive_and_wait();
        return;
    }
    start.arrive_and_wait();
    const std::string directive = " [mock tokens=" + std::to_string(settings.tokens) +
                                  " first_ms=" + std::to_string(settings.first_ms) +
                                  " gap_ms=" + std::to_string(settings.gap_ms) + "]";
    try {
        for (int turn = 0; turn < settings.turns; ++turn) {
            const json item = {{"type", "conversation.item.create"},
                               {"item",
                                {{"type", "message"},
                                 {"role", "user"},
                                 {"content", {{{"type", "input_text"}, {"text", "turn " + std::to_string(turn) + directive}}}}}}};
            client->send_text(item.dump());
            const auto sent_at = Clock::now();
            client->send_text(R"({"type":"response.create"})");
            bool first = true;
            for (;;) {
                auto message = client->read();
                if (!message) throw std::runtime_error("connection lost: " + client->error().message());
                // Cheap type check first: the delta path must not be slowed by a DOM parse.
                if (first && message->find("\"response.output_text.delta\"") != std::string::npos) {
                    first = false;
                    const std::chrono::duration<double, std::milli> latency = Clock::now() - sent_at;
                    result.first_delta_extra_ms.push_back(latency.count() - settings.first_ms);
                    continue;
                }
                if (message->find("\"response.done\"") == std::string::npos) continue;
                const json done = json::parse(*message);
                if (done["response"].value("status", "") == "completed") ++result.completed;
                else ++result.failed;
                break;
            }
        }
        client->close();
    } catch (const std::exception& e) {
        result.error = e.what();
    }
}

// ---------------------------------------------------------------------------------------
// Prometheus histogram quantiles

struct Bucket {
    double upper;       // +inf for the last
    double cumulative;  // observations <= upper
};

std::vector<Bucket> histogram_buckets(const std::string& exposition, const std::string& name) {
    std::vector<Bucket> buckets;
    std::istringstream lines(exposition);
    const std::string prefix = name + "_bucket{le=\"";
    for (std::string line; std::getline(lines, line);) {
        if (!line.starts_with(prefix)) continue;
        const auto quote = line.find('"', prefix.size());
        const std::string le = line.substr(prefix.size(), quote - prefix.size());
        const double upper = le == "+Inf" ? std::numeric_limits<double>::infinity() : std::stod(le);
        buckets.push_back({upper, std::stod(line.substr(line.rfind(' ') + 1))});
    }
    return buckets;
}

// Linear interpolation inside the bucket holding the rank (Prometheus histogram_quantile);
// a rank in the +Inf bucket reports the highest finite bound.
double bucket_quantile(const std::vector<Bucket>& buckets, double q) {
    if (buckets.empty() || buckets.back().cumulative <= 0) return 0;
    const double rank = q * buckets.back().cumulative;
    double lower = 0;
    double below = 0;
    for (const auto& bucket : buckets) {
        if (bucket.cumulative >= rank) {
            if (std::isinf(bucket.upper)) return lower;
            const double inside = bucket.cumulative - below;
            return inside <= 0 ? bucket.upper : lower + (bucket.upper - lower) * (rank - below) / inside;
        }
        lower = bucket.upper;
        below = bucket.cumulative;
    }
    return lower;
}

using voxgate::bench::median;

struct RunResult {
    double overhead_ms[3]{};     // gateway_overhead_seconds p50 p90 p99, ms
    double first_token_ms[3]{};  // response_first_token_seconds p50 p90 p99, ms
    double client_extra_ms[3]{}; // client first delta - first_ms: p50 p90 p99
    double wall_seconds = 0;
    int completed = 0;
    int failed = 0;
    int errors = 0;
    double responses_in_histogram = 0;
};

constexpr double quantiles[3] = {0.5, 0.9, 0.99};

RunResult run_once(const Settings& settings) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock, settings));
    StartLine start(settings.sessions + 1);
    std::vector<SessionResult> results(static_cast<std::size_t>(settings.sessions));
    std::vector<std::thread> threads;
    for (int i = 0; i < settings.sessions; ++i)
        threads.emplace_back(run_session, gateway.port(), std::cref(settings), std::ref(start),
                             std::ref(results[static_cast<std::size_t>(i)]));
    start.arrive_and_wait();
    const auto began = Clock::now();
    for (auto& thread : threads) thread.join();

    RunResult run;
    run.wall_seconds = std::chrono::duration<double>(Clock::now() - began).count();
    std::vector<double> extra;
    for (const auto& result : results) {
        extra.insert(extra.end(), result.first_delta_extra_ms.begin(), result.first_delta_extra_ms.end());
        run.completed += result.completed;
        run.failed += result.failed;
        if (!result.error.empty()) {
            if (run.errors++ == 0) std::fprintf(stderr, "session error: %s\n", result.error.c_str());
        }
    }
    const std::string exposition = http_get(gateway.port(), "/metrics").body;
    const auto overhead = histogram_buckets(exposition, "voxgate_gateway_overhead_seconds");
    const auto first_token = histogram_buckets(exposition, "voxgate_response_first_token_seconds");
    run.responses_in_histogram = overhead.empty() ? 0 : overhead.back().cumulative;
    for (int i = 0; i < 3; ++i) {
        run.overhead_ms[i] = 1000 * bucket_quantile(overhead, quantiles[i]);
        run.first_token_ms[i] = 1000 * bucket_quantile(first_token, quantiles[i]);
        run.client_extra_ms[i] = voxgate::bench::quantile(extra, quantiles[i]);
    }
    return run;
}

void print_row(const char* label, const double (&values)[3]) {
    std::printf("  %-58s p50 %8.3f  p90 %8.3f  p99 %8.3f ms\n", label, values[0], values[1], values[2]);
}

}  // namespace

int main(int argc, char** argv) {
    const Settings settings = parse(argc, argv);
    std::printf("realtime overhead: %d runs x %d sessions x %d turns; mock %d tokens, first %d ms, gap %d ms; "
                "gateway %u shard threads (in-process TestGateway)\n",
                settings.runs, settings.sessions, settings.turns, settings.tokens, settings.first_ms,
                settings.gap_ms, settings.threads);
    std::vector<RunResult> runs;
    for (int r = 0; r < settings.runs; ++r) {
        runs.push_back(run_once(settings));
        const RunResult& run = runs.back();
        std::printf("run %d: %.2f s, %d completed, %d failed, %d session errors, %.0f responses in histogram\n", r + 1,
                    run.wall_seconds, run.completed, run.failed, run.errors, run.responses_in_histogram);
        print_row("voxgate_gateway_overhead_seconds (buckets, interpolated)", run.overhead_ms);
        print_row("voxgate_response_first_token_seconds (buckets, interp.)", run.first_token_ms);
        print_row("client: first delta - mock first_ms (exact samples)", run.client_extra_ms);
    }
    RunResult medians;
    for (int i = 0; i < 3; ++i) {
        std::vector<double> a, b, c;
        for (const auto& run : runs) {
            a.push_back(run.overhead_ms[i]);
            b.push_back(run.first_token_ms[i]);
            c.push_back(run.client_extra_ms[i]);
        }
        medians.overhead_ms[i] = median(a);
        medians.first_token_ms[i] = median(b);
        medians.client_extra_ms[i] = median(c);
    }
    std::printf("median of %d runs (histogram quantiles interpolate linearly inside coarse buckets, e.g. "
                "10-25 ms):\n",
                settings.runs);
    print_row("voxgate_gateway_overhead_seconds (buckets, interpolated)", medians.overhead_ms);
    print_row("voxgate_response_first_token_seconds (buckets, interp.)", medians.first_token_ms);
    print_row("client: first delta - mock first_ms (exact samples)", medians.client_extra_ms);
    return 0;
}
