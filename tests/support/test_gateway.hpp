#pragma once
// Test helpers for running voxgate: in-process (a Runtime on 127.0.0.1 with port 0)
// and as the real binary in a child process (signals, exit codes, flags).
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server/runtime.hpp"

namespace voxgate::test {

// A test config: 127.0.0.1, port 0, 2 threads, quiet logs.
Config test_config();

class TestGateway {
public:
    // `customize` runs after the wiring and before the shard threads start: the place to
    // replace an endpoint's make_handler (find_ws_endpoint) or the collector without racing a shard.
    explicit TestGateway(Config config = test_config(), bool wire = true,
                         std::function<void(server::Runtime&)> customize = {});
    ~TestGateway();

    std::uint16_t port() const { return port_; }
    server::Runtime& runtime() { return *runtime_; }
    void shutdown();

private:
    std::unique_ptr<server::Runtime> runtime_;
    std::uint16_t port_ = 0;
    bool stopped_ = false;
};

// One blocking HTTP/1.1 request to 127.0.0.1:port; returns status, headers (lower-case
// names) and body. Throws on connection failure.
struct HttpResult {
    int status = 0;
    std::map<std::string, std::string> headers;
    std::string body;
};
HttpResult http_get(std::uint16_t port, const std::string& target, const std::string& method = "GET",
                    const std::vector<std::pair<std::string, std::string>>& headers = {});
// A POST of `body` (Content-Length, like a browser's fetch) with `headers`.
HttpResult http_post(std::uint16_t port, const std::string& target, const std::string& body,
                     const std::vector<std::pair<std::string, std::string>>& headers = {});
// A WebSocket upgrade request (as a browser or SDK sends it, plus `headers`) read back as
// plain HTTP, so that a refusal's status and JSON body can be checked; 101 when accepted.
HttpResult http_upgrade(std::uint16_t port, const std::string& target,
                        std::vector<std::pair<std::string, std::string>> headers = {});
// Sends raw bytes and returns the raw response (until the server closes or 2 s of silence).
std::string http_raw(std::uint16_t port, const std::string& bytes);

// Value of an unlabelled sample (or a labelled one when `labels` is given exactly as in the
// exposition, e.g. {code="200",path="/healthz"}) in Prometheus text; nullopt if absent.
std::optional<double> metric_value(const std::string& exposition, const std::string& name,
                                   const std::string& labels = "");

// The value of a metric scraped from GET /metrics now; -1 when absent or unreachable.
double scrape_metric(std::uint16_t port, const std::string& name, const std::string& labels = "");

// Polls until the predicate holds or a generous deadline passes (tests wait for
// conditions, never for fixed times).
template <class Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!predicate()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

std::string binary_path();  // build/voxgate

// The real binary in a child process.
class ChildProcess {
public:
    // stdin_text: what the child reads on stdin (otherwise it inherits the runner's);
    // binary: the executable (benchmarks compare builds; tests run build/voxgate).
    ChildProcess(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {},
                 const std::optional<std::string>& stdin_text = std::nullopt, std::string binary = binary_path());
    ~ChildProcess();

    int pid() const { return pid_; }
    void signal(int signal_number);
    // Waits for exit; returns the exit code, or -1 on timeout (the child is then killed).
    int wait(std::chrono::milliseconds timeout);
    std::string stderr_text() const;  // everything the child wrote to stderr so far
    std::string stdout_text() const;

private:
    int pid_ = -1;
    std::string stderr_path_;
    std::string stdout_path_;
    bool exited_ = false;
};

// Picks a free loopback port (bind to 0, read, close).
std::uint16_t free_port();
// Polls GET /healthz until it answers 200 or the timeout passes.
bool wait_healthy(std::uint16_t port, std::chrono::milliseconds timeout);

std::string source_dir();   // repository root

}  // namespace voxgate::test
