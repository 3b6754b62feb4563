#include "audio/audio_format.hpp"

namespace voxgate::audio {

std::string_view AudioFormat::mime_type() const {
    switch (encoding) {
        case Encoding::pcmu: return "audio/pcmu";
        case Encoding::pcma: return "audio/pcma";
        case Encoding::pcm16: break;
    }
    return "audio/pcm";
}

std::optional<AudioFormat> format_from_mime(std::string_view type) {
    if (type == "audio/pcm") return pcm24k;
    if (type == "audio/pcmu") return pcmu8k;
    if (type == "audio/pcma") return pcma8k;
    return std::nullopt;
}

}  // namespace voxgate::audio
