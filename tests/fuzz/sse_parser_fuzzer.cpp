// SseParser on arbitrary upstream bytes: never crashes, never holds more than its limit,
// and dispatches the same events whether the stream arrives whole or in small chunks.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "upstream/sse_parser.hpp"

namespace {

using voxgate::upstream::SseEvent;
using voxgate::upstream::SseParser;

// Small enough that inputs reach it, so the too-large path is fuzzed too.
constexpr std::size_t kMaxEventBytes = 512;

struct Parsed {
    std::vector<std::string> events;  // type, data and id joined: one string per event
    bool failed = false;
    bool partial = false;
};

void record(Parsed& parsed, const SseEvent& event) {
    VOXGATE_FUZZ_CHECK(event.data.size() <= kMaxEventBytes, "event data over the limit");
    VOXGATE_FUZZ_CHECK(event.type.size() <= kMaxEventBytes, "event type over the limit");
    VOXGATE_FUZZ_CHECK(!event.type.empty(), "an event without a type (should be \"message\")");
    std::string flat(event.type);
    flat.append("\0", 1).append(event.data).append("\0", 1).append(event.last_event_id);
    parsed.events.push_back(std::move(flat));
}

Parsed parse_whole(std::string_view bytes) {
    Parsed parsed;
    SseParser parser(kMaxEventBytes);
    parsed.failed = static_cast<bool>(parser.feed(bytes, [&](const SseEvent& event) { record(parsed, event); }));
    parsed.partial = parser.has_partial_event();
    return parsed;
}

Parsed parse_chunked(std::string_view bytes) {
    Parsed parsed;
    SseParser parser(kMaxEventBytes);
    voxgate::fuzz::for_each_chunk(bytes, [&](std::string_view chunk) {
        parsed.failed = static_cast<bool>(parser.feed(chunk, [&](const SseEvent& event) { record(parsed, event); }));
        return !parsed.failed;
    });
    parsed.partial = parser.has_partial_event();
    // After an error the parser refuses everything until reset(); then it parses anew.
    if (parsed.failed) {
        VOXGATE_FUZZ_CHECK(parser.feed("data: x\n\n", [](const SseEvent&) {}), "accepted input after an error");
        parser.reset();
        int after_reset = 0;
        VOXGATE_FUZZ_CHECK(!parser.feed("data: x\n\n", [&](const SseEvent&) { ++after_reset; }), "reset() kept the error");
        VOXGATE_FUZZ_CHECK(after_reset == 1, "reset() parser did not dispatch");
    }
    return parsed;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    const Parsed whole = parse_whole(bytes);
    const Parsed chunked = parse_chunked(bytes);
    VOXGATE_FUZZ_CHECK(whole.failed == chunked.failed, "the size error depends on how the bytes were split");
    if (!whole.failed) {
        VOXGATE_FUZZ_CHECK(whole.events == chunked.events, "events depend on how the bytes were split");
        VOXGATE_FUZZ_CHECK(whole.partial == chunked.partial, "has_partial_event depends on the split");
    }
    return 0;
}
