#include "support/mock_upstream.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <stdexcept>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http.hpp>

#include "audio/wav.hpp"

namespace voxgate::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using nlohmann::json;

namespace {

// Requests are small JSON documents; these only stop a runaway client.
constexpr std::size_t max_request_header_bytes = 64 * 1024;
constexpr std::size_t max_request_body_bytes = 16 * 1024 * 1024;

enum class Format { none, openai, anthropic, transcription, speech };

Format format_of(std::string_view target) {
    if (const auto query = target.find('?'); query != std::string_view::npos) target = target.substr(0, query);
    if (target.ends_with("/chat/completions")) return Format::openai;
    if (target.ends_with("/messages")) return Format::anthropic;
    if (target.ends_with("/audio/transcriptions")) return Format::transcription;
    if (target.ends_with("/audio/speech")) return Format::speech;
    return Format::none;
}

std::optional<int> to_int(std::string_view text) {
    int value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return value;
}

std::vector<std::string> split_pipes(std::string_view text) {
    std::vector<std::string> parts;
    for (;;) {
        const auto bar = text.find('|');
        parts.emplace_back(text.substr(0, bar));
        if (bar == std::string_view::npos) return parts;
        text.remove_prefix(bar + 1);
    }
}

void apply_key(MockScript& script, std::string_view key, std::string_view value) {
    const auto set_int = [&](int& field) {
        if (const auto number = to_int(value)) field = *number;
    };
    if (key == "id") script.id = value;
    else if (key == "tokens") set_int(script.tokens);
    else if (key == "texts") {
        script.texts = split_pipes(value);
        script.tokens = static_cast<int>(script.texts.size());
    } else if (key == "head_ms") set_int(script.head_ms);
    else if (key == "first_ms") set_int(script.first_ms);
    else if (key == "gap_ms") set_int(script.gap_ms);
    else if (key == "status") set_int(script.status);
    else if (key == "retry_after") script.retry_after = value;
    else if (key == "retry_after_ms") script.retry_after_ms = value;
    else if (key == "fail_first") set_int(script.fail_first);
    else if (key == "fail_status") set_int(script.fail_status);
    else if (key == "stall_after") set_int(script.stall_after);
    else if (key == "reset_after") set_int(script.reset_after);
    else if (key == "malformed_after") set_int(script.malformed_after);
    else if (key == "split") set_int(script.split);
    else if (key == "tool") script.tool = value;
    else if (key == "args") script.args = value;
    else if (key == "one_write") script.one_write = value.empty() || value == "true" || value == "1";
    else if (key == "echo") script.echo = value.empty() || value == "true" || value == "1";
    else if (key == "echo_secrets") script.echo_secrets = value.empty() || value == "true" || value == "1";
}

void apply_speech_key(MockSpeech& speech, std::string_view key, std::string_view value) {
    const auto number = to_int(value);
    if (key == "rtf") {
        try {
            speech.realtime_factor = std::stod(std::string(value));
        } catch (const std::exception&) {
        }
    }
    if (!number) return;
    if (key == "ms_per_char") speech.ms_per_char = *number;
    else if (key == "first_ms") speech.first_ms = *number;
    else if (key == "chunk_ms") speech.chunk_ms = std::max(1, *number);
    else if (key == "status") speech.status = *number;
}

void apply_header(MockScript& script, std::string_view header) {
    const json object = json::parse(header, nullptr, false);
    if (!object.is_object()) return;
    for (const auto& [key, value] : object.items()) {
        if (key == "texts" && value.is_array()) {
            script.texts.clear();
            for (const auto& text : value) script.texts.push_back(text.is_string() ? text.get<std::string>() : text.dump());
            script.tokens = static_cast<int>(script.texts.size());
        } else if (value.is_string()) {
            apply_key(script, key, value.get<std::string>());
        } else {
            apply_key(script, key, value.dump());
        }
    }
}

// The text of the last user message, for either provider's request shape.
std::string last_user_text(const json& body) {
    if (!body.is_object() || !body.contains("messages") || !body["messages"].is_array()) return {};
    const json& messages = body["messages"];
    for (auto message = messages.rbegin(); message != messages.rend(); ++message) {
        if (!message->is_object() || message->value("role", "") != "user") continue;
        if (!message->contains("content")) return {};
        const json& content = (*message)["content"];
        if (content.is_string()) return content.get<std::string>();
        std::string text;
        if (content.is_array()) {
            for (const json& part : content) {
                if (part.is_object() && part.value("type", "") == "text" && part.contains("text") &&
                    part["text"].is_string()) {
                    text += part["text"].get<std::string>();
                }
            }
        }
        return text;
    }
    return {};
}

void apply_directive(MockScript& script, std::string_view text) {
    const auto start = text.find("[mock");
    if (start == std::string_view::npos) return;
    const auto end = text.find(']', start);
    if (end == std::string_view::npos) return;
    std::string_view body = text.substr(start + 5, end - start - 5);
    while (!body.empty()) {
        const auto space = body.find(' ');
        const std::string_view word = body.substr(0, space);
        body = space == std::string_view::npos ? std::string_view{} : body.substr(space + 1);
        if (word.empty()) continue;
        const auto equals = word.find('=');
        if (equals == std::string_view::npos) apply_key(script, word, "");
        else apply_key(script, word.substr(0, equals), word.substr(equals + 1));
    }
}

const char* reason_phrase(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 529: return "Overloaded";
    default: return "Mock Status";
    }
}

// docs/wire-protocols.md 2.3 (OpenAI) and 3.3 (Anthropic) error bodies.
// `message` (when not empty) replaces the default text.
std::string error_body(Format format, int status, const std::string& request_id, const std::string& override_message) {
    if (format == Format::anthropic) {
        std::string type = "api_error";
        std::string message = "Internal server error";
        switch (status) {
        case 400: type = "invalid_request_error"; message = "Invalid request"; break;
        case 401: type = "authentication_error"; message = "invalid x-api-key"; break;
        case 403: type = "permission_error"; message = "Permission denied"; break;
        case 404: type = "not_found_error"; message = "Not found"; break;
        case 429: type = "rate_limit_error"; message = "Rate limited (mock)"; break;
        case 529: type = "overloaded_error"; message = "Overloaded"; break;
        default: break;
        }
        if (!override_message.empty()) message = override_message;
        return json{{"type", "error"}, {"error", {{"type", type}, {"message", message}}}, {"request_id", request_id}}
            .dump();
    }
    std::string type = "invalid_request_error";
    json code = nullptr;
    std::string message = "Invalid request (mock)";
    if (status == 401) { code = "invalid_api_key"; message = "Incorrect API key provided (mock)"; }
    if (status == 404) { code = "model_not_found"; message = "Not found (mock)"; }
    if (status == 429) { type = "requests"; code = "rate_limit_exceeded"; message = "Rate limit reached for requests (mock)"; }
    if (status >= 500) { type = "server_error"; message = status == 503 ? "The server is overloaded (mock)" : "The server had an error (mock)"; }
    if (!override_message.empty()) message = override_message;
    return json{{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}}}}.dump();
}

// What a careless provider or proxy says back: every credential it received, in the forms
// that reach logs in practice.
std::string echoed_secrets(const ReceivedRequest& request) {
    std::string key = request.header("x-api-key");
    if (key.empty()) {
        key = request.header("authorization");
        if (key.starts_with("Bearer ")) key.erase(0, 7);
    }
    const std::string masked = key.size() > 12 ? key.substr(0, 8) + std::string(24, '*') + key.substr(key.size() - 4) : key;
    std::string text = "Incorrect API key provided: " + masked + ". You passed " + key + " (as JSON " + json(key).dump() +
                       ")";
    for (const auto& [name, value] : request.headers) {
        if (name == "host" || name == "content-length" || name == "content-type" || name == "accept") continue;
        text += "; " + name + "=" + value + " (as JSON " + json(value).dump() + ")";
    }
    return text;
}

std::string sse_data(const json& payload) { return "data: " + payload.dump() + "\n\n"; }

std::string sse_event(const char* name, const json& payload) {
    return std::string("event: ") + name + "\ndata: " + payload.dump() + "\n\n";
}

// Splits `text` into about `pieces` fragments (streamed tool arguments).
std::vector<std::string> fragments(const std::string& text, std::size_t pieces) {
    std::vector<std::string> parts;
    const std::size_t step = std::max<std::size_t>(1, (text.size() + pieces - 1) / pieces);
    for (std::size_t at = 0; at < text.size(); at += step) parts.push_back(text.substr(at, step));
    if (parts.empty()) parts.emplace_back();
    return parts;
}

// The events of one streamed reply, in the order the provider sends them.
class StreamEvents {
public:
    StreamEvents(Format format, std::string model, std::string id, int tokens)
        : format_(format), model_(std::move(model)), id_(std::move(id)), tokens_(tokens) {}

    std::vector<std::string> preamble() const {
        if (format_ == Format::openai) return {sse_data(openai_chunk({{"role", "assistant"}, {"content", ""}}, nullptr))};
        return {sse_event("message_start",
                          {{"type", "message_start"},
                           {"message",
                            {{"id", id_}, {"type", "message"}, {"role", "assistant"}, {"content", json::array()},
                             {"model", model_}, {"stop_reason", nullptr}, {"stop_sequence", nullptr},
                             {"usage", {{"input_tokens", 10}, {"output_tokens", 1}}}}}}),
                sse_event("content_block_start",
                          {{"type", "content_block_start"}, {"index", 0},
                           {"content_block", {{"type", "text"}, {"text", ""}}}}),
                sse_event("ping", {{"type", "ping"}})};
    }

    std::string token(const std::string& text) const {
        if (format_ == Format::openai) return sse_data(openai_chunk({{"content", text}}, nullptr));
        return sse_event("content_block_delta", {{"type", "content_block_delta"}, {"index", 0},
                                                 {"delta", {{"type", "text_delta"}, {"text", text}}}});
    }

    std::string malformed() const {
        if (format_ == Format::openai) return "data: {\"id\":\"" + id_ + "\",\"choices\":[{\"delta\":{\"content\":\n\n";
        return "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\n\n";
    }

    std::vector<std::string> tool_call(const std::string& name, const std::string& arguments) {
        std::vector<std::string> events;
        if (format_ == Format::openai) {
            events.push_back(sse_data(openai_chunk(
                {{"tool_calls", json::array({{{"index", 0}, {"id", "call_mock_1"}, {"type", "function"},
                                              {"function", {{"name", name}, {"arguments", ""}}}}})}},
                nullptr)));
            for (const auto& part : fragments(arguments, 3)) {
                events.push_back(sse_data(openai_chunk(
                    {{"tool_calls", json::array({{{"index", 0}, {"function", {{"arguments", part}}}}})}}, nullptr)));
            }
            return events;
        }
        events.push_back(sse_event("content_block_stop", {{"type", "content_block_stop"}, {"index", 0}}));
        events.push_back(sse_event("content_block_start",
                                   {{"type", "content_block_start"}, {"index", 1},
                                    {"content_block", {{"type", "tool_use"}, {"id", "toolu_mock_1"}, {"name", name},
                                                       {"input", json::object()}}}}));
        for (const auto& part : fragments(arguments, 3)) {
            events.push_back(sse_event("content_block_delta",
                                       {{"type", "content_block_delta"}, {"index", 1},
                                        {"delta", {{"type", "input_json_delta"}, {"partial_json", part}}}}));
        }
        tool_block_open_ = true;
        return events;
    }

    std::vector<std::string> finish(bool tool_called) const {
        if (format_ == Format::openai) {
            return {sse_data(openai_chunk(json::object(), tool_called ? "tool_calls" : "stop")),
                    sse_data({{"id", id_}, {"object", "chat.completion.chunk"}, {"created", created},
                              {"model", model_}, {"choices", json::array()},
                              {"usage", {{"prompt_tokens", 10}, {"completion_tokens", tokens_},
                                         {"total_tokens", 10 + tokens_}}}}),
                    "data: [DONE]\n\n"};
        }
        return {sse_event("content_block_stop", {{"type", "content_block_stop"}, {"index", tool_block_open_ ? 1 : 0}}),
                sse_event("message_delta", {{"type", "message_delta"},
                                            {"delta", {{"stop_reason", tool_called ? "tool_use" : "end_turn"},
                                                       {"stop_sequence", nullptr}}},
                                            {"usage", {{"output_tokens", tokens_}}}}),
                sse_event("message_stop", {{"type", "message_stop"}})};
    }

private:
    static constexpr long created = 1700000000;

    json openai_chunk(json delta, json finish_reason) const {
        return {{"id", id_},
                {"object", "chat.completion.chunk"},
                {"created", created},
                {"model", model_},
                {"choices", json::array({{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr},
                                          {"finish_reason", std::move(finish_reason)}}})},
                {"usage", nullptr}};
    }

    Format format_;
    std::string model_;
    std::string id_;
    int tokens_;
    bool tool_block_open_ = false;
};

std::string chunked(std::string_view bytes) {
    char size[32];
    const int length = std::snprintf(size, sizeof size, "%zx\r\n", bytes.size());
    std::string out(size, static_cast<std::size_t>(length));
    out.append(bytes);
    out.append("\r\n");
    return out;
}

tcp::socket& lowest_socket(tcp::socket& socket) { return socket; }
tcp::socket& lowest_socket(ssl::stream<tcp::socket>& stream) { return stream.next_layer(); }

}  // namespace

std::vector<std::int16_t> mock_speech_samples(std::size_t input_bytes, int ms_per_char) {
    constexpr double pi = 3.14159265358979323846;
    const std::size_t count = input_bytes * static_cast<std::size_t>(std::max(0, ms_per_char)) * 24;
    std::vector<std::int16_t> samples(count);
    for (std::size_t i = 0; i < count; ++i)
        samples[i] = static_cast<std::int16_t>(std::lround(8000 * std::sin(2 * pi * 440 * static_cast<double>(i) / 24000)));
    return samples;
}

std::string default_token(int index) { return (index == 0 ? "tok" : " tok") + std::to_string(index); }

json MockScript::to_json() const {
    const MockScript defaults;
    json out = json::object();
    if (id != defaults.id) out["id"] = id;
    if (!texts.empty()) out["texts"] = texts;
    else if (tokens != defaults.tokens) out["tokens"] = tokens;
    if (head_ms != defaults.head_ms) out["head_ms"] = head_ms;
    if (first_ms != defaults.first_ms) out["first_ms"] = first_ms;
    if (gap_ms != defaults.gap_ms) out["gap_ms"] = gap_ms;
    if (status != defaults.status) out["status"] = status;
    if (!retry_after.empty()) out["retry_after"] = retry_after;
    if (!retry_after_ms.empty()) out["retry_after_ms"] = retry_after_ms;
    if (fail_first != defaults.fail_first) out["fail_first"] = fail_first;
    if (fail_status != defaults.fail_status) out["fail_status"] = fail_status;
    if (stall_after != defaults.stall_after) out["stall_after"] = stall_after;
    if (reset_after != defaults.reset_after) out["reset_after"] = reset_after;
    if (malformed_after != defaults.malformed_after) out["malformed_after"] = malformed_after;
    if (split != defaults.split) out["split"] = split;
    if (!tool.empty()) out["tool"] = tool;
    if (!args.empty()) out["args"] = args;
    if (one_write) out["one_write"] = true;
    if (echo) out["echo"] = true;
    if (echo_secrets) out["echo_secrets"] = true;
    return out;
}

std::string ReceivedRequest::header(std::string_view name) const {
    for (const auto& [field, value] : headers) {
        if (field == name) return value;
    }
    return {};
}

namespace {

// The member `key` of `object`, or null: a const json's operator[] must not see a missing key.
const json& member(const json& object, const char* key) {
    static const json none;
    if (!object.is_object()) return none;
    const auto found = object.find(key);
    return found == object.end() ? none : *found;
}

std::string string_member(const json& object, const char* key) {
    const json& value = member(object, key);
    return value.is_string() ? value.get<std::string>() : std::string{};
}

void decode_event(const json& payload, DecodedMockStream& decoded) {
    const json& choices = member(payload, "choices");
    if (choices.is_array()) {  // OpenAI chat.completion.chunk
        if (choices.empty()) return;  // the usage chunk
        const json& choice = choices[0];
        const json& delta = member(choice, "delta");
        if (const std::string content = string_member(delta, "content"); !content.empty()) {
            decoded.tokens.push_back(content);
        }
        const json& calls = member(delta, "tool_calls");
        if (calls.is_array()) {
            for (const json& call : calls) {
                const json& function = member(call, "function");
                if (const std::string name = string_member(function, "name"); !name.empty()) decoded.tool_name = name;
                decoded.tool_arguments += string_member(function, "arguments");
            }
        }
        if (const std::string reason = string_member(choice, "finish_reason"); !reason.empty()) {
            decoded.finish_reason = reason;
        }
        return;
    }
    const std::string type = string_member(payload, "type");  // Anthropic
    if (type == "content_block_delta") {
        const json& delta = member(payload, "delta");
        const std::string delta_type = string_member(delta, "type");
        if (delta_type == "text_delta") decoded.tokens.push_back(string_member(delta, "text"));
        if (delta_type == "input_json_delta") decoded.tool_arguments += string_member(delta, "partial_json");
    } else if (type == "content_block_start") {
        const json& block = member(payload, "content_block");
        if (string_member(block, "type") == "tool_use") decoded.tool_name = string_member(block, "name");
    } else if (type == "message_delta") {
        if (const std::string reason = string_member(member(payload, "delta"), "stop_reason"); !reason.empty()) {
            decoded.finish_reason = reason;
        }
    } else if (type == "message_stop") {
        decoded.finished = true;
    }
}

}  // namespace

DecodedMockStream decode_mock_stream(std::string_view body) {
    DecodedMockStream decoded;
    std::size_t at = 0;
    while (at < body.size()) {
        auto end = body.find("\n\n", at);
        if (end == std::string_view::npos) end = body.size();
        std::string_view event = body.substr(at, end - at);
        at = end + 2;
        std::string data;
        while (!event.empty()) {
            const auto newline = event.find('\n');
            const std::string_view line = event.substr(0, newline);
            event = newline == std::string_view::npos ? std::string_view{} : event.substr(newline + 1);
            if (line.starts_with("data: ")) data += line.substr(6);
        }
        if (data.empty()) continue;
        if (data == "[DONE]") {
            decoded.finished = true;
            continue;
        }
        const json payload = json::parse(data, nullptr, false);
        if (payload.is_discarded()) {
            ++decoded.malformed_events;
            continue;
        }
        decode_event(payload, decoded);
    }
    return decoded;
}

// The server half: everything here runs on the mock's own thread.
class MockUpstream::Server {
public:
    Server(MockUpstream& owner, const Options& options) : owner_(owner), acceptor_(io_) {
        if (!options.cert_file.empty() && !options.key_file.empty()) {
            tls_.emplace(ssl::context::tls_server);
            tls_->use_certificate_chain_file(options.cert_file);
            tls_->use_private_key_file(options.key_file, ssl::context::pem);
            SSL_CTX_set_alpn_select_cb(tls_->native_handle(), &Server::select_alpn, this);
        }
        const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
        acceptor_.open(endpoint.protocol());
        acceptor_.set_option(tcp::acceptor::reuse_address(true));
        acceptor_.bind(endpoint);
        acceptor_.listen(asio::socket_base::max_listen_connections);
        port_ = acceptor_.local_endpoint().port();
        asio::co_spawn(io_, accept_loop(), [](std::exception_ptr) {});
    }

    std::uint16_t port() const { return port_; }
    void run() { io_.run(); }
    void stop() {
        asio::post(io_, [this] {
            error_code ignored;
            acceptor_.close(ignored);
            io_.stop();
        });
    }

private:
    asio::awaitable<void> accept_loop() {
        for (;;) {
            error_code ec;
            tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
            if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
            if (ec) {  // e.g. EMFILE: keep serving the connections we have, retry shortly
                co_await sleep(10);
                continue;
            }
            socket.set_option(tcp::no_delay(true), ec);
            ++owner_.accepted_;
            const std::size_t open = ++owner_.open_;
            if (open > owner_.peak_open_.load()) owner_.peak_open_.store(open);
            if (tls_) {
                asio::co_spawn(io_, serve_tls(std::move(socket)), [](std::exception_ptr) {});
            } else {
                asio::co_spawn(io_, serve(std::move(socket)), [](std::exception_ptr) {});
            }
        }
    }

    // Counts a connection as open for exactly as long as its coroutine frame exists.
    struct OpenConnection {
        MockUpstream& owner;
        ~OpenConnection() { --owner.open_; }
    };

    asio::awaitable<void> serve_tls(tcp::socket socket) {
        OpenConnection open{owner_};
        ssl::stream<tcp::socket> stream(std::move(socket), *tls_);
        error_code ec;
        co_await stream.async_handshake(ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
        co_await serve_requests(stream);
    }

    asio::awaitable<void> serve(tcp::socket socket) {
        OpenConnection open{owner_};
        co_await serve_requests(socket);
    }

    template <class Stream>
    asio::awaitable<void> serve_requests(Stream& stream) {
        beast::flat_buffer buffer;
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.header_limit(max_request_header_bytes);
            parser.body_limit(max_request_body_bytes);
            error_code ec;
            co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
            if (ec) co_return;
            bool keep_alive = false;
            try {
                keep_alive = co_await respond(stream, parser.get());
            } catch (const std::exception&) {
                co_return;  // a bug in the mock ends this connection, not the test binary
            }
            if (!keep_alive) co_return;
        }
    }

    template <class Stream>
    asio::awaitable<bool> respond(Stream& stream, const http::request<http::string_body>& request) {
        ReceivedRequest received;
        received.method = std::string(request.method_string());
        received.target = std::string(request.target());
        for (const auto& field : request) {
            std::string name(field.name_string());
            for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            received.headers.emplace_back(std::move(name), std::string(field.value()));
        }
        received.body = request.body();
        const std::size_t index = owner_.request_count();
        owner_.log_request(received);

        const Format format = format_of(received.target);
        const std::string request_id = "req_mock_" + std::to_string(index);
        const bool keep_alive = request.keep_alive();
        if (format == Format::none || request.method() != http::verb::post) {
            const int status = format == Format::none ? 404 : 405;
            co_return co_await write_error(stream, Format::openai, status, request_id, {}, keep_alive);
        }

        if (format == Format::transcription) co_return co_await write_transcription(stream, received, keep_alive);
        if (format == Format::speech) co_return co_await write_speech(stream, received, keep_alive);

        MockScript script;
        apply_header(script, received.header("x-mock-script"));
        const json body = json::parse(received.body, nullptr, false);
        apply_directive(script, last_user_text(body));
        if (script.echo) script.texts = {received.body};
        if (script.texts.empty()) {
            for (int i = 0; i < script.tokens; ++i) script.texts.push_back(default_token(i));
        }
        script.tokens = static_cast<int>(script.texts.size());

        const std::string echoed = script.echo_secrets ? echoed_secrets(received) : std::string();
        if (script.head_ms > 0 && !co_await sleep(script.head_ms)) co_return false;
        if (script.fail_first > 0 &&
            owner_.next_attempt(script.id.empty() ? received.target : script.id) <= script.fail_first) {
            co_return co_await write_error(stream, format, script.fail_status, request_id, script, keep_alive, echoed);
        }
        if (script.status != 200) {
            co_return co_await write_error(stream, format, script.status, request_id, script, keep_alive, echoed);
        }
        std::string model = "mock-model";
        if (body.is_object() && body.contains("model") && body["model"].is_string()) {
            model = body["model"].get<std::string>();
        }
        co_return co_await write_stream(stream, format, script, model, request_id, index, keep_alive);
    }

    // POST .../audio/transcriptions (multipart/form-data): answers {"text": "..."} naming what
    // the upload held, so a test can check the gateway sent a well-formed WAV. Model
    // "mock-fail" answers 401 quoting the Authorization header, as a provider might.
    template <class Stream>
    asio::awaitable<bool> write_transcription(Stream& stream, const ReceivedRequest& received, bool keep_alive) {
        const std::string content_type = received.header("content-type");
        const auto boundary_at = content_type.find("boundary=");
        std::map<std::string, std::string> fields;
        if (boundary_at != std::string::npos) {
            const std::string delimiter = "--" + content_type.substr(boundary_at + 9);
            std::size_t at = received.body.find(delimiter);
            while (at != std::string::npos) {
                const std::size_t head_start = at + delimiter.size() + 2;
                const std::size_t head_end = received.body.find("\r\n\r\n", head_start);
                if (head_end == std::string::npos) break;
                const std::size_t next = received.body.find("\r\n" + delimiter, head_end);
                if (next == std::string::npos) break;
                const std::string head = received.body.substr(head_start, head_end - head_start);
                const auto name_at = head.find("name=\"");
                if (name_at != std::string::npos) {
                    const auto name_end = head.find('"', name_at + 6);
                    fields[head.substr(name_at + 6, name_end - name_at - 6)] =
                        received.body.substr(head_end + 4, next - head_end - 4);
                }
                at = next + 2;
            }
        }
        int status = 200;
        json reply;
        std::string extra_headers;
        const auto wav = audio::decode_wav(fields["file"]);
        if (const auto failure = owner_.take_transcription_failure()) {
            status = failure->fail_status;
            reply = {{"error", {{"message", "The server is overloaded (mock transcription)"}, {"type", "server_error"}}}};
            if (!failure->retry_after.empty()) extra_headers = "retry-after: " + failure->retry_after + "\r\n";
        } else if (fields["model"] == "mock-fail") {
            status = 401;
            reply = {{"error", {{"message", "Incorrect API key provided: " + received.header("authorization")},
                                {"type", "invalid_request_error"}}}};
        } else if (!wav) {
            status = 400;
            reply = {{"error", {{"message", "file is not a PCM16 WAV"}, {"type", "invalid_request_error"}}}};
        } else {
            reply = {{"text", "heard " + std::to_string(wav->samples.size() * 1000 / std::max(1, wav->sample_rate)) +
                                  " ms at " + std::to_string(wav->sample_rate) + " Hz, model " + fields["model"] +
                                  ", language " + (fields.count("language") ? fields["language"] : "none")}};
        }
        const std::string body = reply.dump();
        std::string head = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
        head += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
        head += extra_headers;
        if (!keep_alive) head += "Connection: close\r\n";
        head += "\r\n";
        co_return co_await write_all(stream, head + body) && keep_alive;
    }

    // POST .../audio/speech: MockSpeech's tone, for the input's length, streamed in chunks.
    template <class Stream>
    asio::awaitable<bool> write_speech(Stream& stream, const ReceivedRequest& received, bool keep_alive) {
        MockSpeech speech = owner_.speech();
        const json body = json::parse(received.body, nullptr, false);
        const std::string input = string_member(body, "input");
        const auto start = input.find("[mock");
        if (start != std::string::npos) {
            const auto end = input.find(']', start);
            std::string_view words = std::string_view(input).substr(start + 5, end == std::string::npos ? 0 : end - start - 5);
            while (!words.empty()) {
                const auto space = words.find(' ');
                const std::string_view word = words.substr(0, space);
                words = space == std::string_view::npos ? std::string_view{} : words.substr(space + 1);
                if (const auto equals = word.find('='); equals != std::string_view::npos)
                    apply_speech_key(speech, word.substr(0, equals), word.substr(equals + 1));
            }
        }
        if (speech.first_ms > 0 && !co_await sleep(speech.first_ms)) co_return false;
        int status = speech.status;
        if (const int failure = owner_.take_speech_failure()) status = failure;
        std::string message;
        if (status == 401) message = "Incorrect API key provided: " + received.header("authorization");
        if (status == 200 && string_member(body, "response_format") != "pcm") {
            status = 400;
            message = "mock speaks only response_format pcm";
        }
        if (status == 200 && input.empty()) {
            status = 400;
            message = "input is required";
        }
        if (status != 200) {
            const std::string error = error_body(Format::openai, status, "req_mock_speech", message);
            std::string head = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
            head += "Content-Type: application/json\r\nContent-Length: " + std::to_string(error.size()) + "\r\n";
            if (!keep_alive) head += "Connection: close\r\n";
            head += "\r\n";
            co_return co_await write_all(stream, head + error) && keep_alive;
        }
        const auto samples = mock_speech_samples(input.size(), speech.ms_per_char);
        std::string pcm(samples.size() * 2, '\0');
        for (std::size_t i = 0; i < samples.size(); ++i) {
            const auto value = static_cast<std::uint16_t>(samples[i]);
            pcm[2 * i] = static_cast<char>(value & 0xff);
            pcm[2 * i + 1] = static_cast<char>(value >> 8);
        }
        std::string head = "HTTP/1.1 200 OK\r\nContent-Type: audio/pcm\r\nTransfer-Encoding: chunked\r\n";
        if (!keep_alive) head += "Connection: close\r\n";
        head += "\r\n";
        if (!co_await write_all(stream, head)) co_return false;
        const std::size_t chunk_bytes = static_cast<std::size_t>(speech.chunk_ms) * 48 - 1;  // odd on purpose
        const int gap_ms = static_cast<int>(speech.chunk_ms * speech.realtime_factor);
        int chunks_sent = 0;
        for (std::size_t at = 0; at < pcm.size(); at += chunk_bytes, ++chunks_sent) {
            if (at > 0 && gap_ms > 0 && !co_await sleep(gap_ms)) co_return false;
            if (chunks_sent == speech.reset_after_chunks) {  // after the gap: the sent audio has arrived
                reset(lowest_socket(stream));
                co_return false;
            }
            if (!co_await write_all(stream, chunked(std::string_view(pcm).substr(at, chunk_bytes)))) co_return false;
        }
        co_return co_await write_all(stream, "0\r\n\r\n") && keep_alive;
    }

    template <class Stream>
    asio::awaitable<bool> write_error(Stream& stream, Format format, int status, const std::string& request_id,
                                      const MockScript& script, bool keep_alive, const std::string& message = {}) {
        const std::string body = error_body(format, status, request_id, message);
        std::string head = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
        head += "Content-Type: application/json\r\n";
        head += (format == Format::anthropic ? "request-id: " : "x-request-id: ") + request_id + "\r\n";
        if (!script.retry_after.empty()) head += "retry-after: " + script.retry_after + "\r\n";
        if (!script.retry_after_ms.empty()) head += "retry-after-ms: " + script.retry_after_ms + "\r\n";
        head += "Content-Length: " + std::to_string(body.size()) + "\r\n";
        if (!keep_alive) head += "Connection: close\r\n";
        head += "\r\n";
        co_return co_await write_all(stream, head + body) && keep_alive;
    }

    template <class Stream>
    asio::awaitable<bool> write_stream(Stream& stream, Format format, const MockScript& script,
                                       const std::string& model, const std::string& request_id, std::size_t index,
                                       bool keep_alive) {
        std::string head =
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            "Transfer-Encoding: chunked\r\n";
        head += (format == Format::anthropic ? "request-id: " : "x-request-id: ") + request_id + "\r\n";
        head += "x-mock-request-index: " + std::to_string(index) + "\r\n";
        if (!keep_alive) head += "Connection: close\r\n";
        head += "\r\n";
        StreamEvents events(format, model, format == Format::openai ? "chatcmpl-mock" : "msg_mock",
                                  script.tokens);
        if (script.one_write) {
            // What a fast provider looks like: every event arrives in one read.
            std::string all = std::move(head);
            for (const auto& event : events.preamble()) all += chunked(event);
            for (const auto& text : script.texts) all += chunked(events.token(text));
            for (const auto& event : events.finish(false)) all += chunked(event);
            all += "0\r\n\r\n";
            co_return co_await write_all(stream, std::move(all)) && keep_alive;
        }
        if (!co_await write_all(stream, head)) co_return false;

        for (const auto& event : events.preamble()) {
            if (!co_await send_event(stream, event, script.split)) co_return false;
        }
        for (int sent = 0; sent <= script.tokens; ++sent) {
            // Checkpoint "after `sent` deltas": the place for stalls, resets and broken JSON.
            if (sent == script.stall_after) {
                co_await wait_for_close(stream);
                co_return false;
            }
            if (sent == script.reset_after) {
                reset(lowest_socket(stream));
                co_return false;
            }
            if (sent == script.malformed_after && !co_await send_event(stream, events.malformed(), script.split)) {
                co_return false;
            }
            if (sent == script.tokens) break;
            const int delay_ms = sent == 0 ? script.first_ms : script.gap_ms;
            if (delay_ms > 0 && !co_await sleep(delay_ms)) co_return false;
            if (!co_await send_event(stream, events.token(script.texts[static_cast<std::size_t>(sent)]), script.split)) {
                co_return false;
            }
        }
        const bool tool_called = !script.tool.empty();
        if (tool_called) {
            for (const auto& event : events.tool_call(script.tool, script.args.empty() ? "{}" : script.args)) {
                if (!co_await send_event(stream, event, script.split)) co_return false;
            }
        }
        for (const auto& event : events.finish(tool_called)) {
            if (!co_await send_event(stream, event, script.split)) co_return false;
        }
        co_return co_await write_all(stream, "0\r\n\r\n") && keep_alive;
    }

    // One SSE event as one HTTP chunk, or as many chunks of `split` bytes each written on
    // its own: curl then hands the body over in those pieces, cutting events, JSON and UTF-8
    // anywhere.
    template <class Stream>
    asio::awaitable<bool> send_event(Stream& stream, std::string_view event, int split) {
        if (split <= 0) co_return co_await write_all(stream, chunked(event));
        for (std::size_t at = 0; at < event.size(); at += static_cast<std::size_t>(split)) {
            if (!co_await write_all(stream, chunked(event.substr(at, static_cast<std::size_t>(split))))) co_return false;
        }
        co_return true;
    }

    template <class Stream>
    asio::awaitable<bool> write_all(Stream& stream, std::string bytes) {
        error_code ec;
        co_await asio::async_write(stream, asio::buffer(bytes), asio::redirect_error(asio::use_awaitable, ec));
        co_return !ec;
    }

    asio::awaitable<bool> sleep(int milliseconds) {
        asio::steady_timer timer(io_);
        timer.expires_after(std::chrono::milliseconds(milliseconds));
        error_code ec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        co_return !ec;
    }

    // A stalled stream sends nothing but notices when the client goes away.
    template <class Stream>
    asio::awaitable<void> wait_for_close(Stream& stream) {
        char scratch[512];
        for (;;) {
            error_code ec;
            co_await stream.async_read_some(asio::buffer(scratch), asio::redirect_error(asio::use_awaitable, ec));
            if (ec) co_return;
        }
    }

    // SO_LINGER 0 + close sends RST instead of FIN: the client sees a reset mid-stream.
    static void reset(tcp::socket& socket) {
        error_code ignored;
        socket.set_option(asio::socket_base::linger(true, 0), ignored);
        socket.close(ignored);
    }

    static int select_alpn(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
                           unsigned int in_length, void* self) {
        std::string offer;
        const unsigned char* http11 = nullptr;
        for (unsigned int at = 0; at < in_length;) {
            const unsigned int length = in[at];
            if (at + 1 + length > in_length) break;
            const std::string protocol(reinterpret_cast<const char*>(in + at + 1), length);
            if (protocol == "http/1.1") http11 = in + at + 1;
            offer += (offer.empty() ? "" : ",") + protocol;
            at += 1 + length;
        }
        static_cast<Server*>(self)->owner_.note_alpn(std::move(offer));
        if (http11 == nullptr) return SSL_TLSEXT_ERR_NOACK;
        *out = http11;
        *out_length = 8;
        return SSL_TLSEXT_ERR_OK;
    }

    MockUpstream& owner_;
    std::optional<ssl::context> tls_;  // before io_: the streams in coroutine frames use it
    asio::io_context io_{1};
    tcp::acceptor acceptor_;
    std::uint16_t port_ = 0;
};

MockUpstream::MockUpstream() : MockUpstream(Options{}) {}

MockUpstream::MockUpstream(Options options)
    : tls_(!options.cert_file.empty() && !options.key_file.empty()),
      max_logged_requests_(options.max_logged_requests),
      server_(std::make_unique<Server>(*this, options)) {
    port_ = server_->port();
    thread_ = std::thread([this] { server_->run(); });
}

MockUpstream::~MockUpstream() {
    server_->stop();
    thread_.join();
    server_.reset();  // destroys the remaining connections' coroutines and sockets
}

std::string MockUpstream::base_url() const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
}

std::vector<ReceivedRequest> MockUpstream::requests() const {
    const std::lock_guard lock(mutex_);
    return requests_;
}

std::size_t MockUpstream::request_count() const {
    const std::lock_guard lock(mutex_);
    return request_total_;
}

std::vector<std::string> MockUpstream::alpn_offers() const {
    const std::lock_guard lock(mutex_);
    return alpn_offers_;
}

bool MockUpstream::wait_for_open_connections_at_most(std::size_t count, std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (open_.load() > count) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}

void MockUpstream::reset_scripts() {
    const std::lock_guard lock(mutex_);
    attempts_.clear();
}

void MockUpstream::set_speech(MockSpeech speech) {
    const std::lock_guard lock(mutex_);
    speech_ = speech;
    speech_failures_left_ = speech.fail_first;
}

int MockUpstream::take_speech_failure() {
    const std::lock_guard lock(mutex_);
    if (speech_failures_left_ <= 0) return 0;
    --speech_failures_left_;
    return speech_.fail_status;
}

void MockUpstream::set_transcription(MockTranscription transcription) {
    const std::lock_guard lock(mutex_);
    transcription_ = transcription;
    transcription_failures_left_ = transcription.fail_first;
}

std::optional<MockTranscription> MockUpstream::take_transcription_failure() {
    const std::lock_guard lock(mutex_);
    if (transcription_failures_left_ <= 0) return std::nullopt;
    --transcription_failures_left_;
    return transcription_;
}

std::size_t MockUpstream::transcription_request_count() const {
    std::size_t count = 0;
    for (const auto& request : requests()) count += format_of(request.target) == Format::transcription ? 1 : 0;
    return count;
}

std::size_t MockUpstream::speech_request_count() const {
    std::size_t count = 0;
    for (const auto& request : requests()) count += format_of(request.target) == Format::speech ? 1 : 0;
    return count;
}

MockSpeech MockUpstream::speech() const {
    const std::lock_guard lock(mutex_);
    return speech_;
}

std::vector<SpeechRequest> MockUpstream::speech_requests() const {
    std::vector<SpeechRequest> out;
    for (const auto& request : requests()) {
        if (format_of(request.target) != Format::speech) continue;
        const json body = json::parse(request.body, nullptr, false);
        out.push_back({string_member(body, "input"), string_member(body, "voice"), string_member(body, "model"),
                       string_member(body, "response_format"), request.header("authorization")});
    }
    return out;
}

void MockUpstream::log_request(ReceivedRequest request) {
    const std::lock_guard lock(mutex_);
    ++request_total_;
    if (requests_.size() < max_logged_requests_) requests_.push_back(std::move(request));
}

int MockUpstream::next_attempt(const std::string& script_id) {
    const std::lock_guard lock(mutex_);
    return ++attempts_[script_id];
}

void MockUpstream::note_alpn(std::string offer) {
    const std::lock_guard lock(mutex_);
    if (alpn_offers_.size() < 1000) alpn_offers_.push_back(std::move(offer));
}

}  // namespace voxgate::test
