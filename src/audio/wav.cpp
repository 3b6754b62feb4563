#include "audio/wav.hpp"

#include <algorithm>

namespace voxgate::audio {

namespace {

void put_u32(std::string& out, std::uint32_t value) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

void put_u16(std::string& out, std::uint16_t value) {
    out.push_back(static_cast<char>(value & 0xFF));
    out.push_back(static_cast<char>(value >> 8));
}

std::uint32_t get_u32(std::string_view bytes, std::size_t at) {
    std::uint32_t value = 0;
    for (int i = 3; i >= 0; --i) value = value << 8 | static_cast<unsigned char>(bytes[at + static_cast<std::size_t>(i)]);
    return value;
}

std::uint16_t get_u16(std::string_view bytes, std::size_t at) {
    return static_cast<std::uint16_t>(static_cast<unsigned char>(bytes[at]) |
                                      static_cast<unsigned char>(bytes[at + 1]) << 8);
}

}  // namespace

std::string encode_wav(const std::vector<std::int16_t>& samples, int sample_rate) {
    auto data_bytes = static_cast<std::uint32_t>(samples.size() * 2);
    std::string out;
    out.reserve(44 + data_bytes);
    out += "RIFF";
    put_u32(out, 36 + data_bytes);
    out += "WAVEfmt ";
    put_u32(out, 16);
    put_u16(out, 1);  // PCM
    put_u16(out, 1);  // mono
    put_u32(out, static_cast<std::uint32_t>(sample_rate));
    put_u32(out, static_cast<std::uint32_t>(sample_rate) * 2);
    put_u16(out, 2);
    put_u16(out, 16);
    out += "data";
    put_u32(out, data_bytes);
    for (auto sample : samples) put_u16(out, static_cast<std::uint16_t>(sample));
    return out;
}

std::optional<PcmAudio> decode_wav(std::string_view bytes) {
    if (bytes.size() < 12 || bytes.substr(0, 4) != "RIFF" || bytes.substr(8, 4) != "WAVE") return std::nullopt;
    PcmAudio audio;
    bool have_format = false;
    std::size_t at = 12;
    while (at + 8 <= bytes.size()) {
        std::string_view id = bytes.substr(at, 4);
        std::size_t size = get_u32(bytes, at + 4);
        at += 8;
        if (id == "fmt ") {
            if (size < 16 || at + 16 > bytes.size()) return std::nullopt;
            if (get_u16(bytes, at) != 1 || get_u16(bytes, at + 2) != 1 || get_u16(bytes, at + 14) != 16) return std::nullopt;
            audio.sample_rate = static_cast<int>(get_u32(bytes, at + 4));
            have_format = true;
        } else if (id == "data") {
            if (!have_format || audio.sample_rate <= 0) return std::nullopt;
            std::size_t available = std::min(size, bytes.size() - at) / 2;
            audio.samples.resize(available);
            for (std::size_t i = 0; i < available; ++i)
                audio.samples[i] = static_cast<std::int16_t>(get_u16(bytes, at + 2 * i));
            return audio;
        }
        at += size + (size & 1);
    }
    return std::nullopt;
}

}  // namespace voxgate::audio
