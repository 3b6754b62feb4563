#include "audio/base64.hpp"

#include <array>

namespace voxgate::audio {

namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> reverse_table() {
    std::array<std::int8_t, 256> table{};
    table.fill(-1);
    for (int i = 0; i < 64; ++i) table[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
    return table;
}

constexpr auto reverse = reverse_table();

}  // namespace

bool base64_decode(std::string_view text, std::vector<std::uint8_t>& out) {
    if (text.size() % 4 != 0) return false;
    std::size_t padding = 0;
    if (!text.empty() && text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
    std::size_t start = out.size();
    out.reserve(start + base64_decoded_size(text.size()));
    for (std::size_t i = 0; i < text.size(); i += 4) {
        bool last = i + 4 == text.size();
        std::uint32_t group = 0;
        for (std::size_t j = 0; j < 4; ++j) {
            bool pad = last && j >= 4 - padding;
            auto value = reverse[static_cast<unsigned char>(text[i + j])];
            if (!pad && value < 0) {
                out.resize(start);
                return false;
            }
            group = group << 6 | (pad ? 0u : static_cast<std::uint32_t>(value));
        }
        out.push_back(static_cast<std::uint8_t>(group >> 16));
        if (!last || padding < 2) out.push_back(static_cast<std::uint8_t>(group >> 8));
        if (!last || padding < 1) out.push_back(static_cast<std::uint8_t>(group));
    }
    return true;
}

void base64_encode(std::span<const std::uint8_t> bytes, std::string& out) {
    out.reserve(out.size() + (bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        std::uint32_t group = std::uint32_t(bytes[i]) << 16 | std::uint32_t(bytes[i + 1]) << 8 | bytes[i + 2];
        out.push_back(alphabet[group >> 18]);
        out.push_back(alphabet[(group >> 12) & 63]);
        out.push_back(alphabet[(group >> 6) & 63]);
        out.push_back(alphabet[group & 63]);
    }
    std::size_t rest = bytes.size() - i;
    if (rest == 0) return;
    std::uint32_t group = std::uint32_t(bytes[i]) << 16 | (rest == 2 ? std::uint32_t(bytes[i + 1]) << 8 : 0);
    out.push_back(alphabet[group >> 18]);
    out.push_back(alphabet[(group >> 12) & 63]);
    out.push_back(rest == 2 ? alphabet[(group >> 6) & 63] : '=');
    out.push_back('=');
}

}  // namespace voxgate::audio
