// The config loader on an arbitrary JSON text (a file an operator typed or pasted): any
// input either loads or stops with a ConfigError naming where; nothing else escapes
// (an uncaught nlohmann or std exception would end start-up with std::terminate and no
// key path). A loaded config also describes its providers without a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config_loader.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    // Every api_key_env variable is unset: the fuzzer never reads the real environment.
    const voxgate::config::Environment no_environment = [](const char*) -> const char* { return nullptr; };
    try {
        const voxgate::Config config = voxgate::config::config_from_json(text, "fuzz.json", no_environment);
        (void)voxgate::config::unusable_providers(config);
        (void)voxgate::config::describe_providers(config);
    } catch (const voxgate::config::ConfigError& error) {
        VOXGATE_FUZZ_CHECK(!error.where().empty(), error.what());
    }
    return 0;
}
