#pragma once
// Client events (docs/wire-protocols.md 1.6) decoded into typed structs. Pure: text in, a
// ClientEvent or a ProtocolError out (with the client's event_id when it had one).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/items.hpp"
#include "protocol/protocol_error.hpp"
#include "protocol/session_settings.hpp"

namespace voxgate::protocol {

struct SessionUpdate {
    SessionPatch patch;
};

struct ItemCreate {
    Item item;  // id empty when the client gave none
    // nullopt = append; "root" = prepend; otherwise insert after that item.
    std::optional<std::string> previous_item_id;
};

struct ItemDelete {
    std::string item_id;
};

struct ItemRetrieve {
    std::string item_id;
};

// conversation.item.truncate for text. `audio_end_ms` has no meaning for text and is only
// echoed back; the cut is `text_end` code points when the client sends that voxgate
// extension, else the text voxgate had written to the socket when the event arrived
// (the part the user can have seen). See SessionEngine::truncate_item.
struct ItemTruncate {
    std::string item_id;
    std::int64_t content_index = 0;
    std::int64_t audio_end_ms = 0;
    std::optional<std::int64_t> text_end;
};

// response.create `response` (GA RealtimeResponseCreateParams); absent fields fall back
// to the session's settings.
struct ResponseParams {
    std::optional<std::string> instructions;
    std::optional<OutputModality> output;  // output_modalities; unset = the session's
    std::optional<Json> tools;
    std::optional<Json> tool_choice;
    std::optional<std::optional<double>> temperature;
    std::optional<TokenLimit> max_output_tokens;
    Json metadata;              // null or an object of strings, echoed in the response
    bool out_of_band = false;   // conversation:"none": the output is not added to the history
    // Given: the model sees these instead of the conversation ([] = nothing).
    std::optional<std::vector<InputEntry>> input;
};

struct ResponseCreate {
    ResponseParams response;
};

struct ResponseCancel {
    std::string response_id;  // "" = whichever response is active
};

// input_audio_buffer.append: `audio` already base64-decoded (bad base64 is refused here);
// whether the bytes fit the session's format is the session's to check.
struct AudioAppend {
    std::vector<std::uint8_t> audio;
};
struct AudioCommit {};
struct AudioClear {};
// output_audio_buffer.clear: stop the reply being spoken now (OpenAI documents it for
// WebRTC/SIP; over a WebSocket voxgate honours it too: the audio not yet sent is dropped).
struct OutputAudioClear {};

using ClientEventBody = std::variant<SessionUpdate, ItemCreate, ItemDelete, ItemRetrieve, ItemTruncate, ResponseCreate,
                                     ResponseCancel, AudioAppend, AudioCommit, AudioClear, OutputAudioClear>;

struct ClientEvent {
    std::string event_id;  // "" when the client sent none
    ClientEventBody body;
};

using DecodeResult = std::variant<ClientEvent, ProtocolError>;

DecodeResult decode_client_event(std::string_view text);

inline constexpr std::size_t max_event_id_length = 512;

// The event_id of an event that will not be decoded (refused by the rate limiter), found
// without parsing the event: only the first peek_event_id_scan_bytes bytes are looked at,
// and the id is returned only when it is a top-level "event_id" key with a plain string
// value (no escapes) before that point. Otherwise "": the refusal is sent without an id.
// Cost is bounded whatever the message size, so refusing an event stays O(1).
inline constexpr std::size_t peek_event_id_scan_bytes = 1024;
std::string peek_event_id(std::string_view text);
inline constexpr std::size_t max_metadata_entries = 16;

}  // namespace voxgate::protocol
