#pragma once
// JSON text helpers shared by the decoders and encoders.
//
// Client input is parsed into `Json` (std::map objects: lookups stay O(log n) whatever
// a client sends); server output is built as `OrderedJson` so fields go out in the order
// docs/wire-protocols.md lists them. Output never throws on bad UTF-8: invalid sequences become
// U+FFFD, the way a provider's broken byte must not take a connection down.
#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace voxgate::protocol {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

// Deepest array/object nesting a client event may have. The parser copes with any
// depth, but dumping an echoed tool schema recurses once per level.
inline constexpr std::size_t max_json_depth = 64;

// Appends `text` JSON-escaped, without quotes. Invalid UTF-8 becomes U+FFFD.
void append_json_escaped(std::string& out, std::string_view text);

// Serializes compactly; invalid UTF-8 in strings becomes U+FFFD instead of throwing.
// The one serializer for anything that may hold a peer's bytes: nlohmann's plain dump()
// throws type_error.316 on them (outside protocol/, the upstream codecs have their own
// codec_json::dump with the same policy).
std::string to_text(const OrderedJson& value);
std::string to_text(const Json& value);

// True if arrays/objects in `text` nest deeper than `limit` (strings are skipped).
// A cheap scan run before parsing untrusted input.
bool nesting_exceeds(std::string_view text, std::size_t limit);

// Number of Unicode code points in valid UTF-8 `text`.
std::size_t utf8_length(std::string_view text);
// Byte length of the first `code_points` code points of valid UTF-8 `text` (all of it if shorter).
std::size_t utf8_prefix_bytes(std::string_view text, std::size_t code_points);

// A client-controlled string as an error message may quote it: at most 64 bytes, cut on a
// character boundary, "..." appended when cut. An error never echoes a huge string.
std::string shortened(std::string_view text);

}  // namespace voxgate::protocol
