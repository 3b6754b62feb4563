#pragma once
// Builds the one Config voxgate runs with, in layers: built-in defaults (the member
// initializers of include/voxgate/config.hpp), then the JSON file (comments allowed),
// then the VOXGATE_* environment, then command-line flags. Every bad value stops
// start-up with a ConfigError: one line naming the key path, variable or flag, and
// what was expected. Errors and descriptions never contain a secret: provider keys are
// read here but never echoed.
//
// Runs once at start-up, before any shard thread exists; file reads block.
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "auth/client_key.hpp"
#include "voxgate/config.hpp"

namespace voxgate::config {

struct CliOptions;  // cli.hpp

// what() is "config error: <where>: <problem>" on one line, e.g.
// "config error: limits.max_message_bytes: expected an integer >= 1024".
// main prints it and exits with status 2.
class ConfigError : public std::runtime_error {
public:
    ConfigError(std::string_view where, std::string_view problem);
    // The key path ("limits.max_message_bytes"), variable ("VOXGATE_THREADS"),
    // flag ("--listen") or file the problem is about.
    const std::string& where() const noexcept { return where_; }

private:
    std::string where_;
};

// Looks up one environment variable; nullptr means unset. Injected so that tests never
// read or change the process environment.
using Environment = std::function<const char*(const char*)>;
Environment process_environment();  // std::getenv

// The whole pipeline. The file comes from --config, else VOXGATE_CONFIG, else there is
// none and the built-in defaults stand (a demo provider serving every model).
Config load_config(const CliOptions& cli, const Environment& env = process_environment());

// The file layer alone: defaults overlaid with one JSON document, validated, and
// provider keys resolved through env. `origin` names the document in syntax errors.
Config config_from_json(std::string_view json_text, std::string_view origin, const Environment& env);

// The client keys file (auth.keys_file): {"keys": [{"name", "sha256", "models",
// "limits"}]}. Errors name the path inside the file ("keys[1].sha256") and the file;
// they never echo a sha256 value (a pasted key is the usual mistake there). The keys
// come back without usage records (auth::Authenticator attaches them).
std::vector<auth::ClientKey> keys_from_json(std::string_view json_text, std::string_view origin);
std::vector<auth::ClientKey> load_keys_file(const std::string& path);

// Providers that name an api_key_env whose variable is unset or empty. The loader
// accepts them (the shipped config must start without keys); the server drops them from
// routes and falls back to the built-in demo provider where a route ends up empty.
std::vector<std::string> unusable_providers(const Config& config);

// One line for the start-up log: every provider's name, kind, model, base URL (without
// credentials or query) and where its key comes from. Never a key, never a header value.
std::string describe_providers(const Config& config);

}  // namespace voxgate::config
