#pragma once
// Reading one JSON object of the config file, for the loader and for the provider kinds
// that read their own options (upstream/provider_kinds.hpp): the key path every error
// names, the value rules (integer ranges, choices, durations) shared by the file, the
// environment and the flags, and the unknown-key check with its "did you mean".
#include <algorithm>
#include <array>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "config/config_loader.hpp"

namespace voxgate::config {

using nlohmann::json;

// ---------------------------------------------------------------------------------------
// Messages

// Errors are one line: line breaks in a quoted value become spaces.
std::string one_line(std::string_view text);
std::string in_quotes(std::string_view text);

// An empty key is shown as "" so that an error about it still names a key path.
std::string join_path(std::string_view parent, std::string_view key);

// Levenshtein distance, for "did you mean" on unknown keys (they are short).
std::size_t edit_distance(std::string_view a, std::string_view b);

// ---------------------------------------------------------------------------------------
// Value rules, shared by the file, the environment and the flags so that one bad value
// reads the same wherever it came from.

struct IntRange {
    std::int64_t min;
    std::int64_t max;
    bool max_is_documented;  // false: max is only the C++ type's limit, named only when hit
};

constexpr IntRange at_least(std::int64_t min) {
    return {min, std::numeric_limits<std::int64_t>::max(), false};
}
constexpr IntRange int_at_least(std::int64_t min) { return {min, INT_MAX, false}; }
constexpr IntRange between(std::int64_t min, std::int64_t max) { return {min, max, true}; }

// Durations are capped so that later conversions to nanoseconds cannot overflow.
constexpr std::int64_t max_seconds = 86'400;          // one day
constexpr std::int64_t max_milliseconds = 86'400'000;  // one day

std::string expected_integer(const IntRange& range, bool above_max);
std::int64_t checked_integer(std::int64_t value, const IntRange& range, std::string_view where);
std::int64_t integer_from_json(const json& value, const IntRange& range, std::string_view where);

template <std::size_t N>
std::string one_of(const std::array<std::string_view, N>& choices) {
    std::string text = "expected one of ";
    for (std::size_t i = 0; i < N; ++i) {
        if (i > 0) text += ", ";
        text += choices[i];
    }
    return text;
}

template <std::size_t N>
std::string checked_choice(std::string_view value, const std::array<std::string_view, N>& choices,
                           std::string_view where) {
    if (std::find(choices.begin(), choices.end(), value) == choices.end()) {
        throw ConfigError(where, one_of(choices));
    }
    return std::string(value);
}

// ---------------------------------------------------------------------------------------
// JSON sections

// One JSON object at one key path. Every key the schema looks up is remembered, so the
// keys nobody asked for are exactly the unknown ones (usually typos) and are refused.
class JsonSection {
public:
    JsonSection(const json& object, std::string path) : object_(object), path_(std::move(path)) {
        if (!object_.is_object()) throw ConfigError(path_, "expected an object");
    }

    const json& object() const { return object_; }
    const std::string& path() const { return path_; }
    std::string path_of(std::string_view key) const { return join_path(path_, key); }

    // The value at key, or nullptr when absent.
    const json* find(std::string_view key) {
        known_keys_.emplace(key);
        const auto it = object_.find(key);
        return it == object_.end() ? nullptr : &*it;
    }

    template <class Integer>
    void read_integer(std::string_view key, Integer& out, const IntRange& range) {
        if (const json* value = find(key)) {
            out = static_cast<Integer>(integer_from_json(*value, range, path_of(key)));
        }
    }

    template <class Duration>
    void read_duration(std::string_view key, Duration& out, const IntRange& range) {
        if (const json* value = find(key)) out = Duration(integer_from_json(*value, range, path_of(key)));
    }

    // Real numbers that must be strictly positive (rates).
    void read_positive_number(std::string_view key, double& out) {
        if (const json* value = find(key)) {
            if (!value->is_number() || value->get<double>() <= 0) {
                throw ConfigError(path_of(key), "expected a number > 0");
            }
            out = value->get<double>();
        }
    }

    // Shares: a number in [0, 1].
    void read_fraction(std::string_view key, double& out) {
        if (const json* value = find(key)) {
            if (!value->is_number() || value->get<double>() < 0 || value->get<double>() > 1) {
                throw ConfigError(path_of(key), "expected a number >= 0 and <= 1");
            }
            out = value->get<double>();
        }
    }

    void read_bool(std::string_view key, bool& out) {
        if (const json* value = find(key)) {
            if (!value->is_boolean()) throw ConfigError(path_of(key), "expected true or false");
            out = value->get<bool>();
        }
    }

    void read_string(std::string_view key, std::string& out) {
        if (const json* value = find(key)) out = string_at(key, *value);
    }

    void read_non_empty_string(std::string_view key, std::string& out) {
        if (const json* value = find(key)) {
            std::string text = string_at(key, *value);
            if (text.empty()) throw ConfigError(path_of(key), "expected a non-empty string");
            out = std::move(text);
        }
    }

    template <std::size_t N>
    void read_choice(std::string_view key, std::string& out, const std::array<std::string_view, N>& choices) {
        if (const json* value = find(key)) {
            if (!value->is_string()) throw ConfigError(path_of(key), one_of(choices));
            out = checked_choice(value->get_ref<const std::string&>(), choices, path_of(key));
        }
    }

    std::optional<JsonSection> section(std::string_view key) {
        if (const json* value = find(key)) return JsonSection(*value, path_of(key));
        return std::nullopt;
    }

    // Call after every lookup of this section.
    void reject_unknown_keys() const {
        for (const auto& [key, value] : object_.items()) {
            if (known_keys_.count(key) != 0) continue;
            if (key == "api_key") {
                throw ConfigError(path_of(key), "unknown key; keys never go in the config file: name an "
                                                "environment variable in api_key_env or a file in api_key_file");
            }
            std::string problem = "unknown key";
            if (auto suggestion = closest_known_key(key)) problem += " (did you mean " + *suggestion + "?)";
            throw ConfigError(path_of(key), problem);
        }
    }

private:
    std::string string_at(std::string_view key, const json& value) const {
        if (!value.is_string()) throw ConfigError(path_of(key), "expected a string");
        return value.get<std::string>();
    }

    std::optional<std::string> closest_known_key(std::string_view unknown) const {
        std::optional<std::string> best;
        std::size_t best_distance = 3;  // more than two edits away is no longer a typo
        for (const auto& known : known_keys_) {
            // Durations carry their unit in the name: "idle_timeout" means idle_timeout_seconds.
            if (known.starts_with(std::string(unknown) + "_")) return known;
            const std::size_t distance = edit_distance(unknown, known);
            if (distance < best_distance) {
                best_distance = distance;
                best = known;
            }
        }
        return best;
    }

    const json& object_;
    std::string path_;
    std::set<std::string, std::less<>> known_keys_;
};

}  // namespace voxgate::config
