#pragma once
// One provider codec on hostile upstream bytes, the way the engine drives it
// (provider_codec.hpp): the body through SseParser into the stream decoder until it
// says done or error, then end-of-stream; and the same bytes as a non-2xx error body.
// Checks the contract a consumer relies on: tool-call indices in range, nothing after
// done/error, an error that says what, and error text that is valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_support.hpp"
#include "upstream/provider_codec.hpp"

namespace voxgate::fuzz {

class CheckingSink final : public upstream::StreamSink {
public:
    bool finished = false;
    void on_text_delta(std::string_view text) override {
        VOXGATE_FUZZ_CHECK(!finished, "text after on_finish");
        (void)text;
    }
    void on_tool_call_delta(int index, std::string_view, std::string_view, std::string_view) override {
        VOXGATE_FUZZ_CHECK(!finished, "tool call after on_finish");
        VOXGATE_FUZZ_CHECK(index >= 0 && index < upstream::kMaxToolCalls, "tool-call index out of range");
    }
    void on_usage(const upstream::Usage&) override { VOXGATE_FUZZ_CHECK(!finished, "usage after on_finish"); }
    void on_finish(upstream::FinishReason) override {
        VOXGATE_FUZZ_CHECK(!finished, "on_finish twice");
        finished = true;
    }
};

inline void check_error(const upstream::UpstreamError& error) {
    VOXGATE_FUZZ_CHECK(!error.code.empty() || !error.type.empty(), "an error that names no code or type");
    VOXGATE_FUZZ_CHECK(is_valid_utf8(error.message), error.message);
    VOXGATE_FUZZ_CHECK(error.message.size() <= upstream::kMaxErrorMessageBytes, "error message over its bound");
    VOXGATE_FUZZ_CHECK(!error.retry_after || error.retryable, "retry_after on a non-retryable error");
}

inline void fuzz_provider_stream(const upstream::ProviderCodec& codec, const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);

    auto decoder = codec.make_decoder();
    CheckingSink sink;
    upstream::SseParser parser;  // the engine's default limit
    upstream::DecodeStatus status = upstream::DecodeStatus::more;
    bool parser_failed = false;
    for_each_chunk(bytes, [&](std::string_view chunk) {
        parser_failed = static_cast<bool>(parser.feed(chunk, [&](const upstream::SseEvent& event) {
            if (status == upstream::DecodeStatus::more) status = decoder->on_event(event, sink);
        }));
        return status == upstream::DecodeStatus::more && !parser_failed;
    });
    if (status == upstream::DecodeStatus::more && !parser_failed) status = decoder->on_end_of_stream(sink);
    if (status == upstream::DecodeStatus::done) VOXGATE_FUZZ_CHECK(sink.finished, "done without on_finish");
    if (status == upstream::DecodeStatus::error) check_error(decoder->error());

    // The same bytes as the body of an error reply; the status and the Retry-After
    // headers come from the input too.
    const int http_status = 400 + static_cast<int>(size % 200);
    const std::string_view retry_after = bytes.substr(0, size % 8);
    const std::string_view retry_after_ms = bytes.substr(size % 8, size % 5);
    const upstream::UpstreamError error = codec.classify_error(http_status, bytes, retry_after, retry_after_ms);
    VOXGATE_FUZZ_CHECK(error.http_status == http_status, "classify_error changed the status");
    check_error(error);
}

}  // namespace voxgate::fuzz
