#include "speech/pocketsphinx_recognizer.hpp"

#include <filesystem>
#include <stdexcept>

#include <pocketsphinx.h>

namespace voxgate::speech {

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
    // -logfn /dev/null: the decoder logs every utterance to stderr otherwise.
    config_ = cmd_ln_init(nullptr, ps_args(), TRUE, "-hmm", hmm.c_str(), "-lm", lm.c_str(), "-dict", dict.c_str(),
                          "-logfn", "/dev/null", nullptr);
    if (!config_) throw std::runtime_error("pocketsphinx refused its configuration");
    decoder_ = ps_init(config_);
    if (!decoder_) {
        cmd_ln_free_r(config_);
        throw std::runtime_error("pocketsphinx could not load the model in " + model_dir);
    }
}

PocketsphinxRecognizer::~PocketsphinxRecognizer() {
    ps_free(decoder_);
    cmd_ln_free_r(config_);
}

std::string PocketsphinxRecognizer::recognize(std::span<const std::int16_t> samples) {
    if (ps_start_utt(decoder_) < 0) throw std::runtime_error("pocketsphinx could not start an utterance");
    // The decoder takes chunks; one call with the whole utterance is what it does in batch mode.
    if (!samples.empty() &&
        ps_process_raw(decoder_, samples.data(), samples.size(), /*no_search=*/FALSE, /*full_utt=*/TRUE) < 0) {
        ps_end_utt(decoder_);
        throw std::runtime_error("pocketsphinx could not decode the audio");
    }
    ps_end_utt(decoder_);
    std::int32_t score = 0;
    const char* hypothesis = ps_get_hyp(decoder_, &score);
    return hypothesis ? std::string(hypothesis) : std::string();
}

}  // namespace voxgate::speech
