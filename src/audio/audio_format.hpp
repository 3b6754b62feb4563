#pragma once
// The three audio formats of the Realtime protocol (docs/wire-protocols.md 1.3) and what a
// session needs to know about each: its sample rate and how many bytes a second of it takes.
#include <cstddef>
#include <optional>
#include <string_view>

namespace voxgate::audio {

enum class Encoding {
    pcm16,  // "audio/pcm": signed 16-bit little-endian samples, mono
    pcmu,   // "audio/pcmu": G.711 mu-law, one byte per sample
    pcma,   // "audio/pcma": G.711 A-law, one byte per sample
};

struct AudioFormat {
    Encoding encoding = Encoding::pcm16;
    int sample_rate = 24000;  // audio/pcm: 24 kHz (the only rate the protocol allows); G.711: 8 kHz

    int bytes_per_sample() const { return encoding == Encoding::pcm16 ? 2 : 1; }
    std::size_t bytes_per_second() const { return static_cast<std::size_t>(sample_rate) * bytes_per_sample(); }
    std::string_view mime_type() const;

    friend bool operator==(const AudioFormat&, const AudioFormat&) = default;
};

inline constexpr AudioFormat pcm24k{Encoding::pcm16, 24000};
inline constexpr AudioFormat pcmu8k{Encoding::pcmu, 8000};
inline constexpr AudioFormat pcma8k{Encoding::pcma, 8000};

// A GA format object's `type` ("audio/pcm", "audio/pcmu", "audio/pcma"); nullopt otherwise.
std::optional<AudioFormat> format_from_mime(std::string_view type);

}  // namespace voxgate::audio
