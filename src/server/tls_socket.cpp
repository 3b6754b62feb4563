#include "server/tls_socket.hpp"

#include <cerrno>
#include <cstring>
#include <optional>

#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/ssl/error.hpp>

namespace voxgate::server {

// What the BIO works on. It lives on the heap so the BIO's pointer survives moving the
// TlsSocket (a session hands its stream to the WebSocket connection).
struct TlsSocket::Core {
    int fd = -1;
    SSL* ssl = nullptr;
    std::string already_read;  // bytes read before the handshake (TLS detection), fed first
    std::size_t already_read_used = 0;
    std::string unsent;   // ciphertext the kernel has not taken yet
    int failed_errno = 0;  // the errno of the last failed recv/send

    // Sends what the kernel takes of `data` now: the bytes sent (0 when the socket is
    // full), or -1 after a hard error, kept in `failed_errno`.
    ssize_t send_now(const char* data, std::size_t size) {
        for (;;) {
            ssize_t sent = ::send(fd, data, size, MSG_NOSIGNAL);
            if (sent >= 0) return sent;
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            failed_errno = errno;
            return -1;
        }
    }

    // Sends what `unsent` holds, as far as the kernel takes it.
    error_code flush() {
        while (!unsent.empty()) {
            ssize_t sent = send_now(unsent.data(), unsent.size());
            if (sent < 0) return {failed_errno, boost::system::system_category()};
            if (sent == 0) return {};
            unsent.erase(0, static_cast<std::size_t>(sent));
        }
        std::string().swap(unsent);  // an idle connection keeps no send buffer
        return {};
    }
};

namespace {

TlsSocket::Core& core_of(BIO* bio) { return *static_cast<TlsSocket::Core*>(BIO_get_data(bio)); }

int bio_read(BIO* bio, char* out, std::size_t size, std::size_t* read) {
    auto& core = core_of(bio);
    BIO_clear_retry_flags(bio);
    if (core.already_read_used < core.already_read.size()) {
        std::size_t n = std::min(size, core.already_read.size() - core.already_read_used);
        std::memcpy(out, core.already_read.data() + core.already_read_used, n);
        core.already_read_used += n;
        if (core.already_read_used == core.already_read.size()) {
            std::string().swap(core.already_read);
            core.already_read_used = 0;
        }
        *read = n;
        return 1;
    }
    for (;;) {
        ssize_t got = ::recv(core.fd, out, size, 0);
        if (got > 0) {
            *read = static_cast<std::size_t>(got);
            return 1;
        }
        if (got == 0) return 0;  // the peer closed TCP
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_read(bio);
        else core.failed_errno = errno;
        return 0;
    }
}

// Never asks OpenSSL to retry: what the kernel does not take now waits in `unsent`, so a
// record is never half-written from OpenSSL's point of view and the caller's operation
// waits for the socket instead.
int bio_write(BIO* bio, const char* data, std::size_t size, std::size_t* written) {
    auto& core = core_of(bio);
    BIO_clear_retry_flags(bio);
    ssize_t sent = core.unsent.empty() ? core.send_now(data, size) : 0;
    if (sent < 0) return 0;
    core.unsent.append(data + sent, size - static_cast<std::size_t>(sent));
    *written = size;
    return 1;
}

long bio_ctrl(BIO*, int command, long, void*) {
    return command == BIO_CTRL_FLUSH ? 1 : 0;  // sends are never held back, so a flush is done
}

int bio_create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
}

BIO_METHOD* socket_bio_method() {
    static BIO_METHOD* method = [] {
        BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "voxgate socket");
        BIO_meth_set_read_ex(m, bio_read);
        BIO_meth_set_write_ex(m, bio_write);
        BIO_meth_set_ctrl(m, bio_ctrl);
        BIO_meth_set_create(m, bio_create);
        return m;
    }();
    return method;
}

}  // namespace

TlsSocket::TlsSocket(tcp_socket socket, asio::ssl::context& context)
    : socket_(std::move(socket)), core_(std::make_unique<Core>()) {
    error_code ignored;
    socket_.non_blocking(true, ignored);
    core_->fd = socket_.native_handle();
    core_->ssl = SSL_new(context.native_handle());
    if (!core_->ssl) throw boost::system::system_error(error_code(static_cast<int>(ERR_get_error()),
                                                                  asio::error::get_ssl_category()), "SSL_new");
    BIO* bio = BIO_new(socket_bio_method());
    BIO_set_data(bio, core_.get());
    SSL_set_bio(core_->ssl, bio, bio);  // the SSL owns the BIO
    // Read whole records (and whatever follows) per recv instead of a header and then a body.
    SSL_set_read_ahead(core_->ssl, 1);
    SSL_set_accept_state(core_->ssl);
}

TlsSocket::TlsSocket(TlsSocket&&) noexcept = default;

TlsSocket::~TlsSocket() {
    if (core_) SSL_free(core_->ssl);
}

SSL* TlsSocket::native_handle() noexcept { return core_->ssl; }

char* TlsSocket::write_scratch() noexcept {
    thread_local char scratch[max_record_plaintext];  // a write's gathered plaintext, encrypted at once
    return scratch;
}

void TlsSocket::set_already_read(asio::const_buffer bytes) {
    core_->already_read.assign(static_cast<const char*>(bytes.data()), bytes.size());
    core_->already_read_used = 0;
}

void TlsSocket::shutdown_now() noexcept {
    ERR_clear_error();
    SSL_shutdown(core_->ssl);
    core_->flush();
    ERR_clear_error();
}

TlsSocket::Attempt TlsSocket::attempt(Operation op, asio::mutable_buffer buffer, bool& encrypted) {
    Core& core = *core_;
    ERR_clear_error();
    // Ciphertext that is waiting leaves first: the peer needs it before anything newer.
    // A read does not wait for it (the write or handshake that produced it does). A write
    // encrypts on its first attempt all the same, because its plaintext may be this
    // thread's gather scratch, which the next write reuses; the BIO appends the new record
    // behind what is waiting, so the order holds.
    // What waiting ciphertext means for this attempt: nullopt = go on, else the answer.
    auto drain = [&]() -> std::optional<Attempt> {
        if (core.unsent.empty()) return std::nullopt;
        if (auto ec = core.flush()) return Attempt{Wait::none, ec, 0};
        if (!core.unsent.empty() && op != Operation::read) return Attempt{Wait::write, {}, 0};
        return std::nullopt;
    };
    const bool encrypt_now = op == Operation::write && !encrypted;
    if (!encrypt_now)
        if (auto answer = drain()) return *answer;
    if (op == Operation::write && encrypted) return {Wait::none, {}, buffer.size()};  // it has all left
    if ((op == Operation::read || op == Operation::write) && buffer.size() == 0) return {Wait::none, {}, 0};

    int result = 0;
    std::size_t bytes = 0;
    switch (op) {
    case Operation::handshake:
        result = SSL_do_handshake(core.ssl);
        break;
    case Operation::read:
        result = SSL_read_ex(core.ssl, buffer.data(), buffer.size(), &bytes);
        break;
    case Operation::write:
        result = SSL_write_ex(core.ssl, buffer.data(), buffer.size(), &bytes);
        if (result == 1) encrypted = true;
        break;
    case Operation::shutdown:
        result = SSL_shutdown(core.ssl);
        if (result == 0) result = SSL_shutdown(core.ssl);  // ours is sent: now wait for theirs
        break;
    }
    if (result == 1) {
        if (op != Operation::read)
            if (auto answer = drain()) return *answer;
        return {Wait::none, {}, op == Operation::handshake || op == Operation::shutdown ? 0 : bytes};
    }

    Attempt failed;
    switch (SSL_get_error(core.ssl, result)) {
    case SSL_ERROR_WANT_READ:
        failed.wait = core.unsent.empty() || op == Operation::read ? Wait::read : Wait::write;
        return failed;
    case SSL_ERROR_WANT_WRITE:
        failed.wait = Wait::write;
        return failed;
    case SSL_ERROR_ZERO_RETURN:
        failed.ec = asio::error::eof;  // close_notify: the peer finished cleanly
        break;
    case SSL_ERROR_SYSCALL:
        failed.ec = core.failed_errno ? error_code(core.failed_errno, boost::system::system_category())
                                      : error_code(asio::ssl::error::stream_truncated);
        break;
    default: {
        unsigned long error = ERR_peek_error();
        if (ERR_GET_REASON(error) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
            failed.ec = asio::ssl::error::stream_truncated;  // TCP closed without close_notify
        else
            failed.ec = error_code(static_cast<int>(error), asio::error::get_ssl_category());
        break;
    }
    }
    ERR_clear_error();
    return failed;
}

void teardown(boost::beast::role_type, TlsSocket& stream, error_code& ec) {
    stream.shutdown_now();
    ec = {};
}

}  // namespace voxgate::server
