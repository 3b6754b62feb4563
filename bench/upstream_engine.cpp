// Responses through one UpstreamEngine on one io_context (one shard's upstream side):
// route -> codec -> Transfer -> SseParser -> decoder -> observer, against the MockUpstream
// over plain HTTP on loopback. The mock runs on its own thread on the same machine, so the
// numbers include its cost; compare with bench_transfers (same mock, bare transport) for
// the engine's own share. A second part runs the demo provider flat out (no network), which
// is the engine's per-token path with nothing else in it.
//
//   bench_upstream_engine [--rounds N] [--responses N] [--concurrency N] [--tokens N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench_stats.hpp"
#include "metrics/shard_metrics.hpp"
#include "support/mock_upstream.hpp"
#include "upstream/providers/demo_script.hpp"
#include "upstream/upstream_engine.hpp"

namespace {

using namespace voxgate;
using namespace voxgate::upstream;

struct Settings {
    int rounds = 5;
    int responses = 2000;
    int concurrency = 200;
    int tokens = 20;
};

Settings parse(int argc, char** argv) {
    Settings settings;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        const int value = std::atoi(argv[i + 1]);
        if (flag == "--rounds") settings.rounds = value;
        else if (flag == "--responses") settings.responses = value;
        else if (flag == "--concurrency") settings.concurrency = value;
        else if (flag == "--tokens") settings.tokens = value;
        else {
            std::fprintf(stderr, "unknown flag %s\n", argv[i]);
            std::exit(2);
        }
    }
    return settings;
}

ChatRequest bench_request() {
    ChatRequest request;
    request.messages.push_back({Role::user, "benchmark", {}, {}});
    return request;
}

// Keeps `concurrency` responses in flight until `total` have finished.
class Round {
public:
    Round(UpstreamEngine& engine, int total, int concurrency, int expected_tokens)
        : engine_(engine), total_(total), concurrency_(concurrency), expected_tokens_(expected_tokens) {}

    void run(asio::io_context& io) {
        for (int i = 0; i < concurrency_ && started_ < total_; ++i) {
            slots_.push_back(std::make_unique<Slot>());
            slots_.back()->round = this;
            start(*slots_.back());
        }
        io.restart();
        io.run();
    }

    int finished() const { return finished_; }
    int failed() const { return failed_; }
    long long tokens() const { return tokens_; }
    // Means over the round's responses, in milliseconds from start().
    double mean_first_byte_ms() const { return first_byte_ms_ / std::max(1, finished_); }
    double mean_done_ms() const { return done_ms_ / std::max(1, finished_); }

private:
    struct Slot : ResponseObserver {
        Round* round = nullptr;
        std::unique_ptr<ResponseHandle> handle;
        int deltas = 0;
        std::chrono::steady_clock::time_point started_at;
        std::chrono::steady_clock::time_point first_byte_at;
        void on_upstream_first_byte(std::string_view) override { first_byte_at = std::chrono::steady_clock::now(); }
        void on_text_delta(std::string_view) override { ++deltas; }
        void on_tool_call_delta(int, std::string_view, std::string_view, std::string_view) override {}
        void on_usage(const Usage&) override {}
        void on_finish(FinishReason) override {}
        void on_done(const ResponseResult& result) override { round->done(*this, result); }
    };

    void start(Slot& slot) {
        ++started_;
        slot.deltas = 0;
        slot.started_at = std::chrono::steady_clock::now();
        slot.handle = engine_.start("bench-model", bench_request(), slot);
    }

    void done(Slot& slot, const ResponseResult& result) {
        ++finished_;
        tokens_ += slot.deltas;
        const auto now = std::chrono::steady_clock::now();
        first_byte_ms_ += std::chrono::duration<double, std::milli>(slot.first_byte_at - slot.started_at).count();
        done_ms_ += std::chrono::duration<double, std::milli>(now - slot.started_at).count();
        if (result.outcome != Outcome::completed || (expected_tokens_ >= 0 && slot.deltas != expected_tokens_)) {
            ++failed_;
        }
        // Dropping the handle and starting the next response from inside on_done is allowed.
        if (started_ < total_) start(slot);
        else slot.handle.reset();
    }

    UpstreamEngine& engine_;
    int total_;
    int concurrency_;
    int expected_tokens_;  // -1: any
    int started_ = 0;
    int finished_ = 0;
    int failed_ = 0;
    long long tokens_ = 0;
    double first_byte_ms_ = 0;
    double done_ms_ = 0;
    std::vector<std::unique_ptr<Slot>> slots_;
};

using voxgate::bench::median;

// Runs `rounds` rounds and prints responses/s and tokens/s per round and their medians.
int measure(const char* label, UpstreamEngine& engine, asio::io_context& io, const Settings& settings,
            int expected_tokens) {
    std::vector<double> responses_per_second;
    std::vector<double> tokens_per_second;
    int failures = 0;
    for (int index = 0; index < settings.rounds; ++index) {
        Round round(engine, settings.responses, settings.concurrency, expected_tokens);
        const auto start = std::chrono::steady_clock::now();
        round.run(io);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        failures += round.failed();
        responses_per_second.push_back(round.finished() / seconds);
        tokens_per_second.push_back(static_cast<double>(round.tokens()) / seconds);
        std::printf("%s round %d: %d responses in %.3f s = %.0f responses/s, %.0f tokens/s, %d failed; "
                    "mean first byte %.2f ms, mean done %.2f ms\n",
                    label, index + 1, round.finished(), seconds, responses_per_second.back(), tokens_per_second.back(),
                    round.failed(), round.mean_first_byte_ms(), round.mean_done_ms());
    }
    std::printf("%s median: %.0f responses/s, %.0f tokens/s\n", label, median(responses_per_second),
                median(tokens_per_second));
    return failures;
}

}  // namespace

int main(int argc, char** argv) {
    const Settings settings = parse(argc, argv);
    int failures = 0;

    {
        test::MockUpstream mock;
        ProviderConfig provider;
        provider.name = "mock";
        provider.kind = "openai";
        provider.base_url = mock.base_url() + "/v1";
        provider.model = "bench";
        provider.headers = {{"x-mock-script", test::MockScript{.tokens = settings.tokens}.header_value()}};
        Config config;
        config.providers = {provider};
        config.routes = {{"*", {"mock"}}};
        asio::io_context io;
        metrics::ShardMetrics metrics(config.providers.size());
        UpstreamEngineOptions options;
        options.curl.max_host_connections = settings.concurrency;
        UpstreamEngine engine(io, config, &metrics, options);

        std::printf("bench_upstream_engine: %d rounds x %d responses, %d tokens each, %d concurrent, one engine, "
                    "mock on its own thread (OpenAI format, plain HTTP/1.1, loopback)\n",
                    settings.rounds, settings.responses, settings.tokens, settings.concurrency);
        {  // warm-up: opens the keep-alive connections the measured rounds reuse
            Round warmup(engine, settings.concurrency, settings.concurrency, settings.tokens);
            warmup.run(io);
        }
        failures += measure("http", engine, io, settings, settings.tokens);
        std::printf("http: mock accepted %zu connections for %zu requests\n", mock.accepted_connections(),
                    mock.request_count());
    }

    {
        ProviderConfig demo;
        demo.name = "demo";
        demo.kind = "demo";
        demo.options = DemoOptions{1e9, std::chrono::milliseconds(0)};  // flat out: only the engine's own work is left
        Config config;
        config.providers = {demo};
        asio::io_context io;
        UpstreamEngine engine(io, config, nullptr);
        const int demo_tokens = static_cast<int>(demo_reply_tokens("benchmark").size());
        std::printf("demo provider flat out: %d tokens per response, %d concurrent\n", demo_tokens,
                    settings.concurrency);
        failures += measure("demo", engine, io, settings, demo_tokens);
    }
    return failures == 0 ? 0 : 1;
}
