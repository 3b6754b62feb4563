#include "upstream/upstream_engine.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "metrics/shard_metrics.hpp"
#include "upstream/curl_error.hpp"
#include "upstream/local_reply.hpp"
#include "upstream/public_error.hpp"
#include "upstream/redaction.hpp"
#include "upstream/sse_parser.hpp"
#include "upstream/transfer.hpp"

namespace voxgate::upstream {
namespace {

// The shard's internal-error counter for exceptions stopped in curl callbacks.
CurlMultiOptions with_error_counter(CurlMultiOptions options, metrics::ShardMetrics* metrics) {
    if (metrics && !options.internal_errors) options.internal_errors = &metrics->internal_errors;
    return options;
}

using Clock = std::chrono::steady_clock;

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

// The codecs phrase headers as "Name: value" lines; the transport takes pairs.
std::vector<std::pair<std::string, std::string>> header_fields(const std::vector<std::string>& lines) {
    std::vector<std::pair<std::string, std::string>> fields;
    fields.reserve(lines.size());
    for (const std::string& line : lines) {
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        const std::string_view text(line);
        fields.emplace_back(trim(text.substr(0, colon)), trim(text.substr(colon + 1)));
    }
    return fields;
}

// 400 and 422 say the request itself is wrong: another provider would refuse it as well.
bool is_request_error(const UpstreamError& error) {
    return error.http_status == 400 || error.http_status == 422;
}

std::string in_quotes(std::string_view name) { return "'" + std::string(name) + "'"; }

std::string milliseconds_text(std::chrono::milliseconds duration) {
    return std::to_string(duration.count()) + " ms";
}

// A provider (or a proxy in front of it) may quote what it received in its error text.
// Our key and configured header values must never travel on in a log line.
void redact_provider_secrets(std::string& message, const ProviderConfig& provider) {
    std::vector<std::string_view> secrets{provider.api_key};
    for (const auto& [name, value] : provider.headers) secrets.push_back(value);
    redact_secrets(message, secrets);
}

UpstreamError timeout_error(std::string message, bool retryable) {
    UpstreamError error;
    error.type = "timeout";
    error.code = "upstream_timeout";
    error.message = std::move(message);
    error.retryable = retryable;
    return error;
}

}  // namespace

// One response: its route, the attempt in flight and its deadlines. Owned by its Handle,
// shared because every entry point (transfer callback, timer, posted task) holds a reference
// while it runs, so the observer may drop the handle from inside any callback; and by the
// engine while a completed response drains its transfer. Timers and posted tasks wait with
// weak references only.
class UpstreamEngine::Response final : public TransferSink,
                                       public StreamSink,
                                       public std::enable_shared_from_this<Response> {
public:
    Response(UpstreamEngine& engine, RouteTable::Route route, std::string_view client_model, ChatRequest request,
             ResponseObserver& observer)
        : engine_(&engine),
          observer_(&observer),
          route_(route),
          client_model_(client_model),
          request_(std::move(request)),
          started_at_(Clock::now()),
          timer_(engine.io_.get_executor()),
          parser_(engine.options_.max_event_bytes) {}

    ~Response() override {
        if (engine_ != nullptr) engine_->responses_.erase(this);
    }

    void begin() {
        if (phase_ == Phase::starting) begin_attempt();
    }

    void cancel() {
        if (phase_ == Phase::done) return;
        phase_ = Phase::done;
        release_attempt();  // a cancel is no verdict on the provider
        // Only the transfer and the timer go now: a view the observer holds during the
        // callback that cancelled may point into the decoder, the parser or a local reply.
        transfer_.reset();
        timer_.cancel();
    }

    // The engine is being destroyed: stop without a word (a drain too), never touch it again.
    void detach() {
        engine_ = nullptr;
        guard_ = nullptr;  // the guards go with the engine
        retry_guard_ = nullptr;
        phase_ = Phase::done;
        draining_ = false;
        transfer_.reset();
        timer_.cancel();
    }

    void pause() {
        if (phase_ == Phase::done || paused_) return;
        paused_ = true;
        paused_since_ = Clock::now();
        if (transfer_) transfer_->pause();
        if (local_) local_->pause(paused_since_);
    }

    void resume() {
        if (phase_ == Phase::done || !paused_) return;
        paused_ = false;
        const auto now = Clock::now();
        // The time spent paused was the consumer's, not the provider's.
        first_token_deadline_ += now - std::max(paused_since_, attempt_started_at_);
        last_body_at_ = now;
        if (local_) local_->resume(now);
        if (transfer_ && transfer_->paused()) {
            // curl may hand over held-back bytes inside Transfer::resume: never call the
            // observer from inside its own resume().
            asio::post(engine_->io_, [weak = weak_from_this()] {
                const auto self = weak.lock();
                if (self && !self->paused_ && self->transfer_) self->transfer_->resume();
            });
        }
        arm_timer();
    }

    // TransferSink ---------------------------------------------------------------------

    void on_response_start(int status, const ResponseHeaders& headers) override {
        if (phase_ != Phase::waiting_head) return;
        count_attempt(status);
        release_pending();
        if (status >= 200 && status < 300) {
            phase_ = Phase::streaming;
            decoder_ = provider().codec->make_decoder();
            parser_.reset();
            last_body_at_ = Clock::now();  // the idle clock starts with the head
            arm_timer();                   // the idle deadline may come before the first-token one
        } else {
            phase_ = Phase::error_body;
            http_status_ = status;
            retry_after_ = headers.retry_after;
            retry_after_ms_ = headers.retry_after_ms;
        }
    }

    void on_body(std::string_view bytes) override {
        const auto keep_alive = shared_from_this();  // the observer may drop the handle
        if (phase_ == Phase::error_body) {
            const std::size_t room = engine_->options_.max_error_body_bytes - error_body_.size();
            error_body_.append(bytes.substr(0, std::min(room, bytes.size())));
        } else if (phase_ == Phase::streaming) {
            last_body_at_ = Clock::now();
            stream_body(bytes);
        }
        // After the end of the stream (draining), the closing bytes are ignored.
    }

    void on_complete(error_code ec) override {
        const auto keep_alive = shared_from_this();
        if (draining_) return end_drain();
        const std::string detail = transfer_ ? printable_error_text(transfer_->error_detail(), 300) : std::string();
        switch (phase_) {
        case Phase::waiting_head:
            return attempt_failed(transport_error(ec ? ec : make_error_code(CURLE_GOT_NOTHING), detail));
        case Phase::error_body:
            if (ec) return attempt_failed(transport_error(ec, detail));
            return attempt_failed(provider().codec->classify_error(http_status_, error_body_, retry_after_, retry_after_ms_));
        case Phase::streaming:
            if (ec) return attempt_failed(transport_error(ec, detail));
            return decoded(decoder_->on_end_of_stream(*this));
        default:
            return;
        }
    }

    // StreamSink: the decoder's output, forwarded to the observer while the response runs ---

    void on_text_delta(std::string_view text) override {
        if (phase_ != Phase::streaming || !report_first_content(Phase::streaming)) return;
        content_seen_ = true;
        observer_->on_text_delta(text);
    }

    void on_tool_call_delta(int index, std::string_view call_id, std::string_view name,
                            std::string_view arguments_fragment) override {
        if (phase_ != Phase::streaming || !report_first_content(Phase::streaming)) return;
        content_seen_ = true;
        observer_->on_tool_call_delta(index, call_id, name, arguments_fragment);
    }

    void on_usage(const Usage& usage) override {
        if (phase_ == Phase::streaming) observer_->on_usage(usage);
    }

    void on_finish(FinishReason reason) override {
        if (phase_ != Phase::streaming) return;
        finish_reason_ = reason;
        observer_->on_finish(reason);
    }

private:
    enum class Phase : std::uint8_t {
        starting,      // begin() is posted
        waiting_head,  // the request is on its way (connecting, sending, waiting)
        error_body,    // a non-2xx head arrived: collecting its body for classify_error
        streaming,     // a 2xx head arrived: SSE -> decoder -> observer
        backing_off,   // waiting to retry the same provider
        local,         // playing a reply made in-process (a local kind: the demo)
        done,          // on_done delivered or cancelled: nothing more, ever
    };
    enum class Limit : std::uint8_t { first_token, idle, total };

    const RoutedProvider& provider() const { return *route_[route_position_]; }

    metrics::ProviderMetrics* provider_metrics() const {
        metrics::ShardMetrics* metrics = engine_->metrics_;
        const auto index = provider().metrics_index;
        if (metrics == nullptr || !index || *index >= metrics->providers.size()) return nullptr;
        return &metrics->providers[*index];
    }

    // One count per attempt: its HTTP status, or 0 when it never got one.
    void count_attempt(int status) {
        if (attempt_counted_) return;
        attempt_counted_ = true;
        if (auto* metrics = provider_metrics()) metrics->requests.inc(status);
    }

    void begin_attempt() {
        const RoutedProvider& target = provider();
        const auto now = Clock::now();
        total_deadline_ = started_at_ + target.config.timeouts.total;
        if (target.answers_locally()) {
            release_retry_slot();
            return begin_local(now);
        }
        if (UpstreamError refusal; !admit_attempt(refusal)) {
            release_retry_slot();
            spdlog::debug("upstream: {}", refusal.message);
            return next_provider_or_fail(refusal);
        }

        attempt_started_at_ = now;
        first_token_deadline_ = now + target.config.timeouts.first_token;
        attempt_counted_ = false;
        attempt_got_body_ = false;
        http_status_ = 0;
        error_body_.clear();
        retry_after_.clear();
        retry_after_ms_.clear();

        // The codec takes request.model, else the provider's model; with neither, the
        // client's model name goes through as is.
        const bool pass_client_model = request_.model.empty() && target.config.model.empty();
        if (pass_client_model) request_.model = client_model_;
        HttpRequestSpec spec = target.codec->build_request(request_, target.config);
        if (pass_client_model) request_.model.clear();

        TransferRequest http;
        http.url = std::move(spec.url);
        http.body = std::move(spec.body);
        http.headers = header_fields(spec.headers);
        http.ca_file = target.config.ca_file;
        http.connect_timeout = target.config.timeouts.connect;

        phase_ = Phase::waiting_head;
        transfer_.emplace(engine_->multi_, *this);
        if (const error_code ec = transfer_->start(std::move(http))) {
            UpstreamError error;
            error.type = "server_error";
            error.code = "upstream_error";
            error.message = "the request to provider " + in_quotes(target.name()) + " could not be started: " + ec.message();
            return attempt_failed(std::move(error));
        }
        if (paused_) transfer_->pause();
        arm_timer();
    }

    // Tells the observer once when the first content is about to be delivered; false if it
    // cancelled the response from inside that call.
    bool report_first_content(Phase expected) {
        judge_attempt(Verdict::success);  // the provider delivered
        if (first_content_reported_) return true;
        first_content_reported_ = true;
        observer_->on_first_content(body_arrived_at_);
        return phase_ == expected;
    }

    void stream_body(std::string_view bytes) {
        body_arrived_at_ = Clock::now();
        if (!attempt_got_body_) {
            attempt_got_body_ = true;
            if (auto* metrics = provider_metrics()) {
                metrics->first_byte_seconds.observe(std::chrono::duration<double>(Clock::now() - attempt_started_at_).count());
            }
            if (!first_byte_reported_) {
                first_byte_reported_ = true;
                observer_->on_upstream_first_byte(provider().name());
                if (phase_ != Phase::streaming) return;
            }
        }
        DecodeStatus status = DecodeStatus::more;
        const std::error_code parse_error = parser_.feed(bytes, [&](const SseEvent& event) {
            // Events after the end, an error or a cancel are still complete in `bytes`.
            if (status != DecodeStatus::more || phase_ != Phase::streaming) return;
            status = decoder_->on_event(event, *this);
        });
        if (phase_ != Phase::streaming) return;  // cancelled from inside a callback
        if (status != DecodeStatus::more) return decoded(status);
        if (parse_error) {
            UpstreamError error;
            error.type = "server_error";
            error.code = "upstream_malformed";
            error.message = "provider " + in_quotes(provider().name()) + " sent an SSE event larger than " +
                            std::to_string(parser_.max_event_bytes()) + " bytes";
            attempt_failed(std::move(error));
        }
    }

    void decoded(DecodeStatus status) {
        if (phase_ != Phase::streaming) return;
        if (status == DecodeStatus::error) return attempt_failed(decoder_->error());
        if (status != DecodeStatus::done) return;
        judge_attempt(Verdict::success);  // also a reply without content
        if (transfer_ && transfer_->running()) start_drain();
        deliver_completion();
    }

    // The stream said it is complete, but the HTTP body has not ended yet: usually only the
    // closing chunk is still on its way. Cancelling now would make curl close an HTTP/1.1
    // connection (a new TCP + TLS handshake for the next response), so the transfer reads
    // its last bytes after on_done, for at most finish_drain; the engine keeps this object
    // alive meanwhile, whatever happens to the handle.
    void start_drain() {
        draining_ = true;
        engine_->draining_.emplace(this, shared_from_this());
        if (transfer_->paused()) transfer_->resume();  // from inside a callback curl defers it
    }

    void end_drain() {
        draining_ = false;
        transfer_.reset();
        timer_.cancel();
        if (engine_ != nullptr) engine_->draining_.erase(this);  // may release the last reference
    }

    void arm_drain_timer() {
        timer_.expires_after(engine_->options_.finish_drain);
        timer_.async_wait([weak = weak_from_this()](const error_code& ec) {
            if (ec == asio::error::operation_aborted) return;
            const auto self = weak.lock();
            if (self && self->draining_) self->end_drain();
        });
    }

    UpstreamError transport_error(error_code ec, const std::string& detail) const {
        const std::string& name = provider().name();
        const std::string reason = detail.empty() ? ec.message() : detail;
        UpstreamError error;
        error.type = "server_error";
        const auto failure = resilience::classify_transport_failure(ec);
        error.retryable = resilience::is_transient(failure) && !content_seen_;
        switch (failure) {
        case resilience::TransportFailure::tls_verification:
            // A configuration problem (ca_file, host name): retrying cannot help.
            error.code = "upstream_tls_error";
            error.message = "TLS certificate verification failed for provider " + in_quotes(name) + ": " + reason +
                            " (check the provider's ca_file and base_url host)";
            break;
        case resilience::TransportFailure::connect:
            error.code = "upstream_connect_failed";
            error.message = "could not connect to provider " + in_quotes(name) + ": " + reason;
            break;
        case resilience::TransportFailure::malformed:
            error.code = "upstream_malformed";
            error.message = "provider " + in_quotes(name) + ": " + ec.message();
            break;
        case resilience::TransportFailure::connection_lost:
            error.code = "upstream_connection_lost";
            error.message = "the connection to provider " + in_quotes(name) + " failed: " + reason;
            break;
        }
        return error;
    }

    void attempt_failed(UpstreamError error) {
        count_attempt(metrics::StatusCodeCounters::transport_error);
        transfer_.reset();
        redact_provider_secrets(error.message, provider().config);
        judge_attempt(resilience::is_provider_fault(error.http_status, error.code, error.retryable) ? Verdict::failure
                                                                                                   : Verdict::none);
        release_attempt();

        const RoutedProvider& failed = provider();
        const auto now = Clock::now();
        const auto decision = resilience::decide_retry(engine_->options_.retry,
                                                       {.retries_made = retries_used_,
                                                        .max_retries = failed.config.max_retries,
                                                        .transient = error.retryable,
                                                        .delivered = content_seen_,
                                                        .server_delay = error.retry_after,
                                                        .time_left = total_deadline_ - now},
                                                       engine_->jitter_random_);
        // A retry would repeat what the client already has, and so would another provider.
        if (decision.verdict == resilience::RetryVerdict::delivered) return fail(error);
        if (decision.retry()) {
            // The budget bounds the retries a storm of failures may add to this provider's load.
            if (acquire_retry_slot()) {
                ++retries_used_;
                if (engine_->metrics_ != nullptr) engine_->metrics_->upstream_retries.inc();
                spdlog::debug("upstream: provider \"{}\" failed ({}), retry {} of {} in {} ms", failed.name(),
                              error.code.empty() ? error.type : error.code, retries_used_, failed.config.max_retries,
                              decision.delay.count());
                phase_ = Phase::backing_off;
                retry_at_ = now + decision.delay;
                return arm_timer();
            }
            if (auto* metrics = provider_metrics()) metrics->retries_denied.inc();
            spdlog::debug("upstream: provider \"{}\" failed ({}); its retry budget is spent, no retry", failed.name(),
                          error.code.empty() ? error.type : error.code);
        }
        if (is_request_error(error)) return fail(error);
        next_provider_or_fail(error);
    }

    // After a failed or refused attempt: the next provider of the route while there is one
    // and time left, else the response fails with `error`.
    void next_provider_or_fail(const UpstreamError& error) {
        const std::size_t next = route_position_ + 1;
        if (next < route_.size() && Clock::now() < started_at_ + route_[next]->config.timeouts.total) {
            spdlog::warn("upstream: provider \"{}\" failed ({}: {}); falling back to \"{}\"", provider().name(),
                         error.code.empty() ? error.type : error.code, error.message, route_[next]->name());
            if (engine_->metrics_ != nullptr) engine_->metrics_->upstream_fallbacks.inc();
            route_position_ = next;
            retries_used_ = 0;
            return begin_attempt();
        }
        fail(error);
    }

    // Resilience bookkeeping of the attempt in flight -----------------------------------
    //
    // An attempt to an HTTP provider holds, from begin_attempt: a pending slot (until its
    // response head), one of the retry budget's active requests (until it ends), maybe the
    // breaker's probe; a retry also holds a retry slot. It is judged once: success at its
    // first content or completion, failure for a provider fault, none otherwise.

    enum class Verdict : std::uint8_t { success, failure, none };

    bool acquire_retry_slot() {
        auto& guard = engine_->guard_for(provider());
        if (!guard.retries.try_acquire_retry()) return false;
        retry_guard_ = &guard;
        return true;
    }

    void release_retry_slot() {
        if (retry_guard_ == nullptr) return;
        retry_guard_->retries.retry_ended();
        retry_guard_ = nullptr;
    }

    void release_pending() {
        if (guard_ == nullptr || !holds_pending_) return;
        holds_pending_ = false;
        guard_->pending.release();
        if (auto* metrics = provider_metrics()) metrics->pending_requests.sub();
    }

    void judge_attempt(Verdict verdict) {
        if (guard_ == nullptr || attempt_judged_) return;
        attempt_judged_ = true;
        const auto opened_before = guard_->breaker.times_opened();
        if (verdict == Verdict::success) guard_->breaker.record_success(Clock::now());
        else if (verdict == Verdict::failure) guard_->breaker.record_failure(Clock::now());
        else if (probing_) guard_->breaker.probe_abandoned();
        probing_ = false;
        release_retry_slot();  // the retry is over, whatever came of it
        if (auto* metrics = provider_metrics()) {
            metrics->circuit_state.set(static_cast<std::int64_t>(guard_->breaker.state()));
            if (guard_->breaker.times_opened() != opened_before) metrics->circuit_opened.inc();
        }
        if (guard_->breaker.times_opened() != opened_before) {
            spdlog::warn("upstream: circuit of provider \"{}\" opened: requests fail fast to the next provider for "
                         "{} ms",
                         provider().name(), provider().config.circuit_breaker.cooldown.count());
        }
    }

    void release_attempt() {
        judge_attempt(Verdict::none);
        release_pending();
        if (guard_ != nullptr && holds_active_) guard_->retries.request_ended();
        holds_active_ = false;
        guard_ = nullptr;
        release_retry_slot();  // granted, but the response ended during the backoff
    }

    // Before an attempt to an HTTP provider: false (the caller moves on) when its circuit is
    // open or its pending requests are at the limit.
    bool admit_attempt(UpstreamError& refusal) {
        const RoutedProvider& target = provider();
        auto& guard = engine_->guard_for(target);
        auto* metrics = provider_metrics();
        const auto admission = guard.breaker.admit(Clock::now());
        if (metrics != nullptr) metrics->circuit_state.set(static_cast<std::int64_t>(guard.breaker.state()));
        if (admission == resilience::CircuitBreaker::Admission::refused) {
            if (metrics != nullptr) metrics->circuit_fast_fails.inc();
            refusal.type = "server_error";
            refusal.code = "upstream_unavailable";
            refusal.message = "provider " + in_quotes(target.name()) + " is failing: its circuit breaker is open";
            return false;
        }
        const bool probe = admission == resilience::CircuitBreaker::Admission::probe;
        if (!guard.pending.try_admit()) {
            if (probe) guard.breaker.probe_abandoned();
            if (metrics != nullptr) metrics->overloaded.inc();
            refusal.type = "server_error";
            refusal.code = "upstream_overloaded";
            refusal.message = "provider " + in_quotes(target.name()) + " has " +
                              std::to_string(guard.pending.max_pending()) +
                              " requests waiting for a response (max_pending_requests)";
            return false;
        }
        if (metrics != nullptr) metrics->pending_requests.add();
        guard.retries.request_started();
        guard_ = &guard;
        holds_pending_ = true;
        holds_active_ = true;
        attempt_judged_ = false;
        probing_ = probe;
        return true;
    }

    void timed_out(Limit limit) {
        const auto& timeouts = provider().config.timeouts;
        const std::string name = in_quotes(provider().name());
        switch (limit) {
        case Limit::first_token:
            return attempt_failed(timeout_error(
                "provider " + name + " sent no output within " + milliseconds_text(timeouts.first_token), true));
        case Limit::idle:
            return attempt_failed(timeout_error("provider " + name + " stalled: no data for " +
                                                    milliseconds_text(timeouts.idle) + " mid-response",
                                                !content_seen_));
        case Limit::total:
            // The response's time is up: neither a retry nor another provider.
            count_attempt(metrics::StatusCodeCounters::transport_error);
            if (!content_seen_) judge_attempt(Verdict::failure);
            return fail(timeout_error("the response from provider " + name + " exceeded its total time limit of " +
                                          milliseconds_text(timeouts.total),
                                      false));
        }
    }

    // The single timer ------------------------------------------------------------------

    // The earliest moment something may be due, none when nothing is.
    std::optional<Clock::time_point> next_deadline() const {
        switch (phase_) {
        case Phase::backing_off:
            return retry_at_;
        case Phase::local:
            return local_->next_due();
        case Phase::waiting_head:
        case Phase::error_body:
        case Phase::streaming: {
            Clock::time_point deadline = total_deadline_;
            if (!paused_) {
                if (!content_seen_) deadline = std::min(deadline, first_token_deadline_);
                if (phase_ == Phase::streaming) deadline = std::min(deadline, last_body_at_ + provider().config.timeouts.idle);
            }
            return deadline;
        }
        default:
            return std::nullopt;
        }
    }

    // Re-arms only for an earlier deadline: a later one (the idle deadline moves with every
    // body byte) is found when the timer fires early and looks again.
    void arm_timer() {
        const auto deadline = next_deadline();
        if (!deadline || (timer_armed_ && timer_expiry_ <= *deadline)) return;
        timer_armed_ = true;
        timer_expiry_ = *deadline;
        timer_.expires_at(*deadline);
        timer_.async_wait([weak = weak_from_this()](const error_code& ec) {
            if (ec == asio::error::operation_aborted) return;
            const auto self = weak.lock();
            if (!self) return;
            self->timer_armed_ = false;
            self->on_timer();
        });
    }

    void on_timer() {
        const auto now = Clock::now();
        switch (phase_) {
        case Phase::backing_off:
            if (now >= retry_at_) return begin_attempt();
            break;
        case Phase::local:
            return play_local(now);
        case Phase::waiting_head:
        case Phase::error_body:
        case Phase::streaming:
            if (now >= total_deadline_) return timed_out(Limit::total);
            if (!paused_ && !content_seen_ && now >= first_token_deadline_) return timed_out(Limit::first_token);
            if (!paused_ && phase_ == Phase::streaming && now >= last_body_at_ + provider().config.timeouts.idle) {
                return timed_out(Limit::idle);
            }
            break;
        default:
            return;
        }
        arm_timer();
    }

    // A local kind's reply (the demo provider) -----------------------------------------

    void begin_local(Clock::time_point now) {
        local_ = provider().kind->make_local_reply(request_, provider().config, now);
        if (paused_) local_->pause(now);
        phase_ = Phase::local;
        arm_timer();
    }

    void play_local(Clock::time_point now) {
        while (const auto token = local_->take_due(now)) {
            if (!first_byte_reported_) {
                first_byte_reported_ = true;
                observer_->on_upstream_first_byte(provider().name());
                if (phase_ != Phase::local) return;
            }
            body_arrived_at_ = now;
            if (!report_first_content(Phase::local)) return;
            content_seen_ = true;
            observer_->on_text_delta(*token);
            if (phase_ != Phase::local) return;
        }
        if (!local_->finished()) return arm_timer();
        observer_->on_usage(local_->usage());
        if (phase_ != Phase::local) return;
        finish_reason_ = FinishReason::stop;
        observer_->on_finish(finish_reason_);
        if (phase_ != Phase::local) return;
        deliver_completion();
    }

    // The end ---------------------------------------------------------------------------

    void deliver_completion() {
        ResponseResult result;
        result.outcome = finish_reason_ == FinishReason::length ? Outcome::incomplete : Outcome::completed;
        result.finish_reason = finish_reason_;
        result.provider = provider().name();
        deliver(result);
    }

    void fail(const UpstreamError& error) {
        PublicError shown = public_error(error);
        ResponseResult result;
        result.outcome = Outcome::failed;
        result.error_type = std::move(shown.type);
        result.error_code = std::move(shown.code);
        result.error_message = std::move(shown.message);
        result.error_detail = "provider " + in_quotes(provider().name()) + ": " +
                              (error.code.empty() ? error.type : error.code) +
                              (error.http_status != 0 ? " (HTTP " + std::to_string(error.http_status) + ")" : "") +
                              ": " + error.message;
        result.provider = provider().name();
        deliver(result);
    }

    void deliver(const ResponseResult& result) {
        phase_ = Phase::done;
        release_attempt();
        timer_.cancel();
        timer_armed_ = false;
        if (!draining_) transfer_.reset();
        observer_->on_done(result);
        if (draining_) arm_drain_timer();  // not if the engine went away inside on_done
    }

    UpstreamEngine* engine_;  // null once the engine is gone
    ResponseObserver* observer_;
    RouteTable::Route route_;
    std::size_t route_position_ = 0;  // the provider being tried
    int retries_used_ = 0;            // with that provider
    std::string client_model_;
    ChatRequest request_;
    Phase phase_ = Phase::starting;

    Clock::time_point started_at_;
    Clock::time_point total_deadline_{};
    Clock::time_point attempt_started_at_{};
    Clock::time_point first_token_deadline_{};
    Clock::time_point last_body_at_{};
    Clock::time_point retry_at_{};
    Clock::time_point paused_since_{};
    steady_timer timer_;
    Clock::time_point timer_expiry_{};
    bool timer_armed_ = false;

    bool paused_ = false;
    bool content_seen_ = false;         // a text or tool-call delta reached the observer
    bool first_byte_reported_ = false;  // on_upstream_first_byte was called
    bool first_content_reported_ = false;  // on_first_content was called
    Clock::time_point body_arrived_at_{};  // when the body bytes being decoded arrived
    bool attempt_counted_ = false;
    bool attempt_got_body_ = false;
    bool draining_ = false;  // done, but the transfer still reads its closing bytes
    FinishReason finish_reason_ = FinishReason::none;

    std::optional<Transfer> transfer_;
    std::unique_ptr<StreamDecoder> decoder_;
    SseParser parser_;
    int http_status_ = 0;  // of a non-2xx head
    std::string error_body_;
    std::string retry_after_;
    std::string retry_after_ms_;
    std::unique_ptr<LocalReply> local_;

    resilience::ProviderGuard* guard_ = nullptr;        // of the attempt in flight; null for none or a local reply
    resilience::ProviderGuard* retry_guard_ = nullptr;  // whose retry budget granted the retry under way
    bool holds_pending_ = false;
    bool holds_active_ = false;
    bool attempt_judged_ = false;
    bool probing_ = false;  // the attempt is its breaker's half-open probe
};

class UpstreamEngine::Handle final : public ResponseHandle {
public:
    explicit Handle(std::shared_ptr<Response> response) : response_(std::move(response)) {}
    ~Handle() override { response_->cancel(); }
    void cancel() override { response_->cancel(); }
    void pause() override { response_->pause(); }
    void resume() override { response_->resume(); }

private:
    std::shared_ptr<Response> response_;
};

UpstreamEngine::UpstreamEngine(asio::io_context& io, const Config& config, metrics::ShardMetrics* metrics,
                               UpstreamEngineOptions options)
    : io_(io),
      metrics_(metrics),
      options_(std::move(options)),
      routes_(config),
      jitter_random_(std::random_device{}()),
      multi_(io, with_error_counter(options_.curl, metrics)) {
    guards_.reserve(routes_.providers().size());
    for (const auto& provider : routes_.providers()) guards_.emplace_back(provider->config);
}

resilience::CircuitState UpstreamEngine::circuit_state(std::string_view provider) const {
    for (const auto& routed : routes_.providers()) {
        if (routed->name() == provider) return guards_[routed->slot].breaker.state();
    }
    return resilience::CircuitState::closed;
}

UpstreamEngine::~UpstreamEngine() {
    for (Response* response : responses_) response->detach();
    responses_.clear();
    draining_.clear();  // frees the drained responses whose handles are gone
}

std::unique_ptr<ResponseHandle> UpstreamEngine::start(std::string_view client_model, ChatRequest request,
                                                      ResponseObserver& observer) {
    auto response =
        std::make_shared<Response>(*this, routes_.route_for(client_model), client_model, std::move(request), observer);
    responses_.insert(response.get());
    asio::post(io_, [weak = std::weak_ptr<Response>(response)] {
        if (const auto self = weak.lock()) self->begin();
    });
    return std::make_unique<Handle>(std::move(response));
}

}  // namespace voxgate::upstream
