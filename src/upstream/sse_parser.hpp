#pragma once
// Incremental parser for text/event-stream (WHATWG HTML §9.2.5-9.2.6, docs/wire-protocols.md §5).
// Pure: bytes in, events out, no I/O. Bytes may be split anywhere between feed() calls,
// including inside a CRLF pair, a UTF-8 sequence or the leading BOM.
//
// Memory: the parser owns three reusable buffers (partial line, event data, event type).
// They keep their capacity across events, so a steady stream allocates nothing per event,
// and each is bounded by max_event_bytes: a peer cannot grow them past that.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace voxgate::upstream {

// One dispatched event. The views point into the parser and are valid only during the
// on_event call that receives them.
struct SseEvent {
    std::string_view type;           // the `event:` field, "message" when absent or empty
    std::string_view data;           // `data:` lines joined with '\n'
    std::string_view last_event_id;  // persists across events until an `id:` changes it
};

enum class SseErrc {
    event_too_large = 1,  // a line or an event's data exceeded max_event_bytes
};

const std::error_category& sse_category() noexcept;
std::error_code make_error_code(SseErrc e) noexcept;

class SseParser {
public:
    explicit SseParser(std::size_t max_event_bytes = 1 << 20);

    // Parses `bytes` and calls on_event(const SseEvent&) for every event they complete.
    // on_event must not call back into this parser. To stop early, stop feeding: events
    // already complete in `bytes` are still delivered. Returns an error once a line or an event's data exceeds max_event_bytes; from then
    // on the parser ignores input and returns the same error until reset().
    template <class OnEvent>
    std::error_code feed(std::string_view bytes, OnEvent&& on_event) {
        using Callable = std::remove_reference_t<OnEvent>;  // may be const; restored below
        EventHandler handler{const_cast<void*>(static_cast<const void*>(std::addressof(on_event))),
                             [](void* callable, const SseEvent& event) { (*static_cast<Callable*>(callable))(event); }};
        return feed_bytes(bytes, handler);
    }

    // Back to the start of a new stream (a leading BOM is accepted again); forgets the
    // last event id and the retry value. Buffers grown by a large event are released.
    void reset();

    // The last valid `retry:` value (reconnection time in ms), if any. Values past
    // UINT32_MAX saturate.
    std::optional<std::uint32_t> retry_ms() const { return retry_ms_; }

    // True when bytes of an event that has not been dispatched are held: a stream that
    // ends here was cut mid-event (§5.4: such an event is discarded, never dispatched).
    bool has_partial_event() const;

    // The last-event-ID buffer: set by `id:` fields, kept across events.
    std::string_view last_event_id() const { return last_event_id_; }

    std::size_t max_event_bytes() const { return max_event_bytes_; }

private:
    // A non-owning reference to the caller's callable, so the parsing code itself is not
    // a template and lives in the .cpp.
    struct EventHandler {
        void* callable;
        void (*call)(void* callable, const SseEvent& event);
    };

    std::error_code feed_bytes(std::string_view bytes, const EventHandler& on_event);
    std::error_code process_line(std::string_view line, const EventHandler& on_event);
    void dispatch(const EventHandler& on_event);
    std::error_code fail();

    std::size_t max_event_bytes_;
    std::string partial_line_;    // bytes of a line whose terminator has not arrived yet
    std::string data_;            // `data:` values joined with '\n'
    std::string event_type_;      // the event-type buffer
    std::string last_event_id_;   // the last-event-ID buffer (not reset between events)
    std::optional<std::uint32_t> retry_ms_;
    std::size_t bom_bytes_matched_ = 0;  // of the UTF-8 BOM EF BB BF at stream start
    bool at_stream_start_ = true;        // still deciding whether the stream opens with a BOM
    bool has_data_ = false;              // a `data` field was seen (data_ may still be empty)
    bool skip_next_lf_ = false;          // the last line ended at CR: an LF right after it is the same line end
    bool failed_ = false;
};

}  // namespace voxgate::upstream

template <>
struct std::is_error_code_enum<voxgate::upstream::SseErrc> : std::true_type {};
