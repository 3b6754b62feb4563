#pragma once
// How much of a streamed assistant text has really left voxgate, for
// conversation.item.truncate on text items: the session numbers the bytes it queues to the
// client; each text delta frame ends at some offset of that stream. Once the transport
// has written past that offset (queued total - still queued), the text up to that delta
// was written to the socket. Pure bookkeeping; memory is bounded by the frames still queued.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace voxgate::protocol {

class TextDeliveryLog {
public:
    // A new item starts streaming; the previous one is forgotten (its text was all sent).
    void start(std::string item_id);
    // A delta frame of the tracked item ends at `frame_end` of the outgoing stream and brings
    // its text to `text_bytes`; `written` is how far the transport has written so far.
    void record(std::uint64_t frame_end, std::size_t text_bytes, std::uint64_t written);
    // Bytes of `item_id`'s text that were written when the stream had been written up to
    // `written`; nullopt if `item_id` is not the tracked item (then all of it was).
    std::optional<std::size_t> delivered(std::string_view item_id, std::uint64_t written);

    const std::string& item_id() const { return item_id_; }

private:
    struct Mark {
        std::uint64_t frame_end;
        std::size_t text_bytes;
    };
    void advance(std::uint64_t written);

    std::string item_id_;
    std::vector<Mark> pending_;  // frames not yet known to be written, oldest first
    std::size_t head_ = 0;
    std::size_t delivered_bytes_ = 0;
};

}  // namespace voxgate::protocol
