#pragma once
// Standard base64 (RFC 4648, with padding), the encoding of every audio payload in the
// Realtime protocol and Twilio Media Streams. Decoding is strict: a character outside the
// alphabet, a wrong length or misplaced padding is an error, never silently skipped audio.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace voxgate::audio {

// Appends the bytes of `text` to `out`; false (out unchanged) when `text` is not base64.
bool base64_decode(std::string_view text, std::vector<std::uint8_t>& out);
// Appends the encoding of `bytes` to `out`.
void base64_encode(std::span<const std::uint8_t> bytes, std::string& out);
inline std::size_t base64_decoded_size(std::size_t encoded) { return encoded / 4 * 3; }

}  // namespace voxgate::audio
