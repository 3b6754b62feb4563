// SseParser against WHATWG §9.2.5-9.2.6 (docs/wire-protocols.md §5): every corner case of §5.5, and
// the same event list whatever way the bytes are split into chunks.
#include "upstream/sse_parser.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace voxgate::upstream {
namespace {

struct Event {
    std::string type;
    std::string data;
    std::string id;
    bool operator==(const Event&) const = default;
};

std::ostream& operator<<(std::ostream& out, const Event& event) {
    return out << "{type=" << ::testing::PrintToString(event.type) << " data=" << ::testing::PrintToString(event.data)
               << " id=" << ::testing::PrintToString(event.id) << "}";
}

using Events = std::vector<Event>;

// Feeds the chunks in order into one parser and collects every event.
Events parse_chunks(SseParser& parser, std::initializer_list<std::string_view> chunks) {
    Events events;
    for (const std::string_view chunk : chunks) {
        const std::error_code ec = parser.feed(chunk, [&](const SseEvent& event) {
            events.push_back({std::string(event.type), std::string(event.data), std::string(event.last_event_id)});
        });
        EXPECT_FALSE(ec) << ec.message();
    }
    return events;
}

Events parse(std::string_view stream) {
    SseParser parser;
    return parse_chunks(parser, {stream});
}

// Feeds `stream` cut at the given ascending offsets.
Events parse_split(std::string_view stream, std::initializer_list<std::size_t> cuts) {
    SseParser parser;
    Events events;
    std::size_t start = 0;
    const auto feed = [&](std::string_view chunk) {
        const std::error_code ec = parser.feed(chunk, [&](const SseEvent& event) {
            events.push_back({std::string(event.type), std::string(event.data), std::string(event.last_event_id)});
        });
        EXPECT_FALSE(ec) << ec.message();
    };
    for (const std::size_t cut : cuts) {
        feed(stream.substr(start, cut - start));
        start = cut;
    }
    feed(stream.substr(start));
    return events;
}

Events parse_byte_by_byte(std::string_view stream) {
    SseParser parser;
    Events events;
    for (const char c : stream) {
        const std::error_code ec = parser.feed(std::string_view(&c, 1), [&](const SseEvent& event) {
            events.push_back({std::string(event.type), std::string(event.data), std::string(event.last_event_id)});
        });
        EXPECT_FALSE(ec) << ec.message();
    }
    return events;
}

Event message(std::string data, std::string id = "") {
    return {"message", std::move(data), std::move(id)};
}

// ---------------------------------------------------------------------------------------
// §5.5 corner cases, each with every line ending where the ending is not the point.

class SseLineEndings : public ::testing::TestWithParam<std::string> {
protected:
    // Writes `lines` (joined by '\n' in the literal) with this test's line ending.
    std::string with_endings(std::string_view text) const {
        std::string out;
        for (const char c : text) {
            if (c == '\n') {
                out += GetParam();
            } else {
                out.push_back(c);
            }
        }
        return out;
    }
    Events parse_text(std::string_view text) const { return parse(with_endings(text)); }
};

INSTANTIATE_TEST_SUITE_P(AllEndings, SseLineEndings, ::testing::Values("\n", "\r\n", "\r"), [](const auto& info) {
    return info.param == "\n" ? std::string("LF") : info.param == "\r\n" ? std::string("CRLF") : std::string("CR");
});

TEST_P(SseLineEndings, TwoDataLinesJoinWithNewline) {
    EXPECT_EQ(parse_text("data: a\ndata: b\n\n"), Events{message("a\nb")});
}

TEST_P(SseLineEndings, FieldWithoutColonAppendsEmptyData) {
    EXPECT_EQ(parse_text("data\n\n"), Events{message("")});
    EXPECT_EQ(parse_text("data:\ndata\n\n"), Events{message("\n")});
    EXPECT_EQ(parse_text("data\ndata:\ndata\n\n"), Events{message("\n\n")});
}

TEST_P(SseLineEndings, SpaceBeforeColonMakesAnotherFieldName) {
    EXPECT_EQ(parse_text("data : x\n\n"), Events{});
}

TEST_P(SseLineEndings, OnlyOneLeadingSpaceIsStripped) {
    EXPECT_EQ(parse_text("data:  x\n\n"), Events{message(" x")});
    EXPECT_EQ(parse_text("data:x\n\n"), Events{message("x")});
    EXPECT_EQ(parse_text("data:\tx\n\n"), Events{message("\tx")});  // never a tab
}

TEST_P(SseLineEndings, ValueSplitsAtFirstColonOnly) {
    EXPECT_EQ(parse_text("data:x:y\n\n"), Events{message("x:y")});
}

TEST_P(SseLineEndings, CommentsProduceNoEvent) {
    EXPECT_EQ(parse_text(": comment\n\n"), Events{});
    EXPECT_EQ(parse_text(": keep-alive\ndata: a\n: more\n\n"), Events{message("a")});
}

TEST_P(SseLineEndings, EventWithoutDataIsNotDispatchedAndClearsType) {
    EXPECT_EQ(parse_text("event: foo\n\ndata: x\n\n"), Events{message("x")});
}

TEST_P(SseLineEndings, EventFieldSetsTypeForOneEvent) {
    EXPECT_EQ(parse_text("event: foo\ndata: x\n\ndata: y\n\n"), (Events{{"foo", "x", ""}, message("y")}));
    EXPECT_EQ(parse_text("event:\ndata: x\n\n"), Events{message("x")});  // empty type reads as message
}

TEST_P(SseLineEndings, LastEventIdPersistsAcrossEvents) {
    EXPECT_EQ(parse_text("id: 1\ndata: a\n\ndata: b\n\n"), (Events{message("a", "1"), message("b", "1")}));
}

TEST_P(SseLineEndings, IdWithoutValueResetsLastEventId) {
    EXPECT_EQ(parse_text("id: 1\ndata: a\n\nid\ndata: c\n\n"), (Events{message("a", "1"), message("c", "")}));
}

TEST_P(SseLineEndings, IdContainingNulIsIgnored) {
    std::string text = "id: 1\nid: a";
    text.push_back('\0');
    text += "b\ndata: x\n\n";
    EXPECT_EQ(parse_text(text), Events{message("x", "1")});
}

TEST_P(SseLineEndings, UnknownFieldsAreIgnored) {
    EXPECT_EQ(parse_text("foo: bar\nData: y\ndata: x\n\n"), Events{message("x")});
}

TEST_P(SseLineEndings, RetryTakesOnlyDigits) {
    SseParser parser;
    EXPECT_EQ(parser.retry_ms(), std::nullopt);
    parse_chunks(parser, {with_endings("retry: 10000\n")});
    EXPECT_EQ(parser.retry_ms(), 10000u);
    parse_chunks(parser, {with_endings("retry: one thousand\nretry\nretry: 12a\nretry: -5\nretry:  7\n")});
    EXPECT_EQ(parser.retry_ms(), 10000u);  // all ignored, previous value kept
    parse_chunks(parser, {with_endings("retry:0\n")});
    EXPECT_EQ(parser.retry_ms(), 0u);
    parse_chunks(parser, {with_endings("retry: 99999999999999999999\n")});
    EXPECT_EQ(parser.retry_ms(), 4294967295u);  // saturates
}

TEST_P(SseLineEndings, UnterminatedEventAtEndOfStreamIsDiscarded) {
    SseParser parser;
    EXPECT_EQ(parse_chunks(parser, {with_endings("data: x\n")}), Events{});
    EXPECT_TRUE(parser.has_partial_event());
    SseParser no_terminator;
    EXPECT_EQ(parse_chunks(no_terminator, {"data: x"}), Events{});
    EXPECT_TRUE(no_terminator.has_partial_event());
}

TEST(SseParser, AllThreeLineEndingsGiveTheSameEvent) {
    EXPECT_EQ(parse("data: a\r\n\r\n"), Events{message("a")});
    EXPECT_EQ(parse("data: a\r\r"), Events{message("a")});
    EXPECT_EQ(parse("data: a\n\n"), Events{message("a")});
}

TEST(SseParser, PartialLineIsBufferedAcrossReads) {
    SseParser parser;
    EXPECT_EQ(parse_chunks(parser, {"da", "ta: x\n\n"}), Events{message("x")});
    EXPECT_FALSE(parser.has_partial_event());
}

TEST(SseParser, CrAtChunkEndThenLfIsOneLineEnd) {
    // Were the LF taken for an empty line, "a" would be dispatched alone and "b" apart.
    SseParser parser;
    EXPECT_EQ(parse_chunks(parser, {"data: a\r", "\ndata: b\r", "\n\r", "\n"}), Events{message("a\nb")});
    SseParser lone_cr;
    EXPECT_EQ(parse_chunks(lone_cr, {"data: a\r", "data: b\r", "\r"}), Events{message("a\nb")});
}

TEST(SseParser, VerticalTabFormFeedAndNelAreNotLineEnds) {
    EXPECT_EQ(parse("data: a\vb\fc\xC2\x85" "d\n\n"), Events{message("a\vb\fc\xC2\x85" "d")});
}

TEST(SseParser, LeadingBomIsStrippedOnce) {
    EXPECT_EQ(parse("\xEF\xBB\xBF" "data: x\n\n"), Events{message("x")});
    // A second BOM is content: here it becomes part of the field name, which is then unknown.
    EXPECT_EQ(parse("\xEF\xBB\xBF\xEF\xBB\xBF" "data: x\n\n"), Events{});
    // A BOM later in the stream is data.
    EXPECT_EQ(parse("data: x\n\ndata: \xEF\xBB\xBFy\n\n"), (Events{message("x"), message("\xEF\xBB\xBFy")}));
}

TEST(SseParser, BomSplitAcrossChunksIsStillStripped) {
    SseParser parser;
    EXPECT_EQ(parse_chunks(parser, {"\xEF", "\xBB", "\xBF" "da", "ta: x\n\n"}), Events{message("x")});
}

TEST(SseParser, BrokenBomPrefixIsContent) {
    // EF BB followed by 'd': not a BOM, so the two bytes start the first line's field name.
    SseParser parser;
    EXPECT_EQ(parse_chunks(parser, {"\xEF\xBB", "data: x\n\ndata: y\n\n"}), Events{message("y")});
    SseParser with_value;
    EXPECT_EQ(parse_chunks(with_value, {"\xEF", "\n\ndata: y\n\n"}), Events{message("y")});
}

TEST(SseParser, ResetStartsANewStream) {
    SseParser parser;
    parse_chunks(parser, {"id: 5\nretry: 300\ndata: partial"});
    parser.reset();
    EXPECT_FALSE(parser.has_partial_event());
    EXPECT_EQ(parser.retry_ms(), std::nullopt);
    EXPECT_EQ(parser.last_event_id(), "");
    // The BOM is accepted again and the partial event is gone.
    EXPECT_EQ(parse_chunks(parser, {"\xEF\xBB\xBF" "data: fresh\n\n"}), Events{message("fresh")});
}

TEST(SseParser, AcceptsNamedFunctionObjectsAndTemporaries) {
    struct Counter {
        int* count;
        void operator()(const SseEvent&) const { ++*count; }
    };
    int count = 0;
    SseParser parser;
    Counter counter{&count};
    EXPECT_FALSE(parser.feed("data: a\n\n", counter));
    EXPECT_FALSE(parser.feed("data: b\n\n", Counter{&count}));
    EXPECT_EQ(count, 2);
}

// ---------------------------------------------------------------------------------------
// Size limit: a peer cannot grow the parser's buffers past max_event_bytes.

TEST(SseParserLimit, EventAtTheLimitIsAccepted) {
    SseParser parser(16);
    const std::string data(10, 'x');  // "data: " + 10 = 16 bytes of line
    EXPECT_EQ(parse_chunks(parser, {"data: " + data + "\n\n"}), Events{message(data)});
}

TEST(SseParserLimit, PendingLineOverTheLimitFails) {
    SseParser parser(16);
    int events = 0;
    const auto count = [&](const SseEvent&) { ++events; };
    EXPECT_FALSE(parser.feed("data: 0123456789", count));
    const std::error_code ec = parser.feed("A", count);
    EXPECT_EQ(ec, SseErrc::event_too_large);
    EXPECT_STREQ(ec.category().name(), "sse");
    EXPECT_FALSE(ec.message().empty());
    // Failed for good: further input is refused until reset().
    EXPECT_EQ(parser.feed("\n\ndata: ok\n\n", count), SseErrc::event_too_large);
    EXPECT_EQ(events, 0);
    parser.reset();
    EXPECT_FALSE(parser.feed("data: ok\n\n", count));
    EXPECT_EQ(events, 1);
}

TEST(SseParserLimit, CompleteLongLineInOneChunkFails) {
    SseParser parser(16);
    EXPECT_EQ(parser.feed("data: " + std::string(100, 'x') + "\n\n", [](const SseEvent&) {}),
              SseErrc::event_too_large);
}

TEST(SseParserLimit, DataAccumulatedOverManyLinesFails) {
    SseParser parser(30);
    int events = 0;
    const auto count = [&](const SseEvent&) { ++events; };
    EXPECT_FALSE(parser.feed("data: 0123456789\ndata: 0123456789\n", count));  // 21 bytes of data, then 32
    EXPECT_EQ(parser.feed("data: 0123456789\n", count), SseErrc::event_too_large);
    EXPECT_EQ(events, 0);
}

TEST(SseParserLimit, ManySmallEventsNeverHitTheLimit) {
    SseParser parser(32);
    int events = 0;
    for (int i = 0; i < 1000; ++i) {
        ASSERT_FALSE(parser.feed("data: 0123456789abcdef\n\n", [&](const SseEvent&) { ++events; }));
    }
    EXPECT_EQ(events, 1000);
}

// ---------------------------------------------------------------------------------------
// Split invariance: the event list never depends on where the chunks break.

struct SampleStream {
    const char* name;
    std::string bytes;
    Events expected;
};

std::vector<SampleStream> sample_streams() {
    std::vector<SampleStream> samples;
    samples.push_back({"openai",
                       "data: {\"id\":\"chatcmpl-X\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                       "\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n"
                       "data: {\"id\":\"chatcmpl-X\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},"
                       "\"finish_reason\":null}],\"usage\":null,\"obfuscation\":\"q1\"}\n\n"
                       ": keep-alive\n\n"
                       "data: {\"id\":\"chatcmpl-X\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":"
                       "\"stop\"}],\"usage\":null}\n\n"
                       "data: {\"id\":\"chatcmpl-X\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,"
                       "\"completion_tokens\":5,\"total_tokens\":15}}\n\n"
                       "data: [DONE]\n\n",
                       {}});
    samples.back().expected = {
        message("{\"id\":\"chatcmpl-X\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                "\"finish_reason\":null}],\"usage\":null}"),
        message("{\"id\":\"chatcmpl-X\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}],"
                "\"usage\":null,\"obfuscation\":\"q1\"}"),
        message("{\"id\":\"chatcmpl-X\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
                "\"usage\":null}"),
        message("{\"id\":\"chatcmpl-X\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,"
                "\"total_tokens\":15}}"),
        message("[DONE]"),
    };

    samples.push_back({"anthropic",
                       "event: message_start\r\n"
                       "data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":25}}}\r\n\r\n"
                       "event: ping\r\ndata: {\"type\":\"ping\"}\r\n\r\n"
                       "event: content_block_delta\r\n"
                       "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
                       "\"text\":\"Hello\"}}\r\n\r\n"
                       "event: message_stop\r\ndata: {\"type\":\"message_stop\"}\r\n\r\n",
                       {{"message_start", "{\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":25}}}", ""},
                        {"ping", "{\"type\":\"ping\"}", ""},
                        {"content_block_delta",
                         "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
                         "\"Hello\"}}",
                         ""},
                        {"message_stop", "{\"type\":\"message_stop\"}", ""}}});

    samples.push_back({"mixed_endings",
                       "data: a\r\ndata: b\r\revent: x\ndata: c\n\r\nid: 7\rdata: d\r\n\n: note\r\ndata\r\r"
                       "retry: 50\ndata:e:f\r\n\r",
                       {message("a\nb"), {"x", "c", ""}, message("d", "7"), message("", "7"), message("e:f", "7")}});

    samples.push_back({"utf8_bom",
                       "\xEF\xBB\xBF" "data: h\xC3\xA9llo w\xC3\xB6rld \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x8E\x89\n\n"
                       "event: \xC3\xBC\r\ndata: \xEF\xBB\xBF" "after\r\n\r\n",
                       {message("h\xC3\xA9llo w\xC3\xB6rld \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x8E\x89"),
                        {"\xC3\xBC", "\xEF\xBB\xBF" "after", ""}}});
    return samples;
}

TEST(SseParserSplit, UnsplitStreamsGiveTheExpectedEvents) {
    for (const SampleStream& sample : sample_streams()) {
        EXPECT_EQ(parse(sample.bytes), sample.expected) << sample.name;
    }
}

TEST(SseParserSplit, EverySingleSplitPointGivesTheSameEvents) {
    for (const SampleStream& sample : sample_streams()) {
        for (std::size_t cut = 0; cut <= sample.bytes.size(); ++cut) {
            ASSERT_EQ(parse_split(sample.bytes, {cut}), sample.expected) << sample.name << " cut at " << cut;
        }
    }
}

TEST(SseParserSplit, ByteByByteGivesTheSameEvents) {
    for (const SampleStream& sample : sample_streams()) {
        EXPECT_EQ(parse_byte_by_byte(sample.bytes), sample.expected) << sample.name;
    }
}

TEST(SseParserSplit, EveryPairOfSplitPointsGivesTheSameEvents) {
    // All pairs for the short streams; for the longer ones, pairs up to 24 bytes apart,
    // which covers every way to cut a CRLF, a BOM or a UTF-8 sequence twice.
    for (const SampleStream& sample : sample_streams()) {
        const std::size_t size = sample.bytes.size();
        const std::size_t max_gap = size <= 200 ? size : 24;
        for (std::size_t first = 0; first <= size; ++first) {
            for (std::size_t second = first; second <= size && second - first <= max_gap; ++second) {
                ASSERT_EQ(parse_split(sample.bytes, {first, second}), sample.expected)
                    << sample.name << " cuts at " << first << " and " << second;
            }
        }
    }
}

}  // namespace
}  // namespace voxgate::upstream
