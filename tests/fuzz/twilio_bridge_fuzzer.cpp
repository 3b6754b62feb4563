// TwilioBridge on arbitrary WebSocket text from "Twilio" (one message per line): the
// decoder never crashes, every command the bridge gives the session is well formed (an
// append holds whole decoded bytes, a truncate names the item that was playing), and
// every frame it sends back to Twilio is valid JSON.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include <boost/asio/io_context.hpp>

#include "fuzz_support.hpp"
#include "session/twilio_bridge.hpp"

namespace {

using namespace voxgate;
using nlohmann::json;

class CheckingLink final : public session::ClientLink {
public:
    void send_text(std::shared_ptr<const std::string> frame) override {
        VOXGATE_FUZZ_CHECK(!json::parse(*frame, nullptr, false).is_discarded(), *frame);
    }
    void close(std::uint16_t, std::string_view) override {}
    std::size_t queued_bytes() const override { return 0; }
};

// Stands for the session engine: checks each command, and answers an append with an
// audio delta of the same bytes and every third with a speech_started, so marks, clear
// and truncate run too.
class CheckingSession final : public session::SessionControl {
public:
    explicit CheckingSession(session::SessionEvents& events) : events_(events) {}
    void open() override { events_.session_ready(); }
    void handle(protocol::ClientEvent& command) override {
        if (auto* truncate = std::get_if<protocol::ItemTruncate>(&command.body)) {
            VOXGATE_FUZZ_CHECK(truncate->item_id == "item_1" && truncate->audio_end_ms >= 0, truncate->item_id);
            return;
        }
        auto* append = std::get_if<protocol::AudioAppend>(&command.body);
        if (!append) return;
        events_.output_audio_delta(protocol::OutputRef{"resp_1", "item_1", 0}, 0, append->audio);
        if (++appends_ % 3 == 0) events_.speech_started(0, "item_2");
    }
    void pause_output() override {}
    void resume_output() override {}
    void client_gone() override {}
    void shut_down_gracefully() override {}
    std::string log_id() const override { return {}; }
    bool speaks() const override { return true; }

private:
    session::SessionEvents& events_;
    int appends_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    boost::asio::io_context io;
    CheckingLink twilio;
    auto bridge = std::make_shared<session::TwilioBridge>(
        twilio, io.get_executor(),
        [](session::SessionEvents& events, std::string, std::string&) -> std::shared_ptr<session::SessionControl> {
            return std::make_shared<CheckingSession>(events);
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
