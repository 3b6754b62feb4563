#include "protocol/session_settings.hpp"

#include <optional>
#include <string>

#include "audio/audio_format.hpp"

namespace voxgate::protocol {

SessionSettings SessionSettings::from_config(const SessionsConfig& config) {
    SessionSettings settings;
    settings.instructions = config.instructions;
    settings.max_output_tokens.tokens = config.max_output_tokens;
    return settings;
}

OrderedJson token_limit_json(const TokenLimit& limit) {
    if (limit.tokens) return *limit.tokens;
    return "inf";
}

OrderedJson session_json(std::string_view session_id, std::string_view model, const SessionSettings& settings) {
    OrderedJson out;
    out["id"] = session_id;
    out["object"] = "realtime.session";
    out["type"] = "realtime";
    out["model"] = model;
    out["instructions"] = settings.instructions;
    out["output_modalities"] = output_modalities_json(settings.output);
    out["tools"] = OrderedJson(settings.tools);
    out["tool_choice"] = OrderedJson(settings.tool_choice);
    out["max_output_tokens"] = token_limit_json(settings.max_output_tokens);
    if (settings.temperature) out["temperature"] = *settings.temperature;
    if (!settings.audio.is_null()) out["audio"] = OrderedJson(settings.audio);
    return out;
}

std::optional<std::string> read_instructions(Fields& fields, std::string_view key) {
    return fields.string(key);
}

std::optional<Json> read_tools(Fields& fields, std::string_view key) {
    const Json* tools = fields.array(key);
    if (!tools) return std::nullopt;
    if (tools->size() > max_tools) {
        fields.fail(codes::invalid_value, key, "'" + fields.param(key) + "' may hold at most " +
                                                   std::to_string(max_tools) + " tools");
        return std::nullopt;
    }
    Json normalized = Json::array();
    for (std::size_t i = 0; i < tools->size(); ++i) {
        const std::string path = indexed(fields.param(key), i);
        const Json& tool = (*tools)[i];
        if (!tool.is_object()) {
            fields.fail(codes::invalid_type, key, "'" + path + "' must be an object");
            return std::nullopt;
        }
        Fields tool_fields = fields.child(tool, path);
        auto type = tool_fields.string("type", true);
        if (type && *type != "function") {
            tool_fields.fail(*type == "mcp" ? codes::unsupported_tool_type : codes::invalid_value, "type",
                             "tool type '" + shortened(*type) + "' is not supported; only 'function' tools are");
        }
        auto name = tool_fields.string("name", true);
        if (name && (name->empty() || name->size() > 64))
            tool_fields.fail(codes::invalid_value, "name", "'" + path + ".name' must be 1 to 64 characters");
        auto description = tool_fields.string("description");
        const Json* parameters = tool_fields.object("parameters");
        if (!fields.ok()) return std::nullopt;
        Json out = {{"type", "function"}, {"name", *name}};
        if (description) out["description"] = *description;
        if (parameters) out["parameters"] = *parameters;
        normalized.push_back(std::move(out));
    }
    return normalized;
}

std::optional<Json> read_tool_choice(Fields& fields, std::string_view key) {
    const Json* choice = fields.get(key);
    if (!choice) return std::nullopt;
    if (choice->is_string()) {
        const auto& mode = choice->get_ref<const std::string&>();
        if (mode == "auto" || mode == "none" || mode == "required") return *choice;
        fields.fail(codes::invalid_value, key,
                    "'" + fields.param(key) + "' must be auto, none, required or {\"type\":\"function\",\"name\":...}");
        return std::nullopt;
    }
    if (!choice->is_object()) {
        fields.wrong_type(key, "a string or an object");
        return std::nullopt;
    }
    Fields choice_fields = fields.child(*choice, fields.param(key));
    auto type = choice_fields.string("type", true);
    if (type && *type != "function")
        choice_fields.fail(*type == "mcp" ? codes::unsupported_tool_type : codes::invalid_value, "type",
                           "tool_choice type '" + shortened(*type) + "' is not supported; only 'function' is");
    auto name = choice_fields.string("name", true);
    if (!fields.ok()) return std::nullopt;
    return Json{{"type", "function"}, {"name", *name}};
}

std::optional<TokenLimit> read_token_limit(Fields& fields, std::string_view key) {
    const Json* limit = fields.get(key);
    if (!limit) return std::nullopt;
    if (limit->is_string()) {
        if (*limit == "inf") return TokenLimit{};
    } else if (limit->is_number_integer()) {
        auto tokens = limit->get<std::int64_t>();
        if (tokens >= 1 && tokens <= max_output_tokens_limit) return TokenLimit{static_cast<int>(tokens)};
    } else if (!limit->is_number()) {
        fields.wrong_type(key, "an integer or \"inf\"");
        return std::nullopt;
    }
    fields.fail(codes::invalid_value, key,
                "'" + fields.param(key) + "' must be an integer from 1 to " +
                    std::to_string(max_output_tokens_limit) + " or \"inf\"");
    return std::nullopt;
}

std::optional<std::optional<double>> read_temperature(Fields& fields, std::string_view key) {
    if (fields.ok() && fields.is_null(key)) return std::optional<double>{};
    auto temperature = fields.number(key);
    if (!temperature) return std::nullopt;
    if (*temperature < 0 || *temperature > 2) {
        fields.fail(codes::invalid_value, key, "'" + fields.param(key) + "' must be between 0 and 2");
        return std::nullopt;
    }
    return temperature;
}

std::optional<OutputModality> read_output_modalities(Fields& fields, std::string_view key) {
    const Json* modalities = fields.array(key);
    if (!modalities) return std::nullopt;
    const std::string expected = "'" + fields.param(key) + "' must be [\"text\"] or [\"audio\"]";
    bool text = false;
    bool audio = false;
    for (const auto& modality : *modalities) {
        if (!modality.is_string()) {
            fields.fail(codes::invalid_type, key, "'" + fields.param(key) + "' must be an array of strings");
            return std::nullopt;
        }
        if (modality == "audio") audio = true;
        else if (modality == "text") text = true;
        else {
            fields.fail(codes::invalid_value, key, expected);
            return std::nullopt;
        }
    }
    if (!text && !audio) {
        fields.fail(codes::invalid_value, key, expected);
        return std::nullopt;
    }
    // The beta's ["text", "audio"] asks for speech with its transcript: what GA's ["audio"] gives.
    return audio ? OutputModality::audio : OutputModality::text;
}

namespace {

// Beta audio format strings and their GA objects (docs/wire-protocols.md 1.3).
std::optional<Json> ga_audio_format(const std::string& beta) {
    if (beta == "pcm16") return Json{{"type", "audio/pcm"}, {"rate", 24000}};
    if (beta == "g711_ulaw") return Json{{"type", "audio/pcmu"}};
    if (beta == "g711_alaw") return Json{{"type", "audio/pcma"}};
    return std::nullopt;
}

bool is_ga_audio_format(const Json& format) {
    if (!format.is_object()) return false;
    auto type = format.find("type");
    return type != format.end() && type->is_string() && audio::format_from_mime(type->get<std::string>()).has_value();
}

// A GA format object may carry a `rate`; the protocol fixes it per type (audio/pcm 24 kHz,
// G.711 8 kHz), so any other value is refused rather than silently played at the wrong speed.
// Returns the error message, or nothing when the rate is absent or right.
std::optional<std::string> wrong_rate(const Json& format) {
    const auto rate = format.find("rate");
    if (rate == format.end()) return std::nullopt;
    const std::string type = format["type"].get<std::string>();
    const int expected = audio::format_from_mime(type)->sample_rate;  // is_ga_audio_format accepted the type
    if (rate->is_number_integer() && rate->get<long long>() == expected) return std::nullopt;
    return " must be " + std::to_string(expected) + " for " + type + " (the protocol fixes the rate)";
}

// turn_detection: null, or {type: "server_vad", threshold 0..1, prefix_padding_ms,
// silence_duration_ms, create_response, interrupt_response}.
struct FieldProblem {
    std::string key;       // relative to turn_detection: "" for the object itself, ".threshold", ...
    std::string expected;  // "'<param>' must be " + expected
};

std::optional<FieldProblem> turn_detection_problem(const Json& value) {
    if (value.is_null()) return std::nullopt;
    if (!value.is_object()) return FieldProblem{"", "an object or null"};
    auto type = value.find("type");
    if (type != value.end() && (!type->is_string() || *type != "server_vad"))
        return FieldProblem{".type", "\"server_vad\" (semantic_vad is not supported)"};
    auto number_in = [&](const char* key, double low, double high) {
        auto it = value.find(key);
        return it == value.end() || (it->is_number() && it->get<double>() >= low && it->get<double>() <= high);
    };
    if (!number_in("threshold", 0, 1)) return FieldProblem{".threshold", "a number from 0 to 1"};
    if (!number_in("prefix_padding_ms", 0, 5000))
        return FieldProblem{".prefix_padding_ms", "a number of milliseconds from 0 to 5000"};
    if (!number_in("silence_duration_ms", 0, 10000))
        return FieldProblem{".silence_duration_ms", "a number of milliseconds from 0 to 10000"};
    for (const char* key : {"create_response", "interrupt_response"}) {
        auto it = value.find(key);
        if (it != value.end() && !it->is_boolean()) return FieldProblem{std::string(".") + key, "a boolean"};
    }
    return std::nullopt;
}

// Fails `fields` at `<key><problem.key>` when `value` is not a valid turn_detection.
bool check_turn_detection(Fields& fields, std::string_view key, const Json& value) {
    auto problem = turn_detection_problem(value);
    if (!problem) return true;
    const std::string at = std::string(key) + problem->key;
    fields.fail(codes::invalid_value, at, "'" + fields.param(at) + "' must be " + problem->expected);
    return false;
}

// Reads one side of the GA `audio` object ("input" or "output") into patch.audio[side].
// Only known keys are kept, so repeated updates cannot grow the stored object.
void read_audio_side(Fields& audio_fields, std::string_view side, Json& patch_side) {
    const Json* object = audio_fields.object(side);
    if (!object) return;
    Fields fields = audio_fields.child(*object, audio_fields.param(side));
    auto copy_if_present = [&](std::string_view key, bool (*valid)(const Json&), const char* expected) {
        auto it = object->find(key);
        if (it == object->end() || !fields.ok()) return;
        if (!valid(*it)) return fields.fail(codes::invalid_value, key, "'" + fields.param(key) + "' must be " + expected);
        patch_side[std::string(key)] = *it;
    };
    auto null_or_object = [](const Json& v) { return v.is_null() || v.is_object(); };
    copy_if_present("format", is_ga_audio_format, "an audio format object (audio/pcm, audio/pcmu, audio/pcma)");
    if (fields.ok() && patch_side.contains("format")) {
        if (auto problem = wrong_rate(patch_side["format"]))
            return fields.fail(codes::invalid_value, "format.rate", "'" + fields.param("format.rate") + "'" + *problem);
    }
    if (side == "input") {
        copy_if_present("noise_reduction", null_or_object, "an object or null");
        copy_if_present("transcription", null_or_object, "an object or null");
        if (auto it = object->find("turn_detection"); it != object->end() && fields.ok()) {
            if (!check_turn_detection(fields, "turn_detection", *it)) return;
            patch_side["turn_detection"] = *it;
        }
    } else {
        copy_if_present("voice", [](const Json& v) { return v.is_string() || v.is_object(); }, "a string or an object");
        copy_if_present("speed", [](const Json& v) { return v.is_number(); }, "a number");
    }
}

// The beta's flat audio fields, stored under their GA place in `audio`.
void read_beta_audio(Fields& fields, const Json& session, Json& audio) {
    auto place = [&](std::string_view key, const char* side, const char* ga_key, bool is_format) {
        auto it = session.find(key);
        if (it == session.end() || !fields.ok()) return;
        Json value = *it;
        if (is_format) {
            auto format = value.is_string() ? ga_audio_format(value.get<std::string>()) : std::nullopt;
            if (!format)
                return fields.fail(codes::invalid_value, key, "'" + fields.param(key) + "' must be pcm16, g711_ulaw or g711_alaw");
            value = *format;
        } else if (std::string_view(ga_key) == "voice") {
            if (!value.is_string()) return fields.wrong_type(key, "a string");
        } else if (std::string_view(ga_key) == "turn_detection") {
            if (!check_turn_detection(fields, key, value)) return;
        } else if (!value.is_null() && !value.is_object()) {
            return fields.wrong_type(key, "an object or null");
        }
        audio[side][ga_key] = std::move(value);
    };
    place("voice", "output", "voice", false);
    place("input_audio_format", "input", "format", true);
    place("output_audio_format", "output", "format", true);
    place("turn_detection", "input", "turn_detection", false);
    place("input_audio_transcription", "input", "transcription", false);
    place("input_audio_noise_reduction", "input", "noise_reduction", false);
}

}  // namespace

std::optional<SessionPatch> decode_session_patch(const Json& session, std::optional<ProtocolError>& error) {
    if (!session.is_object()) {
        error = invalid_request(codes::invalid_type, "'session' must be an object", "session");
        return std::nullopt;
    }
    Fields fields(session, "session", error);
    SessionPatch patch;
    if (auto type = fields.string("type")) {
        if (*type == "transcription")
            fields.fail(codes::unsupported_session_type, "type", "transcription sessions are not supported");
        else if (*type != "realtime")
            fields.fail(codes::invalid_value, "type", "'session.type' must be \"realtime\"");
    }
    if (auto model = fields.string("model")) {
        if (model->empty() || model->size() > max_model_name_length)
            fields.fail(codes::invalid_value, "model", "'session.model' must be 1 to 256 characters");
        else
            patch.model = std::move(model);
    }
    patch.instructions = read_instructions(fields, "instructions");
    patch.output = read_output_modalities(fields, "output_modalities");
    if (!patch.output) patch.output = read_output_modalities(fields, "modalities");
    patch.tools = read_tools(fields, "tools");
    patch.tool_choice = read_tool_choice(fields, "tool_choice");
    patch.temperature = read_temperature(fields, "temperature");
    patch.max_output_tokens = read_token_limit(fields, "max_output_tokens");
    if (!patch.max_output_tokens) patch.max_output_tokens = read_token_limit(fields, "max_response_output_tokens");
    if (const Json* audio = fields.object("audio")) {
        Fields audio_fields = fields.child(*audio, "session.audio");
        read_audio_side(audio_fields, "input", patch.audio["input"]);
        read_audio_side(audio_fields, "output", patch.audio["output"]);
    }
    read_beta_audio(fields, session, patch.audio);
    if (error) return std::nullopt;
    return patch;
}

void apply_patch(SessionSettings& settings, const SessionPatch& patch) {
    if (patch.instructions) settings.instructions = *patch.instructions;
    if (patch.output) settings.output = *patch.output;
    if (patch.tools) settings.tools = *patch.tools;
    if (patch.tool_choice) settings.tool_choice = *patch.tool_choice;
    if (patch.temperature) settings.temperature = *patch.temperature;
    if (patch.max_output_tokens) settings.max_output_tokens = *patch.max_output_tokens;
    for (const char* side : {"input", "output"}) {
        auto it = patch.audio.find(side);
        if (it == patch.audio.end() || it->empty()) continue;
        if (settings.audio.is_null()) settings.audio = Json::object();
        for (const auto& [key, value] : it->items()) settings.audio[side][key] = value;
    }
}

audio::AudioFormat input_audio_format(const SessionSettings& settings) {
    if (!settings.audio.is_object()) return audio::pcm24k;
    const Json& input = settings.audio.value("input", Json::object());
    auto format = input.find("format");
    if (format == input.end() || !format->is_object()) return audio::pcm24k;
    // Stored formats were checked by decode_session_patch: the type is one of the three.
    return audio::format_from_mime(format->value("type", "audio/pcm")).value_or(audio::pcm24k);
}

audio::AudioFormat output_audio_format(const SessionSettings& settings) {
    if (!settings.audio.is_object()) return audio::pcm24k;
    const Json& output = settings.audio.value("output", Json::object());
    auto format = output.find("format");
    if (format == output.end() || !format->is_object()) return audio::pcm24k;
    return audio::format_from_mime(format->value("type", "audio/pcm")).value_or(audio::pcm24k);
}

std::string output_voice(const SessionSettings& settings) {
    if (!settings.audio.is_object()) return {};
    const Json& output = settings.audio.value("output", Json::object());
    auto voice = output.find("voice");
    if (voice == output.end() || !voice->is_string()) return {};  // a custom-voice object: the default voice
    return voice->get<std::string>();
}

OrderedJson output_modalities_json(OutputModality output) {
    return OrderedJson::array({output == OutputModality::audio ? "audio" : "text"});
}

std::optional<TurnDetection> turn_detection(const SessionSettings& settings) {
    TurnDetection detection;
    if (!settings.audio.is_object()) return detection;
    const Json& input = settings.audio.value("input", Json::object());
    auto stored = input.find("turn_detection");
    if (stored == input.end()) return detection;
    if (!stored->is_object()) return std::nullopt;  // null: manual commits
    detection.vad.threshold = stored->value("threshold", detection.vad.threshold);
    detection.vad.prefix_padding_ms =
        static_cast<int>(stored->value("prefix_padding_ms", double(detection.vad.prefix_padding_ms)));
    detection.vad.silence_duration_ms =
        static_cast<int>(stored->value("silence_duration_ms", double(detection.vad.silence_duration_ms)));
    detection.create_response = stored->value("create_response", detection.create_response);
    detection.interrupt_response = stored->value("interrupt_response", detection.interrupt_response);
    return detection;
}

std::size_t stored_bytes(const SessionSettings& settings) {
    auto json_bytes = [](const Json& value) {
        return value.is_null() ? 0 : value.dump(-1, ' ', false, Json::error_handler_t::replace).size();
    };
    return settings.instructions.size() + json_bytes(settings.tools) + json_bytes(settings.tool_choice) +
           json_bytes(settings.audio);
}

}  // namespace voxgate::protocol
