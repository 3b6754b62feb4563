#pragma once
// ResponseStream: one model response turned into the event sequence a Realtime client
// expects (docs/wire-protocols.md 1.7 and 1.9), as typed events (ResponseEvents): it never
// encodes a frame, sees a socket or a clock. A wire adapter (session/realtime_wire.hpp)
// encodes the events; another dialect (the Twilio bridge) acts on the few it needs.
//
//   begin()                      response.created (status in_progress, output [], usage null)
//   first text delta             response.output_item.added (message, assistant, in_progress, content [])
//                                [listener adds it to the conversation: conversation.item.added]
//                                response.content_part.added (part {type:"text", text:""})
//   each text delta              response.output_text.delta (at once, no batching)
//   audio (output_modalities ["audio"]): the first audio_transcript() or audio() opens the
//   message with part {type:"audio", transcript:""}; then
//   audio_transcript(text)       response.output_audio_transcript.delta (the text being spoken)
//   audio(bytes)                 response.output_audio.delta (base64 in the output format)
//   closing                      response.output_audio.done, response.output_audio_transcript.done,
//                                response.content_part.done; a spoken message stays open
//                                until end(), even when tool calls follow it
//   first tool call fragment     closes an open text item, then response.output_item.added
//                                (function_call, call_id, name, arguments "")
//   each tool call fragment      response.function_call_arguments.delta
//   end(...)                     closes open items in output order:
//                                  text: response.output_text.done, response.content_part.done,
//                                  function call: response.function_call_arguments.done,
//                                  then response.output_item.done [listener: conversation.item.done]
//                                response.done (status, status_details, output, usage)
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/items.hpp"
#include "protocol/json_text.hpp"
#include "protocol/server_events.hpp"
#include "protocol/session_settings.hpp"

namespace voxgate::protocol {

enum class ResponseStatus : std::uint8_t { in_progress, completed, cancelled, incomplete, failed };
std::string_view to_string(ResponseStatus status);

struct TokenUsage {
    std::int64_t input_tokens = 0;
    std::int64_t output_tokens = 0;
    std::int64_t total_tokens = 0;
};

// How a response ended, for response.done's status and status_details.
struct ResponseEnd {
    ResponseStatus status = ResponseStatus::completed;
    // cancelled: client_cancelled | turn_detected; incomplete: max_output_tokens | content_filter
    std::string reason;
    std::string error_type;  // failed: status_details.error
    std::string error_code;
};

struct ResponseInfo {
    std::string id;               // "resp_..."
    std::string conversation_id;  // "" = out-of-band (null)
    TokenLimit max_output_tokens;
    Json metadata;  // null or an object
    OutputModality output = OutputModality::text;
};

class ResponseStream;

// What a response tells its client, in order. Named after the GA events they become.
class ResponseEvents {
public:
    virtual void response_created(const ResponseStream& response) = 0;
    virtual void output_item_added(std::string_view response_id, std::size_t output_index, const Item& item) = 0;
    virtual void content_part_added(const OutputRef& ref, std::size_t content_index, PartKind kind) = 0;
    virtual void output_text_delta(const OutputRef& ref, std::size_t content_index, std::string_view delta) = 0;
    // The text being spoken, sent just before its audio.
    virtual void output_audio_transcript_delta(const OutputRef& ref, std::size_t content_index,
                                               std::string_view delta) = 0;
    // Audio in the session's output format.
    virtual void output_audio_delta(const OutputRef& ref, std::size_t content_index,
                                    std::span<const std::uint8_t> bytes) = 0;
    virtual void function_call_arguments_delta(const OutputRef& ref, std::string_view call_id,
                                               std::string_view fragment) = 0;
    virtual void output_text_done(const OutputRef& ref, std::size_t content_index, std::string_view text) = 0;
    virtual void output_audio_done(const OutputRef& ref, std::size_t content_index) = 0;
    virtual void output_audio_transcript_done(const OutputRef& ref, std::size_t content_index,
                                              std::string_view transcript) = 0;
    virtual void content_part_done(const OutputRef& ref, std::size_t content_index, std::string_view text,
                                   PartKind kind) = 0;
    virtual void function_call_arguments_done(const OutputRef& ref, std::string_view call_id, std::string_view name,
                                              std::string_view arguments) = 0;
    virtual void output_item_done(std::string_view response_id, std::size_t output_index, const Item& item) = 0;
    virtual void response_done(const ResponseStream& response, const ResponseEnd& end) = 0;

protected:
    ~ResponseEvents() = default;
};

// The session's hooks into the sequence (its conversation follows the output items).
class ResponseStreamListener {
public:
    // Right after response.output_item.added / response.output_item.done of `item`.
    virtual void on_output_item_added(const Item& item) = 0;
    virtual void on_output_item_done(const Item& item) = 0;
    // Right after each response.output_text.delta frame; item's text holds all text so far.
    virtual void on_text_delta_sent(const Item& item) = 0;
    // The id for a new output item. A session overrides it to skip ids its client has
    // already given to items of its own (the conversation is shared by both).
    virtual std::string new_item_id();

protected:
    ~ResponseStreamListener() = default;
};

class ResponseStream {
public:
    ResponseStream(ResponseInfo info, ResponseEvents& events, ResponseStreamListener& listener);

    void begin();
    void text_delta(std::string_view delta);
    // Audio responses: the transcript of the speech about to be sent, and the speech itself.
    void audio_transcript(std::string_view text);
    void audio(std::span<const std::uint8_t> bytes);
    // A spoken reply cut short: its transcript keeps only the first `bytes` (what was heard).
    void keep_transcript(std::size_t bytes);
    // call_id and name come with a call's first fragment; a missing call_id gets a "call_..." id.
    void tool_call_delta(int index, std::string_view call_id, std::string_view name, std::string_view fragment);
    void set_usage(const TokenUsage& usage) { usage_ = usage; }
    void end(const ResponseEnd& end);

    const std::string& id() const { return info_.id; }
    bool ended() const { return ended_; }
    const ResponseInfo& info() const { return info_; }
    const std::vector<Item>& output() const { return output_; }
    const TokenUsage& usage() const { return usage_; }

private:
    struct OpenCall {
        int index;                // the provider's tool call index
        std::size_t output_index;
    };

    OutputRef ref(std::size_t output_index) const;
    void open_text_item();
    void close_item(std::size_t output_index, ItemStatus status);

    ResponseInfo info_;
    ResponseEvents& events_;
    ResponseStreamListener& listener_;
    std::vector<Item> output_;
    std::optional<std::size_t> open_text_;  // output index of the message item being streamed
    std::vector<OpenCall> open_calls_;
    TokenUsage usage_;
    bool ended_ = false;
};

}  // namespace voxgate::protocol
