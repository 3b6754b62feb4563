#pragma once
// What makes a provider a provider: how to phrase a ChatRequest as an HTTP request, how to
// turn its SSE stream back into StreamSink callbacks, and how to read its error replies.
// Codecs are pure (no I/O, no clock, no Asio) and stateless; a StreamDecoder holds the
// state of one response stream. The transport (curl) and the retry loop live elsewhere.
//
// How the engine drives one attempt:
//   spec = codec.build_request(request, config)      POST spec.url, spec.headers, spec.body
//   non-2xx status  -> codec.classify_error(status, body, retry-after, retry-after-ms)
//   2xx body bytes  -> SseParser -> decoder->on_event(event, sink) until it says done/error
//   body ends first -> decoder->on_end_of_stream(sink)
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "upstream/chat.hpp"
#include "upstream/sse_parser.hpp"
#include "voxgate/config.hpp"

namespace voxgate::upstream {

// One HTTP POST, ready for the transport. headers may carry the API key: never log them.
struct HttpRequestSpec {
    std::string url;
    std::vector<std::string> headers;  // "Name: value"
    std::string body;                  // JSON
};

// A failed attempt, in the provider's own words plus our retry verdict.
struct UpstreamError {
    int http_status = 0;  // 0 for errors reported inside a 2xx stream
    std::string type;     // provider error type, e.g. "rate_limit_error", "overloaded_error"
    std::string code;     // provider or gateway code, e.g. "insufficient_quota", "upstream_malformed"
    std::string message;  // human text (truncated provider body when it was not JSON)
    bool retryable = false;
    std::optional<std::chrono::milliseconds> retry_after;  // server-requested delay, if any and sane
};

enum class DecodeStatus : std::uint8_t { more, done, error };

// Decodes one response stream. on_event returns `more` while the response goes on, `done`
// after the final callback (on_usage if known, then on_finish), `error` when the stream
// reports a failure or cannot be understood; error() then says what. After done/error,
// feed it nothing more.
class StreamDecoder {
public:
    virtual ~StreamDecoder() = default;
    virtual DecodeStatus on_event(const SseEvent& event, StreamSink& sink) = 0;
    // The HTTP body ended cleanly before the stream said it was complete. Returns `error`
    // (code "upstream_truncated") unless the provider's framing allows that ending.
    virtual DecodeStatus on_end_of_stream(StreamSink& sink) = 0;
    virtual const UpstreamError& error() const = 0;
    // Whether any text or tool-call delta reached the sink: after that, a retry would
    // repeat output, so the engine must not retry.
    virtual bool saw_content() const = 0;
};

class ProviderCodec {
public:
    virtual ~ProviderCodec() = default;
    // request.model wins; when it is empty, config.model is used.
    virtual HttpRequestSpec build_request(const ChatRequest& request, const ProviderConfig& config) const = 0;
    virtual std::unique_ptr<StreamDecoder> make_decoder() const = 0;
    // A non-2xx reply: the status, the (possibly truncated) body and the two retry headers
    // (empty when absent).
    virtual UpstreamError classify_error(int http_status, std::string_view body,
                                         std::string_view retry_after_header,
                                         std::string_view retry_after_ms_header) const = 0;
};

std::unique_ptr<ProviderCodec> make_openai_codec();     // providers/openai.cpp
std::unique_ptr<ProviderCodec> make_anthropic_codec();  // providers/anthropic.cpp

// "openai" | "anthropic"; nullptr for any other kind (the demo provider has no codec).
inline std::unique_ptr<ProviderCodec> make_codec(std::string_view kind) {
    if (kind == "openai") return make_openai_codec();
    if (kind == "anthropic") return make_anthropic_codec();
    return nullptr;
}

// Statuses worth another attempt (openai-node and the Anthropic SDK agree): timeout,
// conflict, rate limit, server errors, and Anthropic's 529 overloaded.
inline bool is_retryable_status(int http_status) {
    switch (http_status) {
        case 408: case 409: case 429: case 500: case 502: case 503: case 504: case 529: return true;
        default: return false;
    }
}

// The delay a server asked for: `retry-after-ms` (float ms) first, else `retry-after`
// (float seconds). An HTTP-date, garbage, or a value outside 0-60 s counts as absent
// (openai-node's rule), so a hostile header cannot park a request for an hour.
inline std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view retry_after_header,
                                                                  std::string_view retry_after_ms_header) {
    constexpr double kMaxMs = 60'000;
    const auto parse_number = [](std::string_view text) -> std::optional<double> {
        while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
        while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
        double value = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
            return std::nullopt;
        }
        return value;
    };
    const auto to_delay = [&](std::optional<double> ms) -> std::optional<std::chrono::milliseconds> {
        if (!ms || *ms < 0 || *ms > kMaxMs) return std::nullopt;
        return std::chrono::milliseconds(static_cast<long long>(std::ceil(*ms)));
    };
    if (auto delay = to_delay(parse_number(retry_after_ms_header))) return delay;
    if (auto seconds = parse_number(retry_after_header)) return to_delay(*seconds * 1000);
    return std::nullopt;
}

// A non-JSON error body becomes the message, cut to at most max_bytes without splitting
// a UTF-8 sequence (proxies answer with HTML pages; nobody wants all of it in a log).
inline std::string truncate_error_body(std::string_view body, std::size_t max_bytes = 200) {
    if (body.size() <= max_bytes) return std::string(body);
    std::size_t cut = max_bytes;
    while (cut > 0 && (static_cast<unsigned char>(body[cut]) & 0xC0) == 0x80) --cut;  // continuation byte
    return std::string(body.substr(0, cut));
}

// Tolerant JSON reading shared by the codecs: a provider that sends a field of an
// unexpected type (or none) reads as empty, never as an exception.
namespace codec_json {

inline const nlohmann::json& member(const nlohmann::json& obj, const char* key) {
    static const nlohmann::json kNull;
    if (!obj.is_object()) return kNull;
    const auto it = obj.find(key);
    return it != obj.end() ? *it : kNull;
}

inline std::string_view string_at(const nlohmann::json& obj, const char* key) {
    const nlohmann::json& value = member(obj, key);
    return value.is_string() ? std::string_view(value.get_ref<const std::string&>()) : std::string_view();
}

inline std::int64_t int_at(const nlohmann::json& obj, const char* key) {
    const nlohmann::json& value = member(obj, key);
    return value.is_number_integer() ? value.get<std::int64_t>() : 0;
}

// Serializes a request body; invalid UTF-8 is replaced instead of throwing.
inline std::string dump(const nlohmann::json& doc) {
    return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace codec_json

}  // namespace voxgate::upstream
