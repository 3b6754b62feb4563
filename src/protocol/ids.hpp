#pragma once
// Server-generated ids: "event_", "item_", "resp_", "call_" followed by 20 hex digits,
// unique within the process. Each thread draws from its own counter (no shared cache
// line on the per-token path); a process-wide thread number keeps threads apart.
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
