#include "speech/pocketsphinx_recognizer.hpp"

#include <dlfcn.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <pocketsphinx.h>

namespace voxgate::speech {
namespace {

// libpocketsphinx is opened on first use rather than linked (CMakeLists.txt says why); the
// prototypes still come from its headers, so a changed signature fails the build.
struct PocketsphinxApi {
    decltype(&::cmd_ln_init) cmd_ln_init = nullptr;
    decltype(&::cmd_ln_free_r) cmd_ln_free_r = nullptr;
    decltype(&::ps_args) ps_args = nullptr;
    decltype(&::ps_init) ps_init = nullptr;
    decltype(&::ps_free) ps_free = nullptr;
    decltype(&::ps_start_utt) ps_start_utt = nullptr;
    decltype(&::ps_process_raw) ps_process_raw = nullptr;
    decltype(&::ps_end_utt) ps_end_utt = nullptr;
    decltype(&::ps_get_hyp) ps_get_hyp = nullptr;
    std::string error;  // why it could not be loaded; "" when loaded
};

constexpr const char* library_name = "libpocketsphinx.so.3";

PocketsphinxApi load_api() {
    PocketsphinxApi api;
    // Never closed: decoders may live until exit. sphinxbase comes in as its dependency.
    void* library = ::dlopen(library_name, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        const char* why = ::dlerror();
        api.error = std::string("cannot load ") + library_name + " (Debian package libpocketsphinx3): " +
                    (why ? why : "unknown error");
        return api;
    }
    auto bind = [&](auto& function, const char* name) {
        function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(::dlsym(library, name));
        if (!function && api.error.empty()) api.error = std::string(library_name) + " has no symbol " + name;
    };
    bind(api.cmd_ln_init, "cmd_ln_init");
    bind(api.cmd_ln_free_r, "cmd_ln_free_r");
    bind(api.ps_args, "ps_args");
    bind(api.ps_init, "ps_init");
    bind(api.ps_free, "ps_free");
    bind(api.ps_start_utt, "ps_start_utt");
    bind(api.ps_process_raw, "ps_process_raw");
    bind(api.ps_end_utt, "ps_end_utt");
    bind(api.ps_get_hyp, "ps_get_hyp");
    return api;
}

// Loaded once, by the first recogniser (a compute thread), whichever thread that is.
const PocketsphinxApi& api() {
    static const PocketsphinxApi loaded = load_api();
    return loaded;
}

}  // namespace

PocketsphinxRecognizer::PocketsphinxRecognizer(const std::string& model_dir) {
    const std::filesystem::path dir(model_dir);
    const std::string hmm = (dir / "en-us").string();
    const std::string lm = (dir / "en-us.lm.bin").string();
    const std::string dict = (dir / "cmudict-en-us.dict").string();
    for (const auto& path : {hmm, lm, dict}) {
        std::error_code error;
        if (!std::filesystem::exists(path, error))
            throw std::runtime_error("pocketsphinx model file " + path +
                                     " is missing (Debian package pocketsphinx-en-us; speech_to_text.model_dir)");
    }
    const PocketsphinxApi& ps = api();
    if (!ps.error.empty()) throw std::runtime_error(ps.error);
    // -logfn /dev/null: the decoder logs every utterance to stderr otherwise.
    config_ = ps.cmd_ln_init(nullptr, ps.ps_args(), TRUE, "-hmm", hmm.c_str(), "-lm", lm.c_str(), "-dict",
                             dict.c_str(), "-logfn", "/dev/null", nullptr);
    if (!config_) throw std::runtime_error("pocketsphinx refused its configuration");
    decoder_ = ps.ps_init(config_);
    if (!decoder_) {
        ps.cmd_ln_free_r(config_);
        throw std::runtime_error("pocketsphinx could not load the model in " + model_dir);
    }
}

PocketsphinxRecognizer::~PocketsphinxRecognizer() {
    api().ps_free(decoder_);
    api().cmd_ln_free_r(config_);
}

std::string PocketsphinxRecognizer::recognize(std::span<const std::int16_t> samples) {
    const PocketsphinxApi& ps = api();
    if (ps.ps_start_utt(decoder_) < 0) throw std::runtime_error("pocketsphinx could not start an utterance");
    // The decoder takes chunks; one call with the whole utterance is what it does in batch mode.
    if (!samples.empty() &&
        ps.ps_process_raw(decoder_, samples.data(), samples.size(), /*no_search=*/FALSE, /*full_utt=*/TRUE) < 0) {
        ps.ps_end_utt(decoder_);
        throw std::runtime_error("pocketsphinx could not decode the audio");
    }
    ps.ps_end_utt(decoder_);
    std::int32_t score = 0;
    const char* hypothesis = ps.ps_get_hyp(decoder_, &score);
    return hypothesis ? std::string(hypothesis) : std::string();
}

}  // namespace voxgate::speech
