#pragma once
// SessionControl: what a dialect adapter (RealtimeSession, TwilioBridge) asks of the
// session engine: typed commands, and the connection's life.
#include <string>

#include "protocol/client_events.hpp"

namespace voxgate::session {

// What a dialect adapter asks of the engine besides commands: the connection's life.
// SessionEngine is the one implementation; tests of an adapter stand in for it.
class SessionControl {
public:
    virtual ~SessionControl() = default;
    // Claim or create the conversation; session_created follows, at once or by post.
    virtual void open() = 0;
    // One typed command. Before session_ready only open() may have been called: the
    // adapter holds commands until then.
    virtual void handle(protocol::ClientEvent& command) = 0;
    virtual void pause_output() = 0;   // the client reads slowly: pause the model and the speech
    virtual void resume_output() = 0;
    virtual void client_gone() = 0;    // the connection is gone: no more events
    // The drain deadline passed: a response in flight ends incomplete with its last events.
    virtual void shut_down_gracefully() = 0;
    // Names the session in logs; "" before it is ready. Never the resume credential.
    virtual std::string log_id() const = 0;
    // Whether replies can be spoken here (text_to_speech is not none).
    virtual bool speaks() const = 0;
};

}  // namespace voxgate::session
