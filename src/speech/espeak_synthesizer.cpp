#include "speech/espeak_synthesizer.hpp"

#include <dlfcn.h>

#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <espeak-ng/espeak_ng.h>
#include <espeak-ng/speak_lib.h>

namespace voxgate::speech {
namespace {

// libespeak-ng is opened on first use rather than linked (CMakeLists.txt says why); the
// prototypes still come from its headers, so a changed signature fails the build.
struct EspeakApi {
    decltype(&::espeak_ng_InitializePath) initialize_path = nullptr;
    decltype(&::espeak_ng_Initialize) initialize = nullptr;
    decltype(&::espeak_ng_InitializeOutput) initialize_output = nullptr;
    decltype(&::espeak_ng_GetSampleRate) get_sample_rate = nullptr;
    decltype(&::espeak_ng_GetStatusCodeMessage) status_message = nullptr;
    decltype(&::espeak_ng_ClearErrorContext) clear_error_context = nullptr;
    decltype(&::espeak_ng_SetVoiceByName) set_voice_by_name = nullptr;
    decltype(&::espeak_ng_SetParameter) set_parameter = nullptr;
    decltype(&::espeak_ng_Synthesize) synthesize = nullptr;
    decltype(&::espeak_SetSynthCallback) set_synth_callback = nullptr;
    std::string error;  // why it could not be loaded; "" when loaded
};

constexpr const char* library_name = "libespeak-ng.so.1";

EspeakApi load_api() {
    EspeakApi api;
    // Never closed: espeak-ng's globals live until exit.
    void* library = ::dlopen(library_name, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        const char* why = ::dlerror();
        api.error = std::string("cannot load ") + library_name + " (Debian package libespeak-ng1): " +
                    (why ? why : "unknown error");
        return api;
    }
    auto bind = [&](auto& function, const char* name) {
        function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(::dlsym(library, name));
        if (!function && api.error.empty()) api.error = std::string(library_name) + " has no symbol " + name;
    };
    bind(api.initialize_path, "espeak_ng_InitializePath");
    bind(api.initialize, "espeak_ng_Initialize");
    bind(api.initialize_output, "espeak_ng_InitializeOutput");
    bind(api.get_sample_rate, "espeak_ng_GetSampleRate");
    bind(api.status_message, "espeak_ng_GetStatusCodeMessage");
    bind(api.clear_error_context, "espeak_ng_ClearErrorContext");
    bind(api.set_voice_by_name, "espeak_ng_SetVoiceByName");
    bind(api.set_parameter, "espeak_ng_SetParameter");
    bind(api.synthesize, "espeak_ng_Synthesize");
    bind(api.set_synth_callback, "espeak_SetSynthCallback");
    return api;
}

// espeak-ng's process-wide state, and the one mutex every use of it takes.
struct EspeakProcess {
    std::mutex mutex;
    bool initialised = false;  // tried: `failure` says how it went
    std::string failure;       // why espeak-ng cannot speak; "" when it can
    std::string current_voice;
    int current_rate = 0;  // 0: to be set (after a voice change too)
    const EspeakApi* api = nullptr;
    const EspeakSynthesizer::Sink* sink = nullptr;  // of the synthesis running now, under `mutex`
    bool stopped = false;                           // that sink asked to stop
};

EspeakProcess& process() {
    static EspeakProcess state;
    return state;
}

std::string status_text(const EspeakApi& api, espeak_ng_STATUS status) {
    char text[256] = {};
    api.status_message(status, text, sizeof text);
    return text[0] ? std::string(text) : "status " + std::to_string(static_cast<unsigned>(status));
}

// Synchronous mode: espeak-ng calls this from inside espeak_ng_Synthesize, on the thread
// holding the mutex, so the sink of the running synthesis is the one in process().
int on_samples(short* samples, int count, espeak_EVENT*) {
    auto& state = process();
    if (!samples) return 0;  // the end of the synthesis
    if (state.stopped) return 1;
    try {
        if (count > 0 && !(*state.sink)(std::span<const std::int16_t>(samples, static_cast<std::size_t>(count))))
            state.stopped = true;
    } catch (...) {  // nothing may unwind through espeak-ng's C frames
        state.stopped = true;
    }
    return state.stopped ? 1 : 0;
}

// Under the mutex, once per process.
void initialise(EspeakProcess& state, const EspeakSynthesizer::Options& options) {
    state.initialised = true;
    static const EspeakApi api = load_api();
    if (!api.error.empty()) {
        state.failure = api.error;
        return;
    }
    state.api = &api;
    // NULL = the data directory compiled into the library (and $ESPEAK_DATA_PATH).
    api.initialize_path(options.data_dir.empty() ? nullptr : options.data_dir.c_str());
    espeak_ng_ERROR_CONTEXT context = nullptr;
    if (espeak_ng_STATUS status = api.initialize(&context); status != ENS_OK) {
        api.clear_error_context(&context);
        state.failure = "espeak-ng could not load its data (Debian package espeak-ng-data" +
                        std::string(options.data_dir.empty() ? "" : "; text_to_speech.data_dir " + options.data_dir) +
                        "): " + status_text(api, status);
        return;
    }
    constexpr int buffer_ms = 100;
    if (espeak_ng_STATUS status = api.initialize_output(ENOUTPUT_MODE_SYNCHRONOUS, buffer_ms, nullptr);
        status != ENS_OK) {
        state.failure = "espeak-ng could not set up synchronous output: " + status_text(api, status);
        return;
    }
    if (const int rate = api.get_sample_rate(); rate != EspeakSynthesizer::sample_rate) {
        state.failure = "espeak-ng speaks at " + std::to_string(rate) + " Hz, not " +
                        std::to_string(EspeakSynthesizer::sample_rate);
        return;
    }
    api.set_synth_callback(&on_samples);
}

// Under the mutex. Re-selecting the voice in use is skipped: it reloads its dictionary.
bool select_voice(EspeakProcess& state, const std::string& voice) {
    if (voice == state.current_voice) return true;
    if (!EspeakSynthesizer::plain_voice_name(voice) || state.api->set_voice_by_name(voice.c_str()) != ENS_OK)
        return false;
    state.current_voice = voice;
    state.current_rate = 0;
    return true;
}

}  // namespace

bool EspeakSynthesizer::plain_voice_name(std::string_view name) {
    if (name.empty() || name.size() > 40) return false;
    for (char c : name) {
        const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                           c == '_' || c == '+';
        if (!plain) return false;
    }
    return true;
}

void EspeakSynthesizer::speak(std::string_view text, const std::string& voice, const std::string& fallback,
                              const Sink& sink) const {
    auto& state = process();
    std::lock_guard lock(state.mutex);
    if (!state.initialised) initialise(state, options_);
    if (!state.failure.empty()) throw std::runtime_error(state.failure);
    if (!select_voice(state, voice) && !select_voice(state, fallback))
        throw std::runtime_error("espeak-ng has neither voice \"" + (plain_voice_name(voice) ? voice : "?") +
                                 "\" nor the default voice \"" + fallback + "\" (text_to_speech.voice)");
    if (state.current_rate != options_.rate_wpm && state.api->set_parameter(espeakRATE, options_.rate_wpm, 0) == ENS_OK)
        state.current_rate = options_.rate_wpm;
    const std::string terminated(text);  // espeak-ng reads up to a NUL
    state.sink = &sink;
    state.stopped = false;
    const espeak_ng_STATUS status =
        state.api->synthesize(terminated.c_str(), terminated.size() + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8,
                              nullptr, nullptr);
    state.sink = nullptr;
    // A sink that stopped the synthesis is no failure: the caller asked for it.
    if (status != ENS_OK && !state.stopped)
        throw std::runtime_error("espeak-ng could not speak the text: " + status_text(*state.api, status));
}

}  // namespace voxgate::speech
