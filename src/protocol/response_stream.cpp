#include "protocol/response_stream.hpp"

#include "protocol/ids.hpp"

namespace voxgate::protocol {

std::string_view to_string(ResponseStatus status) {
    switch (status) {
        case ResponseStatus::in_progress: return "in_progress";
        case ResponseStatus::completed: return "completed";
        case ResponseStatus::cancelled: return "cancelled";
        case ResponseStatus::incomplete: return "incomplete";
        case ResponseStatus::failed: return "failed";
    }
    return "failed";
}

std::string ResponseStreamListener::new_item_id() { return protocol::new_item_id(); }

ResponseStream::ResponseStream(ResponseInfo info, ResponseEvents& events, ResponseStreamListener& listener)
    : info_(std::move(info)), events_(events), listener_(listener) {}

void ResponseStream::begin() { events_.response_created(*this); }

OutputRef ResponseStream::ref(std::size_t output_index) const {
    return OutputRef{info_.id, output_[output_index].id, output_index};
}

void ResponseStream::open_text_item() {
    Item item;
    item.id = listener_.new_item_id();
    item.type = ItemType::message;
    item.role = Role::assistant;
    item.status = ItemStatus::in_progress;
    const std::size_t index = output_.size();
    output_.push_back(std::move(item));
    open_text_ = index;
    events_.output_item_added(info_.id, index, output_[index]);
    listener_.on_output_item_added(output_[index]);
    const bool spoken = info_.output == OutputModality::audio;
    output_[index].content.push_back({spoken ? ContentType::output_audio : ContentType::output_text, {}});
    events_.content_part_added(ref(index), 0, spoken ? PartKind::audio : PartKind::text);
}

void ResponseStream::audio_transcript(std::string_view text) {
    if (ended_ || text.empty()) return;
    if (!open_text_) open_text_item();
    output_[*open_text_].content.front().text.append(text);
    events_.output_audio_transcript_delta(ref(*open_text_), 0, text);
}

void ResponseStream::keep_transcript(std::size_t bytes) {
    if (!open_text_) return;
    std::string& transcript = output_[*open_text_].content.front().text;
    if (bytes < transcript.size()) transcript.resize(bytes);
}

void ResponseStream::audio(std::span<const std::uint8_t> bytes) {
    if (ended_ || bytes.empty()) return;
    if (!open_text_) open_text_item();
    events_.output_audio_delta(ref(*open_text_), 0, bytes);
}

void ResponseStream::text_delta(std::string_view delta) {
    if (ended_ || delta.empty()) return;
    if (!open_text_) open_text_item();
    Item& item = output_[*open_text_];
    item.content.front().text.append(delta);
    events_.output_text_delta(ref(*open_text_), 0, delta);
    listener_.on_text_delta_sent(item);
}

void ResponseStream::tool_call_delta(int index, std::string_view call_id, std::string_view name,
                                     std::string_view fragment) {
    if (ended_) return;
    OpenCall* call = nullptr;
    for (auto& open : open_calls_)
        if (open.index == index) call = &open;
    if (!call) {
        // A new output item: the text before it is finished (output items are sequential).
        // Speech is still being made from it: a spoken message closes at end().
        if (open_text_ && info_.output == OutputModality::text) close_item(*open_text_, ItemStatus::completed);
        Item item;
        item.id = listener_.new_item_id();
        item.type = ItemType::function_call;
        item.status = ItemStatus::in_progress;
        // An overlong provider call id would be stored and echoed back in every request:
        // give the call our own id instead (the client answers with whatever we sent).
        item.call_id = call_id.empty() || call_id.size() > max_call_id_length ? new_call_id() : std::string(call_id);
        item.name = name.substr(0, max_function_name_length);
        const std::size_t output_index = output_.size();
        output_.push_back(std::move(item));
        events_.output_item_added(info_.id, output_index, output_[output_index]);
        listener_.on_output_item_added(output_[output_index]);
        open_calls_.push_back({index, output_index});
        call = &open_calls_.back();
    } else if (!name.empty() && output_[call->output_index].name.empty()) {
        output_[call->output_index].name = name.substr(0, max_function_name_length);  // some providers name the call after its id
    }
    if (fragment.empty()) return;
    Item& call_item = output_[call->output_index];
    call_item.arguments.append(fragment);
    events_.function_call_arguments_delta(ref(call->output_index), call_item.call_id, fragment);
}

void ResponseStream::close_item(std::size_t output_index, ItemStatus status) {
    Item& item = output_[output_index];
    const OutputRef where = ref(output_index);
    if (item.type == ItemType::message) {
        const std::string& text = item.content.front().text;
        if (item.content.front().type == ContentType::output_audio) {
            events_.output_audio_done(where, 0);
            events_.output_audio_transcript_done(where, 0, text);
            events_.content_part_done(where, 0, text, PartKind::audio);
        } else {
            events_.output_text_done(where, 0, text);
            events_.content_part_done(where, 0, text, PartKind::text);
        }
        open_text_.reset();
    } else {
        events_.function_call_arguments_done(where, item.call_id, item.name, item.arguments);
        std::erase_if(open_calls_, [&](const OpenCall& call) { return call.output_index == output_index; });
    }
    item.status = status;
    events_.output_item_done(info_.id, output_index, item);
    listener_.on_output_item_done(item);
}

void ResponseStream::end(const ResponseEnd& end) {
    if (ended_) return;
    ended_ = true;
    const ItemStatus status = end.status == ResponseStatus::completed ? ItemStatus::completed : ItemStatus::incomplete;
    for (std::size_t i = 0; i < output_.size(); ++i)
        if (output_[i].status == ItemStatus::in_progress) close_item(i, status);
    events_.response_done(*this, end);
}

}  // namespace voxgate::protocol
