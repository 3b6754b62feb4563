#pragma once
// Reads the fields of one JSON object of a client event, recording the first problem
// as a ProtocolError whose `param` is the dotted path of the field. After a problem
// every read returns "absent", so a decoder reads its fields straight through and
// checks `ok()` once where it matters, with no exceptions and no nested ifs.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/json_text.hpp"
#include "protocol/protocol_error.hpp"

namespace voxgate::protocol {

class Fields {
public:
    // `path` names the object in params ("" for the event itself, "session", "item.content[0]").
    Fields(const Json& object, std::string path, std::optional<ProtocolError>& error)
        : object_(object), path_(std::move(path)), error_(error) {}

    bool ok() const { return !error_; }
    // Fields of a nested object, reporting into the same error.
    Fields child(const Json& object, std::string path) const { return Fields(object, std::move(path), error_); }
    std::string param(std::string_view key) const;

    // Null when absent, when the value is JSON null, or after an earlier problem.
    const Json* get(std::string_view key) const;
    // True when the key is there with a JSON null (where null means "clear").
    bool is_null(std::string_view key) const;

    std::optional<std::string> string(std::string_view key, bool required = false);
    // The same check without the copy: a pointer into the event, valid while it lives
    // (an audio payload is up to limits.max_message_bytes).
    const std::string* string_ref(std::string_view key, bool required = false);
    std::optional<std::int64_t> integer(std::string_view key, bool required = false);
    std::optional<double> number(std::string_view key);
    const Json* object(std::string_view key, bool required = false);
    const Json* array(std::string_view key, bool required = false);

    void missing(std::string_view key);
    void wrong_type(std::string_view key, std::string_view expected);
    void fail(std::string_view code, std::string_view key, std::string message);

private:
    const Json& object_;
    std::string path_;
    std::optional<ProtocolError>& error_;
};

// "item.content" + 2 -> "item.content[2]"
std::string indexed(std::string_view path, std::size_t index);

}  // namespace voxgate::protocol
