#pragma once
// Shared by the libFuzzer targets: invariant checks that abort (so libFuzzer keeps the
// input) and the deterministic chunking that feeds a stream parser the way TCP would.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

namespace voxgate::fuzz {

// Reports a broken invariant and aborts: libFuzzer records the input as a crash.
[[noreturn]] inline void invariant_failed(const char* what, std::string_view detail = {}) {
    std::fprintf(stderr, "fuzz invariant failed: %s [%.*s]\n", what, static_cast<int>(detail.size()), detail.data());
    std::abort();
}

#define VOXGATE_FUZZ_CHECK(condition, detail) \
    do {                                      \
        if (!(condition)) ::voxgate::fuzz::invariant_failed(#condition, (detail)); \
    } while (0)

// True when `text` is valid UTF-8, by the same rule nlohmann's strict serializer uses.
inline bool is_valid_utf8(std::string_view text) {
    try {
        (void)nlohmann::json(std::string(text)).dump();
        return true;
    } catch (const nlohmann::json::type_error&) {
        return false;
    }
}

// Splits `bytes` into chunks whose sizes (1..17) follow from the input itself, so the
// same input always splits the same way and different inputs split at every offset:
// a stream parser must give the same answer however its bytes arrive.
template <class OnChunk>
void for_each_chunk(std::string_view bytes, OnChunk&& on_chunk) {
    std::size_t step = bytes.empty() ? 1 : 1 + static_cast<unsigned char>(bytes.back()) % 17;
    while (!bytes.empty()) {
        const std::size_t n = step < bytes.size() ? step : bytes.size();
        if (!on_chunk(bytes.substr(0, n))) return;
        bytes.remove_prefix(n);
        step = 1 + (step * 7 + 3) % 17;
    }
}

}  // namespace voxgate::fuzz
