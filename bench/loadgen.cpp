// The benchmark suite's load generator: many concurrent sessions against one gateway (or
// against bench_mock_llm directly, the harness's own floor), on one thread of Asio
// coroutines. bench/run.sh starts several processes when one process's file descriptors
// or core are not enough, and merges what they wrote.
//
//   bench_loadgen run --protocol realtime|token|direct --url URL --sessions N
//                     --scenario voice|b2b|idle|burst|spoken [--duration-s 20] [--think-ms 4000]
//                     [--ramp-ms 4000] [--tokens 50] [--out FILE]
//                     spoken only: [--utterance-ms 1000] [--silence-ms 200] [--speech-wav FILE]
//                                  [--expected-delay-ms 0] [--turn-timeout-ms 10000]
//   bench_loadgen merge FILE...          one JSON line, then a table
//   bench_loadgen coldstart --url URL [--runs 20] -- COMMAND ARGS...
//
// Protocols: `realtime` speaks voxgate's /v1/realtime (conversation.item.create +
// response.create, read to response.done); `token` the peers' minimal protocol (send a
// prompt, read {"type":"delta"} frames to {"type":"done"}); `direct` POSTs to the mock and
// reads its SSE. Every token carries bench_mock_llm's send stamp, so per token
// overhead = time received - stamp (same machine, CLOCK_MONOTONIC).
//
// Scenarios: `voice` = a turn, then think-ms of silence, repeated; sessions start spread
// over ramp-ms. `b2b` = turns back to back. `burst` = all sessions connect, then every one
// sends response.create within ramp-ms (use 100), one turn each. `idle` = connect and hold
// for duration-s (bench/run.sh reads the gateway's RSS meanwhile). Turns start until
// duration-s has passed since the ramp ended; turns in flight then finish.
//
// `spoken` (realtime only) is a caller talking: session.update to server VAD
// (silence_duration_ms = silence-ms, PCM16 24 kHz in) and to spoken replies (output
// modality audio, audio/pcm out); then per turn the utterance goes out as 20 ms
// input_audio_buffer.append events at real-time pace (speech-wav, PCM16 mono, resampled to
// 24 kHz, with no pause longer than silence-ms inside it, or the VAD cuts it in two turns;
// or utterance-ms of a synthetic voiced signal the VAD takes for speech), then 20 ms
// silence events until input_audio_buffer.speech_stopped arrives. Time to first audio =
// speech_stopped received -> first response.output_audio.delta received; its overhead =
// that minus expected-delay-ms (what the mocks were told to wait: STT + LLM first sentence +
// TTS first byte), i.e. what the gateway itself added. After response.done the caller
// listens (until first audio + the audio's duration), thinks think-ms, and talks again. A
// turn that gets no speech_stopped, no audio or no response.done within turn-timeout-ms
// ends its session with a named error; a run where no turn got audio exits 1.
//
// Recorded per process (FILE, text): first-token overhead, every token's overhead, every
// inter-token gap, time to first token (request sent -> first token), turn time, in
// microseconds, and the counts; spoken: time to first audio, its overhead, time to the
// first transcript (or text) delta and the turn time (both from speech_stopped), and the
// audio bytes received. The merge prints p50/p90/p99/p99.9/max.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "audio/base64.hpp"
#include "audio/resampler.hpp"
#include "audio/wav.hpp"
#include "bench_stats.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;

std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count();
}

[[noreturn]] void usage(const std::string& why) {
    std::cerr << "bench_loadgen: " << why
              << "\nusage: bench_loadgen run --protocol realtime|token|direct --url URL --sessions N"
                 " --scenario voice|b2b|idle|burst|spoken [--duration-s S] [--think-ms MS] [--ramp-ms MS]"
                 " [--tokens N] [--out FILE]\n"
                 "         spoken: [--utterance-ms MS] [--silence-ms MS] [--speech-wav FILE]"
                 " [--expected-delay-ms MS] [--turn-timeout-ms MS]\n"
                 "       bench_loadgen merge FILE...\n"
                 "       bench_loadgen coldstart --url URL [--runs N] -- COMMAND ARGS...\n";
    std::exit(2);
}

struct Url {
    std::string host;
    std::string port;
    std::string path;
    bool tls = false;  // wss:// (the gateway's own TLS; the certificate is not verified: loopback only)
};

Url parse_url(std::string_view url) {
    auto scheme = url.find("://");
    if (scheme == std::string_view::npos) usage("a URL looks like ws://127.0.0.1:8080/v1/realtime");
    auto rest = url.substr(scheme + 3);
    auto slash = rest.find('/');
    auto authority = rest.substr(0, slash);
    auto colon = authority.rfind(':');
    if (colon == std::string_view::npos) usage("the URL needs a port");
    return {std::string(authority.substr(0, colon)), std::string(authority.substr(colon + 1)),
            slash == std::string_view::npos ? "/" : std::string(rest.substr(slash)), url.substr(0, scheme) == "wss"};
}

enum class Protocol { realtime, token, direct };
enum class Scenario { voice, b2b, idle, burst, spoken };

struct RunOptions {
    Protocol protocol = Protocol::realtime;
    Scenario scenario = Scenario::voice;
    Url url;
    int sessions = 100;
    int duration_s = 20;
    int think_ms = 4000;
    int ramp_ms = 4000;
    int tokens = 50;
    std::string out;
    // spoken
    int utterance_ms = 1000;    // of the synthetic voice; a speech-wav is sent whole
    int silence_ms = 200;       // the VAD's silence_duration_ms
    std::string speech_wav;     // "" = the synthetic voice
    int expected_delay_ms = 0;  // the mocks' delays between speech_stopped and the first audio
    int turn_timeout_ms = 10000;
};

// What one process measured.
struct Samples {
    std::vector<std::uint32_t> first_overhead, token_overhead, gap, ttft, turn;
    std::vector<std::uint32_t> first_audio, audio_overhead;  // spoken
    std::uint64_t tokens = 0, turns = 0, errors = 0, connected = 0;
    std::uint64_t audio_bytes = 0;  // PCM16 received in response.output_audio.delta
    std::uint64_t window_tokens = 0;  // received inside [window_from_us, window_to_us)
    std::int64_t window_from_us = 0, window_to_us = INT64_MAX;
    std::map<std::string, std::uint64_t> error_kinds;

    void error(std::string kind) {
        ++errors;
        ++error_kinds[std::move(kind)];
    }
};

std::uint32_t clamp_us(std::int64_t us) {
    return static_cast<std::uint32_t>(std::clamp<std::int64_t>(us, 0, UINT32_MAX));
}

// The stamp in " s<digits>", or nullopt.
std::optional<std::int64_t> stamp_of(std::string_view token) {
    auto s = token.find('s');
    if (s == std::string_view::npos) return std::nullopt;
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(token.data() + s + 1, token.data() + token.size(), value);
    if (ec != std::errc()) return std::nullopt;
    (void)end;
    return value;
}

// The string value of `"key":"...` in a flat JSON text, unescaped enough for stamps.
std::string_view string_field(std::string_view json, std::string_view quoted_key_colon_quote) {
    auto at = json.find(quoted_key_colon_quote);
    if (at == std::string_view::npos) return {};
    auto begin = at + quoted_key_colon_quote.size();
    auto end = json.find('"', begin);
    return end == std::string_view::npos ? std::string_view{} : json.substr(begin, end - begin);
}

// One turn's token bookkeeping, shared by the three protocols.
class TurnRecorder {
public:
    TurnRecorder(Samples& samples, std::int64_t sent_us) : samples_(samples), sent_us_(sent_us) {}
    void token(std::string_view text) {
        auto received = now_us();
        auto stamp = stamp_of(text);
        if (!stamp) return samples_.error("token without a stamp");
        auto overhead = clamp_us(received - *stamp);
        if (count_ == 0) {
            samples_.first_overhead.push_back(overhead);
            samples_.ttft.push_back(clamp_us(received - sent_us_));
        } else {
            samples_.gap.push_back(clamp_us(received - last_us_));
        }
        samples_.token_overhead.push_back(overhead);
        last_us_ = received;
        ++count_;
        ++samples_.tokens;
        if (received >= samples_.window_from_us && received < samples_.window_to_us) ++samples_.window_tokens;
    }
    void done(int expected_tokens) {
        ++samples_.turns;
        samples_.turn.push_back(clamp_us(now_us() - sent_us_));
        if (count_ != expected_tokens) samples_.error("short turn");
    }

private:
    Samples& samples_;
    std::int64_t sent_us_;
    std::int64_t last_us_ = 0;
    int count_ = 0;
};

constexpr int spoken_rate = 24000;  // PCM16 mono in and out: the Realtime API's audio/pcm
constexpr int frame_ms = 20;
constexpr std::size_t frame_samples = spoken_rate * frame_ms / 1000;

// What every spoken session says: the utterance as ready-made 20 ms
// input_audio_buffer.append events, and one event of silence. Made once per process.
struct CallerVoice {
    std::vector<std::string> speech;
    std::string silence;
    std::string input_update;   // session.update: PCM16 in, server VAD
    std::string output_update;  // session.update: spoken replies, PCM16 out
};

static_assert(std::endian::native == std::endian::little, "PCM16 goes out as the host's int16s");

std::string append_event(std::span<const std::int16_t> samples) {
    std::string event = R"({"type":"input_audio_buffer.append","audio":")";
    voxgate::audio::base64_encode(
        std::span(reinterpret_cast<const std::uint8_t*>(samples.data()), samples.size() * sizeof(std::int16_t)), event);
    event += R"("})";
    return event;
}

// A voiced signal the server VAD takes for speech: a 140 Hz buzz with five harmonics
// (a vowel's shape) at about -18 dBFS, its level swinging 20 dB four times a second like
// syllables, never quiet long enough for the VAD's hold level (start - 6 dB) to end the turn.
std::vector<std::int16_t> synthetic_voice(int ms) {
    std::vector<std::int16_t> samples(static_cast<std::size_t>(ms) * spoken_rate / 1000);
    for (std::size_t i = 0; i < samples.size(); ++i) {
        const double t = static_cast<double>(i) / spoken_rate;
        double buzz = 0;
        for (int k = 1; k <= 6; ++k) buzz += std::sin(2 * M_PI * 140 * k * t) / k;
        const double syllables = 0.55 + 0.45 * std::sin(2 * M_PI * 4 * t);
        const double fade = std::min({1.0, t / 0.01, (static_cast<double>(samples.size() - i) / spoken_rate) / 0.01});
        samples[i] = static_cast<std::int16_t>(5000 * buzz * syllables * fade);
    }
    return samples;
}

CallerVoice make_caller_voice(const RunOptions& options) {
    std::vector<std::int16_t> speech;
    if (options.speech_wav.empty()) {
        speech = synthetic_voice(options.utterance_ms);
    } else {
        std::ifstream file(options.speech_wav, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
        auto wav = voxgate::audio::decode_wav(bytes);
        if (!file || !wav || wav->samples.empty()) usage("--speech-wav: " + options.speech_wav + " is not a PCM16 mono WAV");
        speech = wav->sample_rate == spoken_rate ? std::move(wav->samples)
                                                 : voxgate::audio::resample(wav->samples, wav->sample_rate, spoken_rate);
    }
    speech.resize((speech.size() + frame_samples - 1) / frame_samples * frame_samples);  // whole frames
    CallerVoice voice;
    for (std::size_t at = 0; at < speech.size(); at += frame_samples)
        voice.speech.push_back(append_event(std::span(speech).subspan(at, frame_samples)));
    const std::vector<std::int16_t> quiet(frame_samples);
    voice.silence = append_event(quiet);
    voice.input_update = std::string(R"({"type":"session.update","session":{"type":"realtime","audio":{"input":{)") +
                         R"("format":{"type":"audio/pcm","rate":24000},)" +
                         R"("turn_detection":{"type":"server_vad","silence_duration_ms":)" +
                         std::to_string(options.silence_ms) + "}}}}}";
    voice.output_update = std::string(R"({"type":"session.update","session":{"type":"realtime",)") +
                          R"("output_modalities":["audio"],)" +
                          R"("audio":{"output":{"format":{"type":"audio/pcm","rate":24000}}}}})";
    return voice;
}

struct Shared {
    RunOptions options;
    CallerVoice voice;  // spoken only
    Samples samples;
    Clock::time_point start;
    Clock::time_point measure_from;  // end of the ramp
    Clock::time_point stop_turns_at;
    std::int64_t last_turn_end_us = 0;
};

constexpr std::string_view realtime_turn_item =
    R"({"type":"conversation.item.create","item":{"type":"message","role":"user","content":[{"type":"input_text","text":"Say something."}]}})";
constexpr std::string_view realtime_response_create = R"({"type":"response.create"})";

// One WebSocket turn (realtime or token protocol); false when the connection is unusable.
template <class WebSocket>
asio::awaitable<bool> ws_turn(WebSocket& ws, Shared& shared, beast::flat_buffer& buffer) {
    error_code ec;
    auto& samples = shared.samples;
    const bool realtime = shared.options.protocol == Protocol::realtime;
    if (realtime) {
        co_await ws.async_write(asio::buffer(realtime_turn_item), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return samples.error("write"), false;
    }
    TurnRecorder turn(samples, now_us());
    co_await ws.async_write(asio::buffer(realtime ? realtime_response_create : std::string_view("Say something.")),
                            asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return samples.error("write"), false;
    for (;;) {
        buffer.clear();
        co_await ws.async_read(buffer, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return samples.error("read: " + ec.message()), false;
        std::string_view text(static_cast<const char*>(buffer.cdata().data()), buffer.size());
        auto type = string_field(text, R"("type":")");
        if (realtime) {
            if (type == "response.output_text.delta") turn.token(string_field(text, R"("delta":")"));
            else if (type == "response.done") {
                if (text.find(R"("status":"completed")") == std::string_view::npos) samples.error("response not completed");
                break;
            } else if (type == "error") samples.error("error event: " + std::string(string_field(text, R"("code":")")));
        } else {
            if (type == "delta") turn.token(string_field(text, R"("delta":")"));
            else if (type == "done") break;
            else if (type == "error") co_return samples.error("error frame"), true;
        }
    }
    turn.done(shared.options.tokens);
    co_return true;
}

// One direct turn: POST to the mock, read its SSE; false when the connection is unusable.
asio::awaitable<bool> direct_turn(beast::tcp_stream& stream, Shared& shared, beast::flat_buffer& buffer) {
    error_code ec;
    auto& samples = shared.samples;
    http::request<http::string_body> request{http::verb::post, shared.options.url.path, 11};
    request.set(http::field::host, shared.options.url.host);
    request.set(http::field::content_type, "application/json");
    request.body() = R"({"model":"bench","stream":true,"messages":[{"role":"user","content":"Say something."}]})";
    request.prepare_payload();
    TurnRecorder turn(samples, now_us());
    co_await http::async_write(stream, request, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return samples.error("write"), false;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    char body[4096];
    std::string pending;  // SSE text not yet cut into events
    while (!parser.is_done()) {
        parser.get().body().data = body;
        parser.get().body().size = sizeof body;
        co_await http::async_read_some(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
        if (ec == http::error::need_buffer) ec = {};
        if (ec) co_return samples.error("read: " + ec.message()), false;
        pending.append(body, sizeof body - parser.get().body().size);
        std::size_t end;
        while ((end = pending.find("\n\n")) != std::string::npos) {
            std::string_view event(pending.data(), end);
            auto content = string_field(event, R"("content":")");
            if (!content.empty()) turn.token(content);
            pending.erase(0, end + 2);
        }
    }
    if (parser.get().result() != http::status::ok) samples.error("status");
    turn.done(shared.options.tokens);
    co_return parser.keep_alive();
}

asio::awaitable<void> pause_until(Clock::time_point when) {
    asio::steady_timer timer(co_await asio::this_coro::executor, when);
    error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

// The scenario's turns for one connected session; `turn()` runs one, false when the
// connection is unusable.
template <class Turn>
asio::awaitable<void> run_turns(Shared& shared, int index, Turn turn_once) {
    auto& options = shared.options;
    auto turn = [&]() -> asio::awaitable<bool> {
        bool usable = co_await turn_once();
        shared.last_turn_end_us = std::max(shared.last_turn_end_us, now_us());
        co_return usable;
    };
    switch (options.scenario) {
    case Scenario::idle:
        co_await pause_until(shared.stop_turns_at);
        break;
    case Scenario::burst:
        // Everyone is connected by the ramp's end (the ramp here is the connect phase);
        // then all requests go out within 100 ms.
        co_await pause_until(shared.measure_from + std::chrono::microseconds(100000LL * index / options.sessions));
        co_await turn();
        break;
    case Scenario::spoken:  // spoken_session runs its own turns
    case Scenario::voice:
    case Scenario::b2b:
        while (Clock::now() < shared.stop_turns_at) {
            if (!co_await turn()) break;
            if (options.scenario == Scenario::voice) co_await pause_until(Clock::now() + std::chrono::milliseconds(options.think_ms));
        }
        break;
    }
}

// One spoken session's view of the server's events, written by its reader and waited on by
// its turns (one thread: a check of the state and the start of a wait never interleave
// with the reader).
struct SpokenState {
    explicit SpokenState(asio::any_io_executor executor) : wake(executor) {}
    // This turn's events.
    bool speech_started = false;
    bool speech_stopped = false;
    bool response_done = false;
    bool response_completed = false;
    std::int64_t stopped_us = 0, first_audio_us = 0;
    std::int64_t first_text_us = 0;  // the reply's first transcript (or text) delta
    std::uint64_t audio_bytes = 0;
    // The connection's.
    bool closing = false;     // we are closing it: a read error is the end, not an error
    bool reader_done = false;
    asio::steady_timer wake;  // cancelled on every change a turn waits for

    void new_turn() {
        speech_started = speech_stopped = response_done = response_completed = false;
        stopped_us = first_audio_us = first_text_us = 0;
        audio_bytes = 0;
    }
    void changed() { wake.cancel(); }
};

// Until `ready()` or `deadline`; true when ready.
template <class Ready>
asio::awaitable<bool> wait_for(SpokenState& state, Clock::time_point deadline, Ready ready) {
    while (!ready() && !state.reader_done && Clock::now() < deadline) {
        state.wake.expires_at(deadline);
        error_code ec;
        co_await state.wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    co_return ready();
}

// PCM16 bytes in a base64 text (its padding excluded).
std::uint64_t decoded_bytes(std::string_view base64) {
    std::uint64_t bytes = voxgate::audio::base64_decoded_size(base64.size());
    while (!base64.empty() && base64.back() == '=') base64.remove_suffix(1), --bytes;
    return bytes;
}

// Every server event of a spoken session, until the connection ends.
template <class WebSocket>
asio::awaitable<void> read_spoken_events(WebSocket& ws, Shared& shared, SpokenState& state) {
    beast::flat_buffer buffer;
    auto& samples = shared.samples;
    for (;;) {
        buffer.clear();
        error_code ec;
        co_await ws.async_read(buffer, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            if (!state.closing) samples.error("read: " + ec.message());
            break;
        }
        std::string_view text(static_cast<const char*>(buffer.cdata().data()), buffer.size());
        auto type = string_field(text, R"("type":")");
        if (type == "response.output_audio.delta") {
            if (state.first_audio_us == 0) {
                state.first_audio_us = now_us();
                state.changed();
            }
            state.audio_bytes += decoded_bytes(string_field(text, R"("delta":")"));
        } else if (type == "response.output_audio_transcript.delta" || type == "response.output_text.delta") {
            if (state.first_text_us == 0) state.first_text_us = now_us();
        } else if (type == "input_audio_buffer.speech_started") {
            state.speech_started = true;
        } else if (type == "input_audio_buffer.speech_stopped") {
            state.speech_stopped = true;
            state.stopped_us = now_us();
            state.changed();
        } else if (type == "response.done") {
            state.response_done = true;
            state.response_completed = text.find(R"("status":"completed")") != std::string_view::npos;
            state.changed();
        } else if (type == "error") {
            samples.error("error event: " + std::string(string_field(text, R"("code":")")));
        }
    }
    state.reader_done = true;
    state.changed();
}

// One spoken turn: talk, wait for the reply, listen to it. False when the session should end
// (the connection is gone, or the gateway did not answer in time: the error is recorded).
template <class WebSocket>
asio::awaitable<bool> spoken_turn(WebSocket& ws, Shared& shared, SpokenState& state) {
    auto& options = shared.options;
    auto& samples = shared.samples;
    const auto timeout = std::chrono::milliseconds(options.turn_timeout_ms);
    const auto timeout_text = " within " + std::to_string(options.turn_timeout_ms) + " ms";
    error_code ec;
    state.new_turn();
    auto send = [&](const std::string& event) -> asio::awaitable<bool> {
        co_await ws.async_write(asio::buffer(event), asio::redirect_error(asio::use_awaitable, ec));
        if (ec && !state.reader_done) samples.error("write: " + ec.message());
        co_return !ec;
    };
    // Real-time pace on a fixed schedule, as a microphone delivers it.
    auto next_frame = Clock::now();
    for (const auto& frame : shared.voice.speech) {
        co_await pause_until(next_frame);
        if (!co_await send(frame)) co_return false;
        next_frame += std::chrono::milliseconds(frame_ms);
    }
    const auto silence_until = Clock::now() + timeout;
    while (!state.speech_stopped) {
        if (state.reader_done) co_return false;
        if (Clock::now() >= silence_until)
            co_return samples.error(std::string("no input_audio_buffer.speech_stopped") + timeout_text + " of silence" +
                                    (state.speech_started ? "" : " (and no speech_started)")),
                false;
        co_await pause_until(next_frame);
        if (!co_await send(shared.voice.silence)) co_return false;
        next_frame += std::chrono::milliseconds(frame_ms);
    }
    const auto answer_by = Clock::now() + timeout;
    if (!co_await wait_for(state, answer_by, [&] { return state.first_audio_us != 0 || state.response_done; })) {
        if (!state.reader_done) samples.error("no response.output_audio.delta" + timeout_text + " of speech_stopped");
        co_return false;
    }
    if (!co_await wait_for(state, answer_by, [&] { return state.response_done; })) {
        if (!state.reader_done) samples.error("no response.done" + timeout_text + " of speech_stopped");
        co_return false;
    }
    ++samples.turns;
    samples.turn.push_back(clamp_us(now_us() - state.stopped_us));
    if (state.first_text_us != 0) samples.ttft.push_back(clamp_us(state.first_text_us - state.stopped_us));
    if (!state.response_completed) samples.error("response not completed");
    if (state.first_audio_us == 0) co_return samples.error("response.done without response.output_audio.delta"), false;
    const auto time_to_first_audio = state.first_audio_us - state.stopped_us;
    samples.first_audio.push_back(clamp_us(time_to_first_audio));
    samples.audio_overhead.push_back(clamp_us(time_to_first_audio - options.expected_delay_ms * 1000LL));
    samples.audio_bytes += state.audio_bytes;
    // The caller hears the whole reply before talking again.
    const auto heard_us = static_cast<std::int64_t>(state.audio_bytes / 2 * 1000000 / spoken_rate);
    co_await pause_until(Clock::time_point(std::chrono::microseconds(state.first_audio_us + heard_us)));
    co_return true;
}

// A spoken session after its handshake: configure, the turns, the close. The reader runs
// beside the turns (one read and one write in flight, as Beast allows) and is waited for
// before the stream it reads goes away.
template <class WebSocket>
asio::awaitable<void> spoken_session(WebSocket& ws, Shared& shared) {
    auto executor = co_await asio::this_coro::executor;
    SpokenState state(executor);
    error_code ec;
    // Two updates, so the input side takes effect even where spoken replies are refused
    // (that refusal arrives as an error event and is counted).
    for (const std::string* update : {&shared.voice.input_update, &shared.voice.output_update}) {
        co_await ws.async_write(asio::buffer(*update), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return shared.samples.error("write: " + ec.message());
    }
    asio::co_spawn(executor, read_spoken_events(ws, shared, state), asio::detached);
    bool healthy = true;
    while (healthy && Clock::now() < shared.stop_turns_at) {
        healthy = co_await spoken_turn(ws, shared, state);
        if (healthy) co_await pause_until(Clock::now() + std::chrono::milliseconds(shared.options.think_ms));
    }
    state.closing = true;
    if (healthy && !state.reader_done)
        co_await ws.async_close(websocket::close_code::normal, asio::redirect_error(asio::use_awaitable, ec));
    // A gateway that stopped answering gets no close handshake (nor one that takes over 2 s);
    // the reader ends with the socket.
    const auto close_by = Clock::now() + (healthy ? std::chrono::seconds(2) : std::chrono::seconds(0));
    if (!co_await wait_for(state, close_by, [&] { return state.reader_done; })) {
        beast::get_lowest_layer(ws).close();
        co_await wait_for(state, Clock::time_point::max(), [&] { return state.reader_done; });
    }
}

// After connecting: the WebSocket handshake (over TLS first for wss://), the scenario's
// turns, the close. `Transport` is beast::tcp_stream or an ssl_stream above it.
template <class Transport>
asio::awaitable<void> websocket_session(Shared& shared, int index, Transport transport) {
    auto& options = shared.options;
    auto& samples = shared.samples;
    error_code ec;
    if constexpr (!std::is_same_v<Transport, beast::tcp_stream>) {
        co_await transport.async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return samples.error("tls handshake: " + ec.message());
    }
    websocket::stream<Transport> ws(std::move(transport));
    ws.read_message_max(1 << 20);
    co_await ws.async_handshake(options.url.host + ":" + options.url.port, options.url.path,
                                asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return samples.error("handshake: " + ec.message());
    ++samples.connected;
    if (options.scenario == Scenario::spoken) co_return co_await spoken_session(ws, shared);
    beast::flat_buffer buffer;
    co_await run_turns(shared, index, [&]() -> asio::awaitable<bool> { co_return co_await ws_turn(ws, shared, buffer); });
    co_await ws.async_close(websocket::close_code::normal, asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> session(Shared& shared, int index, asio::ssl::context& tls) {
    auto& options = shared.options;
    auto& samples = shared.samples;
    auto executor = co_await asio::this_coro::executor;
    const auto ramp = std::chrono::milliseconds(options.ramp_ms);
    if (options.scenario != Scenario::burst)
        co_await pause_until(shared.start + ramp * index / std::max(1, options.sessions));

    tcp::resolver resolver(executor);
    error_code ec;
    auto endpoints = co_await resolver.async_resolve(options.url.host, options.url.port,
                                                     asio::redirect_error(asio::use_awaitable, ec));
    beast::tcp_stream stream(executor);
    if (!ec) co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
        samples.error("connect: " + ec.message());
        co_return;
    }
    stream.socket().set_option(tcp::no_delay(true), ec);
    if (options.protocol == Protocol::direct) {
        ++samples.connected;
        beast::flat_buffer buffer;
        co_await run_turns(shared, index, [&]() -> asio::awaitable<bool> {
            co_return co_await direct_turn(stream, shared, buffer);
        });
    } else if (options.url.tls) {
        co_await websocket_session(shared, index, beast::ssl_stream<beast::tcp_stream>(std::move(stream), tls));
    } else {
        co_await websocket_session(shared, index, std::move(stream));
    }
}

void write_samples(const Samples& samples, std::ostream& out) {
    auto series = [&](char tag, const std::vector<std::uint32_t>& values) {
        out << tag;
        for (auto v : values) out << ' ' << v;
        out << '\n';
    };
    series('f', samples.first_overhead);
    series('o', samples.token_overhead);
    series('g', samples.gap);
    series('t', samples.ttft);
    series('T', samples.turn);
    series('a', samples.first_audio);
    series('A', samples.audio_overhead);
    out << "S " << samples.tokens << ' ' << samples.turns << ' ' << samples.errors << ' ' << samples.connected << ' '
        << samples.window_tokens << ' ' << samples.window_to_us - samples.window_from_us << ' ' << samples.audio_bytes
        << '\n';
    for (auto& [kind, count] : samples.error_kinds) out << "E " << count << ' ' << kind << '\n';
}

int run(const RunOptions& options) {
    asio::io_context io(1);
    Shared shared;
    shared.options = options;
    shared.start = Clock::now() + std::chrono::milliseconds(50);
    shared.measure_from = shared.start + std::chrono::milliseconds(options.ramp_ms);
    shared.stop_turns_at = shared.measure_from + std::chrono::seconds(options.duration_s);
    // Throughput counts the tokens received from the end of the ramp until turns stop
    // starting (a burst: until its last turn ends).
    auto us = [](Clock::time_point t) {
        return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
    };
    shared.samples.window_from_us = us(shared.measure_from);
    if (options.scenario != Scenario::burst) shared.samples.window_to_us = us(shared.stop_turns_at);
    if (options.scenario == Scenario::spoken) shared.voice = make_caller_voice(options);
    asio::ssl::context tls(asio::ssl::context::tls_client);  // wss:// only; loopback, unverified
    for (int i = 0; i < options.sessions; ++i) asio::co_spawn(io, session(shared, i, tls), asio::detached);
    io.run();
    if (options.scenario == Scenario::burst) shared.samples.window_to_us = shared.last_turn_end_us;
    if (options.out.empty()) write_samples(shared.samples, std::cout);
    else {
        std::ofstream file(options.out);
        write_samples(shared.samples, file);
    }
    if (options.scenario == Scenario::spoken && shared.samples.first_audio.empty()) {
        std::cerr << "bench_loadgen: no spoken turn received response.output_audio.delta;";
        for (auto& [kind, count] : shared.samples.error_kinds) std::cerr << ' ' << count << " x " << kind << ';';
        std::cerr << '\n';
        return 1;
    }
    return 0;
}

struct Percentiles {
    std::size_t count = 0;
    double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
};

// Microsecond samples -> milliseconds; sorts `values` once for all the quantiles.
Percentiles percentiles(std::vector<std::uint32_t>& values) {
    Percentiles out;
    out.count = values.size();
    if (values.empty()) return out;
    std::sort(values.begin(), values.end());
    auto at = [&](double q) { return voxgate::bench::quantile_of_sorted(values, q) / 1000.0; };
    out.p50 = at(0.5);
    out.p90 = at(0.9);
    out.p99 = at(0.99);
    out.p999 = at(0.999);
    out.max = values.back() / 1000.0;
    return out;
}

int merge(const std::vector<std::string>& files) {
    std::map<char, std::vector<std::uint32_t>> series;
    std::uint64_t tokens = 0, turns = 0, errors = 0, connected = 0, window_tokens = 0, audio_bytes = 0;
    std::int64_t window_us = 0;
    std::map<std::string, std::uint64_t> kinds;
    for (auto& name : files) {
        std::ifstream in(name);
        if (!in) usage("cannot read " + name);
        std::string line;
        while (std::getline(in, line)) {
            if (line.empty()) continue;
            char tag = line[0];
            std::string_view rest = std::string_view(line).substr(std::min<std::size_t>(2, line.size()));
            if (tag == 'S') {
                std::uint64_t v[6] = {};
                std::int64_t w = 0;
                std::sscanf(line.c_str(), "S %lu %lu %lu %lu %lu %ld %lu", &v[0], &v[1], &v[2], &v[3], &v[4], &w, &v[5]);
                tokens += v[0], turns += v[1], errors += v[2], connected += v[3], window_tokens += v[4];
                audio_bytes += v[5];
                window_us = std::max(window_us, w);
            } else if (tag == 'E') {
                auto space = rest.find(' ');
                kinds[std::string(rest.substr(space + 1))] += std::strtoull(std::string(rest.substr(0, space)).c_str(), nullptr, 10);
            } else {
                auto& out = series[tag];
                const char* p = rest.data();
                const char* end = rest.data() + rest.size();
                while (p < end) {
                    std::uint32_t v = 0;
                    auto [next, ec] = std::from_chars(p, end, v);
                    if (ec != std::errc()) break;
                    out.push_back(v);
                    p = next;
                    while (p < end && *p == ' ') ++p;
                }
            }
        }
    }
    const std::pair<char, const char*> names[] = {{'f', "first_token_overhead_ms"},
                                                  {'o', "token_overhead_ms"},
                                                  {'g', "inter_token_gap_ms"},
                                                  {'t', "time_to_first_token_ms"},
                                                  {'T', "turn_ms"},
                                                  {'a', "time_to_first_audio_ms"},
                                                  {'A', "first_audio_overhead_ms"}};
    double tokens_per_s = window_us > 0 ? static_cast<double>(window_tokens) * 1e6 / static_cast<double>(window_us) : 0;
    const double audio_seconds = static_cast<double>(audio_bytes) / 2 / spoken_rate;
    std::printf("{\"tokens\":%lu,\"turns\":%lu,\"errors\":%lu,\"connected\":%lu,\"window_s\":%.3f,\"tokens_per_s\":%.1f,"
                "\"audio_seconds\":%.3f",
                tokens, turns, errors, connected, window_us / 1e6, tokens_per_s, audio_seconds);
    std::vector<std::pair<const char*, Percentiles>> rows;
    for (auto& [tag, name] : names) {
        auto p = percentiles(series[tag]);
        rows.emplace_back(name, p);
        std::printf(",\"%s\":{\"count\":%zu,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p99.9\":%.3f,\"max\":%.3f}", name,
                    p.count, p.p50, p.p90, p.p99, p.p999, p.max);
    }
    std::printf(",\"error_kinds\":{");
    bool first = true;
    for (auto& [kind, count] : kinds) {
        std::printf("%s\"%s\":%lu", first ? "" : ",", kind.c_str(), count);
        first = false;
    }
    std::printf("}}\n");
    std::printf("%-26s %9s %9s %9s %9s %9s %9s\n", "ms", "count", "p50", "p90", "p99", "p99.9", "max");
    for (auto& [name, p] : rows)
        if (p.count > 0)
            std::printf("%-26s %9zu %9.3f %9.3f %9.3f %9.3f %9.3f\n", name, p.count, p.p50, p.p90, p.p99, p.p999, p.max);
    if (audio_bytes > 0) std::printf("audio received %.1f s\n", audio_seconds);
    std::printf("tokens %lu, turns %lu, errors %lu, connected %lu, %.1f tokens/s over %.1f s\n", tokens, turns, errors,
                connected, tokens_per_s, window_us / 1e6);
    return 0;
}

// exec -> first completed WebSocket handshake (or HTTP 200 for direct), median of runs.
int coldstart(const Url& url, int runs, char** command) {
    std::vector<std::uint32_t> times;
    for (int r = 0; r < runs; ++r) {
        auto started = Clock::now();
        pid_t child = fork();
        if (child == 0) {
            std::freopen("/dev/null", "w", stdout);
            std::freopen("/dev/null", "w", stderr);
            execvp(command[0], command);
            _exit(127);
        }
        bool ready = false;
        while (!ready && Clock::now() - started < std::chrono::seconds(10)) {
            asio::io_context io;
            error_code ec;
            tcp::resolver resolver(io);
            auto endpoints = resolver.resolve(url.host, url.port, ec);
            websocket::stream<tcp::socket> ws(io);
            if (!ec) asio::connect(ws.next_layer(), endpoints, ec);
            if (!ec) ws.handshake(url.host + ":" + url.port, url.path, ec);
            if (!ec) {
                ready = true;
                times.push_back(clamp_us(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count()));
                ws.close(websocket::close_code::normal, ec);
            } else {
                usleep(200);
            }
        }
        kill(child, SIGKILL);
        waitpid(child, nullptr, 0);
        if (!ready) {
            std::fprintf(stderr, "bench_loadgen coldstart: no handshake within 10 s\n");
            return 1;
        }
    }
    auto p = percentiles(times);
    std::printf("{\"cold_start_ms\":{\"runs\":%zu,\"p50\":%.3f,\"p90\":%.3f,\"max\":%.3f}}\n", p.count, p.p50, p.p90, p.max);
    return 0;
}

int to_int(const std::string& value) {
    int n = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc() || end != value.data() + value.size()) usage("bad number " + value);
    return n;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) usage("say run, merge or coldstart");
    std::string_view verb = argv[1];
    if (verb == "merge") return merge(std::vector<std::string>(argv + 2, argv + argc));
    RunOptions options;
    int runs = 20;
    bool have_url = false;
    for (int i = 2; i < argc; ++i) {
        std::string_view flag = argv[i];
        if (flag == "--") {
            if (verb != "coldstart" || i + 1 >= argc) usage("-- COMMAND belongs to coldstart");
            if (!have_url) usage("--url is required");
            return coldstart(options.url, runs, argv + i + 1);
        }
        if (i + 1 >= argc) usage("every flag takes a value");
        std::string value = argv[++i];
        if (flag == "--url") options.url = parse_url(value), have_url = true;
        else if (flag == "--protocol")
            options.protocol = value == "realtime" ? Protocol::realtime
                               : value == "token"  ? Protocol::token
                               : value == "direct" ? Protocol::direct
                                                   : (usage("unknown protocol " + value), Protocol::realtime);
        else if (flag == "--scenario")
            options.scenario = value == "voice"  ? Scenario::voice
                               : value == "b2b"  ? Scenario::b2b
                               : value == "idle" ? Scenario::idle
                               : value == "burst" ? Scenario::burst
                               : value == "spoken" ? Scenario::spoken
                                                   : (usage("unknown scenario " + value), Scenario::voice);
        else if (flag == "--sessions") options.sessions = to_int(value);
        else if (flag == "--duration-s") options.duration_s = to_int(value);
        else if (flag == "--think-ms") options.think_ms = to_int(value);
        else if (flag == "--ramp-ms") options.ramp_ms = to_int(value);
        else if (flag == "--tokens") options.tokens = to_int(value);
        else if (flag == "--runs") runs = to_int(value);
        else if (flag == "--out") options.out = value;
        else if (flag == "--utterance-ms") options.utterance_ms = to_int(value);
        else if (flag == "--silence-ms") options.silence_ms = to_int(value);
        else if (flag == "--speech-wav") options.speech_wav = value;
        else if (flag == "--expected-delay-ms") options.expected_delay_ms = to_int(value);
        else if (flag == "--turn-timeout-ms") options.turn_timeout_ms = to_int(value);
        else usage("unknown flag " + std::string(flag));
    }
    if (verb != "run") usage("say run, merge or coldstart");
    if (!have_url) usage("--url is required");
    if (options.scenario == Scenario::spoken && options.protocol != Protocol::realtime)
        usage("--scenario spoken speaks --protocol realtime only (the peers have no audio path)");
    if (options.utterance_ms < frame_ms || options.silence_ms < 0 || options.turn_timeout_ms < 100)
        usage("--utterance-ms >= 20, --silence-ms >= 0, --turn-timeout-ms >= 100");
    return run(options);
}
