#include "protocol/items.hpp"

#include "protocol/json_fields.hpp"

namespace voxgate::protocol {

std::string_view to_string(ItemType type) {
    switch (type) {
        case ItemType::message: return "message";
        case ItemType::function_call: return "function_call";
        case ItemType::function_call_output: return "function_call_output";
    }
    return "message";
}

std::string_view to_string(Role role) {
    switch (role) {
        case Role::user: return "user";
        case Role::system: return "system";
        case Role::assistant: return "assistant";
    }
    return "user";
}

std::string_view to_string(ItemStatus status) {
    switch (status) {
        case ItemStatus::in_progress: return "in_progress";
        case ItemStatus::completed: return "completed";
        case ItemStatus::incomplete: return "incomplete";
    }
    return "completed";
}

std::string_view to_string(ContentType type) {
    switch (type) {
        case ContentType::input_text: return "input_text";
        case ContentType::text: return "text";
        case ContentType::output_text: return "output_text";
        case ContentType::input_audio: return "input_audio";
        case ContentType::output_audio: return "output_audio";
    }
    return "input_text";
}

std::string Item::text() const {
    if (content.size() == 1) return content.front().text;
    std::string joined;
    for (const auto& part : content) {
        if (!joined.empty()) joined.push_back('\n');
        joined.append(part.text);
    }
    return joined;
}

std::size_t Item::stored_bytes() const {
    std::size_t size = item_fixed_bytes + id.size() + call_id.size() + name.size() + arguments.size() + output.size();
    for (const auto& part : content) size += content_part_fixed_bytes + part.text.size();
    return size;
}

std::size_t Item::size_chars() const {
    std::size_t size = name.size() + arguments.size() + output.size();
    for (const auto& part : content) size += part.text.size();
    return size;
}

void write_item(JsonWriter& out, const Item& item) {
    out.begin_object();
    out.field("id", item.id);
    out.field("object", "realtime.item");
    out.field("type", to_string(item.type));
    out.field("status", to_string(item.status));
    switch (item.type) {
        case ItemType::message: {
            out.field("role", to_string(item.role));
            out.key("content").begin_array();
            for (const auto& part : item.content) {
                out.begin_object();
                if (part.type == ContentType::input_audio) {
                    out.field("type", "input_audio");
                    // null until transcribed
                    out.field("transcript", part.text.empty() ? std::nullopt : std::optional<std::string_view>(part.text));
                } else if (part.type == ContentType::output_audio) {
                    out.field("type", "output_audio").field("transcript", part.text);
                } else {
                    out.field("type", to_string(part.type)).field("text", part.text);
                }
                out.end_object();
            }
            out.end_array();
            break;
        }
        case ItemType::function_call:
            out.field("call_id", item.call_id).field("name", item.name).field("arguments", item.arguments);
            break;
        case ItemType::function_call_output:
            out.field("call_id", item.call_id).field("output", item.output);
            break;
    }
    out.end_object();
}

namespace {

bool is_unsupported_item_type(std::string_view type) {
    return type.starts_with("mcp_") || type == "item_reference";
}

bool is_unsupported_content_type(std::string_view type) {
    return type == "input_audio" || type == "input_image" || type == "audio" || type == "output_audio" ||
           type == "item_reference" || type == "input_file";
}

std::optional<ContentType> content_type_for(Role role, std::string_view type) {
    if (type == "text") return ContentType::text;  // beta name, accepted for every role
    if (role == Role::assistant) {
        if (type == "output_text") return ContentType::output_text;
    } else if (type == "input_text") {
        return ContentType::input_text;
    }
    return std::nullopt;
}

void decode_content(const Json& parts, const std::string& path, Item& item, std::optional<ProtocolError>& error) {
    if (parts.size() > max_content_parts) {
        const std::string param = path + ".content";
        error = invalid_request(codes::invalid_value,
                                "'" + param + "' may hold at most " + std::to_string(max_content_parts) + " parts", param);
        return;
    }
    for (std::size_t i = 0; i < parts.size() && !error; ++i) {
        const std::string part_path = indexed(path + ".content", i);
        const Json& part = parts[i];
        if (!part.is_object()) {
            error = invalid_request(codes::invalid_type, "'" + part_path + "' must be an object", part_path);
            return;
        }
        Fields fields(part, part_path, error);
        auto type = fields.string("type", true);
        if (!type) return;
        auto content_type = content_type_for(item.role, *type);
        if (!content_type) {
            if (is_unsupported_content_type(*type)) {
                fields.fail(codes::unsupported_content_type, "type",
                            "content type '" + shortened(*type) + "' is not supported: voxgate handles text only");
            } else {
                const char* expected = item.role == Role::assistant ? "'output_text' or 'text'" : "'input_text' or 'text'";
                fields.fail(codes::invalid_value, "type",
                            "content type '" + shortened(*type) + "' is not valid for a " + std::string(to_string(item.role)) +
                                " message; expected " + expected);
            }
            return;
        }
        auto text = fields.string("text", true);
        if (!text) return;
        item.content.push_back({*content_type, std::move(*text)});
    }
}

bool call_id_fits(Fields& fields, const std::string& call_id) {
    if (!call_id.empty() && call_id.size() <= max_call_id_length) return true;
    fields.fail(codes::invalid_value, "call_id",
                "'" + fields.param("call_id") + "' must be 1 to " + std::to_string(max_call_id_length) + " characters");
    return false;
}

}  // namespace

std::optional<Item> decode_item(const Json& value, std::string_view path, std::optional<ProtocolError>& error) {
    const std::string where(path);
    if (!value.is_object()) {
        error = invalid_request(codes::invalid_type, "'" + where + "' must be an object", where);
        return std::nullopt;
    }
    Fields fields(value, where, error);
    Item item;
    if (auto id = fields.string("id")) {
        if (id->empty() || id->size() > max_item_id_length) {
            fields.fail(codes::invalid_value, "id",
                        "'" + fields.param("id") + "' must be 1 to " + std::to_string(max_item_id_length) + " characters");
            return std::nullopt;
        }
        item.id = std::move(*id);
    }
    auto type = fields.string("type", true);
    if (!type) return std::nullopt;

    if (*type == "message") {
        item.type = ItemType::message;
        auto role = fields.string("role", true);
        if (!role) return std::nullopt;
        if (*role == "user") item.role = Role::user;
        else if (*role == "system") item.role = Role::system;
        else if (*role == "assistant") item.role = Role::assistant;
        else {
            fields.fail(codes::invalid_value, "role", "'" + fields.param("role") + "' must be user, system or assistant");
            return std::nullopt;
        }
        const Json* content = fields.array("content", true);
        if (!content) return std::nullopt;
        decode_content(*content, where, item, error);
    } else if (*type == "function_call") {
        item.type = ItemType::function_call;
        auto call_id = fields.string("call_id", true);
        auto name = fields.string("name", true);
        auto arguments = fields.string("arguments", true);
        if (!fields.ok() || !call_id_fits(fields, *call_id)) return std::nullopt;
        if (name->empty() || name->size() > max_function_name_length) {
            fields.fail(codes::invalid_value, "name",
                        "'" + fields.param("name") + "' must be 1 to " + std::to_string(max_function_name_length) +
                            " characters");
            return std::nullopt;
        }
        item.call_id = std::move(*call_id);
        item.name = std::move(*name);
        item.arguments = std::move(*arguments);
    } else if (*type == "function_call_output") {
        item.type = ItemType::function_call_output;
        auto call_id = fields.string("call_id", true);
        auto output = fields.string("output", true);
        if (!fields.ok() || !call_id_fits(fields, *call_id)) return std::nullopt;
        item.call_id = std::move(*call_id);
        item.output = std::move(*output);
    } else if (is_unsupported_item_type(*type)) {
        fields.fail(codes::unsupported_item_type, "type", "item type '" + shortened(*type) + "' is not supported");
    } else {
        fields.fail(codes::invalid_value, "type",
                    "'" + fields.param("type") + "' must be message, function_call or function_call_output");
    }
    if (error) return std::nullopt;
    return item;
}

std::optional<InputEntry> decode_input_entry(const Json& value, std::string_view path,
                                             std::optional<ProtocolError>& error) {
    if (value.is_object()) {
        auto type = value.find("type");
        if (type != value.end() && type->is_string() && *type == "item_reference") {
            Fields fields(value, std::string(path), error);
            auto id = fields.string("id", true);
            if (!id) return std::nullopt;
            return InputEntry{ItemReference{std::move(*id)}};
        }
    }
    auto item = decode_item(value, path, error);
    if (!item) return std::nullopt;
    return InputEntry{std::move(*item)};
}

}  // namespace voxgate::protocol
