#pragma once
// A stream layer between Beast's WebSocket stream and the transport (TCP, or TLS above
// TCP) that lets several frames leave in one write: one sendmsg, and over TLS one
// SSL_write (so one record) instead of one per frame.
//
// Beast writes one frame per async_write and allows one at a time, so the connection
// corks this layer, writes its queued frames (each "completes" at once: the bytes are
// copied into the cork buffer), then uncorks, which writes the whole buffer. Writes
// Beast makes on its own while the layer is corked or flushing (pongs, the close reply)
// join the buffer in order, so nothing is ever written around Beast's framing.
// Uncorked and idle, the layer writes straight through: a lone frame costs no copy.
//
// Idle cost: one null pointer and two flags; the buffers exist only while bytes are
// held or being written.
#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/saved_handler.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include "voxgate/net.hpp"

namespace voxgate::server {

template <class NextLayer>
class CorkedStream {
public:
    using executor_type = typename NextLayer::executor_type;
    using next_layer_type = NextLayer;

    template <class... Args>
    explicit CorkedStream(Args&&... args) : next_(std::forward<Args>(args)...) {}

    executor_type get_executor() noexcept { return next_.get_executor(); }
    NextLayer& next_layer() noexcept { return next_; }
    const NextLayer& next_layer() const noexcept { return next_; }

    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token) {
        return next_.async_read_some(buffers, std::forward<Token>(token));
    }

    template <class ConstBuffers, class Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto handler, const ConstBuffers& data) {
                if (!holding()) return next_.async_write_some(data, std::move(handler));
                std::size_t bytes = 0;
                auto& held = this->buffers().held;
                for (auto it = asio::buffer_sequence_begin(data); it != asio::buffer_sequence_end(data); ++it) {
                    asio::const_buffer piece(*it);
                    held.append(static_cast<const char*>(piece.data()), piece.size());
                    bytes += piece.size();
                }
                // Never complete inside the initiating call (the caller's op is not re-entrant).
                asio::post(next_.get_executor(), asio::append(std::move(handler), error_code{}, bytes));
            },
            token, buffers);
    }

    // From now on writes are held until uncork.
    void cork() noexcept { corked_ = true; }

    // Ends the cork and writes everything held in one write (then whatever joined meanwhile);
    // `handler(ec, bytes)` runs when it is all on the wire or the write failed.
    template <class Handler>
    void async_uncork(Handler&& handler) {
        corked_ = false;
        if (!buffers_ || buffers_->held.empty()) {
            asio::post(next_.get_executor(), asio::append(std::forward<Handler>(handler), error_code{}, std::size_t{0}));
            return;
        }
        flush(std::forward<Handler>(handler));
    }

    // Runs `handler()` once nothing is held or being written (at once if so already). The
    // handler must also accept an error_code: it gets operation_aborted if the wait is
    // cancelled.
    template <class Handler>
    void after_flush(Handler&& handler) {
        if (!holding() && pending_bytes() == 0) return std::forward<Handler>(handler)();
        flushed_waiter_.emplace(std::forward<Handler>(handler));
    }

    // Bytes held or being written (for tests and metrics).
    std::size_t pending_bytes() const noexcept { return buffers_ ? buffers_->held.size() + buffers_->sending.size() : 0; }

private:
    struct Buffers {
        std::string held;     // written while holding, not yet sent
        std::string sending;  // the bytes of the write in flight
    };

    bool holding() const noexcept { return corked_ || flushing_; }
    Buffers& buffers() {
        if (!buffers_) buffers_ = std::make_unique<Buffers>();
        return *buffers_;
    }

    template <class Handler>
    void flush(Handler&& handler, std::size_t flushed = 0) {
        flushing_ = true;
        auto& pending = *buffers_;
        pending.sending.swap(pending.held);
        pending.held.clear();
        asio::async_write(next_, asio::buffer(pending.sending),
                          [this, flushed, handler = std::forward<Handler>(handler)](error_code ec,
                                                                                   std::size_t bytes) mutable {
                              on_flushed(ec, flushed + bytes, std::move(handler));
                          });
    }

    template <class Handler>
    void on_flushed(error_code ec, std::size_t flushed, Handler&& handler) {
        if (!ec && !buffers_->held.empty()) return flush(std::forward<Handler>(handler), flushed);  // joined while flushing
        flushing_ = false;
        buffers_.reset();  // an idle connection keeps no buffer
        if (flushed_waiter_.has_value()) flushed_waiter_.invoke();
        std::forward<Handler>(handler)(ec, flushed);
    }

    NextLayer next_;
    std::unique_ptr<Buffers> buffers_;
    boost::beast::saved_handler flushed_waiter_;
    bool corked_ = false;
    bool flushing_ = false;
};

// Beast tears a WebSocket down through these (found by argument-dependent lookup): the
// held bytes (a close reply among them) go out before the transport is shut down.
template <class NextLayer>
void teardown(boost::beast::role_type role, CorkedStream<NextLayer>& stream, error_code& ec) {
    using boost::beast::websocket::teardown;
    teardown(role, stream.next_layer(), ec);
}

template <class NextLayer, class Handler>
void async_teardown(boost::beast::role_type role, CorkedStream<NextLayer>& stream, Handler&& handler) {
    // Called with no argument when the flush is done, or with operation_aborted if the wait
    // is cancelled (the saved_handler protocol).
    stream.after_flush([&stream, role, handler = std::forward<Handler>(handler)](auto... aborted) mutable {
        if constexpr (sizeof...(aborted) > 0) {
            std::move(handler)(error_code(aborted...));
        } else {
            using boost::beast::websocket::async_teardown;
            async_teardown(role, stream.next_layer(), std::move(handler));
        }
    });
}

}  // namespace voxgate::server
