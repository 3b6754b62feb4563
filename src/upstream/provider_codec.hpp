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
// (An SseParser error, an event over its size limit, is the engine's to report.)
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
    std::string message;  // human text, printable_error_text(): bounded, valid UTF-8, one line
    // HTTP errors: by status (is_retryable_status), except an exhausted quota. In-stream
    // errors: a passing condition (overload, server error, cut stream) and no content
    // streamed yet. Malformed streams never.
    bool retryable = false;
    // The server-requested delay (parse_retry_after); only set when retryable.
    std::optional<std::chrono::milliseconds> retry_after;
};

enum class DecodeStatus : std::uint8_t { more, done, error };

// Fills `error` for a failure reported inside a 2xx stream; returns DecodeStatus::error.
// transient: the failure may pass (overload, dropped connection), so a new attempt could
// succeed; the engine still retries only while no content was streamed.
inline DecodeStatus stream_failure(UpstreamError& error, bool saw_content, std::string type, std::string code,
                                   std::string message, bool transient) {
    error.http_status = 0;
    error.retryable = transient && !saw_content;
    error.type = std::move(type);
    error.code = std::move(code);
    error.message = std::move(message);
    return DecodeStatus::error;
}

// Decoders pass tool-call indices in [0, kMaxToolCalls) to the sink, so a consumer may
// index a table by them; a stream that names another index is malformed.
inline constexpr int kMaxToolCalls = 128;

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
// (provider_kinds.hpp finds a kind's codec by name.)

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

// Text from a provider's error reply (a non-JSON body, often an HTML page from a proxy),
// made fit for a log line and for the client's JSON error event: valid UTF-8 (a byte
// that is not part of a well-formed character becomes '?'), control characters become
// spaces, and at most max_bytes bytes, never cut inside a character.
// Messages a provider wrote in a JSON error are kept longer than raw bodies, but bounded too.
inline constexpr std::size_t kMaxErrorMessageBytes = 1024;

inline std::string printable_error_text(std::string_view text, std::size_t max_bytes = 200) {
    std::string out;
    std::size_t i = 0;
    while (i < text.size()) {
        const auto byte_at = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
        const unsigned lead = byte_at(0);
        const std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
        bool valid = length != 0 && i + length <= text.size();
        std::uint32_t code_point = length == 1 ? lead : lead & (0x7Fu >> length);
        for (std::size_t k = 1; valid && k < length; ++k) {
            valid = (byte_at(k) & 0xC0) == 0x80;
            code_point = (code_point << 6) | (byte_at(k) & 0x3Fu);
        }
        // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
        valid = valid && !(length == 2 && code_point < 0x80) &&
                !(length == 3 && (code_point < 0x800 || (code_point >= 0xD800 && code_point <= 0xDFFF))) &&
                !(length == 4 && (code_point < 0x10000 || code_point > 0x10FFFF));
        const std::size_t consumed = valid ? length : 1;
        if (out.size() + consumed > max_bytes) break;
        if (!valid) {
            out.push_back('?');
        } else if (length == 1 && (lead < 0x20 || lead == 0x7F)) {
            out.push_back(' ');
        } else {
            out.append(text.substr(i, length));
        }
        i += consumed;
    }
    return out;
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
