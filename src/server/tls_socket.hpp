#pragma once
// A server-side TLS stream that costs little while a connection is idle: OpenSSL reads
// and writes the socket itself through a small BIO of ours, so there is no BIO pair and
// no pair of 16 KiB staging buffers per connection (asio::ssl::stream keeps ~34 KB of
// them for the connection's whole life). With SSL_MODE_RELEASE_BUFFERS on the context,
// an idle connection holds the SSL object and nothing else.
//
// It is an AsyncReadStream/AsyncWriteStream Beast can sit on (with teardown overloads),
// and it is single-threaded like everything on a shard: operations are retried when the
// socket is ready (async_wait), never from another thread.
//
// Writes: a write_some encrypts up to one record's worth of its buffers in one SSL_write
// (small buffers are gathered first, so a frame header and its payload make one record)
// and the BIO sends the record at once; what the kernel does not take waits in `unsent`
// and the write completes when it has left. So a write never reports bytes the socket has
// not taken, and `unsent` never holds more than one operation's records.
#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/role.hpp>

#include "voxgate/net.hpp"

typedef struct ssl_st SSL;

namespace voxgate::server {

class TlsSocket {
public:
    using executor_type = tcp_socket::executor_type;
    using next_layer_type = tcp_socket;

    TlsSocket(tcp_socket socket, asio::ssl::context& context);
    TlsSocket(TlsSocket&&) noexcept;
    TlsSocket& operator=(TlsSocket&&) = delete;
    ~TlsSocket();

    executor_type get_executor() noexcept { return socket_.get_executor(); }
    tcp_socket& next_layer() noexcept { return socket_; }
    const tcp_socket& next_layer() const noexcept { return socket_; }
    SSL* native_handle() noexcept;

    // The server handshake. `already_read` holds bytes taken from the socket before (TLS
    // detection); they are fed to OpenSSL first. Completes with (error_code, 0).
    template <class Token>
    auto async_handshake(asio::const_buffer already_read, Token&& token) {
        set_already_read(already_read);
        return drive(Operation::handshake, asio::mutable_buffer(), std::forward<Token>(token));
    }

    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token) {
        return drive(Operation::read, first_non_empty(buffers), std::forward<Token>(token));
    }

    template <class ConstBuffers, class Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token) {
        return drive(Operation::write, gather(buffers), std::forward<Token>(token));
    }

    // Sends close_notify and waits for the peer's. Completes with (error_code, 0); the peer
    // closing TCP instead counts as done (eof).
    template <class Token>
    auto async_shutdown(Token&& token) {
        return drive(Operation::shutdown, asio::mutable_buffer(), std::forward<Token>(token));
    }

    // Sends close_notify if the socket takes it at once, without waiting for the peer.
    void shutdown_now() noexcept;

    struct Core;  // what the BIO works on (tls_socket.cpp)

private:
    enum class Operation { handshake, read, write, shutdown };
    enum class Wait { none, read, write };

    // One attempt at `op`: completes (`wait` = none, with `ec`/`bytes`) or says what the
    // socket must become ready for before the next attempt. `buffer` is the caller's for
    // reads, the gathered plaintext for writes.
    struct Attempt {
        Wait wait = Wait::none;
        error_code ec;
        std::size_t bytes = 0;
    };
    Attempt attempt(Operation op, asio::mutable_buffer buffer, bool& encrypted);

    struct DriveOp;

    template <class Token>
    auto drive(Operation op, asio::mutable_buffer buffer, Token&& token);

    void set_already_read(asio::const_buffer bytes);

    template <class MutableBuffers>
    static asio::mutable_buffer first_non_empty(const MutableBuffers& buffers) {
        for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it)
            if (asio::mutable_buffer piece(*it); piece.size() != 0) return piece;
        return {};
    }

    // A lone buffer is used in place; several are copied into this thread's scratch (up
    // to one TLS record), so they leave as one record.
    template <class ConstBuffers>
    static asio::mutable_buffer gather(const ConstBuffers& buffers) {
        auto it = asio::buffer_sequence_begin(buffers), end = asio::buffer_sequence_end(buffers);
        while (it != end && asio::const_buffer(*it).size() == 0) ++it;
        if (it == end) return {};
        asio::const_buffer first(*it);
        auto next = it;
        if (++next == end || first.size() >= max_record_plaintext)
            return {const_cast<void*>(first.data()), std::min(first.size(), max_record_plaintext)};
        char* scratch = write_scratch();
        std::size_t size = 0;
        for (; it != end && size < max_record_plaintext; ++it)
            size += asio::buffer_copy(asio::buffer(scratch + size, max_record_plaintext - size), *it);
        return {scratch, size};
    }
    static constexpr std::size_t max_record_plaintext = 16384;
    static char* write_scratch() noexcept;

    tcp_socket socket_;
    std::unique_ptr<Core> core_;  // the BIO points at it, so it must not move with the socket
};

struct TlsSocket::DriveOp {
    TlsSocket& socket;
    Operation op;
    asio::mutable_buffer buffer;
    bool waited = false;      // an attempt has waited: completing directly is safe
    bool encrypted = false;   // a write's plaintext is in `unsent` already
    bool completing = false;  // the result below is being delivered after a post
    Attempt result{};

    template <class Self>
    void operator()(Self& self, error_code ec = {}) {
        if (completing) return self.complete(result.ec, result.bytes);
        if (ec) return self.complete(ec, std::size_t{0});
        result = socket.attempt(op, buffer, encrypted);
        switch (result.wait) {
        case Wait::read:
            waited = true;
            return socket.socket_.async_wait(tcp_socket::wait_read, std::move(self));
        case Wait::write:
            waited = true;
            return socket.socket_.async_wait(tcp_socket::wait_write, std::move(self));
        case Wait::none:
            if (waited) return self.complete(result.ec, result.bytes);
            // Never complete inside the initiating call.
            completing = true;
            return asio::post(socket.get_executor(), std::move(self));
        }
    }
};

template <class Token>
auto TlsSocket::drive(Operation op, asio::mutable_buffer buffer, Token&& token) {
    return asio::async_compose<Token, void(error_code, std::size_t)>(
        DriveOp{*this, op, buffer}, token, socket_);
}

// Beast's WebSocket close: TLS close_notify exchange, then the socket is closed by Beast.
void teardown(boost::beast::role_type role, TlsSocket& stream, error_code& ec);

template <class Handler>
void async_teardown(boost::beast::role_type, TlsSocket& stream, Handler&& handler) {
    stream.async_shutdown([handler = std::forward<Handler>(handler)](error_code ec, std::size_t) mutable {
        if (ec == asio::error::eof) ec = {};  // the peer closed instead of answering: done anyway
        std::move(handler)(ec);
    });
}

}  // namespace voxgate::server
