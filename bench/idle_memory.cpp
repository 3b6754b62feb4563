// Cold start and idle memory of the real voxgate binary.
//
//   bench_idle_memory [--connections N] [--runs R] [--threads T] [--binary PATH]
//
// Cold start: exec -> first GET /healthz answered 200, R runs, median and p90.
// Idle memory: RSS of the gateway with 0 connections (after a warm-up connection), then
// with N idle WebSocket connections open (handshake done, nothing sent), per run; prints
// the median RSS and the median of (RSS_N - RSS_0) / N. Kernel socket buffers are not in
// RSS. The client side runs in this process (N sockets; keep N under the 20,000-fd limit).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_stats.hpp"
#include "support/test_gateway.hpp"
#include "support/ws_client.hpp"

using namespace voxgate;
using namespace std::chrono_literals;
using voxgate::bench::quantile;

namespace {

long rss_kib(int pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

// Waits until the gateway's RSS stops moving (allocator settling after a burst).
long settled_rss(int pid) {
    long previous = rss_kib(pid);
    for (int i = 0; i < 20; ++i) {
        std::this_thread::sleep_for(100ms);
        long now = rss_kib(pid);
        if (now == previous) return now;
        previous = now;
    }
    return previous;
}

}  // namespace

int main(int argc, char** argv) {
    int connections = 10000;
    int runs = 5;
    std::string threads = "2";
    std::string binary = test::binary_path();
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string flag = argv[i];
        if (flag == "--connections") connections = std::atoi(argv[i + 1]);
        else if (flag == "--runs") runs = std::atoi(argv[i + 1]);
        else if (flag == "--threads") threads = argv[i + 1];
        else if (flag == "--binary") binary = argv[i + 1];
    }
    std::printf("binary=%s threads=%s connections=%d runs=%d\n", binary.c_str(), threads.c_str(), connections, runs);

    // Every bench client comes from 127.0.0.1: the per-address limits (on by default) would
    // refuse them, and the readiness grace would add seconds to every SIGTERM.
    const std::string config_path = "/tmp/voxgate_bench_idle_memory.json";
    std::FILE* config = std::fopen(config_path.c_str(), "w");
    if (!config) return 1;
    std::fputs(R"({ "limits": { "max_connections_per_ip": 0, "max_handshakes_per_second_per_ip": 0 },
                   "shutdown": { "readiness_grace_seconds": 0 } })", config);
    std::fclose(config);

    std::vector<double> cold_start_ms;
    for (int run = 0; run < std::max(runs, 10); ++run) {
        auto port = test::free_port();
        auto started = std::chrono::steady_clock::now();
        test::ChildProcess gateway(
            {"--config", config_path, "--listen", "127.0.0.1:" + std::to_string(port), "--threads", threads}, {},
            std::nullopt, binary);
        if (!test::wait_healthy(port, 10s)) {
            std::fprintf(stderr, "gateway did not become healthy:\n%s\n", gateway.stderr_text().c_str());
            return 1;
        }
        cold_start_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
        gateway.signal(SIGTERM);
        gateway.wait(20s);
    }
    std::printf("cold start (exec -> first /healthz 200): median %.2f ms, p90 %.2f ms, min %.2f ms over %zu runs\n",
                quantile(cold_start_ms, 0.5), quantile(cold_start_ms, 0.9), quantile(cold_start_ms, 0.0),
                cold_start_ms.size());

    std::vector<double> rss_idle_kib, rss_loaded_kib, per_connection_bytes;
    for (int run = 0; run < runs; ++run) {
        auto port = test::free_port();
        test::ChildProcess gateway(
            {"--config", config_path, "--listen", "127.0.0.1:" + std::to_string(port), "--threads", threads},
            {{"VOXGATE_LOG_LEVEL", "warn"}}, std::nullopt, binary);
        if (!test::wait_healthy(port, 10s)) return 1;
        {
            // Warm-up: one connection through the whole path, so lazily created state
            // (TLS-free here, allocator arenas, protocol tables) is not charged to the N.
            auto warm = test::WsClient::connect(port);
            warm->read();  // session.created
            warm->close();
        }
        long base = settled_rss(gateway.pid());
        std::vector<std::unique_ptr<test::WsClient>> clients;
        clients.reserve(static_cast<std::size_t>(connections));
        for (int i = 0; i < connections; ++i) {
            clients.push_back(test::WsClient::connect(port));
            clients.back()->read();  // session.created: the session is fully set up
        }
        long loaded = settled_rss(gateway.pid());
        rss_idle_kib.push_back(static_cast<double>(base));
        rss_loaded_kib.push_back(static_cast<double>(loaded));
        per_connection_bytes.push_back(static_cast<double>(loaded - base) * 1024.0 / connections);
        std::printf("run %d: RSS with 0 connections %ld KiB, with %d idle connections %ld KiB -> %.0f B/connection\n",
                    run + 1, base, connections, loaded, per_connection_bytes.back());
        std::fflush(stdout);
        clients.clear();
        gateway.signal(SIGTERM);
        gateway.wait(30s);
    }
    std::printf("RSS, 0 connections: median %.0f KiB\n", quantile(rss_idle_kib, 0.5));
    std::printf("RSS, %d idle connections: median %.0f KiB\n", connections, quantile(rss_loaded_kib, 0.5));
    std::printf("per idle connection: median %.0f B (min %.0f, max %.0f) over %d runs\n",
                quantile(per_connection_bytes, 0.5), quantile(per_connection_bytes, 0.0),
                quantile(per_connection_bytes, 1.0), runs);
    return 0;
}
