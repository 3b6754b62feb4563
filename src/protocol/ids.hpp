#pragma once
// Server-generated ids: "event_", "item_", "resp_", "call_" followed by 20 hex digits of
// CSPRNG output (80 bits, random_bytes.hpp). Random rather than counted, so they neither
// leak traffic volume nor let a client predict an id the server will use next; item ids
// are still checked against the conversation where a client may have chosen one
// (SessionEngine::new_item_id).
#include <string>
#include <string_view>

namespace voxgate::protocol {

std::string new_event_id();
std::string new_item_id();
std::string new_response_id();
std::string new_call_id();

// Appends a fresh event id to `out`: the text-delta hot path builds frames in place.
void append_event_id(std::string& out);

}  // namespace voxgate::protocol
