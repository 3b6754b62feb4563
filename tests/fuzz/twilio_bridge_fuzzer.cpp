// TwilioBridge on arbitrary WebSocket text from "Twilio" (one message per line): the
// decoder never crashes, and whatever a message held, every event the bridge hands the
// session is one valid JSON object (a payload or parameter cannot smuggle fields into an
// append or session.update), and every frame it sends back to Twilio is valid JSON.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "fuzz_support.hpp"
#include "session/twilio_bridge.hpp"

namespace {

using namespace voxgate;
using nlohmann::json;

void check_object(std::string_view text) {
    const json parsed = json::parse(text, nullptr, false);
    VOXGATE_FUZZ_CHECK(parsed.is_object() && parsed.contains("type") && parsed["type"].is_string(), text);
}

class CheckingLink final : public session::ClientLink {
public:
    void send_text(std::shared_ptr<const std::string> frame) override {
        VOXGATE_FUZZ_CHECK(!json::parse(*frame, nullptr, false).is_discarded(), *frame);
    }
    void close(std::uint16_t, std::string_view) override {}
    std::size_t queued_bytes() const override { return 0; }
};

// Stands for RealtimeSession: checks each event, and answers an append with an audio
// delta of the same payload and a speech_started, so marks, clear and truncate run too.
class CheckingSession final : public session::ClientHandler {
public:
    explicit CheckingSession(session::ClientLink& link) : link_(link) {}
    void on_open() override {}
    void on_text(std::string_view message) override {
        check_object(message);
        const json event = json::parse(message);
        if (event["type"] != "input_audio_buffer.append" || !event["audio"].is_string()) return;
        json delta = {{"type", "response.output_audio.delta"}, {"item_id", "item_1"}, {"delta", event["audio"]}};
        link_.send_text(std::make_shared<const std::string>(delta.dump(-1, ' ', false, json::error_handler_t::replace)));
        if (++appends_ % 3 == 0)
            link_.send_text(std::make_shared<const std::string>(R"({"type":"input_audio_buffer.speech_started"})"));
    }
    void on_binary(std::string_view) override {}
    void on_send_queue_high() override {}
    void on_send_queue_low() override {}
    void on_closed() override {}

private:
    session::ClientLink& link_;
    int appends_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    boost::asio::io_context io;
    CheckingLink twilio;
    auto bridge = std::make_shared<session::TwilioBridge>(
        twilio, io.get_executor(),
        [](session::ClientLink& link, std::string, std::string&) -> std::shared_ptr<session::ClientHandler> {
            return std::make_shared<CheckingSession>(link);
        },
        nullptr);
    std::string_view input(reinterpret_cast<const char*>(data), size);
    while (!input.empty()) {
        const auto newline = input.find('\n');
        bridge->on_text(input.substr(0, newline));
        io.poll();  // the posted truncates
        if (newline == std::string_view::npos) break;
        input.remove_prefix(newline + 1);
    }
    bridge->on_closed();
    return 0;
}
