// Throughput of the upstream hot path: SseParser alone, and SseParser + the OpenAI stream
// decoder, over a realistic ~8 MB Chat Completions stream fed in 1 KB and 16 KB chunks
// (what curl hands us). Also counts heap allocations per event in the parser's steady state.
//
//   bench_sse_parser [iterations=15]
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "upstream/providers/openai.hpp"
#include "upstream/sse_parser.hpp"

// Counting every allocation of this process lets the bench show that parsing allocates
// nothing per event once its buffers have grown.
namespace {
std::size_t g_allocations = 0;
}

void* operator new(std::size_t size) {
    ++g_allocations;
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using voxgate::upstream::DecodeStatus;
using voxgate::upstream::FinishReason;
using voxgate::upstream::OpenAiCodec;
using voxgate::upstream::SseEvent;
using voxgate::upstream::SseParser;
using voxgate::upstream::StreamSink;
using voxgate::upstream::Usage;

constexpr std::size_t kTargetStreamBytes = 8 * 1024 * 1024;

struct Stream {
    std::string bytes;
    std::size_t events = 0;
    std::size_t text_bytes = 0;
};

// Chunks shaped like recorded OpenAI traffic (docs/wire-protocols.md §2.2): one word per chunk,
// obfuscation padding, a keep-alive comment now and then, the finish and usage chunks, [DONE].
Stream make_openai_stream() {
    static const char* const kWords[] = {" the", " gateway", " streams", " tokens", " to", " every",
                                         " client", " as", " soon", " as", " they", " arrive", ",",
                                         " caf\\u00e9", " \xE6\x97\xA5\xE6\x9C\xAC", "."};
    static const std::size_t kWordBytes[] = {4, 8, 8, 7, 3, 6, 7, 3, 5, 3, 5, 7, 1, 6, 7, 1};
    const std::string prefix =
        "data: {\"id\":\"chatcmpl-AbCdEfGhIjKlMnOpQrStUvWxYz012\",\"object\":\"chat.completion.chunk\","
        "\"created\":1754000000,\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\","
        "\"system_fingerprint\":\"fp_34a54ae93c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"";
    const std::string suffix = "\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null,\"obfuscation\":\"kF3x9Q\"}\n\n";
    Stream stream;
    stream.bytes.reserve(kTargetStreamBytes + 4096);
    for (std::size_t i = 0; stream.bytes.size() < kTargetStreamBytes; ++i) {
        const std::size_t word = i % std::size(kWords);
        stream.bytes += prefix;
        stream.bytes += kWords[word];
        stream.bytes += suffix;
        stream.text_bytes += kWordBytes[word];
        ++stream.events;
        if (i % 500 == 499) stream.bytes += ": keep-alive\n\n";
    }
    stream.bytes +=
        "data: {\"id\":\"chatcmpl-X\",\"object\":\"chat.completion.chunk\",\"created\":1754000000,\"model\":\"gpt-4o-mini\","
        "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
        "data: {\"id\":\"chatcmpl-X\",\"object\":\"chat.completion.chunk\",\"created\":1754000000,\"model\":\"gpt-4o-mini\","
        "\"choices\":[],\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":33000,\"total_tokens\":34000}}\n\n"
        "data: [DONE]\n\n";
    stream.events += 3;
    return stream;
}

class CountingSink final : public StreamSink {
public:
    std::size_t text_bytes = 0;
    std::size_t deltas = 0;
    bool finished = false;
    void on_text_delta(std::string_view text) override {
        text_bytes += text.size();
        ++deltas;
    }
    void on_tool_call_delta(int, std::string_view, std::string_view, std::string_view) override { ++deltas; }
    void on_usage(const Usage&) override {}
    void on_finish(FinishReason) override { finished = true; }
};

// One pass over the stream; returns seconds.
double parse_only(const Stream& stream, std::size_t chunk_bytes, std::size_t* events_out) {
    SseParser parser;
    std::size_t events = 0;
    std::size_t data_bytes = 0;
    const auto start = std::chrono::steady_clock::now();
    const std::string_view all(stream.bytes);
    for (std::size_t pos = 0; pos < all.size(); pos += chunk_bytes) {
        const std::error_code ec = parser.feed(all.substr(pos, chunk_bytes), [&](const SseEvent& event) {
            ++events;
            data_bytes += event.data.size();
        });
        if (ec) {
            std::fprintf(stderr, "parse error: %s\n", ec.message().c_str());
            std::exit(1);
        }
    }
    const auto end = std::chrono::steady_clock::now();
    if (events != stream.events || data_bytes == 0) {
        std::fprintf(stderr, "parsed %zu events, expected %zu\n", events, stream.events);
        std::exit(1);
    }
    if (events_out) *events_out = events;
    return std::chrono::duration<double>(end - start).count();
}

double parse_and_decode(const Stream& stream, std::size_t chunk_bytes) {
    const OpenAiCodec codec;
    SseParser parser;
    CountingSink sink;
    const auto decoder = codec.make_decoder();
    DecodeStatus status = DecodeStatus::more;
    const auto start = std::chrono::steady_clock::now();
    const std::string_view all(stream.bytes);
    for (std::size_t pos = 0; pos < all.size() && status == DecodeStatus::more; pos += chunk_bytes) {
        const std::error_code ec = parser.feed(all.substr(pos, chunk_bytes), [&](const SseEvent& event) {
            if (status == DecodeStatus::more) status = decoder->on_event(event, sink);
        });
        if (ec) std::exit(1);
    }
    const auto end = std::chrono::steady_clock::now();
    if (status != DecodeStatus::done || !sink.finished || sink.text_bytes != stream.text_bytes) {
        std::fprintf(stderr, "decode mismatch: status %d, %zu text bytes, expected %zu\n", static_cast<int>(status),
                     sink.text_bytes, stream.text_bytes);
        std::exit(1);
    }
    return std::chrono::duration<double>(end - start).count();
}

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double p) {
    const auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
    return sorted[std::min(rank, sorted.size() - 1)];
}

template <class Run>
void report(const char* name, const Stream& stream, int iterations, Run&& run) {
    run();  // warm-up: page in the stream, grow the buffers
    std::vector<double> mb_per_s;
    for (int i = 0; i < iterations; ++i) {
        const double seconds = run();
        mb_per_s.push_back(static_cast<double>(stream.bytes.size()) / (1024.0 * 1024.0) / seconds);
    }
    std::sort(mb_per_s.begin(), mb_per_s.end());
    const double median = percentile(mb_per_s, 50);
    const double events_per_s = static_cast<double>(stream.events) * median * 1024 * 1024 /
                                static_cast<double>(stream.bytes.size());
    std::printf("%-28s median %8.1f MB/s   p10 %8.1f   p90 %8.1f   (%.2f M events/s)\n", name, median,
                percentile(mb_per_s, 10), percentile(mb_per_s, 90), events_per_s / 1e6);
}

}  // namespace

int main(int argc, char** argv) {
    const int iterations = argc > 1 ? std::max(1, std::atoi(argv[1])) : 15;
    const Stream stream = make_openai_stream();
    std::printf("stream: %.2f MB, %zu events, %zu text bytes; %d iterations per configuration\n",
                static_cast<double>(stream.bytes.size()) / (1024.0 * 1024.0), stream.events, stream.text_bytes,
                iterations);

    report("parser, 1 KB chunks", stream, iterations, [&] { return parse_only(stream, 1024, nullptr); });
    report("parser, 16 KB chunks", stream, iterations, [&] { return parse_only(stream, 16 * 1024, nullptr); });
    report("parser+openai, 1 KB chunks", stream, iterations, [&] { return parse_and_decode(stream, 1024); });
    report("parser+openai, 16 KB chunks", stream, iterations, [&] { return parse_and_decode(stream, 16 * 1024); });

    // Steady state: one parser reused for a second pass must not allocate per event.
    SseParser parser;
    std::size_t events = 0;
    const auto feed_all = [&] {
        const std::string_view all(stream.bytes);
        for (std::size_t pos = 0; pos < all.size(); pos += 1024) {
            (void)parser.feed(all.substr(pos, 1024), [&](const SseEvent&) { ++events; });
        }
    };
    feed_all();
    const std::size_t before = g_allocations;
    feed_all();
    std::printf("parser allocations in a second 1 KB-chunk pass: %zu for %zu events\n", g_allocations - before,
                stream.events);
    return 0;
}
