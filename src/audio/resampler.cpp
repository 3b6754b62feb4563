#include "audio/resampler.hpp"

#include <soxr.h>

#include <stdexcept>
#include <string>

namespace voxgate::audio {

void Resampler::Delete::operator()(soxr* resampler) const { soxr_delete(resampler); }

Resampler::Resampler(int input_rate, int output_rate) : input_rate_(input_rate), output_rate_(output_rate) {
    if (input_rate <= 0 || output_rate <= 0) throw std::runtime_error("resampler: rates must be positive");
    soxr_io_spec_t io = soxr_io_spec(SOXR_INT16_I, SOXR_INT16_I);
    // Medium quality: a 4 kHz (G.711) or 12 kHz (24 kHz PCM) speech band needs no more, and
    // its filter is short, so little signal is held back per chunk.
    soxr_quality_spec_t quality = soxr_quality_spec(SOXR_MQ, 0);
    soxr_error_t error = nullptr;
    soxr_.reset(soxr_create(input_rate, output_rate, 1, &error, &io, &quality, nullptr));
    if (error || !soxr_) throw std::runtime_error(std::string("resampler: ") + (error ? error : "soxr_create failed"));
}

Resampler::~Resampler() = default;
Resampler::Resampler(Resampler&&) noexcept = default;
Resampler& Resampler::operator=(Resampler&&) noexcept = default;

void Resampler::process(std::span<const std::int16_t> in, std::vector<std::int16_t>& out) {
    if (input_rate_ == output_rate_) {
        out.insert(out.end(), in.begin(), in.end());
        return;
    }
    if (!in.empty()) run(in.data(), in.size(), out);
}

void Resampler::flush(std::vector<std::int16_t>& out) {
    if (input_rate_ == output_rate_) return;
    run(nullptr, 0, out);
    soxr_clear(soxr_.get());
}

void Resampler::run(const std::int16_t* in, std::size_t samples, std::vector<std::int16_t>& out) {
    // Room for this chunk's share of output plus what the filter may release from before.
    std::size_t room = samples * static_cast<std::size_t>(output_rate_) / static_cast<std::size_t>(input_rate_) + 256;
    std::size_t consumed_total = 0;
    for (;;) {
        std::size_t start = out.size();
        out.resize(start + room);
        std::size_t consumed = 0;
        std::size_t produced = 0;
        soxr_error_t error = soxr_process(soxr_.get(), in ? in + consumed_total : nullptr, samples - consumed_total,
                                          in ? &consumed : nullptr, out.data() + start, room, &produced);
        out.resize(start + produced);
        if (error) throw std::runtime_error(std::string("resampler: ") + error);
        consumed_total += consumed;
        // Input left over, or a flush that filled the room: go round again.
        if (in ? consumed_total >= samples : produced < room) return;
    }
}

std::vector<std::int16_t> resample(std::span<const std::int16_t> in, int input_rate, int output_rate) {
    std::vector<std::int16_t> out;
    Resampler resampler(input_rate, output_rate);
    out.reserve(in.size() * static_cast<std::size_t>(output_rate) / static_cast<std::size_t>(input_rate) + 256);
    resampler.process(in, out);
    resampler.flush(out);
    return out;
}

}  // namespace voxgate::audio
