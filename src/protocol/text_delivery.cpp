#include "protocol/text_delivery.hpp"

namespace voxgate::protocol {

void TextDeliveryLog::start(std::string item_id) {
    item_id_ = std::move(item_id);
    pending_.clear();
    head_ = 0;
    delivered_bytes_ = 0;
}

void TextDeliveryLog::advance(std::uint64_t written) {
    while (head_ < pending_.size() && pending_[head_].frame_end <= written) delivered_bytes_ = pending_[head_++].text_bytes;
    if (head_ == pending_.size()) {
        pending_.clear();
        head_ = 0;
    } else if (head_ > 64 && head_ * 2 > pending_.size()) {
        pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(head_));
        head_ = 0;
    }
}

void TextDeliveryLog::record(std::uint64_t frame_end, std::size_t text_bytes, std::uint64_t written) {
    pending_.push_back({frame_end, text_bytes});
    advance(written);
}

std::optional<std::size_t> TextDeliveryLog::delivered(std::string_view item_id, std::uint64_t written) {
    if (item_id.empty() || item_id != item_id_) return std::nullopt;
    advance(written);
    return delivered_bytes_;
}

}  // namespace voxgate::protocol
