// The client event decoder on arbitrary WebSocket text, for every event type, and the
// server events that echo what it decoded (an error naming the client's event_id, the
// updated session, the added or truncated item): decoding never crashes, and every echo
// is valid JSON in valid UTF-8 whatever bytes the client sent.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "audio/base64.hpp"
#include "fuzz_support.hpp"
#include "protocol/client_events.hpp"
#include "protocol/server_events.hpp"
#include "protocol/session_settings.hpp"

namespace {

using namespace voxgate::protocol;

void check_echo(const std::string& text) {
    VOXGATE_FUZZ_CHECK(voxgate::fuzz::is_valid_utf8(text), text);
    VOXGATE_FUZZ_CHECK(!Json::parse(text, nullptr, false).is_discarded(), text);
}

void echo(const ClientEvent& event) {
    std::visit(
        [](const auto& body) {
            using Body = std::decay_t<decltype(body)>;
            if constexpr (std::is_same_v<Body, SessionUpdate>) {
                SessionSettings settings;
                apply_patch(settings, body.patch);
                check_echo(session_updated(session_json("sess_fuzz", body.patch.model.value_or("m"), settings)));
            } else if constexpr (std::is_same_v<Body, ItemCreate>) {
                check_echo(conversation_item_added(body.item, body.previous_item_id));
                check_echo(conversation_item_retrieved(body.item));
            } else if constexpr (std::is_same_v<Body, ItemDelete>) {
                check_echo(conversation_item_deleted(body.item_id));
            } else if constexpr (std::is_same_v<Body, ItemRetrieve>) {
                check_echo(conversation_item_deleted(body.item_id));
            } else if constexpr (std::is_same_v<Body, ItemTruncate>) {
                check_echo(conversation_item_truncated(body.item_id, body.content_index, body.audio_end_ms));
            } else if constexpr (std::is_same_v<Body, ResponseCreate>) {
                if (body.response.input) {
                    for (const auto& entry : *body.response.input) {
                        if (const auto* item = std::get_if<Item>(&entry)) check_echo(conversation_item_retrieved(*item));
                    }
                }
            } else if constexpr (std::is_same_v<Body, AudioAppend>) {
                // What was decoded encodes back to base64 that decodes to the same bytes.
                std::string encoded;
                voxgate::audio::base64_encode(body.audio, encoded);
                std::vector<std::uint8_t> again;
                VOXGATE_FUZZ_CHECK(voxgate::audio::base64_decode(encoded, again) && again == body.audio, encoded);
            } else {
                static_assert(std::is_same_v<Body, ResponseCancel> || std::is_same_v<Body, AudioCommit> ||
                              std::is_same_v<Body, AudioClear> || std::is_same_v<Body, OutputAudioClear>);
            }
        },
        event.body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    DecodeResult result = decode_client_event(text);
    if (const auto* error = std::get_if<ProtocolError>(&result)) {
        VOXGATE_FUZZ_CHECK(!error->code.empty(), "an error without a code");
        check_echo(error_event(*error));
    } else {
        const auto& event = std::get<ClientEvent>(result);
        VOXGATE_FUZZ_CHECK(event.event_id.size() <= max_event_id_length, "event_id over its limit");
        echo(event);
    }
    return 0;
}
