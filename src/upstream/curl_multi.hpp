#pragma once
// libcurl's multi interface driven by one shard's io_context (docs/design.md "Upstream",
// docs/style.md "libcurl on Asio"; the shape of curl's multi-uv.c example):
//  - CURLMOPT_SOCKETFUNCTION registers each socket curl wants watched, for the directions
//    it asks for, in the multi's own epoll set (level-triggered, changed only when curl
//    changes its interest). The io_context waits on that one epoll fd: when it is ready,
//    one epoll_wait collects every ready curl socket and each gets its socket_action.
//    An Asio async_wait per socket would cost an epoll_ctl re-arm per socket per read
//    (Asio re-arms non-speculative waits with EPOLL_CTL_MOD); this costs one per batch;
//  - CURLMOPT_TIMERFUNCTION drives one steady_timer (0 = post a timeout action now,
//    -1 = cancel);
//  - after every curl_multi_socket_action the finished transfers are collected with
//    curl_multi_info_read and completed.
// Everything runs on the io_context's thread; never call into a CurlMulti from another.
#include <curl/curl.h>

#include <cstddef>
#include <memory>
#include <unordered_map>
#include <vector>

#include <cstdint>

#include <boost/asio/posix/stream_descriptor.hpp>

#include "metrics/failure_barrier.hpp"
#include "voxgate/net.hpp"

namespace voxgate::upstream {

class CurlMulti;

struct CurlMultiOptions {
    // A streaming HTTP/1.1 response holds its connection for the whole reply, so this is
    // also the number of concurrent HTTP/1.1 streams per host; transfers beyond it wait
    // inside curl until a connection frees up. HTTP/2 multiplexes streams instead.
    long max_host_connections = 256;
    long max_total_connections = 0;      // 0 = no limit
    long max_concurrent_streams = 100;   // per HTTP/2 connection (curl's default)
    // Connections curl keeps open (in use + idle) after transfers end; beyond it the oldest
    // idle one is closed. 0 = curl's default, 4 x the transfers running at that moment, which
    // closes most idle connections when a burst ends.
    long max_cached_connections = 0;
    // Where exceptions stopped in curl callbacks and in this multi's handlers are counted
    // (voxgate_internal_errors_total); null = logged only.
    metrics::Counter* internal_errors = nullptr;
};

// One easy handle driven by a CurlMulti. Transfer derives from it. While the handle is in
// the multi, the multi holds a shared reference, so curl callbacks never reach a freed
// object even when the owner lets go of it from inside one of those callbacks.
class CurlEasy : public std::enable_shared_from_this<CurlEasy> {
public:
    CurlEasy(const CurlEasy&) = delete;
    CurlEasy& operator=(const CurlEasy&) = delete;
    virtual ~CurlEasy();

    CURL* handle() const noexcept { return handle_; }  // null if curl_easy_init failed

protected:
    CurlEasy();

    // curl finished this transfer (the handle is already out of the multi). Called at most
    // once, never after CurlMulti::remove() and never from inside a libcurl callback.
    virtual void on_transfer_done(error_code ec) = 0;

    CurlMulti* multi() const noexcept { return multi_; }  // null when not in a multi

private:
    friend class CurlMulti;
    enum class State : unsigned char { idle, adding, added, removing };

    CURL* handle_ = nullptr;
    CurlMulti* multi_ = nullptr;
    State state_ = State::idle;
};

class CurlMulti {
public:
    explicit CurlMulti(asio::io_context& io, CurlMultiOptions options = {});
    // Removes every transfer (no callback of any kind afterwards) and closes curl's
    // connections. Must run on the io_context thread, before the io_context is destroyed,
    // and not from inside one of this multi's own callbacks.
    ~CurlMulti();
    CurlMulti(const CurlMulti&) = delete;
    CurlMulti& operator=(const CurlMulti&) = delete;

    asio::io_context& context() const noexcept { return io_; }

    // Starts driving the transfer. Inside a libcurl callback (e.g. a sink starting a new
    // transfer from on_body) the add happens right after that callback's curl call returns.
    error_code add(std::shared_ptr<CurlEasy> easy);

    // Stops driving the transfer at once; it gets no on_transfer_done. Inside a libcurl
    // callback curl refuses removals, so the handle leaves the multi right after the running
    // curl call returns (the callbacks must ignore it until then).
    void remove(CurlEasy& easy);

    // curl_easy_pause(CURLPAUSE_RECV) for a transfer that already has a connection.
    // Returns false when curl cannot pause it now; the caller then pauses from its write
    // callback (CURL_WRITEFUNC_PAUSE).
    bool pause_receive(CurlEasy& easy);

    // curl_easy_pause(CURLPAUSE_CONT). curl may deliver held-back data from inside this
    // call. Inside a libcurl callback it is deferred until the running curl call returns.
    void resume_receive(CurlEasy& easy);

    // True while a curl function that may call back into transfers is on the stack.
    bool in_curl_call() const noexcept { return curl_call_depth_ > 0; }

    std::size_t transfer_count() const noexcept { return transfers_.size(); }
    metrics::Counter* internal_errors() const noexcept { return internal_errors_; }
    std::size_t watched_socket_count() const noexcept { return sockets_.size(); }

private:
    using descriptor_type = asio::posix::basic_stream_descriptor<executor_type>;
    // One socket in the epoll set. curl_multi_assign points curl at it, so a socket curl
    // announces as new while its fd number is still registered is told apart.
    struct SocketWatch {
        std::uint32_t events = 0;      // EPOLLIN / EPOLLOUT as curl asked
        std::uint32_t generation = 0;  // in each epoll event: a stale event for a reused fd is ignored
    };
    enum class Deferred : unsigned char { add, remove, resume };
    struct DeferredWork {
        Deferred what;
        std::shared_ptr<CurlEasy> easy;
    };

    static int on_socket_callback(CURL* easy, curl_socket_t fd, int what, void* self, void* watch);
    static int on_timer_callback(CURLM* multi, long timeout_ms, void* self);
    static int on_close_socket(void* self, curl_socket_t fd);
    int set_timer(long timeout_ms);  // on_timer_callback's work

    void watch_socket(curl_socket_t fd, int what, SocketWatch* known);
    void unwatch_socket(curl_socket_t fd);
    void wait_for_ready_sockets();
    void on_sockets_ready();
    void on_timeout();
    void socket_action(curl_socket_t fd, int flags);
    void after_curl_call();
    void complete_finished_transfers();
    void run_deferred();
    error_code add_now(const std::shared_ptr<CurlEasy>& easy);
    void remove_now(CurlEasy& easy);
    void resume_now(CurlEasy& easy);

    // Runs an entry from the event loop behind the barrier. A throw here is not any one
    // transfer's fault (those are contained in their own callbacks), so nothing is closed;
    // curl's timeouts end whatever it leaves stuck.
    template <class Body>
    void contained(std::string_view where, Body&& body) noexcept {
        metrics::run_contained(
            internal_errors_, where, [] { return std::string("curl multi"); }, std::forward<Body>(body), [] {});
    }

    asio::io_context& io_;
    metrics::Counter* internal_errors_;
    CURLM* multi_ = nullptr;
    steady_timer timer_;
    bool timeout_posted_ = false;
    bool shutting_down_ = false;
    int curl_call_depth_ = 0;
    // Handlers posted to the io_context check this before touching the multi: a timer or
    // post that already completed cannot be cancelled and may run after the destructor.
    std::shared_ptr<CurlMulti*> alive_;
    std::unordered_map<CURL*, std::shared_ptr<CurlEasy>> transfers_;
    descriptor_type ready_sockets_;  // owns the epoll fd of curl's sockets
    bool ready_wait_armed_ = false;
    std::uint32_t next_generation_ = 0;
    std::unordered_map<curl_socket_t, SocketWatch> sockets_;  // node-based: curl holds pointers
    std::vector<DeferredWork> deferred_;
};

}  // namespace voxgate::upstream
