#include "audio/pcm16.hpp"

namespace voxgate::audio {

void encode_pcm16le(std::span<const std::int16_t> samples, std::vector<std::uint8_t>& out) {
    const std::size_t first = out.size();
    out.resize(first + samples.size() * 2);
    for (std::size_t i = 0; i < samples.size(); ++i) {
        const auto value = static_cast<std::uint16_t>(samples[i]);
        out[first + 2 * i] = static_cast<std::uint8_t>(value & 0xFF);
        out[first + 2 * i + 1] = static_cast<std::uint8_t>(value >> 8);
    }
}

}  // namespace voxgate::audio
