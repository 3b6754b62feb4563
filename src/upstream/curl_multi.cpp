#include "upstream/curl_multi.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <utility>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "upstream/curl_error.hpp"
#include "voxgate/write_batch.hpp"

namespace voxgate::upstream {
namespace {

void ensure_curl_global_init() {
    // curl_global_init must precede every other curl call; it is reference counted and
    // thread-safe in the libcurl we build against, but doing it once is enough.
    static const CURLcode result = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (result != CURLE_OK) {
        throw std::runtime_error(std::string("curl_global_init failed: ") + curl_easy_strerror(result));
    }
}

}  // namespace

CurlEasy::CurlEasy() : handle_(curl_easy_init()) {}

CurlEasy::~CurlEasy() {
    // The multi holds a shared reference while the handle is in it, so by now it is out.
    if (handle_ != nullptr) curl_easy_cleanup(handle_);
}

CurlMulti::CurlMulti(asio::io_context& io, CurlMultiOptions options)
    : io_(io), internal_errors_(options.internal_errors), timer_(io.get_executor()),
      alive_(std::make_shared<CurlMulti*>(this)), ready_sockets_(io.get_executor()) {
    ensure_curl_global_init();
    const int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0) throw std::runtime_error(std::string("epoll_create1 failed: ") + std::strerror(errno));
    ready_sockets_.assign(epoll_fd);
    multi_ = curl_multi_init();
    if (multi_ == nullptr) throw std::runtime_error("curl_multi_init failed");
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlMulti::on_socket_callback);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlMulti::on_timer_callback);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_PIPELINING, static_cast<long>(CURLPIPE_MULTIPLEX));
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, options.max_host_connections);
    curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS, options.max_total_connections);
    curl_multi_setopt(multi_, CURLMOPT_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
    if (options.max_cached_connections > 0) {
        curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, options.max_cached_connections);
    }
}

CurlMulti::~CurlMulti() {
    *alive_ = nullptr;
    shutting_down_ = true;
    timer_.cancel();
    deferred_.clear();
    for (auto& [handle, easy] : transfers_) {
        easy->multi_ = nullptr;
        easy->state_ = CurlEasy::State::idle;
        curl_multi_remove_handle(multi_, handle);  // harmless for a handle still waiting to be added
    }
    transfers_.clear();  // frees the transfers whose owners already let go
    // Closes the cached connections; the socket and close-socket callbacks still run here
    // and release their watches before each fd is closed.
    curl_multi_cleanup(multi_);
    sockets_.clear();
    // ready_sockets_ closes the epoll fd; its pending wait completes with alive_ cleared.
}

error_code CurlMulti::add(std::shared_ptr<CurlEasy> easy) {
    if (easy == nullptr || easy->handle_ == nullptr) return make_error_code(CURLM_BAD_EASY_HANDLE);
    if (easy->state_ != CurlEasy::State::idle) return make_error_code(CURLM_ADDED_ALREADY);
    CURL* handle = easy->handle_;
    // The multi owns the sockets' watches, so it must see every close: curl calls this for
    // each socket it opened for a connection, including ones it closes much later from the
    // connection cache.
    curl_easy_setopt(handle, CURLOPT_CLOSESOCKETFUNCTION, &CurlMulti::on_close_socket);
    curl_easy_setopt(handle, CURLOPT_CLOSESOCKETDATA, this);
    curl_easy_setopt(handle, CURLOPT_PRIVATE, easy.get());
    easy->multi_ = this;
    if (in_curl_call()) {
        easy->state_ = CurlEasy::State::adding;
        transfers_.emplace(handle, easy);
        deferred_.push_back({Deferred::add, std::move(easy)});
        return {};
    }
    return add_now(easy);
}

error_code CurlMulti::add_now(const std::shared_ptr<CurlEasy>& easy) {
    CURL* handle = easy->handle_;
    transfers_[handle] = easy;
    // Adding only sets curl's timer (to 0: the timer callback posts the first action).
    const CURLMcode code = curl_multi_add_handle(multi_, handle);
    if (code != CURLM_OK) {
        transfers_.erase(handle);
        easy->multi_ = nullptr;
        easy->state_ = CurlEasy::State::idle;
        return make_error_code(code);
    }
    easy->state_ = CurlEasy::State::added;
    return {};
}

void CurlMulti::remove(CurlEasy& easy) {
    if (easy.multi_ != this) return;
    switch (easy.state_) {
    case CurlEasy::State::idle:
    case CurlEasy::State::removing:
        return;
    case CurlEasy::State::adding:
        // curl never saw it; the queued add (which holds a reference) will find it gone.
        easy.multi_ = nullptr;
        easy.state_ = CurlEasy::State::idle;
        transfers_.erase(easy.handle_);
        return;
    case CurlEasy::State::added:
        break;
    }
    if (in_curl_call()) {
        // curl answers CURLM_RECURSIVE_API_CALL from inside its callbacks.
        easy.state_ = CurlEasy::State::removing;
        deferred_.push_back({Deferred::remove, easy.shared_from_this()});
        return;
    }
    remove_now(easy);
}

void CurlMulti::remove_now(CurlEasy& easy) {
    CURL* handle = easy.handle_;
    easy.multi_ = nullptr;
    easy.state_ = CurlEasy::State::idle;
    // Keep the object alive until curl has let go of it: erasing may drop the last reference.
    std::shared_ptr<CurlEasy> keep = easy.shared_from_this();
    ++curl_call_depth_;
    curl_multi_remove_handle(multi_, handle);  // closes the connection of an unfinished HTTP/1.1 transfer
    --curl_call_depth_;
    transfers_.erase(handle);
    keep.reset();
}

bool CurlMulti::pause_receive(CurlEasy& easy) {
    if (easy.multi_ != this || easy.state_ != CurlEasy::State::added) return false;
    ++curl_call_depth_;
    const CURLcode code = curl_easy_pause(easy.handle_, CURLPAUSE_RECV);
    --curl_call_depth_;
    after_curl_call();
    return code == CURLE_OK;
}

void CurlMulti::resume_receive(CurlEasy& easy) {
    if (easy.multi_ != this) return;
    if (in_curl_call()) {
        deferred_.push_back({Deferred::resume, easy.shared_from_this()});
        return;
    }
    resume_now(easy);
}

void CurlMulti::resume_now(CurlEasy& easy) {
    if (easy.multi_ != this || easy.state_ != CurlEasy::State::added) return;
    // curl may call the write callback with held-back data before returning; whatever the
    // sink does there (pause, cancel, drop the transfer) is deferred by curl_call_depth_.
    std::shared_ptr<CurlEasy> keep = easy.shared_from_this();
    WriteBatch::Scope batch;  // held-back data may carry many events
    ++curl_call_depth_;
    curl_easy_pause(easy.handle_, CURLPAUSE_CONT);
    --curl_call_depth_;
    after_curl_call();
}

// The three static callbacks are called from inside libcurl's C frames: no exception may
// unwind through them. Each catches and answers -1, which makes curl fail the transfer.
int CurlMulti::on_socket_callback(CURL*, curl_socket_t fd, int what, void* self, void* watch) {
    auto* multi = static_cast<CurlMulti*>(self);
    try {
        if (what == CURL_POLL_REMOVE) {
            multi->unwatch_socket(fd);
        } else {
            multi->watch_socket(fd, what, static_cast<SocketWatch*>(watch));
        }
        return 0;
    } catch (...) {
        metrics::report_internal_error(multi->internal_errors_, "curl socket callback", "curl multi");
        return -1;
    }
}

namespace {

// The epoll registration of a watched socket: its fd and generation travel in the event.
epoll_event watch_event(curl_socket_t fd, std::uint32_t events, std::uint32_t generation) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = (static_cast<std::uint64_t>(generation) << 32) | static_cast<std::uint32_t>(fd);
    return event;
}

}  // namespace

void CurlMulti::watch_socket(curl_socket_t fd, int what, SocketWatch* known) {
    auto found = sockets_.find(fd);
    if (found != sockets_.end() && &found->second != known) {
        // curl announces this socket as new, yet we still watch that fd number: our entry
        // belongs to a socket that was closed without a REMOVE. Drop it before reuse.
        unwatch_socket(fd);
        found = sockets_.end();
    }
    const std::uint32_t events = ((what & CURL_POLL_IN) != 0 ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) != 0 ? EPOLLOUT : 0u);
    if (found == sockets_.end()) {
        SocketWatch watch{events, ++next_generation_};
        epoll_event event = watch_event(fd, events, watch.generation);
        if (::epoll_ctl(ready_sockets_.native_handle(), EPOLL_CTL_ADD, fd, &event) != 0) {
            spdlog::warn("upstream: cannot watch curl socket {}: {}", fd, std::strerror(errno));
            return;  // curl's own timeouts end the transfer
        }
        found = sockets_.emplace(fd, watch).first;
        curl_multi_assign(multi_, fd, &found->second);
    } else if (found->second.events != events) {
        epoll_event event = watch_event(fd, events, found->second.generation);
        if (::epoll_ctl(ready_sockets_.native_handle(), EPOLL_CTL_MOD, fd, &event) != 0)
            spdlog::warn("upstream: cannot change the watch of curl socket {}: {}", fd, std::strerror(errno));
        found->second.events = events;
    }
    wait_for_ready_sockets();
}

void CurlMulti::unwatch_socket(curl_socket_t fd) {
    const auto found = sockets_.find(fd);
    if (found == sockets_.end()) return;
    epoll_event ignored{};
    ::epoll_ctl(ready_sockets_.native_handle(), EPOLL_CTL_DEL, fd, &ignored);  // fails only for an fd closed already
    sockets_.erase(found);
}

int CurlMulti::on_close_socket(void* self, curl_socket_t fd) {
    // Deregister before close: no event may survive on a number the kernel is about to
    // hand out again.
    auto* multi = static_cast<CurlMulti*>(self);
    try {
        multi->unwatch_socket(fd);
    } catch (...) {
        metrics::report_internal_error(multi->internal_errors_, "curl close-socket callback", "curl multi");
    }
    return ::close(fd);
}

void CurlMulti::wait_for_ready_sockets() {
    if (ready_wait_armed_ || sockets_.empty() || shutting_down_) return;
    ready_wait_armed_ = true;
    ready_sockets_.async_wait(descriptor_type::wait_read, [alive = alive_](const error_code& ec) {
        CurlMulti* live = *alive;
        if (live == nullptr) return;
        live->ready_wait_armed_ = false;
        if (ec) return;
        live->contained("curl sockets", [live] { live->on_sockets_ready(); });
        live->wait_for_ready_sockets();
    });
}

void CurlMulti::on_sockets_ready() {
    constexpr int max_events = 64;
    epoll_event events[max_events];
    // A few rounds at most, then back to the event loop so client sockets get their turn.
    for (int round = 0; round < 4; ++round) {
        const int count = ::epoll_wait(ready_sockets_.native_handle(), events, max_events, 0);
        if (count <= 0) return;
        WriteBatch::Scope batch;  // one write per client connection for the whole round
        for (int i = 0; i < count; ++i) {
            const auto fd = static_cast<curl_socket_t>(events[i].data.u64 & 0xffffffffu);
            const auto generation = static_cast<std::uint32_t>(events[i].data.u64 >> 32);
            const auto found = sockets_.find(fd);
            // Gone or replaced while this round ran: the event belongs to a closed socket.
            if (found == sockets_.end() || found->second.generation != generation) continue;
            const std::uint32_t wanted = found->second.events;
            std::uint32_t ready = events[i].events;
            // A hang-up or error is reported in the direction curl waits for: curl's own
            // read or write then sees what happened.
            if ((ready & (EPOLLERR | EPOLLHUP)) != 0) ready |= wanted;
            int flags = 0;
            if ((ready & wanted & EPOLLIN) != 0) flags |= CURL_CSELECT_IN;
            if ((ready & wanted & EPOLLOUT) != 0) flags |= CURL_CSELECT_OUT;
            if (flags != 0) socket_action(fd, flags);
        }
        if (count < max_events) return;
    }
}

int CurlMulti::on_timer_callback(CURLM*, long timeout_ms, void* self) {
    auto* multi = static_cast<CurlMulti*>(self);
    try {
        return multi->set_timer(timeout_ms);
    } catch (...) {
        metrics::report_internal_error(multi->internal_errors_, "curl timer callback", "curl multi");
        return -1;
    }
}

int CurlMulti::set_timer(long timeout_ms) {
    if (shutting_down_) return 0;
    if (timeout_ms < 0) {
        timer_.cancel();
        return 0;
    }
    if (timeout_ms == 0) {
        // curl wants the timeout action now, but we are inside a curl call: post it.
        timer_.cancel();
        if (!timeout_posted_) {
            timeout_posted_ = true;
            asio::post(io_, [alive = alive_] {
                if (CurlMulti* live = *alive) {
                    live->timeout_posted_ = false;
                    live->contained("curl timeout", [live] { live->on_timeout(); });
                }
            });
        }
        return 0;
    }
    timer_.expires_after(std::chrono::milliseconds(timeout_ms));
    timer_.async_wait([alive = alive_](const error_code& ec) {
        if (ec) return;
        if (CurlMulti* live = *alive) live->contained("curl timer", [live] { live->on_timeout(); });
    });
    return 0;
}

void CurlMulti::on_timeout() { socket_action(CURL_SOCKET_TIMEOUT, 0); }

void CurlMulti::socket_action(curl_socket_t fd, int flags) {
    int running = 0;
    // Every frame this read produces (several SSE events in one chunk, the end of a
    // response) leaves in one write per client connection.
    WriteBatch::Scope batch;
    ++curl_call_depth_;
    const CURLMcode code = curl_multi_socket_action(multi_, fd, flags, &running);
    --curl_call_depth_;
    if (code != CURLM_OK) spdlog::warn("upstream: curl_multi_socket_action: {}", curl_multi_strerror(code));
    after_curl_call();
}

void CurlMulti::after_curl_call() {
    if (in_curl_call()) return;  // the outermost call finishes the work
    complete_finished_transfers();
    run_deferred();
}

void CurlMulti::complete_finished_transfers() {
    int queued = 0;
    // One message at a time: completing a transfer may remove others (and their messages).
    while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
        if (message->msg != CURLMSG_DONE) continue;
        CURL* handle = message->easy_handle;
        const CURLcode result = message->data.result;
        const auto found = transfers_.find(handle);
        if (found == transfers_.end()) continue;
        std::shared_ptr<CurlEasy> easy = std::move(found->second);
        transfers_.erase(found);
        const bool wanted = easy->state_ == CurlEasy::State::added;
        easy->multi_ = nullptr;
        easy->state_ = CurlEasy::State::idle;
        ++curl_call_depth_;
        curl_multi_remove_handle(multi_, handle);
        --curl_call_depth_;
        // A throw from one transfer's completion must not skip the others' messages.
        if (wanted) contained("upstream transfer done", [&] { easy->on_transfer_done(make_error_code(result)); });
    }
}

void CurlMulti::run_deferred() {
    while (!deferred_.empty() && !in_curl_call()) {
        std::vector<DeferredWork> work;
        work.swap(deferred_);
        for (DeferredWork& item : work) {
            CurlEasy& easy = *item.easy;
            if (easy.multi_ != this) continue;  // finished or removed meanwhile
            switch (item.what) {
            case Deferred::add:
                if (easy.state_ == CurlEasy::State::adding) {
                    if (const error_code ec = add_now(item.easy))
                        contained("upstream transfer done", [&] { easy.on_transfer_done(ec); });
                }
                break;
            case Deferred::remove:
                if (easy.state_ == CurlEasy::State::removing) remove_now(easy);
                break;
            case Deferred::resume:
                resume_now(easy);
                break;
            }
        }
    }
}

}  // namespace voxgate::upstream
