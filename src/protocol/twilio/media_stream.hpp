#pragma once
// Twilio Media Streams, bidirectional <Connect><Stream> (docs/wire-protocols.md section 4):
// the messages Twilio sends, decoded into typed structs, and the three it accepts back
// (media, mark, clear). Pure: text in, structs out, no I/O.
//
// Twilio writes sequenceNumber, media.chunk and media.timestamp as strings holding
// integers; both that and a JSON integer are accepted. Every refusal is a ProtocolError
// whose code is stable (invalid_json, invalid_event, missing_required_parameter,
// invalid_type, invalid_value, unknown_event_type) and whose param names the field.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "protocol/protocol_error.hpp"

namespace voxgate::protocol::twilio {

// Twilio's first message: the protocol version of the stream.
struct Connected {
    std::string protocol;  // "Call"
    std::string version;   // "1.0.0"
};

struct MediaFormat {
    std::string encoding;  // always "audio/x-mulaw" today
    std::int64_t sample_rate = 0;
    std::int64_t channels = 0;
};

struct Start {
    std::string stream_sid;  // "MZ...": every message to Twilio names it
    std::string call_sid;
    std::string account_sid;
    std::vector<std::string> tracks;  // "inbound", "outbound"
    MediaFormat media_format;
    // <Parameter name value> of the TwiML, in the order Twilio sent them (all strings).
    std::vector<std::pair<std::string, std::string>> custom_parameters;
    // The value of parameter `name`, nullopt when absent.
    std::optional<std::string_view> parameter(std::string_view name) const;
};

struct Media {
    std::string track;          // "inbound" (or "outbound" with both_tracks)
    std::int64_t chunk = 0;     // from 1, +1 per message; 0 when absent
    std::int64_t timestamp = 0; // ms from the stream's start; 0 when absent
    std::string payload;        // base64 of raw mu-law 8 kHz mono, not decoded here
};

// Twilio echoes a mark we sent once the audio queued before it has played (or a clear flushed it).
struct Mark {
    std::string name;
};

struct Dtmf {
    std::string track;  // "inbound_track"
    std::string digit;  // one of 0-9, *, #, A-D
};

struct Stop {
    std::string account_sid;
    std::string call_sid;
};

using Inbound = std::variant<Connected, Start, Media, Mark, Dtmf, Stop>;

struct Decoded {
    std::optional<Inbound> message;     // set on success
    std::optional<ProtocolError> error;  // set on failure
    std::string stream_sid;              // the top-level streamSid ("" when absent)
};

// Decodes one text frame from Twilio. An `event` that is not one of the six above is
// refused with unknown_event_type (the caller may choose to ignore those).
Decoded decode(std::string_view text);

// The frames to Twilio. `payload` is base64 mu-law (a Realtime audio/pcmu delta as is).
std::string encode_media(std::string_view stream_sid, std::string_view payload);
std::string encode_mark(std::string_view stream_sid, std::string_view name);
std::string encode_clear(std::string_view stream_sid);

}  // namespace voxgate::protocol::twilio
