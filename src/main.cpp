// voxgate: flags -> Config -> Runtime -> run until SIGTERM/SIGINT. Nothing else.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include <boost/system/system_error.hpp>
#include <spdlog/spdlog.h>

#include "config/cli.hpp"
#include "config/config_loader.hpp"
#include "server/fd_limit.hpp"
#include "server/logging.hpp"
#include "server/runtime.hpp"
#include "server/wiring.hpp"

int main(int argc, char** argv) {
    using namespace voxgate;
    const auto started = std::chrono::steady_clock::now();

    Config config;
    try {
        auto cli = config::parse_command_line(argc, argv);
        if (cli.action == config::CliAction::help) {
            std::cout << config::usage_text();
            return 0;
        }
        if (cli.action == config::CliAction::hash_key) {
            std::string key{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
            std::cout << config::hash_key_text(std::move(key)) << '\n';
            return 0;
        }
        if (cli.action == config::CliAction::version) {
            std::cout << config::version_text() << '\n';
            return 0;
        }
        config = config::load_config(cli);
    } catch (const config::ConfigError& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 2;
    }

    // Signals are taken synchronously by this thread; shard threads inherit the mask.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGHUP);  // reload auth.keys_file
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);  // a client that vanishes mid-write is an error code, not a crash

    try {
        server::configure_logging(config.log);
        if (auto warning = server::fd_limit_warning(server::raise_fd_limit(), config.limits.max_connections))
            spdlog::warn("{}", *warning);
        server::Runtime runtime(config);
        server::wire_gateway(runtime);
        try {
            runtime.bind();
        } catch (const boost::system::system_error& e) {
            spdlog::critical("cannot listen on {}:{}: {}", config.server.listen_host, config.server.listen_port,
                             e.code().message());
            return 1;
        }
        runtime.start();
        auto ready_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
        auto endpoint = runtime.local_endpoint();
        spdlog::info("voxgate {} listening on {}:{} ({}) threads={} tls={} providers: {} (ready in {:.1f} ms)",
                     VOXGATE_VERSION, endpoint.address().to_string(), endpoint.port(),
                     config.tls.enabled() ? "http+https" : "http", runtime.shards().size(),
                     config.tls.enabled() ? "on" : "off", config::describe_providers(config), ready_ms);
        if (auto metrics = runtime.metrics_endpoint())
            spdlog::info("/metrics served on {}:{} only{}", metrics->address().to_string(), metrics->port(),
                         config.metrics.bearer_token.empty() ? "" : " (bearer token required)");
        server::log_provider_warnings(config);

        int signal_number = 0;
        while (sigwait(&stop_signals, &signal_number) == 0 && signal_number == SIGHUP) {
            spdlog::info("received SIGHUP");
            runtime.reload_keys();
        }
        spdlog::info("received {}", signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
        runtime.shutdown();
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        std::fprintf(stderr, "voxgate: %s\n", e.what());
        return 1;
    }
    return 0;
}
