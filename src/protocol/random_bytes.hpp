#pragma once
// Unpredictable bytes from the OS CSPRNG (getrandom(2)), for every id a peer could try to
// guess or collide with: session (resume) ids, conversation ids, item/response/event ids.
// Each thread keeps a small buffer refilled by one getrandom call, so an id on the
// per-token path (an event id) costs a memcpy, not a syscall.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace voxgate::protocol {

// Fills `out` with random bytes. Aborts the process if the kernel has no CSPRNG to give:
// ids that could be guessed are worse than no service.
void random_bytes(std::span<std::uint8_t> out);

// Appends `count` random bytes as 2 * count lowercase hex digits.
void append_random_hex(std::string& out, std::size_t count);

}  // namespace voxgate::protocol
