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

ResponseStream::ResponseStream(ResponseInfo info, ResponseStreamListener& listener)
    : info_(std::move(info)), listener_(listener) {}

OrderedJson ResponseStream::response_json(ResponseStatus status, const ResponseEnd* end) const {
    OrderedJson out;
    out["id"] = info_.id;
    out["object"] = "realtime.response";
    out["conversation_id"] = info_.conversation_id.empty() ? OrderedJson(nullptr) : OrderedJson(info_.conversation_id);
    out["status"] = to_string(status);
    OrderedJson details = nullptr;
    if (end && (status == ResponseStatus::cancelled || status == ResponseStatus::incomplete ||
                status == ResponseStatus::failed)) {
        details = {{"type", to_string(status)}};
        if (!end->reason.empty()) details["reason"] = end->reason;
        if (status == ResponseStatus::failed)
            details["error"] = {{"type", end->error_type.empty() ? "server_error" : end->error_type},
                                {"code", end->error_code.empty() ? OrderedJson(nullptr) : OrderedJson(end->error_code)}};
    }
    out["status_details"] = std::move(details);
    auto& output = out["output"] = OrderedJson::array();
    for (const auto& item : output_) output.push_back(item_json(item));
    out["output_modalities"] = output_modalities_json(info_.output);
    out["max_output_tokens"] = token_limit_json(info_.max_output_tokens);
    out["metadata"] = OrderedJson(info_.metadata);
    if (end)
        out["usage"] = {{"total_tokens", usage_.total_tokens},
                        {"input_tokens", usage_.input_tokens},
                        {"output_tokens", usage_.output_tokens}};
    else
        out["usage"] = nullptr;
    return out;
}

void ResponseStream::begin() { listener_.send_frame(response_created(response_json(ResponseStatus::in_progress, nullptr))); }

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
    listener_.send_frame(output_item_added(info_.id, index, output_[index]));
    listener_.on_output_item_added(output_[index]);
    if (info_.output == OutputModality::audio) {
        output_[index].content.push_back({ContentType::output_audio, {}});
        listener_.send_frame(content_part_added(ref(index), 0, "", PartKind::audio));
        text_delta_ = DeltaEncoder::output_audio_transcript(ref(index), 0);
        audio_delta_ = DeltaEncoder::output_audio(ref(index), 0);
        return;
    }
    output_[index].content.push_back({ContentType::output_text, {}});
    listener_.send_frame(content_part_added(ref(index), 0, ""));
    text_delta_ = DeltaEncoder::output_text(ref(index), 0);
}

void ResponseStream::audio_transcript(std::string_view text) {
    if (ended_ || text.empty()) return;
    if (!open_text_) open_text_item();
    output_[*open_text_].content.front().text.append(text);
    listener_.send_frame(text_delta_.encode(text));
}

void ResponseStream::keep_transcript(std::size_t bytes) {
    if (!open_text_) return;
    std::string& transcript = output_[*open_text_].content.front().text;
    if (bytes < transcript.size()) transcript.resize(bytes);
}

void ResponseStream::audio(std::span<const std::uint8_t> bytes) {
    if (ended_ || bytes.empty()) return;
    if (!open_text_) open_text_item();
    listener_.send_frame(audio_delta_.encode_base64(bytes));
}

void ResponseStream::text_delta(std::string_view delta) {
    if (ended_ || delta.empty()) return;
    if (!open_text_) open_text_item();
    Item& item = output_[*open_text_];
    item.content.front().text.append(delta);
    listener_.send_frame(text_delta_.encode(delta));
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
        listener_.send_frame(output_item_added(info_.id, output_index, output_[output_index]));
        listener_.on_output_item_added(output_[output_index]);
        open_calls_.push_back(
            {index, output_index, DeltaEncoder::function_call_arguments(ref(output_index), output_[output_index].call_id)});
        call = &open_calls_.back();
    } else if (!name.empty() && output_[call->output_index].name.empty()) {
        output_[call->output_index].name = name.substr(0, max_function_name_length);  // some providers name the call after its id
    }
    if (fragment.empty()) return;
    output_[call->output_index].arguments.append(fragment);
    listener_.send_frame(call->arguments.encode(fragment));
}

void ResponseStream::close_item(std::size_t output_index, ItemStatus status) {
    Item& item = output_[output_index];
    const OutputRef where = ref(output_index);
    if (item.type == ItemType::message) {
        const std::string& text = item.content.front().text;
        if (item.content.front().type == ContentType::output_audio) {
            listener_.send_frame(output_audio_done(where, 0));
            listener_.send_frame(output_audio_transcript_done(where, 0, text));
            listener_.send_frame(content_part_done(where, 0, text, PartKind::audio));
        } else {
            listener_.send_frame(output_text_done(where, 0, text));
            listener_.send_frame(content_part_done(where, 0, text));
        }
        open_text_.reset();
    } else {
        listener_.send_frame(function_call_arguments_done(where, item.call_id, item.name, item.arguments));
        std::erase_if(open_calls_, [&](const OpenCall& call) { return call.output_index == output_index; });
    }
    item.status = status;
    listener_.send_frame(output_item_done(info_.id, output_index, item));
    listener_.on_output_item_done(item);
}

void ResponseStream::end(const ResponseEnd& end) {
    if (ended_) return;
    ended_ = true;
    const ItemStatus status = end.status == ResponseStatus::completed ? ItemStatus::completed : ItemStatus::incomplete;
    for (std::size_t i = 0; i < output_.size(); ++i)
        if (output_[i].status == ItemStatus::in_progress) close_item(i, status);
    listener_.send_frame(response_done(response_json(end.status, &end)));
}

}  // namespace voxgate::protocol
