#pragma once
// Conversation items (docs/wire-protocols.md 1.6, "Conversation item shapes (GA)"): the typed form
// the session stores, the decoder for items a client sends, and the GA encoding.
//
// Text-only on purpose: message content is text parts; audio and image parts are refused
// with `unsupported_content_type` rather than stored and silently ignored.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/json_text.hpp"
#include "protocol/json_writer.hpp"
#include "protocol/protocol_error.hpp"

namespace voxgate::protocol {

enum class ItemType : std::uint8_t { message, function_call, function_call_output };
enum class Role : std::uint8_t { user, system, assistant };
enum class ItemStatus : std::uint8_t { in_progress, completed, incomplete };
// Kept as the client (or the model) used it and echoed back unchanged: GA clients write
// `output_text` for assistant text, beta clients `text`; user and system text is `input_text`.
// `input_audio`: a user turn spoken into input_audio_buffer; voxgate keeps its transcript
// (in `text`; "" until transcribed), never the audio, and the model reads the transcript.
// `output_audio`: an assistant turn voxgate spoke; `text` holds the transcript of what was sent.
enum class ContentType : std::uint8_t { input_text, text, output_text, input_audio, output_audio };

std::string_view to_string(ItemType type);
std::string_view to_string(Role role);
std::string_view to_string(ItemStatus status);
std::string_view to_string(ContentType type);

struct ContentPart {
    ContentType type = ContentType::input_text;
    std::string text;
};

struct Item {
    std::string id;
    ItemType type = ItemType::message;
    Role role = Role::user;  // message only
    ItemStatus status = ItemStatus::completed;
    std::vector<ContentPart> content;  // message
    std::string call_id;               // function_call, function_call_output
    std::string name;                  // function_call
    std::string arguments;             // function_call: JSON text as the model produced it
    std::string output;                // function_call_output

    // Message text: the parts joined with "\n" (one part is the common case).
    std::string text() const;
    // What the item costs in a history budget: the characters a provider will see.
    std::size_t size_chars() const;
    // What the item costs in memory, for the conversation's byte budget: every string
    // (ids included) plus a fixed cost per item and per content part, so neither many
    // empty parts nor many empty items are free.
    std::size_t stored_bytes() const;
};

inline constexpr std::size_t item_fixed_bytes = 256;          // >= sizeof(Item) plus allocator slack
inline constexpr std::size_t content_part_fixed_bytes = 64;   // >= sizeof(ContentPart) plus slack

// A response.create `input` entry that points at an item of the conversation.
struct ItemReference {
    std::string id;
};
using InputEntry = std::variant<Item, ItemReference>;

// The GA encoding of an item, as every item-carrying server event holds it.
void write_item(JsonWriter& out, const Item& item);

// Longest client-chosen item id accepted (OpenAI documents 32; a little slack for SDKs).
inline constexpr std::size_t max_item_id_length = 64;
// call_id: OpenAI's are ~30 characters, Anthropic's tool_use ids ~30; the same 64 as ids.
inline constexpr std::size_t max_call_id_length = 64;
// Function names: OpenAI's rule is ^[a-zA-Z0-9_-]{1,64}$; only the length is enforced.
inline constexpr std::size_t max_function_name_length = 64;
// Content parts per message item (a text message has one; a few for mixed input).
inline constexpr std::size_t max_content_parts = 32;

// Decodes an item a client sends. `path` prefixes params ("item", "response.input[2]").
// The id is left empty when the client gave none. Status is always `completed`.
std::optional<Item> decode_item(const Json& value, std::string_view path, std::optional<ProtocolError>& error);
// Same, also accepting {"type":"item_reference","id":...} (response.create input).
std::optional<InputEntry> decode_input_entry(const Json& value, std::string_view path,
                                             std::optional<ProtocolError>& error);

}  // namespace voxgate::protocol
