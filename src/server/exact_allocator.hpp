#pragma once
// An allocator that Asio does not recycle through. Boost 1.81 maps std::allocator (bound
// or default) to its per-thread recycling allocator, which hands a new operation the
// recently freed block it cached when that block is large enough: an idle WebSocket's
// 1-byte wait inherits the handshake's larger block and keeps it for as long as the
// connection stays idle. An operation bound to ExactAllocator gets a block of its own size
// from operator new. Meant for long waits only; short operations are cheaper recycled.
#include <cstddef>
#include <new>

namespace voxgate::server {

template <class T>
struct ExactAllocator {
    using value_type = T;

    ExactAllocator() noexcept = default;
    template <class U>
    ExactAllocator(const ExactAllocator<U>&) noexcept {}

    T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
    // Unsized: clang builds without -fsized-deallocation have no sized operator delete.
    void deallocate(T* p, std::size_t) noexcept { ::operator delete(p); }

    template <class U>
    bool operator==(const ExactAllocator<U>&) const noexcept {
        return true;
    }
};

}  // namespace voxgate::server
