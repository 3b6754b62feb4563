// TlsSocket against a real OpenSSL client over loopback TCP (Beast's ssl_stream in a
// thread of its own, the test CA): the handshake starts from bytes read before it (TLS
// detection), megabytes cross both ways intact (the server's sends outrunning a reader
// that does not read yet), gathered buffers are one write, completions never run inside
// the initiating call, and the ways a peer leaves end reads with the right error.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <array>
#include <chrono>
#include <string>
#include <thread>

#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl.hpp>

#include "server/tls_socket.hpp"
#include "support/test_tls.hpp"

namespace voxgate::server {
namespace {

namespace ssl = asio::ssl;
using ClientStream = boost::beast::ssl_stream<tcp::socket>;

std::string pattern(std::size_t size) {
    std::string text(size, '\0');
    for (std::size_t i = 0; i < size; ++i) text[i] = static_cast<char>('a' + (i * 7 + i / 1000) % 26);
    return text;
}

// A server-side TlsSocket on `io` and a client connected to it from its own thread.
class TlsPair {
public:
    TlsPair() {
        server_tls_.use_certificate_chain_file(test::test_tls().server_cert_file);
        server_tls_.use_private_key_file(test::test_tls().server_key_file, ssl::context::pem);
        SSL_CTX_set_mode(server_tls_.native_handle(), SSL_MODE_RELEASE_BUFFERS);
        client_tls_.load_verify_file(test::test_tls().ca_file);
        client_tls_.set_verify_mode(ssl::verify_peer);
    }

    // Starts `client(stream)` in a thread once TCP is connected, and returns the server's
    // TlsSocket after taking `detected` bytes off the socket first (what TLS detection does).
    template <class Client>
    TlsSocket start(Client client, std::size_t detected, std::string& already_read) {
        tcp_acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        const auto port = acceptor.local_endpoint().port();
        client_ = std::thread([this, port, client] {
            asio::io_context client_io;
            ClientStream stream(client_io, client_tls_);
            stream.next_layer().connect({asio::ip::make_address("127.0.0.1"), port});
            client(stream);
        });
        tcp_socket socket(io);
        acceptor.accept(socket);
        already_read.resize(detected);
        if (detected) {
            EXPECT_EQ(::recv(socket.native_handle(), already_read.data(), detected, MSG_WAITALL),
                      static_cast<ssize_t>(detected));
        }
        return TlsSocket(std::move(socket), server_tls_);
    }

    // Runs the server's operations to completion and joins the client.
    void finish() {
        io.run();
        client_.join();
    }

    ~TlsPair() {
        if (client_.joinable()) client_.join();
    }

    asio::io_context io;

private:
    ssl::context server_tls_{ssl::context::tls_server};
    ssl::context client_tls_{ssl::context::tls_client};
    std::thread client_;
};

void handshake(TlsSocket& tls, const std::string& already_read, error_code& result) {
    tls.async_handshake(asio::buffer(already_read), [&](error_code ec, std::size_t) { result = ec; });
}

TEST(TlsSocket, HandshakeStartingFromDetectedBytesThenMegabytesBothWays) {
    TlsPair pair;
    const std::string upload = pattern(1 << 20), download = pattern(3 << 20);
    std::string received_by_client;
    std::string already_read;
    auto tls = pair.start(
        [&](ClientStream& stream) {
            stream.handshake(ssl::stream_base::client);
            asio::write(stream, asio::buffer(upload));
            // The server is writing 3 MiB before this reads anything: its sends stop taking
            // bytes, and what OpenSSL encrypted waits in the socket's unsent buffer.
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            received_by_client.resize(download.size());
            asio::read(stream, asio::buffer(received_by_client));
            error_code ec;
            stream.shutdown(ec);
        },
        5, already_read);

    error_code handshake_ec, read_ec, write_ec, last_ec;
    std::string received_by_server(upload.size(), '\0');
    std::size_t written = 0;
    handshake(tls, already_read, handshake_ec);
    pair.io.run();
    pair.io.restart();
    ASSERT_FALSE(handshake_ec) << handshake_ec.message();
    asio::async_read(tls, asio::buffer(received_by_server), [&](error_code ec, std::size_t) { read_ec = ec; });
    pair.io.run();
    pair.io.restart();
    asio::async_write(tls, asio::buffer(download), [&](error_code ec, std::size_t n) {
        write_ec = ec;
        written = n;
    });
    pair.io.run();
    pair.io.restart();
    std::array<char, 16> tail{};
    tls.async_read_some(asio::buffer(tail), [&](error_code ec, std::size_t) {
        last_ec = ec;
        tls.async_shutdown([](error_code, std::size_t) {});  // answers the client's close_notify
    });
    pair.finish();

    EXPECT_FALSE(read_ec) << read_ec.message();
    EXPECT_EQ(received_by_server, upload);
    EXPECT_FALSE(write_ec) << write_ec.message();
    EXPECT_EQ(written, download.size());
    EXPECT_EQ(received_by_client, download);
    EXPECT_EQ(last_ec, asio::error::eof) << "the client's close_notify ends the stream: " << last_ec.message();
}

TEST(TlsSocket, SeveralBuffersAreOneWriteOfTheirTotalAndCompletionsAreNeverInline) {
    TlsPair pair;
    std::string received_by_client;
    std::string already_read;
    auto tls = pair.start(
        [&](ClientStream& stream) {
            stream.handshake(ssl::stream_base::client);
            asio::write(stream, asio::buffer(std::string("xy")));
            received_by_client.resize(14);
            asio::read(stream, asio::buffer(received_by_client));
        },
        0, already_read);
    error_code handshake_ec;
    handshake(tls, already_read, handshake_ec);
    pair.io.run();
    pair.io.restart();
    ASSERT_FALSE(handshake_ec) << handshake_ec.message();

    // Read one byte of the two-byte record, then the second, which OpenSSL already holds:
    // that read could finish at once, yet its handler runs only after initiation returns.
    char first = 0, second = 0;
    bool initiating = false, inline_completion = false;
    tls.async_read_some(asio::buffer(&first, 1), [&](error_code ec, std::size_t n) {
        ASSERT_FALSE(ec);
        ASSERT_EQ(n, 1u);
        initiating = true;
        tls.async_read_some(asio::buffer(&second, 1), [&](error_code, std::size_t) {
            inline_completion = initiating;
        });
        initiating = false;
    });
    pair.io.run();
    pair.io.restart();
    EXPECT_EQ(first, 'x');
    EXPECT_EQ(second, 'y');
    EXPECT_FALSE(inline_completion);

    const std::array<asio::const_buffer, 3> pieces{asio::buffer("head", 4), asio::buffer("-body-", 6),
                                                   asio::buffer("tail", 4)};
    std::size_t written = 0;
    tls.async_write_some(pieces, [&](error_code ec, std::size_t n) {
        EXPECT_FALSE(ec);
        written = n;
    });
    pair.finish();
    EXPECT_EQ(written, 14u);
    EXPECT_EQ(received_by_client, "head-body-tail");
}

TEST(TlsSocket, PeerDroppingTcpWithoutCloseNotifyEndsAReadAsTruncated) {
    TlsPair pair;
    std::string already_read;
    auto tls = pair.start(
        [&](ClientStream& stream) {
            stream.handshake(ssl::stream_base::client);
            stream.next_layer().close();
        },
        0, already_read);
    error_code handshake_ec, read_ec;
    handshake(tls, already_read, handshake_ec);
    pair.io.run();
    pair.io.restart();
    ASSERT_FALSE(handshake_ec) << handshake_ec.message();
    std::array<char, 16> data{};
    tls.async_read_some(asio::buffer(data), [&](error_code ec, std::size_t) { read_ec = ec; });
    pair.finish();
    // A clean FIN without close_notify is a truncation; when the server's first read also
    // sends its TLS 1.3 session tickets, the closed peer shows as a broken pipe or a reset
    // instead. Either way the read ends with an error the connection treats as "gone".
    EXPECT_TRUE(read_ec == asio::ssl::error::stream_truncated || read_ec == asio::error::connection_reset ||
                read_ec == asio::error::broken_pipe)
        << read_ec.message();
}

TEST(TlsSocket, ShutdownSendsCloseNotifyAndCompletesOnThePeersAnswer) {
    TlsPair pair;
    error_code client_shutdown;
    std::string already_read;
    auto tls = pair.start(
        [&](ClientStream& stream) {
            stream.handshake(ssl::stream_base::client);
            stream.shutdown(client_shutdown);  // reads our close_notify, answers with its own
        },
        0, already_read);
    error_code handshake_ec, shutdown_ec = asio::error::would_block;
    handshake(tls, already_read, handshake_ec);
    pair.io.run();
    pair.io.restart();
    ASSERT_FALSE(handshake_ec) << handshake_ec.message();
    tls.async_shutdown([&](error_code ec, std::size_t) { shutdown_ec = ec; });
    pair.finish();
    EXPECT_FALSE(shutdown_ec) << shutdown_ec.message();
    EXPECT_FALSE(client_shutdown) << client_shutdown.message();
}

TEST(TlsSocket, NonTlsBytesFailTheHandshakeWithAnError) {
    TlsPair pair;
    std::string already_read;
    auto tls = pair.start(
        [&](ClientStream& stream) {
            asio::write(stream.next_layer(), asio::buffer(std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n")));
            std::array<char, 256> sink{};
            error_code ec;
            while (!ec) stream.next_layer().read_some(asio::buffer(sink), ec);  // until the server closes
        },
        0, already_read);
    error_code handshake_ec;
    handshake(tls, already_read, handshake_ec);
    pair.io.run();
    pair.io.restart();
    EXPECT_TRUE(handshake_ec);
    error_code ignored;
    tls.next_layer().close(ignored);
    pair.finish();
}

}  // namespace
}  // namespace voxgate::server
