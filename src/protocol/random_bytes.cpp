#include "protocol/random_bytes.hpp"

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace voxgate::protocol {
namespace {

class RandomBuffer {
public:
    void take(std::uint8_t* out, std::size_t count) {
        while (count > 0) {
            if (used_ == buffer_.size()) refill();
            const std::size_t n = std::min(count, buffer_.size() - used_);
            std::memcpy(out, buffer_.data() + used_, n);
            // Bytes handed out are wiped: a later memory disclosure cannot replay them.
            std::memset(buffer_.data() + used_, 0, n);
            used_ += n;
            out += n;
            count -= n;
        }
    }

private:
    void refill() {
        std::size_t filled = 0;
        while (filled < buffer_.size()) {
            const ssize_t got = ::getrandom(buffer_.data() + filled, buffer_.size() - filled, 0);
            if (got < 0) {
                if (errno == EINTR) continue;
                std::fprintf(stderr, "voxgate: getrandom failed: %s\n", std::strerror(errno));
                std::abort();
            }
            filled += static_cast<std::size_t>(got);
        }
        used_ = 0;
    }

    std::array<std::uint8_t, 512> buffer_{};
    std::size_t used_ = buffer_.size();  // empty: the first take refills
};

}  // namespace

void random_bytes(std::span<std::uint8_t> out) {
    thread_local RandomBuffer buffer;
    buffer.take(out.data(), out.size());
}

void append_random_hex(std::string& out, std::size_t count) {
    static constexpr char hex[] = "0123456789abcdef";
    std::array<std::uint8_t, 32> bytes;
    while (count > 0) {
        const std::size_t n = std::min(count, bytes.size());
        random_bytes(std::span(bytes.data(), n));
        for (std::size_t i = 0; i < n; ++i) {
            out.push_back(hex[bytes[i] >> 4]);
            out.push_back(hex[bytes[i] & 0xf]);
        }
        count -= n;
    }
}

}  // namespace voxgate::protocol
