#include "support/test_gateway.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "server/wiring.hpp"

namespace voxgate::test {

namespace beast = boost::beast;
namespace http = beast::http;

Config test_config() {
    Config config;
    config.server.listen_host = "127.0.0.1";
    config.server.listen_port = 0;
    config.server.threads = 2;
    config.log.level = "warn";
    config.shutdown.readiness_grace = std::chrono::seconds(0);  // tests that need one set it
    // Every test client comes from 127.0.0.1: the per-address limits are off here and
    // turned on by the tests of those limits.
    config.limits.max_connections_per_ip = 0;
    config.limits.max_handshakes_per_second_per_ip = 0;
    ProviderConfig demo;
    demo.name = "demo";
    demo.kind = "demo";
    demo.options = DemoOptions{1000, std::chrono::milliseconds(1)};
    config.providers.push_back(demo);
    config.routes["*"] = {"demo"};
    return config;
}

TestGateway::TestGateway(Config config, bool wire, std::function<void(server::Runtime&)> customize) {
    spdlog::set_level(spdlog::level::from_str(config.log.level));
    runtime_ = std::make_unique<server::Runtime>(std::move(config));
    if (wire) server::wire_gateway(*runtime_);
    if (customize) customize(*runtime_);
    runtime_->bind();
    port_ = runtime_->local_endpoint().port();
    runtime_->start();
}

TestGateway::~TestGateway() { shutdown(); }

void TestGateway::shutdown() {
    if (stopped_) return;
    stopped_ = true;
    runtime_->shutdown();
}

HttpResult http_upgrade(std::uint16_t port, const std::string& target,
                        std::vector<std::pair<std::string, std::string>> headers) {
    headers.insert(headers.end(), {{"Connection", "Upgrade"},
                                   {"Upgrade", "websocket"},
                                   {"Sec-WebSocket-Version", "13"},
                                   {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}});
    return http_get(port, target, "GET", headers);
}

namespace {

HttpResult http_exchange(std::uint16_t port, const std::string& target, const std::string& method,
                         const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body) {
    asio::io_context ioc;
    tcp::socket socket(ioc);
    socket.connect({asio::ip::make_address("127.0.0.1"), port});
    http::request<http::string_body> request{http::string_to_verb(method), target, 11};
    request.set(http::field::host, "127.0.0.1");
    for (auto& [name, value] : headers) request.set(name, value);
    request.body() = body;
    request.prepare_payload();
    http::write(socket, request);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    if (method == "HEAD") {
        http::response_parser<http::string_body> parser;
        parser.skip(true);
        http::read(socket, buffer, parser);
        response = parser.release();
    } else {
        http::read(socket, buffer, response);
    }
    HttpResult result;
    result.status = static_cast<int>(response.result_int());
    for (auto& field : response) {
        std::string name(field.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        result.headers[name] = std::string(field.value());
    }
    result.body = response.body();
    return result;
}

}  // namespace

HttpResult http_get(std::uint16_t port, const std::string& target, const std::string& method,
                    const std::vector<std::pair<std::string, std::string>>& headers) {
    return http_exchange(port, target, method, headers, "");
}

HttpResult http_post(std::uint16_t port, const std::string& target, const std::string& body,
                     const std::vector<std::pair<std::string, std::string>>& headers) {
    return http_exchange(port, target, "POST", headers, body);
}

std::string http_raw(std::uint16_t port, const std::string& bytes) {
    asio::io_context ioc;
    tcp::socket socket(ioc);
    socket.connect({asio::ip::make_address("127.0.0.1"), port});
    timeval timeout{2, 0};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    error_code write_error;  // a server that refuses early may close before we finish writing
    asio::write(socket, asio::buffer(bytes), write_error);
    std::string out;
    char chunk[4096];
    for (;;) {
        error_code ec;
        auto n = socket.read_some(asio::buffer(chunk), ec);
        out.append(chunk, n);
        if (ec) break;
    }
    return out;
}

std::optional<double> metric_value(const std::string& exposition, const std::string& name,
                                   const std::string& labels) {
    std::istringstream lines(exposition);
    const std::string wanted = name + labels + " ";
    for (std::string line; std::getline(lines, line);)
        if (line.rfind(wanted, 0) == 0) return std::stod(line.substr(wanted.size()));
    return std::nullopt;
}

double scrape_metric(std::uint16_t port, const std::string& name, const std::string& labels) {
    try {
        return metric_value(http_get(port, "/metrics").body, name, labels).value_or(-1);
    } catch (const std::exception&) {
        return -1;  // refused (say, at a connection limit) or not up yet
    }
}

namespace {
std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}
}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                           const std::optional<std::string>& stdin_text, std::string binary) {
    char stderr_template[] = "/tmp/voxgate-test-stderr-XXXXXX";
    char stdout_template[] = "/tmp/voxgate-test-stdout-XXXXXX";
    int err_fd = ::mkstemp(stderr_template);
    int out_fd = ::mkstemp(stdout_template);
    int in_fd = -1;
    if (stdin_text) {
        char stdin_template[] = "/tmp/voxgate-test-stdin-XXXXXX";
        in_fd = ::mkstemp(stdin_template);
        ::unlink(stdin_template);  // the open descriptor keeps it until the child has read it
        if (::write(in_fd, stdin_text->data(), stdin_text->size()) != static_cast<ssize_t>(stdin_text->size()))
            throw std::runtime_error("cannot write the child's stdin");
        ::lseek(in_fd, 0, SEEK_SET);
    }
    stderr_path_ = stderr_template;
    stdout_path_ = stdout_template;
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        ::dup2(err_fd, 2);
        ::dup2(out_fd, 1);
        if (in_fd >= 0) ::dup2(in_fd, 0);
        ::setpgid(0, 0);
        for (auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
        std::vector<char*> argv;
        argv.push_back(binary.data());
        std::vector<std::string> copies(args);
        for (auto& arg : copies) argv.push_back(arg.data());
        argv.push_back(nullptr);
        // The child must not inherit the test runner's blocked signal mask.
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execv(binary.c_str(), argv.data());
        ::_exit(127);
    }
    ::close(err_fd);
    ::close(out_fd);
    if (in_fd >= 0) ::close(in_fd);
}

ChildProcess::~ChildProcess() {
    if (!exited_ && pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }
    ::unlink(stderr_path_.c_str());
    ::unlink(stdout_path_.c_str());
}

void ChildProcess::signal(int signal_number) { ::kill(pid_, signal_number); }

int ChildProcess::wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        int r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            exited_ = true;
            if (WIFEXITED(status)) return WEXITSTATUS(status);
            return 128 + WTERMSIG(status);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    exited_ = true;
    return -1;
}

std::string ChildProcess::stderr_text() const { return read_file(stderr_path_); }
std::string ChildProcess::stdout_text() const { return read_file(stdout_path_); }

std::uint16_t free_port() {
    asio::io_context ioc;
    tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    return acceptor.local_endpoint().port();
}

bool wait_healthy(std::uint16_t port, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        try {
            if (http_get(port, "/healthz").status == 200) return true;
        } catch (const std::exception&) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
}

std::string binary_path() { return VOXGATE_BINARY; }
std::string source_dir() { return VOXGATE_SOURCE_DIR; }

}  // namespace voxgate::test
