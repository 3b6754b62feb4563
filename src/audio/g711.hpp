#pragma once
// G.711 mu-law and A-law (ITU-T G.711), the codecs of telephone audio (Twilio sends mu-law
// at 8 kHz). Decoding is a 256-entry table; encoding follows the segment search of the
// standard. Our own code: the algorithm is a page of arithmetic, a library would add a
// dependency for less.
#include <cstdint>
#include <span>
#include <vector>

namespace voxgate::audio {

std::int16_t ulaw_to_linear(std::uint8_t code);
std::uint8_t linear_to_ulaw(std::int16_t sample);
std::int16_t alaw_to_linear(std::uint8_t code);
std::uint8_t linear_to_alaw(std::int16_t sample);

// Appends the decoded samples of `codes` to `out`.
void decode_ulaw(std::span<const std::uint8_t> codes, std::vector<std::int16_t>& out);
void decode_alaw(std::span<const std::uint8_t> codes, std::vector<std::int16_t>& out);
// Appends the codes of `samples` to `out`.
void encode_ulaw(std::span<const std::int16_t> samples, std::vector<std::uint8_t>& out);
void encode_alaw(std::span<const std::int16_t> samples, std::vector<std::uint8_t>& out);

}  // namespace voxgate::audio
