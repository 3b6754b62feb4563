// The OpenAI stream decoder and error classifier on arbitrary upstream bytes
// (provider_stream_fuzz.hpp says what is checked).
#include <cstddef>
#include <cstdint>

#include "provider_stream_fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto codec = voxgate::upstream::make_openai_codec();
    voxgate::fuzz::fuzz_provider_stream(*codec, data, size);
    return 0;
}
