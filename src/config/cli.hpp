#pragma once
// Command-line flags of the voxgate binary. Parsing only collects the raw values:
// load_config() validates them, so a bad flag value gets the same message as a bad
// file or environment value ("config error: --threads: expected an integer >= 0 ...").
// Provider keys have no flag on purpose: argv is visible to every local user (ps).
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "config/config_loader.hpp"

namespace voxgate::config {

// What main should do; the library never calls exit().
enum class CliAction { run, help, version, hash_key };

struct CliOptions {
    CliAction action = CliAction::run;
    // Raw values; unset = not given on the command line.
    std::optional<std::string> config_file;  // --config FILE
    std::optional<std::string> listen;       // --listen HOST:PORT
    std::optional<std::string> threads;      // --threads N
    std::optional<std::string> log_level;    // --log-level LEVEL
    std::optional<std::string> log_format;   // --log-format text|json
};

// `voxgate hash-key` (first argument, nothing after it) selects CliAction::hash_key.
// Accepts "--flag value" and "--flag=value"; a repeated flag keeps its last value.
// Throws ConfigError for an unknown flag, a missing or empty value, a value given to
// --help/--version, or a positional argument. --help wins over --version.
CliOptions parse_command_line(std::span<const std::string_view> args);  // without argv[0]
CliOptions parse_command_line(int argc, const char* const argv[]);      // skips argv[0]

std::string usage_text();    // for --help: every flag and environment variable
std::string version_text();  // "voxgate <VOXGATE_VERSION>"

// `voxgate hash-key`: the SHA-256 (64 hex digits, as sha256sum prints it) of the key read
// from `input`, without the one line ending an `echo` adds. Throws ConfigError when no key
// was given. The key is never printed.
std::string hash_key_text(std::string input);

}  // namespace voxgate::config
