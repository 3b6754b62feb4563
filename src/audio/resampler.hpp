#pragma once
// A streaming PCM16 resampler over libsoxr (Debian libsoxr-dev). Chunks go in as they
// arrive (20 ms frames from a client, a TTS stream); what comes out is continuous across
// chunks, as one resampling of the whole signal would be. libsoxr rather than our own
// filter: band-limited resampling done well is a library's job.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

struct soxr;

namespace voxgate::audio {

class Resampler {
public:
    // Throws std::runtime_error when libsoxr refuses the rates.
    Resampler(int input_rate, int output_rate);
    ~Resampler();
    Resampler(Resampler&&) noexcept;
    Resampler& operator=(Resampler&&) noexcept;

    int input_rate() const { return input_rate_; }
    int output_rate() const { return output_rate_; }

    // Appends to `out` the output that `in` makes available. The filter holds back a few
    // milliseconds of signal until more input (or flush) arrives.
    void process(std::span<const std::int16_t> in, std::vector<std::int16_t>& out);
    // Appends what the filter still holds, ending the signal; the resampler may then start a
    // new signal.
    void flush(std::vector<std::int16_t>& out);

private:
    struct Delete {
        void operator()(soxr* resampler) const;
    };
    void run(const std::int16_t* in, std::size_t samples, std::vector<std::int16_t>& out);

    int input_rate_;
    int output_rate_;
    std::unique_ptr<soxr, Delete> soxr_;
};

// The whole of `in`, resampled from `input_rate` to `output_rate` in one go (a committed
// utterance for a recogniser that wants 16 kHz).
std::vector<std::int16_t> resample(std::span<const std::int16_t> in, int input_rate, int output_rate);

}  // namespace voxgate::audio
