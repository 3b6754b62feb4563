#include "audio/g711.hpp"

#include <array>

namespace voxgate::audio {

namespace {

constexpr int ulaw_bias = 0x84;
constexpr int ulaw_clip = 32635;

constexpr std::int16_t decode_ulaw_code(std::uint8_t code) {
    int u = static_cast<std::uint8_t>(~code);
    int exponent = (u >> 4) & 0x07;
    int mantissa = u & 0x0F;
    int magnitude = (((mantissa << 3) + ulaw_bias) << exponent) - ulaw_bias;
    return static_cast<std::int16_t>((u & 0x80) ? -magnitude : magnitude);
}

constexpr std::int16_t decode_alaw_code(std::uint8_t code) {
    int a = code ^ 0x55;
    int magnitude = (a & 0x0F) << 4;
    int segment = (a & 0x70) >> 4;
    if (segment == 0)
        magnitude += 8;
    else
        magnitude = (magnitude + 0x108) << (segment - 1);
    return static_cast<std::int16_t>((a & 0x80) ? magnitude : -magnitude);
}

template <std::int16_t (*Decode)(std::uint8_t)>
constexpr std::array<std::int16_t, 256> decode_table() {
    std::array<std::int16_t, 256> table{};
    for (int code = 0; code < 256; ++code) table[code] = Decode(static_cast<std::uint8_t>(code));
    return table;
}

constexpr auto ulaw_table = decode_table<decode_ulaw_code>();
constexpr auto alaw_table = decode_table<decode_alaw_code>();

}  // namespace

std::int16_t ulaw_to_linear(std::uint8_t code) { return ulaw_table[code]; }
std::int16_t alaw_to_linear(std::uint8_t code) { return alaw_table[code]; }

std::uint8_t linear_to_ulaw(std::int16_t sample) {
    int value = sample;
    int sign = 0;
    if (value < 0) {
        sign = 0x80;
        value = -value;
    }
    if (value > ulaw_clip) value = ulaw_clip;
    value += ulaw_bias;
    int exponent = 7;
    for (int mask = 0x4000; (value & mask) == 0 && exponent > 0; mask >>= 1) --exponent;
    int mantissa = (value >> (exponent + 3)) & 0x0F;
    return static_cast<std::uint8_t>(~(sign | (exponent << 4) | mantissa));
}

std::uint8_t linear_to_alaw(std::int16_t sample) {
    int value = sample >> 3;  // A-law codes 13-bit magnitudes
    int mask = 0xD5;
    if (value < 0) {
        mask = 0x55;
        value = -value - 1;
    }
    int segment = 0;
    while (segment < 8 && value > (0x20 << segment) - 1) ++segment;
    if (segment >= 8) return static_cast<std::uint8_t>(0x7F ^ mask);
    int code = segment << 4;
    code |= segment < 2 ? (value >> 1) & 0x0F : (value >> segment) & 0x0F;
    return static_cast<std::uint8_t>(code ^ mask);
}

void decode_ulaw(std::span<const std::uint8_t> codes, std::vector<std::int16_t>& out) {
    out.reserve(out.size() + codes.size());
    for (auto code : codes) out.push_back(ulaw_table[code]);
}

void decode_alaw(std::span<const std::uint8_t> codes, std::vector<std::int16_t>& out) {
    out.reserve(out.size() + codes.size());
    for (auto code : codes) out.push_back(alaw_table[code]);
}

void encode_ulaw(std::span<const std::int16_t> samples, std::vector<std::uint8_t>& out) {
    out.reserve(out.size() + samples.size());
    for (auto sample : samples) out.push_back(linear_to_ulaw(sample));
}

void encode_alaw(std::span<const std::int16_t> samples, std::vector<std::uint8_t>& out) {
    out.reserve(out.size() + samples.size());
    for (auto sample : samples) out.push_back(linear_to_alaw(sample));
}

}  // namespace voxgate::audio
