#include "server/logging.hpp"

#include <chrono>
#include <memory>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "protocol/json_text.hpp"

namespace voxgate::server {

namespace {

// One JSON object per line: {"ts":"...","level":"info","msg":"..."}. The message is
// escaped by protocol::to_text so any text, even invalid UTF-8, stays valid JSON.
class JsonLineFormatter final : public spdlog::formatter {
public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        auto since_epoch = msg.time.time_since_epoch();
        auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count();
        nlohmann::json line = {
            {"ts_ms", millis},
            {"level", spdlog::level::to_string_view(msg.level).data()},
            {"msg", std::string_view(msg.payload.data(), msg.payload.size())},
        };
        const std::string text = protocol::to_text(line);
        dest.append(text.data(), text.data() + text.size());
        dest.push_back('\n');
    }
    std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonLineFormatter>(); }
};

}  // namespace

std::unique_ptr<spdlog::formatter> make_json_line_formatter() { return std::make_unique<JsonLineFormatter>(); }

void configure_logging(const LogConfig& log) {
    auto level = spdlog::level::from_str(log.level);
    if (level == spdlog::level::off && log.level != "off")
        throw std::invalid_argument("log.level: unknown level " + log.level);
    // Not registered by name: configuring twice (tests) must not throw.
    auto logger = std::make_shared<spdlog::logger>("voxgate", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    if (log.format == "json") logger->set_formatter(make_json_line_formatter());
    else if (log.format == "text") logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
    else throw std::invalid_argument("log.format: expected text or json");
    logger->set_level(level);
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
}

}  // namespace voxgate::server
