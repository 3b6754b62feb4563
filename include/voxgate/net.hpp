#pragma once
// The networking vocabulary every layer uses, so that names read the same everywhere.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/system/error_code.hpp>

namespace voxgate {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

// Sockets and timers are typed on the concrete io_context executor instead of
// any_io_executor: it makes every socket and pending operation smaller (docs/design.md,
// "Memory per idle session").
using executor_type = asio::io_context::executor_type;
using tcp_socket = asio::basic_stream_socket<tcp, executor_type>;
using tcp_acceptor = asio::basic_socket_acceptor<tcp, executor_type>;
using steady_timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                                asio::wait_traits<std::chrono::steady_clock>,
                                                executor_type>;

}  // namespace voxgate
