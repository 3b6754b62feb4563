// CorkedStream over a real loopback TCP connection: uncorked writes go straight through,
// corked writes leave in one transport write in order, writes made while a flush runs
// follow it, and a Beast WebSocket above it frames every message intact.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "server/corked_stream.hpp"

namespace voxgate::server {
namespace {

namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;

// The transport, counting the writes that reach it.
class CountingSocket {
public:
    using executor_type = tcp::socket::executor_type;
    explicit CountingSocket(tcp::socket socket) : socket_(std::move(socket)) {}
    executor_type get_executor() noexcept { return socket_.get_executor(); }
    tcp::socket& next_layer() noexcept { return socket_; }
    const tcp::socket& next_layer() const noexcept { return socket_; }
    template <class Buffers, class Token>
    auto async_read_some(const Buffers& buffers, Token&& token) {
        return socket_.async_read_some(buffers, std::forward<Token>(token));
    }
    template <class Buffers, class Token>
    auto async_write_some(const Buffers& buffers, Token&& token) {
        ++writes;
        return socket_.async_write_some(buffers, std::forward<Token>(token));
    }
    int writes = 0;

private:
    tcp::socket socket_;
};

template <class Handler>
void async_teardown(boost::beast::role_type role, CountingSocket& stream, Handler&& handler) {
    websocket::async_teardown(role, stream.next_layer(), std::forward<Handler>(handler));
}

struct LoopbackPair {
    asio::io_context io;
    tcp::socket server{io};
    tcp::socket client{io};
    LoopbackPair() {
        tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        client.connect(acceptor.local_endpoint());
        server = acceptor.accept();
    }
    // Runs every handler that is ready, then leaves the context runnable again.
    void run_ready() {
        io.run();
        io.restart();
    }
    std::string read_client(std::size_t bytes) {
        std::string data(bytes, '\0');
        asio::read(client, asio::buffer(data));
        return data;
    }
};

void write(CorkedStream<CountingSocket>& stream, std::string_view text, std::vector<std::string>& done) {
    stream.async_write_some(asio::buffer(text.data(), text.size()),
                            [&done, text](error_code ec, std::size_t bytes) {
                                EXPECT_FALSE(ec);
                                EXPECT_EQ(bytes, text.size());
                                done.emplace_back(text);
                            });
}

TEST(CorkedStream, UncorkedWritesGoStraightThroughWithoutACopy) {
    LoopbackPair pair;
    CorkedStream<CountingSocket> stream(std::move(pair.server));
    std::vector<std::string> done;
    write(stream, "one", done);
    EXPECT_EQ(stream.pending_bytes(), 0u);
    pair.io.run();
    EXPECT_EQ(stream.next_layer().writes, 1);
    EXPECT_EQ(done, std::vector<std::string>{"one"});
    EXPECT_EQ(pair.read_client(3), "one");
}

TEST(CorkedStream, CorkedWritesCompleteLaterAndLeaveInOneWriteInOrder) {
    LoopbackPair pair;
    CorkedStream<CountingSocket> stream(std::move(pair.server));
    std::vector<std::string> done;
    stream.cork();
    write(stream, "alpha ", done);
    write(stream, "beta ", done);
    EXPECT_TRUE(done.empty());  // never completed inside the initiating call
    pair.run_ready();
    EXPECT_EQ(done, (std::vector<std::string>{"alpha ", "beta "}));
    EXPECT_EQ(stream.next_layer().writes, 0);  // nothing reached the transport yet
    write(stream, "gamma", done);
    pair.run_ready();

    bool flushed = false;
    stream.async_uncork([&](error_code ec, std::size_t) {
        EXPECT_FALSE(ec);
        flushed = true;
    });
    pair.io.run();
    EXPECT_TRUE(flushed);
    EXPECT_EQ(stream.next_layer().writes, 1);
    EXPECT_EQ(stream.pending_bytes(), 0u);
    EXPECT_EQ(pair.read_client(16), "alpha beta gamma");
}

TEST(CorkedStream, AWriteMadeWhileFlushingFollowsTheFlushBeforeItCompletes) {
    LoopbackPair pair;
    CorkedStream<CountingSocket> stream(std::move(pair.server));
    std::vector<std::string> done;
    stream.cork();
    write(stream, "first,", done);
    pair.run_ready();
    std::vector<std::string> order;
    stream.async_uncork([&](error_code ec, std::size_t) {
        EXPECT_FALSE(ec);
        order.emplace_back("uncorked");
    });
    write(stream, "second", done);  // e.g. a pong Beast writes while the flush runs
    EXPECT_EQ(stream.pending_bytes(), 12u);
    stream.after_flush([&](auto...) { order.emplace_back("after_flush"); });
    pair.io.run();
    EXPECT_EQ(order, (std::vector<std::string>{"after_flush", "uncorked"}));
    EXPECT_EQ(stream.next_layer().writes, 2);
    EXPECT_EQ(pair.read_client(12), "first,second");

    bool ran = false;
    stream.after_flush([&](auto...) { ran = true; });  // idle: at once
    EXPECT_TRUE(ran);
}

TEST(CorkedStream, UncorkWithNothingHeldCompletesWithoutAWrite) {
    LoopbackPair pair;
    CorkedStream<CountingSocket> stream(std::move(pair.server));
    stream.cork();
    bool flushed = false;
    stream.async_uncork([&](error_code ec, std::size_t) {
        EXPECT_FALSE(ec);
        flushed = true;
    });
    EXPECT_FALSE(flushed);
    pair.io.run();
    EXPECT_TRUE(flushed);
    EXPECT_EQ(stream.next_layer().writes, 0);
}

TEST(CorkedStream, AFailedFlushReportsTheErrorAndDropsWhatWasHeld) {
    LoopbackPair pair;
    CorkedStream<CountingSocket> stream(std::move(pair.server));
    std::vector<std::string> done;
    stream.cork();
    write(stream, "lost", done);
    pair.run_ready();
    stream.next_layer().next_layer().close();
    error_code result;
    stream.async_uncork([&](error_code ec, std::size_t) { result = ec; });
    pair.io.run();
    EXPECT_TRUE(result);
    EXPECT_EQ(stream.pending_bytes(), 0u);
}

TEST(CorkedStream, WebSocketFramesWrittenCorkedArriveIntactInOneTransportWrite) {
    LoopbackPair pair;
    websocket::stream<CorkedStream<CountingSocket>> server(std::move(pair.server));
    websocket::stream<tcp::socket> client(std::move(pair.client));
    server.async_accept([](error_code ec) { EXPECT_FALSE(ec); });
    client.async_handshake("127.0.0.1", "/", [](error_code ec) { EXPECT_FALSE(ec); });
    pair.run_ready();
    const int writes_after_handshake = server.next_layer().next_layer().writes;

    const std::vector<std::string> frames{"{\"type\":\"a\"}", std::string(3000, 'x'), "", "{\"type\":\"end\"}"};
    server.next_layer().cork();
    std::size_t next = 0;
    std::function<void()> write_next = [&] {
        if (next == frames.size()) {
            server.next_layer().async_uncork([](error_code ec, std::size_t) { EXPECT_FALSE(ec); });
            return;
        }
        server.async_write(asio::buffer(frames[next]), [&](error_code ec, std::size_t) {
            ASSERT_FALSE(ec);
            ++next;
            write_next();
        });
    };
    write_next();
    pair.run_ready();
    EXPECT_EQ(server.next_layer().next_layer().writes - writes_after_handshake, 1);

    for (const auto& expected : frames) {
        boost::beast::flat_buffer message;
        client.read(message);
        EXPECT_EQ(boost::beast::buffers_to_string(message.data()), expected);
    }
}

}  // namespace
}  // namespace voxgate::server
