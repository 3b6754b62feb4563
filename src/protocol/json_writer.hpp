#pragma once
// Compact JSON written straight into a string, field by field, in the order it is written.
//
// The server events of every turn (items, parts, the response object) used to be built as an
// OrderedJson tree and then dumped: a node, a key string and often a value string per field,
// ~230 heap allocations per turn before a byte reached the socket. The writer appends to one
// string instead. Strings go through append_json_escaped, so bad UTF-8 becomes U+FFFD exactly
// as to_text does; a value that already is a DOM (a client's metadata, a tool schema) goes in
// through json(), serialized by to_text.
#include <charconv>
#include <concepts>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/json_text.hpp"

namespace voxgate::protocol {

class JsonWriter {
public:
    explicit JsonWriter(std::string& out) : out_(out) {}

    JsonWriter& begin_object() { return open('{'); }
    JsonWriter& end_object() { return close('}'); }
    JsonWriter& begin_array() { return open('['); }
    JsonWriter& end_array() { return close(']'); }

    // `name` is one of our own field names: plain ASCII that needs no escaping.
    JsonWriter& key(std::string_view name) {
        separate();
        out_.push_back('"');
        out_.append(name);
        out_.append("\":");
        need_comma_ = false;
        return *this;
    }

    JsonWriter& string(std::string_view text) {
        separate();
        out_.push_back('"');
        append_json_escaped(out_, text);
        out_.push_back('"');
        return done();
    }

    template <std::integral Integer>
        requires(!std::same_as<Integer, bool>)
    JsonWriter& number(Integer value) {
        separate();
        char digits[24];
        auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
        out_.append(digits, end);
        return done();
    }

    JsonWriter& boolean(bool value) {
        separate();
        out_.append(value ? "true" : "false");
        return done();
    }

    JsonWriter& null() {
        separate();
        out_.append("null");
        return done();
    }

    // A value that is already a tree (client-supplied objects, doubles formatted as nlohmann does).
    template <class Tree>
    JsonWriter& json(const Tree& value) {
        separate();
        out_.append(to_text(value));
        return done();
    }

    // A string whose characters `append(std::string&)` writes, already safe unescaped
    // (generated ids: ids.hpp's append_event_id).
    template <class Append>
    JsonWriter& string_with(Append&& append) {
        separate();
        out_.push_back('"');
        append(out_);
        out_.push_back('"');
        return done();
    }

    JsonWriter& field(std::string_view name, std::string_view text) { return key(name).string(text); }
    JsonWriter& field(std::string_view name, const char* text) { return key(name).string(text); }
    JsonWriter& field(std::string_view name, const std::string& text) { return key(name).string(text); }
    template <std::integral Integer>
        requires(!std::same_as<Integer, bool>)
    JsonWriter& field(std::string_view name, Integer value) {
        return key(name).number(value);
    }
    // null when absent: the wire's nullable string fields (previous_item_id, conversation_id...).
    JsonWriter& field(std::string_view name, std::optional<std::string_view> text) {
        key(name);
        return text ? string(*text) : null();
    }

private:
    JsonWriter& open(char bracket) {
        separate();
        out_.push_back(bracket);
        need_comma_ = false;
        return *this;
    }
    JsonWriter& close(char bracket) {
        out_.push_back(bracket);
        return done();
    }
    void separate() {
        if (need_comma_) out_.push_back(',');
    }
    JsonWriter& done() {
        need_comma_ = true;
        return *this;
    }

    std::string& out_;
    bool need_comma_ = false;  // a member or element was written at this level
};

}  // namespace voxgate::protocol
