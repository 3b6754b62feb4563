#pragma once
// A scriptable stand-in for an LLM provider, used by every upstream test and benchmark:
// a small Beast HTTP/1.1 server on 127.0.0.1 (port 0), plain or TLS, on its own thread,
// speaking both providers' streaming formats:
//   POST .../chat/completions -> OpenAI Chat Completions SSE (docs/wire-protocols.md 2.2)
//   POST .../messages         -> Anthropic Messages SSE (docs/wire-protocols.md 3.2)
//   POST .../audio/transcriptions -> {"text": ...} describing the uploaded WAV
//   POST .../audio/speech     -> a PCM16 24 kHz tone, streamed (MockSpeech below)
// Each request is scripted by a MockScript, taken from the `x-mock-script` request header
// (JSON) and/or from a directive in the text of the last user message, e.g.
//   "Hello [mock tokens=5 first_ms=10 gap_ms=1]"
// (the directive wins per key; that is the form a gateway test can reach through a client).
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace voxgate::test {

// Directive keys are the JSON keys below; `texts` is '|'-separated in a directive, `echo`
// may stand alone. Values in a directive cannot contain spaces or ']'.
struct MockScript {
    std::string id;                  // "id": names the fail_first counter (default: the target)
    int tokens = 5;                  // "tokens": number of text deltas
    std::vector<std::string> texts;  // "texts": the deltas; empty = default_token(0..tokens-1)
    int head_ms = 0;                 // "head_ms": delay before the response head (a slow provider)
    int first_ms = 0;                // "first_ms": delay before the first delta
    int gap_ms = 0;                  // "gap_ms": delay between deltas
    int status = 200;                // "status": non-200 answers with the provider's error JSON
    std::string retry_after;         // "retry_after": header on error responses (seconds)
    std::string retry_after_ms;      // "retry_after_ms": header on error responses
    int fail_first = 0;              // "fail_first": the first K requests with this id fail...
    int fail_status = 503;           // "fail_status": ...with this status (500/503/529/429...)
    int stall_after = -1;            // "stall_after": after K deltas send nothing, keep the connection
    int reset_after = -1;            // "reset_after": after K deltas reset the connection (RST)
    int malformed_after = -1;        // "malformed_after": after K deltas one event of broken JSON
    int split = 0;                   // "split": send the stream in pieces (HTTP chunks) of N bytes
    bool one_write = false;          // "one_write": the whole stream in one socket write (no delays)
    std::string tool;                // "tool": after the text, a tool call to this function...
    std::string args;                // "args": ...with these JSON arguments (streamed in fragments)
    bool echo = false;               // "echo": the reply text is the received request body
    // "echo_secrets": an error reply's message quotes what the request carried, the way
    // providers and proxies do: the API key (raw, masked like OpenAI's 401, JSON-escaped)
    // and every request header value (raw and JSON-escaped).
    bool echo_secrets = false;

    nlohmann::json to_json() const;      // only the keys that differ from the defaults
    std::string header_value() const { return to_json().dump(); }
};

// How POST .../audio/speech answers (OpenAI's text-to-speech, response_format "pcm"): a
// 440 Hz tone of PCM16 LE at 24 kHz, ms_per_char milliseconds per byte of `input`, streamed
// in HTTP chunks of chunk_ms of audio whose byte counts are odd (a sample straddles every
// chunk boundary but the last). Set for every request with MockUpstream::set_speech; a
// directive in the input overrides it per request, e.g. "Hello [mock status=503 first_ms=50]"
// (the directive is spoken too: it counts in the length).
struct MockSpeech {
    int ms_per_char = 50;        // "ms_per_char": audio per byte of input
    int first_ms = 0;            // "first_ms": delay before the response head (first byte)
    double realtime_factor = 0;  // "rtf": time spent sending per second of audio; 0 = as fast as possible
    int chunk_ms = 100;          // "chunk_ms": audio per HTTP chunk
    int status = 200;            // "status": non-200 answers OpenAI's error JSON; 401 quotes the Authorization header
    // Failures for resilience tests (set_speech only, not in a directive):
    int fail_first = 0;          // the first K requests after set_speech answer fail_status...
    int fail_status = 503;       // ...(with OpenAI's error JSON)
    int reset_after_chunks = -1; // after K audio chunks reset the connection (RST) mid-body
};

// How POST .../audio/transcriptions answers, beyond the model-driven cases below: failures
// for resilience tests. Set with MockUpstream::set_transcription.
struct MockTranscription {
    int fail_first = 0;     // the first K requests after set_transcription answer fail_status
    int fail_status = 503;  // (with OpenAI's error JSON)
    std::string retry_after;  // "retry-after" header on those failures (seconds), "" = none
};
// The samples the mock sends for an input of `input_bytes` bytes.
std::vector<std::int16_t> mock_speech_samples(std::size_t input_bytes, int ms_per_char);

// One /audio/speech request as the mock received it.
struct SpeechRequest {
    std::string input;
    std::string voice;
    std::string model;
    std::string response_format;
    std::string authorization;  // the header, "" when absent
};

// "tok0", " tok1", " tok2", ...: concatenated they read "tok0 tok1 tok2".
std::string default_token(int index);

struct ReceivedRequest {
    std::string method;
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
    std::string body;
    std::string header(std::string_view name) const;  // first value, empty if absent
};

// What a test reads back from a body the mock streamed (either format).
struct DecodedMockStream {
    std::vector<std::string> tokens;  // text deltas in order
    bool finished = false;            // saw `data: [DONE]` / `message_stop`
    int malformed_events = 0;         // data that was not JSON
    std::string tool_name;
    std::string tool_arguments;       // fragments joined
    std::string finish_reason;        // finish_reason / stop_reason
};
DecodedMockStream decode_mock_stream(std::string_view sse_body);

class MockUpstream {
public:
    struct Options {
        std::string cert_file;  // both set = HTTPS
        std::string key_file;
        std::size_t max_logged_requests = 100000;
    };

    MockUpstream();
    explicit MockUpstream(Options options);
    ~MockUpstream();
    MockUpstream(const MockUpstream&) = delete;
    MockUpstream& operator=(const MockUpstream&) = delete;

    std::uint16_t port() const { return port_; }
    bool tls() const { return tls_; }
    std::string base_url() const;  // "http://127.0.0.1:<port>" or "https://..."
    std::string openai_url() const { return base_url() + "/v1/chat/completions"; }
    std::string anthropic_url() const { return base_url() + "/v1/messages"; }

    // Every request received so far (up to Options::max_logged_requests), oldest first.
    std::vector<ReceivedRequest> requests() const;
    std::size_t request_count() const;
    std::size_t accepted_connections() const { return accepted_.load(); }
    std::size_t open_connections() const { return open_.load(); }
    std::size_t peak_open_connections() const { return peak_open_.load(); }
    // TLS: the ALPN protocol lists clients offered, e.g. "h2,http/1.1" (the mock picks http/1.1).
    std::vector<std::string> alpn_offers() const;
    // Polls until at most `count` connections are open; false on timeout.
    bool wait_for_open_connections_at_most(std::size_t count, std::chrono::milliseconds timeout) const;
    // Forgets the fail_first counters.
    void reset_scripts();
    // How /audio/speech answers from now on, and what it was asked (oldest first).
    void set_speech(MockSpeech speech);
    MockSpeech speech() const;
    std::vector<SpeechRequest> speech_requests() const;
    // How /audio/transcriptions fails from now on (its fail_first counts from this call).
    void set_transcription(MockTranscription transcription);
    // Requests received for /audio/transcriptions and /audio/speech so far.
    std::size_t transcription_request_count() const;
    std::size_t speech_request_count() const;

private:
    class Server;
    friend class Server;

    void log_request(ReceivedRequest request);
    int next_attempt(const std::string& script_id);  // 1 for the first request with this id
    void note_alpn(std::string offer);

    bool tls_ = false;
    std::uint16_t port_ = 0;
    std::size_t max_logged_requests_;
    std::atomic<std::size_t> accepted_{0};
    std::atomic<std::size_t> open_{0};
    std::atomic<std::size_t> peak_open_{0};  // written by the mock's thread only
    mutable std::mutex mutex_;
    std::vector<ReceivedRequest> requests_;
    std::size_t request_total_ = 0;
    std::map<std::string, int> attempts_;
    std::vector<std::string> alpn_offers_;
    MockSpeech speech_;
    int speech_failures_left_ = 0;  // of speech_.fail_first
    MockTranscription transcription_;
    int transcription_failures_left_ = 0;
    // Takes one scripted failure if any is left: the status to answer, or 0.
    int take_speech_failure();
    std::optional<MockTranscription> take_transcription_failure();
    std::unique_ptr<Server> server_;  // last: stops before the state above goes away
    std::thread thread_;
};

}  // namespace voxgate::test
