#include "protocol/ids.hpp"

#include "protocol/random_bytes.hpp"

namespace voxgate::protocol {
namespace {

constexpr std::size_t random_id_bytes = 10;  // 20 hex digits, 80 random bits

std::string make_id(std::string_view prefix) {
    std::string id;
    id.reserve(prefix.size() + 2 * random_id_bytes);
    id.append(prefix);
    append_random_hex(id, random_id_bytes);
    return id;
}

}  // namespace

std::string new_event_id() { return make_id("event_"); }
std::string new_item_id() { return make_id("item_"); }
std::string new_response_id() { return make_id("resp_"); }
std::string new_call_id() { return make_id("call_"); }

void append_event_id(std::string& out) {
    out.append("event_");
    append_random_hex(out, random_id_bytes);
}

}  // namespace voxgate::protocol
