#pragma once
// Captures everything the process logs (spdlog's default logger, from every thread) while it
// lives, at debug level, so a test can assert what did or did not reach the log.
#include <memory>
#include <mutex>
#include <string>

#include <spdlog/common.h>
#include <spdlog/sinks/sink.h>

namespace voxgate::test {

class LogCapture {
public:
    LogCapture();
    ~LogCapture();
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;

    std::string text() const;  // every line so far

private:
    class Sink;
    std::shared_ptr<Sink> sink_;
    spdlog::level::level_enum previous_level_;
};

}  // namespace voxgate::test
