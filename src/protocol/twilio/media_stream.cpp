#include "protocol/twilio/media_stream.hpp"

#include <charconv>

#include "protocol/json_fields.hpp"
#include "protocol/json_text.hpp"

namespace voxgate::protocol::twilio {

namespace {

// Twilio frames are small; anything nested deeper is not from Twilio.
constexpr std::size_t max_depth = 8;

// A required string field that must also be non-empty.
std::string non_empty(Fields& fields, std::string_view key) {
    auto value = fields.string(key, true);
    if (value && value->empty()) fields.fail(codes::invalid_value, key, "'" + fields.param(key) + "' must not be empty");
    return value.value_or("");
}

// "12" or 12; absent = 0. Twilio sends these counters as strings of digits.
std::int64_t counter(Fields& fields, std::string_view key) {
    const Json* value = fields.get(key);
    if (!value) return 0;
    if (value->is_number_integer()) return value->get<std::int64_t>();
    if (value->is_string()) {
        const auto& text = value->get_ref<const std::string&>();
        std::int64_t number = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
        if (ec == std::errc{} && end == text.data() + text.size() && number >= 0) return number;
    }
    fields.fail(codes::invalid_value, key, "'" + fields.param(key) + "' must be a non-negative integer (as a string)");
    return 0;
}

Start decode_start(Fields& fields) {
    Start start;
    start.stream_sid = non_empty(fields, "streamSid");
    start.call_sid = fields.string("callSid").value_or("");
    start.account_sid = fields.string("accountSid").value_or("");
    if (const Json* tracks = fields.array("tracks")) {
        for (std::size_t i = 0; i < tracks->size(); ++i) {
            const Json& track = (*tracks)[i];
            if (!track.is_string()) {
                fields.fail(codes::invalid_type, "tracks", "'" + fields.param("tracks") + "' must be an array of strings");
                break;
            }
            start.tracks.push_back(track.get<std::string>());
        }
    }
    if (const Json* format = fields.object("mediaFormat", true)) {
        Fields format_fields = fields.child(*format, fields.param("mediaFormat"));
        start.media_format.encoding = non_empty(format_fields, "encoding");
        start.media_format.sample_rate = format_fields.integer("sampleRate", true).value_or(0);
        start.media_format.channels = format_fields.integer("channels").value_or(1);
    }
    if (const Json* parameters = fields.object("customParameters")) {
        for (const auto& [name, value] : parameters->items()) {
            if (!value.is_string()) {
                fields.fail(codes::invalid_type, "customParameters",
                            "'" + fields.param("customParameters") + "." + name + "' must be a string");
                break;
            }
            start.custom_parameters.emplace_back(name, value.get<std::string>());
        }
    }
    return start;
}

Media decode_media(Fields& fields, Json& media) {
    Media decoded;
    decoded.track = fields.string("track").value_or("inbound");
    decoded.chunk = counter(fields, "chunk");
    decoded.timestamp = counter(fields, "timestamp");
    if (fields.string_ref("payload", true) && fields.ok())
        decoded.payload = std::move(media["payload"].get_ref<std::string&>());  // up to a frame's size: moved, not copied
    return decoded;
}

}  // namespace

std::optional<std::string_view> Start::parameter(std::string_view name) const {
    for (const auto& [key, value] : custom_parameters)
        if (key == name) return std::string_view(value);
    return std::nullopt;
}

Decoded decode(std::string_view text) {
    Decoded result;
    auto fail = [&](std::string_view code, std::string message) {
        result.error = invalid_request(code, std::move(message));
        return std::move(result);
    };
    if (nesting_exceeds(text, max_depth)) return fail(codes::invalid_json, "message nests deeper than a Twilio message");
    Json event = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (event.is_discarded()) return fail(codes::invalid_json, "message is not JSON");
    if (!event.is_object()) return fail(codes::invalid_event, "message is not a JSON object");

    Fields fields(event, "", result.error);
    const std::string type = fields.string("event", true).value_or("");
    result.stream_sid = fields.string("streamSid").value_or("");
    counter(fields, "sequenceNumber");
    if (!fields.ok()) return result;

    // The body of each event is the object named after it.
    auto body = [&](std::string_view key) -> Json* {
        if (!fields.object(key, true)) return nullptr;
        return &event[std::string(key)];
    };
    if (type == "connected") {
        result.message = Connected{fields.string("protocol").value_or(""), fields.string("version").value_or("")};
    } else if (type == "start") {
        if (Json* start = body("start")) {
            Fields start_fields = fields.child(*start, "start");
            result.message = decode_start(start_fields);
        }
    } else if (type == "media") {
        if (Json* media = body("media")) {
            Fields media_fields = fields.child(*media, "media");
            result.message = decode_media(media_fields, *media);
        }
    } else if (type == "mark") {
        if (Json* mark = body("mark")) {
            Fields mark_fields = fields.child(*mark, "mark");
            result.message = Mark{mark_fields.string("name", true).value_or("")};
        }
    } else if (type == "dtmf") {
        if (Json* dtmf = body("dtmf")) {
            Fields dtmf_fields = fields.child(*dtmf, "dtmf");
            Dtmf decoded{dtmf_fields.string("track").value_or(""), non_empty(dtmf_fields, "digit")};
            result.message = std::move(decoded);
        }
    } else if (type == "stop") {
        Stop stop;
        if (const Json* details = fields.object("stop")) {
            Fields stop_fields = fields.child(*details, "stop");
            stop.account_sid = stop_fields.string("accountSid").value_or("");
            stop.call_sid = stop_fields.string("callSid").value_or("");
        }
        result.message = std::move(stop);
    } else {
        fields.fail(codes::unknown_event_type, "event", "unknown Twilio event '" + type + "'");
    }
    if (!fields.ok()) result.message.reset();
    return result;
}

namespace {

std::string frame(std::string_view event, std::string_view stream_sid, std::size_t reserve) {
    std::string out;
    out.reserve(48 + stream_sid.size() + reserve);
    out.append(R"({"event":")").append(event).append(R"(","streamSid":")");
    append_json_escaped(out, stream_sid);
    out.push_back('"');
    return out;
}

}  // namespace

std::string encode_media(std::string_view stream_sid, std::string_view payload) {
    std::string out = frame("media", stream_sid, payload.size() + 24);
    out.append(R"(,"media":{"payload":")");
    append_json_escaped(out, payload);
    out.append("\"}}");
    return out;
}

std::string encode_mark(std::string_view stream_sid, std::string_view name) {
    std::string out = frame("mark", stream_sid, name.size() + 20);
    out.append(R"(,"mark":{"name":")");
    append_json_escaped(out, name);
    out.append("\"}}");
    return out;
}

std::string encode_clear(std::string_view stream_sid) {
    std::string out = frame("clear", stream_sid, 1);
    out.push_back('}');
    return out;
}

}  // namespace voxgate::protocol::twilio
