#include "protocol/ids.hpp"

#include <atomic>
#include <cstdint>

namespace voxgate::protocol {
namespace {

// 5 hex digits of thread number (a million threads), 15 of per-thread counter.
void append_unique_suffix(std::string& out) {
    static std::atomic<std::uint32_t> next_thread_number{0};
    thread_local const std::uint64_t thread_number = next_thread_number.fetch_add(1, std::memory_order_relaxed);
    thread_local std::uint64_t counter = 0;
    static constexpr char hex[] = "0123456789abcdef";
    char digits[20];
    std::uint64_t high = thread_number & 0xFFFFF;
    std::uint64_t low = ++counter & 0xFFFFFFFFFFFFFFFull;
    for (int i = 19; i >= 5; --i, low >>= 4) digits[i] = hex[low & 0xF];
    for (int i = 4; i >= 0; --i, high >>= 4) digits[i] = hex[high & 0xF];
    out.append(digits, sizeof digits);
}

std::string make_id(std::string_view prefix) {
    std::string id;
    id.reserve(prefix.size() + 20);
    id.append(prefix);
    append_unique_suffix(id);
    return id;
}

}  // namespace

std::string new_event_id() { return make_id("event_"); }
std::string new_item_id() { return make_id("item_"); }
std::string new_response_id() { return make_id("resp_"); }
std::string new_call_id() { return make_id("call_"); }

void append_event_id(std::string& out) {
    out.append("event_");
    append_unique_suffix(out);
}

}  // namespace voxgate::protocol
