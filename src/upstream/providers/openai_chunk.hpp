#pragma once
// The common OpenAI stream chunk (text deltas, finish_reason, usage) read without building
// a DOM: simdjson On-Demand over a reused parser and buffer, so a warm reader allocates
// nothing per chunk (nlohmann's DOM costs about 40 allocations per token; review F1).
//
// The reader accepts only what it can decode exactly as the DOM path would, and answers
// nullopt for the rest: an `error` member, tool calls, an unexpected type anywhere it
// reads, a chunk over max_chunk_bytes, JSON it cannot parse. The decoder then decodes the
// chunk with the DOM, which also reports what is malformed. Members it does not read are
// skipped (On-Demand checks their structure, not every scalar in them).
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "upstream/chat.hpp"

namespace voxgate::upstream {

class OpenAiChunkReader {
public:
    static constexpr std::size_t max_chunk_bytes = 64 * 1024;  // bounds the parser's memory
    static constexpr std::size_t max_texts = 4;

    struct Chunk {
        // The delta texts to stream, in the DOM path's order (per index-0 choice: content,
        // then refusal); views into the reader, valid until its next read.
        std::array<std::string_view, max_texts> texts{};
        std::size_t text_count = 0;
        std::string_view finish_reason;  // the last non-empty one; empty = none
        std::optional<Usage> usage;
    };

    std::optional<Chunk> read(std::string_view data);

    // One reader per thread: decoding is synchronous, and a parser per response would cost
    // each stream its own buffers.
    static OpenAiChunkReader& for_this_thread();

private:
    bool read_root(simdjson::ondemand::object root, Chunk& out);
    bool read_choices(simdjson::ondemand::value choices, Chunk& out);
    static bool read_usage(simdjson::ondemand::value usage, Chunk& out);

    simdjson::ondemand::parser parser_{max_chunk_bytes};
    std::string padded_;  // the chunk plus SIMDJSON_PADDING, reused
};

}  // namespace voxgate::upstream
