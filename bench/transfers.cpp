// Streaming-transfer throughput of one CurlMulti on one io_context (one shard's upstream
// side), against the MockUpstream over plain HTTP on loopback. The mock runs on its own
// thread on the same machine, so the numbers include its cost: read them as "what one
// shard's transport can drive", not as a provider's limits.
//
//   bench_transfers [--rounds N] [--transfers N] [--concurrency N] [--tokens N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/mock_upstream.hpp"
#include "upstream/curl_multi.hpp"
#include "bench_stats.hpp"
#include "upstream/transfer.hpp"

namespace {

using namespace voxgate;
using namespace voxgate::upstream;

struct Settings {
    int rounds = 5;
    int transfers = 2000;
    int concurrency = 200;
    int tokens = 20;
};

Settings parse(int argc, char** argv) {
    Settings settings;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        const int value = std::atoi(argv[i + 1]);
        if (flag == "--rounds") settings.rounds = value;
        else if (flag == "--transfers") settings.transfers = value;
        else if (flag == "--concurrency") settings.concurrency = value;
        else if (flag == "--tokens") settings.tokens = value;
        else {
            std::fprintf(stderr, "unknown flag %s\n", argv[i]);
            std::exit(2);
        }
    }
    return settings;
}

// Keeps `concurrency` transfers in flight until `total` have completed.
class Round {
public:
    Round(CurlMulti& multi, const TransferRequest& request, int total, int concurrency, int tokens)
        : multi_(multi), request_(request), total_(total), concurrency_(concurrency), tokens_(tokens) {}

    void run(asio::io_context& io) {
        for (int i = 0; i < concurrency_ && started_ < total_; ++i) start_next();
        io.restart();
        io.run();
    }

    int completed() const { return completed_; }
    int failed() const { return failed_; }

    // One in-flight position: a transfer, its sink, and its body (checked whole at the end).
    struct Slot : TransferSink {
        Round* round = nullptr;
        std::unique_ptr<Transfer> transfer;
        std::string body;
        int status = 0;
        void on_response_start(int code, const ResponseHeaders&) override { status = code; }
        void on_body(std::string_view bytes) override { body.append(bytes); }
        void on_complete(error_code ec) override { round->finished(*this, ec); }
    };

private:
    void start_next() {
        auto slot = std::make_unique<Slot>();
        slot->round = this;
        slot->transfer = std::make_unique<Transfer>(multi_, *slot);
        ++started_;
        if (slot->transfer->start(request_)) {
            ++failed_;
            ++completed_;
            return;
        }
        slots_.push_back(std::move(slot));
    }

    void finished(Slot& slot, error_code ec) {
        ++completed_;
        // Every event ends with a blank line: role chunk + tokens + finish + usage + [DONE].
        std::size_t events = 0;
        for (std::size_t at = slot.body.find("\n\n"); at != std::string::npos; at = slot.body.find("\n\n", at + 2)) {
            ++events;
        }
        if (ec || slot.status != 200 || events != static_cast<std::size_t>(tokens_) + 4 ||
            !slot.body.ends_with("data: [DONE]\n\n")) {
            ++failed_;
        }
        // Destroying a Transfer from its own on_complete is allowed; reuse the slot's memory.
        slot.body.clear();
        slot.status = 0;
        if (started_ < total_) {
            slot.transfer = std::make_unique<Transfer>(multi_, slot);
            ++started_;
            if (slot.transfer->start(request_)) {
                ++failed_;
                ++completed_;
            }
        }
    }

    CurlMulti& multi_;
    const TransferRequest& request_;
    int total_;
    int concurrency_;
    int tokens_;
    int started_ = 0;
    int completed_ = 0;
    int failed_ = 0;
    std::vector<std::unique_ptr<Slot>> slots_;
};

using voxgate::bench::quantile;

}  // namespace

int main(int argc, char** argv) {
    const Settings settings = parse(argc, argv);
    voxgate::test::MockUpstream mock;
    asio::io_context io;
    // Enough cached connections that the pause between rounds does not close any.
    CurlMulti multi(io, {.max_host_connections = settings.concurrency,
                         .max_cached_connections = 2L * settings.concurrency});

    TransferRequest request;
    request.url = mock.openai_url();
    request.body = nlohmann::json{{"model", "bench"},
                                  {"stream", true},
                                  {"messages", {{{"role", "user"}, {"content", "benchmark"}}}}}
                       .dump();
    request.headers = {{"content-type", "application/json"},
                       {"x-mock-script", voxgate::test::MockScript{.tokens = settings.tokens}.header_value()}};

    std::printf("bench_transfers: %d rounds x %d streaming transfers, %d tokens each, %d concurrent, "
                "one CurlMulti, mock on its own thread (plain HTTP/1.1, loopback)\n",
                settings.rounds, settings.transfers, settings.tokens, settings.concurrency);

    {  // warm-up: opens the keep-alive connections the measured rounds reuse
        Round warmup(multi, request, settings.concurrency, settings.concurrency, settings.tokens);
        warmup.run(io);
    }

    std::vector<double> transfers_per_second;
    std::vector<double> tokens_per_second;
    int failures = 0;
    for (int round_index = 0; round_index < settings.rounds; ++round_index) {
        Round round(multi, request, settings.transfers, settings.concurrency, settings.tokens);
        const auto start = std::chrono::steady_clock::now();
        round.run(io);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        failures += round.failed();
        transfers_per_second.push_back(round.completed() / seconds);
        tokens_per_second.push_back(static_cast<double>(round.completed()) * settings.tokens / seconds);
        std::printf("round %d: %d transfers in %.3f s = %.0f transfers/s, %.0f tokens/s, %d failed\n",
                    round_index + 1, round.completed(), seconds, transfers_per_second.back(),
                    tokens_per_second.back(), round.failed());
    }
    std::printf("transfers/s: median %.0f  p10 %.0f  p90 %.0f\n", quantile(transfers_per_second, 0.5),
                quantile(transfers_per_second, 0.1), quantile(transfers_per_second, 0.9));
    std::printf("tokens/s:    median %.0f  p10 %.0f  p90 %.0f\n", quantile(tokens_per_second, 0.5),
                quantile(tokens_per_second, 0.1), quantile(tokens_per_second, 0.9));
    std::printf("mock: %zu connections accepted, %zu requests\n", mock.accepted_connections(),
                mock.request_count());
    return failures == 0 ? 0 : 1;
}
