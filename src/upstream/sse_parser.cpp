#include "upstream/sse_parser.hpp"

#include <cstring>
#include <limits>

namespace voxgate::upstream {
namespace {

class SseCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "sse"; }
    std::string message(int code) const override {
        switch (static_cast<SseErrc>(code)) {
            case SseErrc::event_too_large: return "server-sent event exceeds the size limit";
        }
        return "unknown sse error";
    }
};

constexpr char kUtf8Bom[] = {'\xEF', '\xBB', '\xBF'};
constexpr std::size_t kUtf8BomSize = sizeof(kUtf8Bom);

// Buffers above this capacity are released on reset() instead of being kept for reuse:
// one huge event must not pin memory for the rest of the parser's life.
constexpr std::size_t kKeptCapacity = 64 * 1024;

void release_if_large(std::string& buffer) {
    buffer.clear();
    if (buffer.capacity() > kKeptCapacity) buffer.shrink_to_fit();
}

bool all_ascii_digits(std::string_view text) {
    if (text.empty()) return false;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

}  // namespace

const std::error_category& sse_category() noexcept {
    static const SseCategory category;
    return category;
}

std::error_code make_error_code(SseErrc e) noexcept {
    return {static_cast<int>(e), sse_category()};
}

SseParser::SseParser(std::size_t max_event_bytes) : max_event_bytes_(max_event_bytes) {}

void SseParser::reset() {
    release_if_large(partial_line_);
    release_if_large(data_);
    release_if_large(event_type_);
    release_if_large(last_event_id_);
    retry_ms_.reset();
    bom_bytes_matched_ = 0;
    at_stream_start_ = true;
    has_data_ = false;
    skip_next_lf_ = false;
    failed_ = false;
}

bool SseParser::has_partial_event() const {
    return !partial_line_.empty() || has_data_ || (at_stream_start_ && bom_bytes_matched_ > 0);
}

std::error_code SseParser::fail() {
    failed_ = true;
    // Drop what was buffered so an abusive stream leaves nothing behind.
    partial_line_.clear();
    partial_line_.shrink_to_fit();
    data_.clear();
    data_.shrink_to_fit();
    has_data_ = false;
    return make_error_code(SseErrc::event_too_large);
}

std::error_code SseParser::feed_bytes(std::string_view bytes, const EventHandler& on_event) {
    if (failed_) return make_error_code(SseErrc::event_too_large);
    std::size_t pos = 0;

    // §5.1: one BOM may open the stream. It can arrive split across chunks, so match it
    // byte by byte; a partial match that breaks off was ordinary line content.
    while (at_stream_start_ && pos < bytes.size()) {
        if (bytes[pos] == kUtf8Bom[bom_bytes_matched_]) {
            ++pos;
            if (++bom_bytes_matched_ == kUtf8BomSize) at_stream_start_ = false;
        } else {
            partial_line_.append(kUtf8Bom, bom_bytes_matched_);
            at_stream_start_ = false;
        }
    }

    while (pos < bytes.size()) {
        // §5.2: a CR ends the line at once; an LF right after it belongs to the same line
        // end, even when it arrives in the next chunk.
        if (skip_next_lf_) {
            skip_next_lf_ = false;
            if (bytes[pos] == '\n') {
                ++pos;
                continue;
            }
        }
        const std::string_view rest = bytes.substr(pos);
        const char* lf = static_cast<const char*>(std::memchr(rest.data(), '\n', rest.size()));
        const std::size_t cr_search = lf != nullptr ? static_cast<std::size_t>(lf - rest.data()) : rest.size();
        const char* cr = static_cast<const char*>(std::memchr(rest.data(), '\r', cr_search));
        const char* line_end = cr != nullptr ? cr : lf;

        if (line_end == nullptr) {
            if (partial_line_.size() + rest.size() > max_event_bytes_) return fail();
            partial_line_.append(rest);
            return {};
        }

        const auto line_size = static_cast<std::size_t>(line_end - rest.data());
        const std::string_view line = rest.substr(0, line_size);
        pos += line_size + 1;
        skip_next_lf_ = (*line_end == '\r');
        if (partial_line_.size() + line_size > max_event_bytes_) return fail();

        std::error_code ec;
        if (partial_line_.empty()) {
            ec = process_line(line, on_event);  // the common case: no copy
        } else {
            partial_line_.append(line);
            ec = process_line(partial_line_, on_event);
            partial_line_.clear();
        }
        if (ec) return ec;
    }
    return {};
}

std::error_code SseParser::process_line(std::string_view line, const EventHandler& on_event) {
    if (line.empty()) {
        dispatch(on_event);
        return {};
    }
    if (line.front() == ':') return {};  // comment, e.g. a keep-alive

    std::string_view field = line;
    std::string_view value;
    if (const auto colon = line.find(':'); colon != std::string_view::npos) {
        field = line.substr(0, colon);
        value = line.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.remove_prefix(1);  // exactly one space
    }

    if (field == "data") {
        const std::size_t separator = has_data_ ? 1 : 0;
        if (data_.size() + separator + value.size() > max_event_bytes_) return fail();
        if (has_data_) data_.push_back('\n');
        data_.append(value);
        has_data_ = true;
    } else if (field == "event") {
        event_type_.assign(value);
    } else if (field == "id") {
        if (value.find('\0') == std::string_view::npos) last_event_id_.assign(value);
    } else if (field == "retry") {
        if (all_ascii_digits(value)) {
            std::uint64_t ms = 0;
            constexpr std::uint64_t kMax = std::numeric_limits<std::uint32_t>::max();
            for (char c : value) {
                ms = ms * 10 + static_cast<std::uint64_t>(c - '0');
                if (ms > kMax) {
                    ms = kMax;
                    break;
                }
            }
            retry_ms_ = static_cast<std::uint32_t>(ms);
        }
    }
    // Any other field name is ignored (§9.2.6).
    return {};
}

void SseParser::dispatch(const EventHandler& on_event) {
    // §5.4: an event with no data field is not dispatched, but still clears the type.
    if (has_data_) {
        const SseEvent event{event_type_.empty() ? std::string_view("message") : std::string_view(event_type_),
                             data_, last_event_id_};
        on_event.call(on_event.callable, event);
    }
    data_.clear();
    event_type_.clear();
    has_data_ = false;
}

}  // namespace voxgate::upstream
