#include "config/cli.hpp"

#include <array>
#include <vector>

#include "auth/key_digest.hpp"

#ifndef VOXGATE_VERSION
#error "VOXGATE_VERSION must be defined by the build (CMakeLists.txt)"
#endif

namespace voxgate::config {

namespace {

// A flag that takes a value, and where parse_command_line stores it.
struct ValueFlag {
    std::string_view name;
    std::optional<std::string> CliOptions::*target;
};

constexpr std::array<ValueFlag, 5> value_flags{{
    {"--config", &CliOptions::config_file},
    {"--listen", &CliOptions::listen},
    {"--threads", &CliOptions::threads},
    {"--log-level", &CliOptions::log_level},
    {"--log-format", &CliOptions::log_format},
}};

const ValueFlag* find_value_flag(std::string_view name) {
    for (const auto& flag : value_flags) {
        if (flag.name == name) return &flag;
    }
    return nullptr;
}

}  // namespace

CliOptions parse_command_line(std::span<const std::string_view> args) {
    CliOptions options;
    if (!args.empty() && args.front() == "hash-key") {
        // The key comes on stdin, never as an argument: argv is visible to every local user.
        if (args.size() > 1) throw ConfigError(args[1], "hash-key takes no arguments; it reads the key on stdin");
        options.action = CliAction::hash_key;
        return options;
    }
    bool help = false;
    bool version = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view arg = args[i];
        if (!arg.starts_with("-")) {
            throw ConfigError(arg, "unexpected argument (see --help)");
        }
        // "--flag=value" carries its value inline; "--flag value" takes the next argument.
        const auto equals = arg.find('=');
        const std::string_view name = arg.substr(0, equals);
        // A flag plus a view instead of std::optional<string_view>: g++ 12 -O3 reports a
        // false maybe-uninitialized on the optional's payload.
        const bool has_inline_value = equals != std::string_view::npos;
        const std::string_view inline_value = has_inline_value ? arg.substr(equals + 1) : std::string_view{};

        if (name == "--help" || name == "-h" || name == "--version") {
            if (has_inline_value) throw ConfigError(name, "takes no value");
            (name == "--version" ? version : help) = true;
            continue;
        }
        const ValueFlag* flag = find_value_flag(name);
        if (flag == nullptr) throw ConfigError(name, "unknown flag (see --help)");

        std::string_view value;
        if (has_inline_value) {
            value = inline_value;
        } else if (i + 1 < args.size() && !args[i + 1].starts_with("--")) {
            // No value of ours starts with "--": "--listen --threads 4" is a missing value.
            value = args[++i];
        } else {
            throw ConfigError(name, "missing value");
        }
        if (value.empty()) throw ConfigError(name, "missing value");
        options.*(flag->target) = std::string(value);
    }
    if (help) {
        options.action = CliAction::help;
    } else if (version) {
        options.action = CliAction::version;
    }
    return options;
}

CliOptions parse_command_line(int argc, const char* const argv[]) {
    std::vector<std::string_view> args;
    for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
    return parse_command_line(std::span<const std::string_view>(args));
}

std::string usage_text() {
    return R"(Usage: voxgate [options]
       voxgate hash-key < key.txt   print the SHA-256 of a client key for auth.keys_file

voxgate: a gateway that speaks the OpenAI Realtime protocol (WebSocket /v1/realtime)
to voice and chat clients and streams replies from LLM providers.

Options:
  --config FILE        JSON config file (comments allowed); without one the
                       built-in defaults serve every model from the demo provider
  --listen HOST:PORT   address to listen on (default 0.0.0.0:8080); HOST is an
                       IP address, IPv6 in brackets: [::1]:8080
  --threads N          worker threads, 0..1024 (default 0 = one per core)
  --log-level LEVEL    trace|debug|info|warn|error|critical|off (default info)
  --log-format FORMAT  text|json (default text)
  --version            print the version and exit
  -h, --help           print this help and exit

Flags take "--flag value" or "--flag=value".

Environment, used where the flag is absent (an empty variable counts as unset):
  VOXGATE_CONFIG       like --config
  VOXGATE_LISTEN       like --listen
  VOXGATE_THREADS      like --threads
  VOXGATE_LOG_LEVEL    like --log-level
  VOXGATE_LOG_FORMAT   like --log-format

Precedence: flags, then environment, then the config file, then built-in defaults.
Provider API keys are never flags: the config file names an environment variable
(api_key_env) or a file (api_key_file) per provider. See config/README.md.
)";
}

std::string version_text() { return std::string("voxgate ") + VOXGATE_VERSION; }

std::string hash_key_text(std::string input) {
    if (input.ends_with('\n')) input.pop_back();
    if (input.ends_with('\r')) input.pop_back();
    if (input.empty()) throw ConfigError("hash-key", "no key on stdin (try: printf %s \"$KEY\" | voxgate hash-key)");
    return auth::to_hex(auth::sha256_of(input));
}

}  // namespace voxgate::config
