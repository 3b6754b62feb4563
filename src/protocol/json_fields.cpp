#include "protocol/json_fields.hpp"

namespace voxgate::protocol {

std::string Fields::param(std::string_view key) const {
    if (path_.empty()) return std::string(key);
    std::string out = path_;
    out.push_back('.');
    out.append(key);
    return out;
}

const Json* Fields::get(std::string_view key) const {
    if (error_) return nullptr;
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
}

bool Fields::is_null(std::string_view key) const {
    auto it = object_.find(key);
    return it != object_.end() && it->is_null();
}

std::optional<std::string> Fields::string(std::string_view key, bool required) {
    if (const std::string* value = string_ref(key, required)) return *value;
    return std::nullopt;
}

const std::string* Fields::string_ref(std::string_view key, bool required) {
    const Json* value = get(key);
    if (!value) {
        if (required) missing(key);
        return nullptr;
    }
    if (!value->is_string()) {
        wrong_type(key, "a string");
        return nullptr;
    }
    return &value->get_ref<const std::string&>();
}

std::optional<std::int64_t> Fields::integer(std::string_view key, bool required) {
    const Json* value = get(key);
    if (!value) {
        if (required) missing(key);
        return std::nullopt;
    }
    if (value->is_number_unsigned()) {
        auto v = value->get<std::uint64_t>();
        if (v > static_cast<std::uint64_t>(INT64_MAX)) {
            fail(codes::invalid_value, key, "'" + param(key) + "' is too large");
            return std::nullopt;
        }
        return static_cast<std::int64_t>(v);
    }
    if (!value->is_number_integer()) {
        wrong_type(key, "an integer");
        return std::nullopt;
    }
    return value->get<std::int64_t>();
}

std::optional<double> Fields::number(std::string_view key) {
    const Json* value = get(key);
    if (!value) return std::nullopt;
    if (!value->is_number()) {
        wrong_type(key, "a number");
        return std::nullopt;
    }
    return value->get<double>();
}

const Json* Fields::object(std::string_view key, bool required) {
    const Json* value = get(key);
    if (!value) {
        if (required) missing(key);
        return nullptr;
    }
    if (!value->is_object()) {
        wrong_type(key, "an object");
        return nullptr;
    }
    return value;
}

const Json* Fields::array(std::string_view key, bool required) {
    const Json* value = get(key);
    if (!value) {
        if (required) missing(key);
        return nullptr;
    }
    if (!value->is_array()) {
        wrong_type(key, "an array");
        return nullptr;
    }
    return value;
}

void Fields::missing(std::string_view key) {
    fail(codes::missing_required_parameter, key, "missing required parameter '" + param(key) + "'");
}

void Fields::wrong_type(std::string_view key, std::string_view expected) {
    fail(codes::invalid_type, key, "'" + param(key) + "' must be " + std::string(expected));
}

void Fields::fail(std::string_view code, std::string_view key, std::string message) {
    if (error_) return;  // the first problem is the one reported
    error_ = invalid_request(code, std::move(message), param(key));
}

std::string indexed(std::string_view path, std::size_t index) {
    std::string out(path);
    out.push_back('[');
    out.append(std::to_string(index));
    out.push_back(']');
    return out;
}

}  // namespace voxgate::protocol
