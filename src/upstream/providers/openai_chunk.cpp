#include "upstream/providers/openai_chunk.hpp"

#include <cstdint>
#include <cstring>
#include <utility>

namespace voxgate::upstream {
namespace {

namespace od = simdjson::ondemand;

// The string at `value` if it is one; empty for null or anything else (string_at's rule).
// False only when the string itself cannot be read.
bool string_or_empty(od::value value, std::string_view& out) {
    od::json_type type;
    if (value.type().get(type)) return false;
    out = {};
    if (type != od::json_type::string) return true;
    return !value.get_string().get(out);
}

// int_at's rule: an integer, else 0. False for an integer int64 cannot hold.
bool integer_or_zero(od::value value, std::int64_t& out) {
    out = 0;
    od::json_type type;
    if (value.type().get(type)) return false;
    if (type != od::json_type::number) return true;
    od::number_type kind;
    if (value.get_number_type().get(kind)) return false;
    if (kind == od::number_type::floating_point_number) return true;
    return !value.get_int64().get(out);
}

bool is_null(od::value value) {
    bool null = false;
    return !value.is_null().get(null) && null;
}

// Calls visit(key, value) for each member in order; false as soon as a member cannot be
// read or visit says false.
template <class Visit>
bool each_member(od::object object, Visit&& visit) {
    for (auto member : object) {
        od::field field;
        std::string_view key;
        if (std::move(member).get(field) || field.unescaped_key().get(key)) return false;
        if (!visit(key, field.value())) return false;
    }
    return true;
}

}  // namespace

OpenAiChunkReader& OpenAiChunkReader::for_this_thread() {
    thread_local OpenAiChunkReader reader;
    return reader;
}

std::optional<OpenAiChunkReader::Chunk> OpenAiChunkReader::read(std::string_view data) {
    if (data.size() > max_chunk_bytes) return std::nullopt;
    // resize keeps the capacity: no allocation once the largest chunk has been seen.
    padded_.resize(data.size() + simdjson::SIMDJSON_PADDING);
    std::memcpy(padded_.data(), data.data(), data.size());
    od::document doc;
    if (parser_.iterate(simdjson::padded_string_view(padded_.data(), data.size(), padded_.size())).get(doc))
        return std::nullopt;
    od::object root;
    if (doc.get_object().get(root)) return std::nullopt;
    Chunk chunk;
    if (!read_root(root, chunk)) return std::nullopt;
    // Past the object's end there must be nothing: trailing bytes are malformed.
    if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) return std::nullopt;
    return chunk;
}

bool OpenAiChunkReader::read_root(od::object root, Chunk& out) {
    return each_member(root, [&](std::string_view key, od::value value) {
        // A repeated key: the last one wins, as in the DOM.
        if (key == "choices") {
            out.texts = {};
            out.text_count = 0;
            out.finish_reason = {};
            return read_choices(value, out);
        }
        if (key == "usage") return read_usage(value, out);
        if (key == "error") return is_null(value);  // an API error: the DOM path reports it
        return true;
    });
}

bool OpenAiChunkReader::read_choices(od::value value, Chunk& out) {
    od::json_type type;
    if (value.type().get(type)) return false;
    if (type == od::json_type::null) return true;  // the DOM path ignores a non-array
    if (type != od::json_type::array) return false;
    od::array choices;
    if (value.get_array().get(choices)) return false;
    for (auto element : choices) {
        od::object choice;
        if (element.get_object().get(choice)) return false;
        std::int64_t index = 0;
        std::string_view content, refusal, finish_reason;
        const bool read = each_member(choice, [&](std::string_view key, od::value item) {
            if (key == "index") return integer_or_zero(item, index);
            if (key == "finish_reason") return string_or_empty(item, finish_reason);
            if (key != "delta") return true;
            od::json_type delta_type;
            if (item.type().get(delta_type)) return false;
            if (delta_type != od::json_type::object) return true;  // member() of a non-object: nothing
            od::object delta;
            if (item.get_object().get(delta)) return false;
            content = refusal = {};
            return each_member(delta, [&](std::string_view delta_key, od::value delta_value) {
                if (delta_key == "content") return string_or_empty(delta_value, content);
                if (delta_key == "refusal") return string_or_empty(delta_value, refusal);
                if (delta_key == "tool_calls") return is_null(delta_value);  // tool calls: the DOM path
                return true;
            });
        });
        if (!read) return false;
        if (index != 0) continue;  // we never ask for n > 1
        for (auto text : {content, refusal}) {
            if (text.empty()) continue;
            if (out.text_count == max_texts) return false;
            out.texts[out.text_count++] = text;
        }
        if (!finish_reason.empty()) out.finish_reason = finish_reason;
    }
    return true;
}

bool OpenAiChunkReader::read_usage(od::value value, Chunk& out) {
    od::json_type type;
    if (value.type().get(type)) return false;
    if (type != od::json_type::object) {
        out.usage.reset();
        return true;
    }
    od::object usage;
    if (value.get_object().get(usage)) return false;
    Usage totals;
    const bool read = each_member(usage, [&](std::string_view key, od::value item) {
        std::int64_t* target = key == "prompt_tokens"       ? &totals.input_tokens
                               : key == "completion_tokens" ? &totals.output_tokens
                               : key == "total_tokens"      ? &totals.total_tokens
                                                            : nullptr;
        return target == nullptr || integer_or_zero(item, *target);
    });
    if (!read) return false;
    out.usage = totals;
    return true;
}

}  // namespace voxgate::upstream
