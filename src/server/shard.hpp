#pragma once
// A shard: one thread, one io_context, and everything a connection on it needs
// (docs/design.md, "Threads"). A connection lives its whole life on one shard, so none of
// its state needs a lock.
#include <memory>
#include <thread>

#include "speech/speech_to_text.hpp"
#include "speech/text_to_speech.hpp"
#include "metrics/shard_metrics.hpp"
#include "server/idle_sweeper.hpp"
#include "voxgate/net.hpp"

namespace voxgate::upstream {
class ResponseSource;
}
namespace voxgate::session {
struct RealtimeContext;
class ConversationExpiry;
}

namespace voxgate::server {

struct GatewayContext;

// An io_context whose pending handlers can be destroyed before the objects they refer
// to: ~Shard() calls shutdown() first, so connections and sessions still queued in the
// context die while the shard's engine, contexts and timers are alive.
class ShardIoContext : public asio::io_context {
public:
    using asio::io_context::io_context;
    using asio::execution_context::shutdown;
};

class Shard {
public:
    Shard(std::size_t index, GatewayContext& gateway);
    ~Shard();

    std::size_t index() const { return index_; }
    asio::io_context& io_context() { return ioc_; }
    GatewayContext& gateway() { return gateway_; }
    metrics::ShardMetrics& metrics() { return metrics_; }
    IdleSweeper& sweeper() { return sweeper_; }
    // The upstream engine of this shard (set by the runtime before connections arrive).
    upstream::ResponseSource* responses() { return responses_.get(); }
    void set_responses(std::shared_ptr<upstream::ResponseSource> source) { responses_ = std::move(source); }
    // This shard's own speech-to-text client (speech_to_text.kind openai, on its CurlMulti).
    void set_speech_to_text(std::unique_ptr<speech::SpeechToText> speech) { speech_to_text_ = std::move(speech); }
    speech::SpeechToText* speech_to_text() { return speech_to_text_.get(); }
    // This shard's text-to-speech (espeak: a front of the gateway's EspeakEngine; openai: on its CurlMulti).
    void set_text_to_speech(std::unique_ptr<speech::TextToSpeech> speech) { text_to_speech_ = std::move(speech); }
    speech::TextToSpeech* text_to_speech() { return text_to_speech_.get(); }
    // What the Realtime sessions of this shard share (set by the wiring).
    session::RealtimeContext* realtime_context() { return realtime_context_.get(); }
    void set_realtime_context(std::unique_ptr<session::RealtimeContext> context);
    // The process-wide resume-TTL sweep, run by one shard.
    void set_conversation_expiry(std::unique_ptr<session::ConversationExpiry> expiry);
    session::ConversationExpiry* conversation_expiry() { return expiry_.get(); }

private:
    std::size_t index_;
    GatewayContext& gateway_;
    ShardIoContext ioc_{1};  // one thread runs it: let Asio skip its internal locking
    metrics::ShardMetrics metrics_;
    IdleSweeper sweeper_;
    std::shared_ptr<upstream::ResponseSource> responses_;
    // After responses_, so destroyed first: its transfers live on the engine's CurlMulti.
    std::unique_ptr<speech::SpeechToText> speech_to_text_;
    std::unique_ptr<speech::TextToSpeech> text_to_speech_;  // likewise
    std::unique_ptr<session::RealtimeContext> realtime_context_;
    std::unique_ptr<session::ConversationExpiry> expiry_;
};

}  // namespace voxgate::server
