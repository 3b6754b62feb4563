#include "upstream/transfer.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <ctime>

#include "upstream/curl_error.hpp"
#include "upstream/curl_multi.hpp"

namespace voxgate::upstream {
namespace {

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' || text.back() == '\n')) {
        text.remove_suffix(1);
    }
    return text;
}

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

// "HTTP/1.1 429 Too Many Requests" or "HTTP/2 200" -> the status code, 0 if unreadable.
int parse_status_line(std::string_view line) {
    const auto space = line.find(' ');
    if (space == std::string_view::npos) return 0;
    line.remove_prefix(space + 1);
    int status = 0;
    const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), status);
    return ec == std::errc{} && end != line.data() ? status : 0;
}

bool starts_with_https(std::string_view url) {
    constexpr std::string_view scheme = "https://";
    if (url.size() < scheme.size()) return false;
    for (std::size_t i = 0; i < scheme.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(url[i])) != scheme[i]) return false;
    }
    return true;
}

std::optional<double> parse_number(std::string_view text) {
    text = trim(text);
    if (text.empty()) return std::nullopt;
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || value < 0) return std::nullopt;
    return value;
}

}  // namespace

std::string_view ResponseHeaders::find(std::string_view name) const noexcept {
    for (const auto& [field, value] : fields) {
        if (field == name) return value;
    }
    return {};
}

std::optional<std::chrono::milliseconds> ResponseHeaders::retry_delay() const {
    using std::chrono::milliseconds;
    if (const auto ms = parse_number(retry_after_ms)) return milliseconds(static_cast<long long>(*ms));
    if (const auto seconds = parse_number(retry_after)) return milliseconds(static_cast<long long>(*seconds * 1000));
    if (!retry_after.empty()) {
        const std::time_t when = curl_getdate(retry_after.c_str(), nullptr);
        if (when != -1) {
            const std::time_t now = std::time(nullptr);
            return milliseconds(when > now ? static_cast<long long>(when - now) * 1000 : 0);
        }
    }
    return std::nullopt;
}

// Everything curl's callbacks touch. It lives apart from Transfer because a sink may
// destroy its Transfer from inside a callback while curl is still using the easy handle:
// CurlMulti then keeps this alive until the handle is out of the multi, and the callbacks,
// finding no sink, stop the transfer.
class TransferState final : public CurlEasy {
public:
    explicit TransferState(TransferSink& sink) : sink_(&sink) {}
    ~TransferState() override {
        if (handle() != nullptr) {
            // curl_easy_cleanup runs after this body (in ~CurlEasy): unhook what dies first.
            curl_easy_setopt(handle(), CURLOPT_ERRORBUFFER, static_cast<char*>(nullptr));
            curl_easy_setopt(handle(), CURLOPT_HTTPHEADER, static_cast<curl_slist*>(nullptr));
        }
        curl_slist_free_all(header_list_);
    }

    error_code configure(TransferRequest request);

    CurlMulti* current_multi() const noexcept { return multi(); }
    bool has_sink() const noexcept { return sink_ != nullptr; }
    void forget_sink() noexcept { sink_ = nullptr; }
    std::string_view error_detail() const noexcept { return {error_buffer_, std::strlen(error_buffer_)}; }
    long http_version() const noexcept { return http_version_; }

    // Backpressure state; Transfer::pause/resume decide, the write callback obeys.
    bool want_paused = false;  // the sink asked for no more on_body
    bool curl_paused = false;  // curl holds the stream (we paused it or returned PAUSE)

private:
    void on_transfer_done(error_code ec) override;
    static size_t on_header(char* data, size_t size, size_t count, void* self);
    static size_t on_write(char* data, size_t size, size_t count, void* self);
    size_t header_line(std::string_view line);
    size_t body_bytes(char* data, size_t length);
    size_t fail_in_callback(std::string_view where) noexcept;  // from a catch block

    TransferSink* sink_;  // null once cancelled or completed: the callbacks then abort
    std::string body_;    // CURLOPT_POSTFIELDS points into it
    curl_slist* header_list_ = nullptr;
    std::size_t max_header_bytes_ = 0;
    std::size_t header_bytes_ = 0;
    bool headers_too_large_ = false;
    bool internal_error_ = false;  // a callback threw; see on_header
    int status_ = 0;
    bool head_delivered_ = false;
    ResponseHeaders headers_;
    // Bytes curl will hand us again that the sink already has: a write callback that
    // returns CURL_WRITEFUNC_PAUSE gets the same chunk again after the resume, but when
    // the sink paused while consuming that chunk it has already seen every byte of it.
    std::size_t redelivered_to_skip_ = 0;
    long http_version_ = 0;
    char error_buffer_[CURL_ERROR_SIZE] = {};
};

error_code TransferState::configure(TransferRequest request) {
    CURL* easy = handle();
    if (easy == nullptr) return make_error_code(transfer_errc::not_started);
    max_header_bytes_ = request.max_response_header_bytes;
    body_ = std::move(request.body);

    // No "Expect: 100-continue" round trip before the body: providers answer at once.
    header_list_ = curl_slist_append(header_list_, "Expect:");
    for (const auto& [name, value] : request.headers) {
        // curl drops "Name:" (empty value) as "remove this header"; "Name;" sends it empty.
        const std::string line = value.empty() ? name + ";" : name + ": " + value;
        curl_slist* grown = curl_slist_append(header_list_, line.c_str());
        if (grown == nullptr) return make_error_code(CURLE_OUT_OF_MEMORY);
        header_list_ = grown;
    }
    if (header_list_ == nullptr) return make_error_code(CURLE_OUT_OF_MEMORY);

    CURLcode result = CURLE_OK;
    const auto set = [&](CURLoption option, auto value) {
        if (result == CURLE_OK) result = curl_easy_setopt(easy, option, value);
    };
    set(CURLOPT_ERRORBUFFER, static_cast<char*>(error_buffer_));
    set(CURLOPT_URL, request.url.c_str());
    set(CURLOPT_PROTOCOLS_STR, "http,https");
    set(CURLOPT_NOSIGNAL, 1L);  // a shard thread never takes signals for curl's timeouts
    // HTTP/2 when the TLS server offers h2 in ALPN, else HTTP/1.1; plain http stays 1.1.
    set(CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
    // HTTPS: wait for the first connection's ALPN answer and multiplex on it if it says h2,
    // instead of opening a parallel connection per request. Plain http is HTTP/1.1 only,
    // and waiting there would hold every new request until the first response head.
    if (starts_with_https(request.url)) set(CURLOPT_PIPEWAIT, 1L);
    set(CURLOPT_SSL_VERIFYPEER, 1L);
    set(CURLOPT_SSL_VERIFYHOST, 2L);
    if (!request.ca_file.empty()) set(CURLOPT_CAINFO, request.ca_file.c_str());
    set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request.connect_timeout.count()));
    // Streams can be silent for a while; keepalive finds dead peers behind NATs.
    set(CURLOPT_TCP_KEEPALIVE, 1L);
    set(CURLOPT_TCP_KEEPIDLE, 30L);
    set(CURLOPT_TCP_KEEPINTVL, 15L);
    // Proxy CONNECT responses are not the provider's response head.
    set(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    // No Accept-Encoding: SSE is read as it arrives, not through a decompressor.
    set(CURLOPT_ACCEPT_ENCODING, static_cast<const char*>(nullptr));
    set(CURLOPT_HTTPHEADER, header_list_);
    if (request.method == "GET") {
        set(CURLOPT_HTTPGET, 1L);
    } else {
        set(CURLOPT_POSTFIELDS, body_.data());
        set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body_.size()));
        if (request.method != "POST") set(CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    set(CURLOPT_HEADERFUNCTION, &TransferState::on_header);
    set(CURLOPT_HEADERDATA, static_cast<void*>(this));
    set(CURLOPT_WRITEFUNCTION, &TransferState::on_write);
    set(CURLOPT_WRITEDATA, static_cast<void*>(this));
    return result == CURLE_OK ? error_code{} : make_error_code(result);
}

// on_header and on_write run inside libcurl's C frames: no exception may unwind through
// them. A throw (from our parsing or from the sink) fails only this transfer: the short
// count makes curl stop it, and the sink hears transfer_errc::internal_error.
size_t TransferState::on_header(char* data, size_t size, size_t count, void* self) {
    auto* state = static_cast<TransferState*>(self);
    try {
        return state->header_line({data, size * count});
    } catch (...) {
        return state->fail_in_callback("upstream header callback");
    }
}

size_t TransferState::fail_in_callback(std::string_view where) noexcept {
    internal_error_ = true;
    metrics::report_internal_error(multi() ? multi()->internal_errors() : nullptr, where, "upstream transfer");
    return 0;
}

size_t TransferState::header_line(std::string_view line) {
    if (sink_ == nullptr) return 0;  // cancelled: any short count makes curl stop
    if (head_delivered_) return line.size();  // trailers after the body are not used
    header_bytes_ += line.size();
    if (header_bytes_ > max_header_bytes_) {
        headers_too_large_ = true;
        return 0;
    }
    const size_t consumed = line.size();
    line = trim(line);
    if (line.starts_with("HTTP/")) {
        // A new response head; after a 1xx the final one follows with its own fields.
        status_ = parse_status_line(line);
        headers_ = ResponseHeaders{};
        return consumed;
    }
    if (line.empty()) {  // end of a head
        if (status_ < 200) return consumed;  // 1xx interim response: wait for the final head
        head_delivered_ = true;
        curl_easy_getinfo(handle(), CURLINFO_HTTP_VERSION, &http_version_);
        sink_->on_response_start(status_, headers_);
        return sink_ != nullptr ? consumed : 0;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return consumed;
    std::string name = lower(trim(line.substr(0, colon)));
    std::string value(trim(line.substr(colon + 1)));
    if (name == "content-type") headers_.content_type = value;
    if (name == "retry-after") headers_.retry_after = value;
    if (name == "retry-after-ms") headers_.retry_after_ms = value;
    headers_.fields.emplace_back(std::move(name), std::move(value));
    return consumed;
}

size_t TransferState::on_write(char* data, size_t size, size_t count, void* self) {
    auto* state = static_cast<TransferState*>(self);
    try {
        return state->body_bytes(data, size * count);
    } catch (...) {
        return state->fail_in_callback("upstream body callback");
    }
}

size_t TransferState::body_bytes(char* data, size_t length) {
    if (sink_ == nullptr) return 0;  // cancelled: a short count makes curl stop
    if (want_paused) {
        // Nothing delivered: curl keeps this chunk and hands it over again after resume.
        curl_paused = true;
        return CURL_WRITEFUNC_PAUSE;
    }
    const size_t skip = std::min(redelivered_to_skip_, length);
    redelivered_to_skip_ -= skip;
    if (skip == length) return length;
    sink_->on_body({data + skip, length - skip});
    if (sink_ == nullptr) return 0;
    if (want_paused) {
        // The sink paused while taking this chunk. Pausing from inside the write callback
        // is done by returning CURL_WRITEFUNC_PAUSE, which makes curl redeliver the whole
        // chunk after resume: all of it has been seen, so skip all of it then.
        curl_paused = true;
        redelivered_to_skip_ = length;
        return CURL_WRITEFUNC_PAUSE;
    }
    return length;
}

void TransferState::on_transfer_done(error_code ec) {
    if (headers_too_large_) ec = make_error_code(transfer_errc::response_headers_too_large);
    if (internal_error_) ec = make_error_code(transfer_errc::internal_error);
    TransferSink* sink = std::exchange(sink_, nullptr);
    if (sink != nullptr) sink->on_complete(ec);
}

Transfer::Transfer(CurlMulti& multi, TransferSink& sink) : multi_(&multi), sink_(&sink) {}

Transfer::~Transfer() { cancel(); }

Transfer::Transfer(Transfer&& other) noexcept
    : multi_(other.multi_), sink_(other.sink_), state_(std::move(other.state_)) {}

Transfer& Transfer::operator=(Transfer&& other) noexcept {
    if (this != &other) {
        cancel();
        multi_ = other.multi_;
        sink_ = other.sink_;
        state_ = std::move(other.state_);
    }
    return *this;
}

error_code Transfer::start(TransferRequest request) {
    if (state_ != nullptr) return make_error_code(transfer_errc::already_started);
    auto state = std::make_shared<TransferState>(*sink_);
    if (const error_code ec = state->configure(std::move(request))) return ec;
    if (const error_code ec = multi_->add(state)) return ec;
    state_ = std::move(state);
    return {};
}

void Transfer::cancel() noexcept {
    if (state_ == nullptr) return;
    state_->forget_sink();
    if (CurlMulti* multi = state_->current_multi()) multi->remove(*state_);
}

void Transfer::pause() {
    if (!running() || state_->want_paused) return;
    state_->want_paused = true;
    CurlMulti* multi = state_->current_multi();
    // Inside a curl callback the write callback returns CURL_WRITEFUNC_PAUSE instead; and
    // before the transfer has a connection curl cannot pause it, so the first body chunk
    // will be refused the same way.
    if (!multi->in_curl_call() && multi->pause_receive(*state_)) state_->curl_paused = true;
}

void Transfer::resume() {
    if (state_ == nullptr || !state_->want_paused) return;
    state_->want_paused = false;
    if (!state_->curl_paused) return;
    state_->curl_paused = false;
    if (CurlMulti* multi = state_->current_multi()) multi->resume_receive(*state_);
}

bool Transfer::running() const noexcept {
    return state_ != nullptr && state_->has_sink() && state_->current_multi() != nullptr;
}

bool Transfer::paused() const noexcept { return state_ != nullptr && state_->want_paused; }

std::string_view Transfer::error_detail() const noexcept {
    return state_ != nullptr ? state_->error_detail() : std::string_view{};
}

long Transfer::http_version() const noexcept { return state_ != nullptr ? state_->http_version() : 0; }

}  // namespace voxgate::upstream
