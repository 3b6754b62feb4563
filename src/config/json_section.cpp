#include "config/json_section.hpp"

#include <algorithm>
#include <vector>

namespace voxgate::config {

std::string one_line(std::string_view text) {
    std::string line(text);
    std::replace_if(line.begin(), line.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
    return line;
}

std::string in_quotes(std::string_view text) { return "\"" + one_line(text) + "\""; }

std::string join_path(std::string_view parent, std::string_view key) {
    if (key.empty()) key = "\"\"";
    if (parent.empty()) return std::string(key);
    std::string path(parent);
    path += '.';
    path += key;
    return path;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

std::string expected_integer(const IntRange& range, bool above_max) {
    std::string text = "expected an integer >= " + std::to_string(range.min);
    if (range.max_is_documented || above_max) text += " and <= " + std::to_string(range.max);
    return text;
}

std::int64_t checked_integer(std::int64_t value, const IntRange& range, std::string_view where) {
    if (value < range.min) throw ConfigError(where, expected_integer(range, false));
    if (value > range.max) throw ConfigError(where, expected_integer(range, true));
    return value;
}

std::int64_t integer_from_json(const json& value, const IntRange& range, std::string_view where) {
    if (value.is_number_unsigned()) {
        const auto unsigned_value = value.get<std::uint64_t>();
        if (unsigned_value > static_cast<std::uint64_t>(range.max)) {
            throw ConfigError(where, expected_integer(range, true));
        }
        return checked_integer(static_cast<std::int64_t>(unsigned_value), range, where);
    }
    if (value.is_number_integer()) return checked_integer(value.get<std::int64_t>(), range, where);
    throw ConfigError(where, expected_integer(range, false));
}

}  // namespace voxgate::config
