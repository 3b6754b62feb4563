#pragma once
// audio/pcm: signed 16-bit little-endian samples, the Realtime protocol's own format.
#include <cstdint>
#include <span>
#include <vector>

namespace voxgate::audio {

// Appends the little-endian bytes of `samples` to `out`.
void encode_pcm16le(std::span<const std::int16_t> samples, std::vector<std::uint8_t>& out);

}  // namespace voxgate::audio
