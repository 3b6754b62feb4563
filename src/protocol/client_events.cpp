#include "protocol/client_events.hpp"

#include <array>

#include "audio/base64.hpp"
#include "protocol/json_fields.hpp"

namespace voxgate::protocol {
namespace {

// Realtime client events voxgate knows but does not implement: refused by name, so a
// client learns "not here" rather than "you misspelled it".
constexpr std::array unsupported_events = {
    std::string_view("transcription_session.update"),
};

std::optional<std::string> item_id_field(Fields& fields) { return fields.string("item_id", true); }

std::optional<ClientEventBody> decode_session_update(Fields& fields, const Json& event,
                                                     std::optional<ProtocolError>& error) {
    if (!fields.object("session", true)) return std::nullopt;
    auto patch = decode_session_patch(event["session"], error);
    if (!patch) return std::nullopt;
    return SessionUpdate{std::move(*patch)};
}

std::optional<ClientEventBody> decode_item_create(Fields& fields, const Json& event,
                                                  std::optional<ProtocolError>& error) {
    auto previous = fields.string("previous_item_id");
    if (!fields.object("item", true)) return std::nullopt;
    auto item = decode_item(event["item"], "item", error);
    if (!item) return std::nullopt;
    return ItemCreate{std::move(*item), std::move(previous)};
}

std::optional<ClientEventBody> decode_item_truncate(Fields& fields) {
    auto item_id = item_id_field(fields);
    auto content_index = fields.integer("content_index", true);
    auto text_end = fields.integer("text_end");
    // audio_end_ms is required by the protocol; a client that says text_end need not invent one.
    auto audio_end_ms = fields.integer("audio_end_ms", !text_end);
    if (!fields.ok()) return std::nullopt;
    if (*content_index < 0) fields.fail(codes::invalid_value, "content_index", "'content_index' must be >= 0");
    if (audio_end_ms && *audio_end_ms < 0) fields.fail(codes::invalid_value, "audio_end_ms", "'audio_end_ms' must be >= 0");
    if (text_end && *text_end < 0) fields.fail(codes::invalid_value, "text_end", "'text_end' must be >= 0");
    if (!fields.ok()) return std::nullopt;
    return ItemTruncate{std::move(*item_id), *content_index, audio_end_ms.value_or(0), text_end};
}

void read_metadata(Fields& fields, ResponseParams& params) {
    const Json* metadata = fields.object("metadata");
    if (!metadata) return;
    if (metadata->size() > max_metadata_entries) {
        fields.fail(codes::invalid_value, "metadata", "'response.metadata' may hold at most 16 entries");
        return;
    }
    for (const auto& [key, value] : metadata->items()) {
        if (!value.is_string() || key.size() > 64 || value.get_ref<const std::string&>().size() > 512) {
            fields.fail(codes::invalid_value, "metadata",
                        "'response.metadata' must map keys of up to 64 characters to strings of up to 512");
            return;
        }
    }
    params.metadata = *metadata;
}

std::optional<ClientEventBody> decode_response_create(Fields& event_fields, std::optional<ProtocolError>& error) {
    ResponseParams params;
    const Json* response = event_fields.object("response");
    if (!response) {
        if (!event_fields.ok()) return std::nullopt;
        return ResponseCreate{std::move(params)};
    }
    Fields fields = event_fields.child(*response, "response");
    params.instructions = read_instructions(fields, "instructions");
    params.output = read_output_modalities(fields, "output_modalities");
    if (!params.output) params.output = read_output_modalities(fields, "modalities");
    params.tools = read_tools(fields, "tools");
    params.tool_choice = read_tool_choice(fields, "tool_choice");
    params.temperature = read_temperature(fields, "temperature");
    params.max_output_tokens = read_token_limit(fields, "max_output_tokens");
    if (!params.max_output_tokens) params.max_output_tokens = read_token_limit(fields, "max_response_output_tokens");
    read_metadata(fields, params);
    if (auto conversation = fields.string("conversation")) {
        if (*conversation == "none") params.out_of_band = true;
        else if (*conversation != "auto")
            fields.fail(codes::invalid_value, "conversation", "'response.conversation' must be \"auto\" or \"none\"");
    }
    if (const Json* input = fields.array("input")) {
        std::vector<InputEntry> entries;
        for (std::size_t i = 0; i < input->size() && !error; ++i) {
            if (auto entry = decode_input_entry((*input)[i], indexed("response.input", i), error))
                entries.push_back(std::move(*entry));
        }
        params.input = std::move(entries);
    }
    if (!fields.ok()) return std::nullopt;
    return ResponseCreate{std::move(params)};
}

std::optional<ClientEventBody> decode_body(std::string_view type, Fields& fields, const Json& event,
                                           std::optional<ProtocolError>& error) {
    if (type == "session.update") return decode_session_update(fields, event, error);
    if (type == "conversation.item.create") return decode_item_create(fields, event, error);
    if (type == "conversation.item.delete") {
        if (auto id = item_id_field(fields)) return ItemDelete{std::move(*id)};
        return std::nullopt;
    }
    if (type == "conversation.item.retrieve") {
        if (auto id = item_id_field(fields)) return ItemRetrieve{std::move(*id)};
        return std::nullopt;
    }
    if (type == "conversation.item.truncate") return decode_item_truncate(fields);
    if (type == "response.create") return decode_response_create(fields, error);
    if (type == "input_audio_buffer.append") {
        const std::string* audio = fields.string_ref("audio", true);
        if (!audio) return std::nullopt;
        AudioAppend append;
        append.audio.reserve(audio::base64_decoded_size(audio->size()));
        if (!audio::base64_decode(*audio, append.audio)) {
            fields.fail(codes::invalid_audio, "audio", "'audio' must be standard base64 (RFC 4648, padded)");
            return std::nullopt;
        }
        return append;
    }
    if (type == "input_audio_buffer.commit") return AudioCommit{};
    if (type == "input_audio_buffer.clear") return AudioClear{};
    if (type == "output_audio_buffer.clear") return OutputAudioClear{};
    if (type == "response.cancel") {
        auto response_id = fields.string("response_id");
        if (!fields.ok()) return std::nullopt;
        return ResponseCancel{response_id.value_or("")};
    }
    for (auto unsupported : unsupported_events) {
        if (type == unsupported) {
            error = invalid_request(codes::unsupported_event,
                                    "'" + std::string(type) + "' is not supported by voxgate", "type");
            return std::nullopt;
        }
    }
    error = invalid_request(codes::unknown_event_type, "unknown event type '" + shortened(type) + "'", "type");
    return std::nullopt;
}

}  // namespace

std::string peek_event_id(std::string_view text) {
    text = text.substr(0, peek_event_id_scan_bytes);
    int depth = 0;
    bool expecting_key = false;  // inside the top-level object, where a key may start
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '"') {
            // A string: find its end (skipping escapes); bail out if it runs past the scan.
            std::size_t end = i + 1;
            bool escaped = false;
            for (; end < text.size() && text[end] != '"'; ++end)
                if (text[end] == '\\') {
                    escaped = true;
                    ++end;
                }
            if (end >= text.size()) return {};
            const std::string_view string = text.substr(i + 1, end - i - 1);
            const bool is_key = depth == 1 && expecting_key;
            i = end;
            if (!is_key) continue;
            expecting_key = false;
            if (escaped || string != "event_id") continue;
            std::size_t value = text.find_first_not_of(" \t\r\n", end + 1);
            if (value == std::string_view::npos || text[value] != ':') return {};
            value = text.find_first_not_of(" \t\r\n", value + 1);
            if (value == std::string_view::npos || text[value] != '"') return {};
            const std::size_t close = text.find_first_of("\"\\", value + 1);
            if (close == std::string_view::npos || text[close] != '"') return {};
            const std::size_t length = close - value - 1;
            if (length > max_event_id_length) return {};
            return std::string(text.substr(value + 1, length));
        }
        if (c == '{' || c == '[') {
            ++depth;
            expecting_key = depth == 1 && c == '{';
        } else if (c == '}' || c == ']') {
            --depth;
        } else if (c == ',' && depth == 1) {
            expecting_key = true;
        }
    }
    return {};
}

DecodeResult decode_client_event(std::string_view text) {
    if (nesting_exceeds(text, max_json_depth))
        return invalid_request(codes::invalid_json,
                               "event nests arrays/objects deeper than " + std::to_string(max_json_depth) + " levels");
    Json event = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (event.is_discarded()) return invalid_request(codes::invalid_json, "event is not valid JSON");
    if (!event.is_object()) return invalid_request(codes::invalid_event, "event must be a JSON object");

    std::optional<ProtocolError> error;
    std::string event_id;
    {
        Fields fields(event, "", error);
        if (auto id = fields.string("event_id")) {
            if (id->size() > max_event_id_length) fields.fail(codes::invalid_value, "event_id", "'event_id' is too long");
            else event_id = std::move(*id);
        }
    }
    if (error) return std::move(*error);

    Fields fields(event, "", error);
    std::optional<ClientEventBody> body;
    if (auto type = fields.string("type", true)) body = decode_body(*type, fields, event, error);
    if (error || !body) {
        ProtocolError failure = error ? std::move(*error) : invalid_request(codes::invalid_event, "invalid event");
        failure.event_id = std::move(event_id);
        return failure;
    }
    return ClientEvent{std::move(event_id), std::move(*body)};
}

}  // namespace voxgate::protocol
