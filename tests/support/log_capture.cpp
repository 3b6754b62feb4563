#include "support/log_capture.hpp"

#include <algorithm>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

namespace voxgate::test {

class LogCapture::Sink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    std::string text() {
        std::lock_guard lock(mutex_);
        return text_;
    }

protected:
    void sink_it_(const spdlog::details::log_msg& message) override {
        text_.append(message.payload.data(), message.payload.size());
        text_.push_back('\n');
    }
    void flush_() override {}

private:
    std::string text_;
};

LogCapture::LogCapture() : sink_(std::make_shared<Sink>()), previous_level_(spdlog::default_logger()->level()) {
    spdlog::default_logger()->sinks().push_back(sink_);
    spdlog::default_logger()->set_level(spdlog::level::debug);
}

LogCapture::~LogCapture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
    spdlog::default_logger()->set_level(previous_level_);
}

std::string LogCapture::text() const { return sink_->text(); }

}  // namespace voxgate::test
