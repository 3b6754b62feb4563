// The real voxgate binary in a child process: flags, configuration errors, exit codes,
// start-up log and graceful shutdown on SIGTERM.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "support/load_scale.hpp"
#include "auth/key_digest.hpp"
#include "support/test_gateway.hpp"
#include "support/ws_client.hpp"

namespace voxgate::test {
namespace {

namespace websocket = boost::beast::websocket;
using namespace std::chrono_literals;

std::string write_temp_config(const std::string& json) {
    char path[] = "/tmp/voxgate-test-config-XXXXXX";
    int fd = ::mkstemp(path);
    ::close(fd);
    std::ofstream(path) << json;
    return path;
}

std::string listen_arg(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

TEST(Binary, VersionAndHelp) {
    ChildProcess version({"--version"});
    EXPECT_EQ(version.wait(10s), 0);
    EXPECT_EQ(version.stdout_text().rfind("voxgate ", 0), 0u) << version.stdout_text();
    ChildProcess help({"--help"});
    EXPECT_EQ(help.wait(10s), 0);
    EXPECT_NE(help.stdout_text().find("--listen"), std::string::npos);
}

TEST(Binary, ConfigErrorNamesTheKeyAndExits2) {
    auto path = write_temp_config(R"({ "limits": { "max_message_bytes": 10 } })");
    ChildProcess child({"--config", path});
    EXPECT_EQ(child.wait(10s), 2);
    EXPECT_NE(child.stderr_text().find("config error: limits.max_message_bytes: expected an integer >= 1024"),
              std::string::npos)
        << child.stderr_text();
    ::unlink(path.c_str());
}

TEST(Binary, UnknownKeyIsAConfigError) {
    auto path = write_temp_config(R"({ "server": { "listen": "127.0.0.1:0", "bogus": 1 } })");
    ChildProcess child({"--config", path});
    EXPECT_EQ(child.wait(10s), 2);
    EXPECT_NE(child.stderr_text().find("server.bogus"), std::string::npos) << child.stderr_text();
    ::unlink(path.c_str());
}

TEST(Binary, PortInUseExits1WithClearMessage) {
    asio::io_context ioc;
    tcp::acceptor holder(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    auto port = holder.local_endpoint().port();
    ChildProcess child({"--listen", listen_arg(port), "--threads", "1"});
    EXPECT_EQ(child.wait(10s), 1);
    EXPECT_NE(child.stderr_text().find("cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos)
        << child.stderr_text();
}

TEST(Binary, FlagsOverrideEnvironmentOverrideFile) {
    auto file_port = free_port(), env_port = free_port(), flag_port = free_port();
    auto path = write_temp_config("{ \"server\": { \"listen\": \"" + listen_arg(file_port) + "\" } }");
    {
        ChildProcess child({"--config", path}, {{"VOXGATE_LISTEN", listen_arg(env_port)}});
        EXPECT_TRUE(wait_healthy(env_port, 10s)) << child.stderr_text();
        child.signal(SIGTERM);
        EXPECT_EQ(child.wait(20s), 0);
    }
    {
        ChildProcess child({"--config", path, "--listen", listen_arg(flag_port)},
                           {{"VOXGATE_LISTEN", listen_arg(env_port)}});
        EXPECT_TRUE(wait_healthy(flag_port, 10s)) << child.stderr_text();
        child.signal(SIGTERM);
        EXPECT_EQ(child.wait(20s), 0);
    }
    {
        ChildProcess child({}, {{"VOXGATE_CONFIG", path}});
        EXPECT_TRUE(wait_healthy(file_port, 10s)) << child.stderr_text();
        child.signal(SIGTERM);
        EXPECT_EQ(child.wait(20s), 0);
    }
    ::unlink(path.c_str());
}

TEST(Binary, StartupLogNamesVersionListenThreadsAndProvidersButNoSecret) {
    auto port = free_port();
    auto path = write_temp_config(R"({ "providers": { "main": { "kind": "openai", "base_url": "https://api.openai.com/v1",
        "api_key_env": "TEST_SECRET_KEY", "model": "gpt-4o-mini" } }, "routes": { "*": ["main"] } })");
    ChildProcess child({"--config", path, "--listen", listen_arg(port), "--threads", "2"},
                       {{"TEST_SECRET_KEY", "sk-super-secret-value"}});
    ASSERT_TRUE(wait_healthy(port, 10s)) << child.stderr_text();
    child.signal(SIGTERM);
    EXPECT_EQ(child.wait(20s), 0);
    auto log = child.stderr_text();
    EXPECT_NE(log.find("voxgate " VOXGATE_VERSION), std::string::npos) << log;
    EXPECT_NE(log.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << log;
    EXPECT_NE(log.find("threads=2"), std::string::npos) << log;
    EXPECT_NE(log.find("main"), std::string::npos) << log;
    EXPECT_EQ(log.find("sk-super-secret-value"), std::string::npos) << log;
    ::unlink(path.c_str());
}

TEST(Binary, ARouteWithoutAUsableProviderExits2NamingTheRouteAndTheVariable) {
    auto path = write_temp_config(R"({ "providers": { "main": { "kind": "openai", "base_url": "https://api.openai.com/v1",
        "api_key_env": "TEST_UNSET_KEY_VOXGATE" } }, "routes": { "gpt-4o": ["main"] } })");
    ChildProcess child({"--config", path, "--listen", listen_arg(free_port())}, {{"TEST_UNSET_KEY_VOXGATE", ""}});
    EXPECT_EQ(child.wait(10s), 2);
    const std::string log = child.stderr_text();
    EXPECT_NE(log.find("config error: routes.gpt-4o: no provider of this route can be used: $TEST_UNSET_KEY_VOXGATE"),
              std::string::npos)
        << log;
    ::unlink(path.c_str());
}

TEST(Binary, TheShippedConfigWithoutKeysStartsInDemoModeAndSaysSo) {
    auto port = free_port();
    ChildProcess child({"--config", std::string(VOXGATE_SOURCE_DIR) + "/config/voxgate.json", "--listen",
                        listen_arg(port), "--threads", "1"},
                       {{"OPENAI_API_KEY", ""}, {"ANTHROPIC_API_KEY", ""}});
    ASSERT_TRUE(wait_healthy(port, 10s)) << child.stderr_text();
    child.signal(SIGTERM);
    EXPECT_EQ(child.wait(20s), 0);
    EXPECT_NE(child.stderr_text().find("DEMO MODE"), std::string::npos) << child.stderr_text();
}

TEST(Binary, AnUnsignedTwilioEndpointIsAnnouncedAtStartUpAndASignedOneIsNot) {
    auto unsigned_config = write_temp_config(R"({ "twilio": { "enabled": true } })");
    auto port = free_port();
    ChildProcess open_child({"--config", unsigned_config, "--listen", listen_arg(port), "--threads", "1"});
    ASSERT_TRUE(wait_healthy(port, 10s)) << open_child.stderr_text();
    open_child.signal(SIGTERM);
    EXPECT_EQ(open_child.wait(20s), 0);
    EXPECT_NE(open_child.stderr_text().find("twilio: /v1/twilio runs UNSIGNED"), std::string::npos)
        << open_child.stderr_text();

    auto signed_config = write_temp_config(R"({ "twilio": { "enabled": true, "public_url": "wss://voice.example.com",
        "auth_token_env": "TEST_TWILIO_TOKEN_VOXGATE" } })");
    port = free_port();
    ChildProcess signed_child({"--config", signed_config, "--listen", listen_arg(port), "--threads", "1"},
                              {{"TEST_TWILIO_TOKEN_VOXGATE", "twilio-token-never-logged"}});
    ASSERT_TRUE(wait_healthy(port, 10s)) << signed_child.stderr_text();
    signed_child.signal(SIGTERM);
    EXPECT_EQ(signed_child.wait(20s), 0);
    EXPECT_EQ(signed_child.stderr_text().find("UNSIGNED"), std::string::npos) << signed_child.stderr_text();
    EXPECT_EQ(signed_child.stderr_text().find("twilio-token-never-logged"), std::string::npos);
    ::unlink(unsigned_config.c_str());
    ::unlink(signed_config.c_str());
}

TEST(Binary, JsonLogFormatWritesJsonLines) {
    auto port = free_port();
    ChildProcess child({"--listen", listen_arg(port), "--log-format", "json", "--threads", "1"});
    ASSERT_TRUE(wait_healthy(port, 10s)) << child.stderr_text();
    child.signal(SIGTERM);
    EXPECT_EQ(child.wait(20s), 0);
    std::istringstream lines(child.stderr_text());
    int parsed = 0;
    for (std::string line; std::getline(lines, line);) {
        auto json = nlohmann::json::parse(line);  // throws (fails the test) on a non-JSON line
        EXPECT_TRUE(json.contains("msg"));
        ++parsed;
    }
    EXPECT_GE(parsed, 2);
}

TEST(Binary, SigtermClosesWebSocketsWith1001AndExitsZero) {
    auto port = free_port();
    ChildProcess child({"--listen", listen_arg(port), "--threads", "2"});
    ASSERT_TRUE(wait_healthy(port, 10s)) << child.stderr_text();
    auto client = WsClient::connect(port, {.read_timeout = 20s});
    child.signal(SIGTERM);
    while (client->read()) {
    }
    EXPECT_EQ(client->close_reason().code, websocket::close_code::going_away);
    EXPECT_EQ(child.wait(20s), 0) << child.stderr_text();
    EXPECT_NE(child.stderr_text().find("shutdown complete"), std::string::npos);
}

// Drain (README "Operations"): 1,000 responses streaming when SIGTERM comes. /readyz turns
// 503 at once while the port still accepts; at the drain deadline every stream still
// going ends with response.done (incomplete), then each socket is closed with 1001, and
// the process exits 0.
TEST(Binary, SigtermDrainsAThousandStreamsEachEndingWithResponseDoneThen1001) {
    const int streams = load_count(1000, 200);
    rlimit files{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &files), 0);
    if (files.rlim_cur < static_cast<rlim_t>(3 * streams)) {
        files.rlim_cur = std::min<rlim_t>(files.rlim_max, static_cast<rlim_t>(4 * streams));
        ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &files), 0);  // the child inherits it too
    }
    ASSERT_GE(files.rlim_cur, static_cast<rlim_t>(2 * streams + 100)) << "the hard RLIMIT_NOFILE is too low";

    auto port = free_port();
    // The demo provider at 2 tokens/s: no reply finishes within the 1 s grace + 2 s drain.
    auto path = write_temp_config(R"({ "shutdown": { "readiness_grace_seconds": 1, "drain_seconds": 2 },
        "limits": { "max_connections": 5000, "max_connections_per_ip": 0, "max_handshakes_per_second_per_ip": 0 },
        "providers": { "demo": { "kind": "demo", "demo_tokens_per_second": 2, "demo_first_token_delay_ms": 1 } },
        "routes": { "*": ["demo"] } })");
    ChildProcess child({"--config", path, "--listen", listen_arg(port), "--threads", "2"});
    ASSERT_TRUE(wait_healthy(port, 10s)) << child.stderr_text();

    std::vector<std::unique_ptr<WsClient>> clients;
    clients.reserve(streams);
    for (int i = 0; i < streams; ++i) {
        clients.push_back(WsClient::connect(port, {.target = "/v1/realtime", .read_timeout = 30s}));
        clients.back()->send_text(R"({"type":"response.create"})");
    }
    for (auto& client : clients) client->read_until("response.created");
    EXPECT_EQ(http_get(port, "/readyz").status, 200);

    child.signal(SIGTERM);
    // Readiness fails at once (within the 1 s grace), while the port still accepts.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    int readiness = 200;
    while (readiness == 200 && std::chrono::steady_clock::now() < deadline) readiness = http_get(port, "/readyz").status;
    EXPECT_EQ(readiness, 503);

    int completed = 0, incomplete = 0, closed_going_away = 0;
    for (auto& client : clients) {
        const auto done = client->read_until("response.done");
        const std::string status = done["response"].value("status", "");
        if (status == "completed") ++completed;
        if (status == "incomplete") ++incomplete;
        while (client->read()) {
        }
        if (client->close_reason().code == boost::beast::websocket::close_code::going_away) ++closed_going_away;
    }
    EXPECT_EQ(completed + incomplete, streams);
    EXPECT_GT(incomplete, 0) << "the drain deadline came before the demo replies ended";
    EXPECT_EQ(closed_going_away, streams);
    EXPECT_EQ(child.wait(30s), 0) << child.stderr_text();
    ::unlink(path.c_str());
}

// ---------------------------------------------------------------------------------------
// Authentication: the open-relay refusal, hash-key, and SIGHUP reloading the keys file

std::string keys_json(const std::string& name, const std::string& key) {
    return R"({"keys": [{"name": ")" + name + R"(", "sha256": ")" + auth::to_hex(auth::sha256_of(key)) + R"("}]})";
}

// The handshake status for `key` (101 when the upgrade is accepted).
int upgrade_status(std::uint16_t port, const std::string& key) {
    return http_upgrade(port, "/v1/realtime", {{"Authorization", "Bearer " + key}}).status;
}

TEST(Binary, UnauthenticatedNonLoopbackListenWithARealProviderKeyExits2) {
    auto path = write_temp_config(R"({ "providers": { "main": { "kind": "openai", "base_url": "https://api.openai.com/v1",
        "api_key_env": "TEST_SECRET_KEY" } } })");
    ChildProcess child({"--config", path, "--listen", "0.0.0.0:" + std::to_string(free_port())},
                       {{"TEST_SECRET_KEY", "sk-super-secret-value"}});
    EXPECT_EQ(child.wait(10s), 2);
    const auto err = child.stderr_text();
    EXPECT_NE(err.find("config error: auth.mode:"), std::string::npos) << err;
    EXPECT_NE(err.find("server.listen"), std::string::npos) << err;
    EXPECT_NE(err.find("auth.allow_unauthenticated"), std::string::npos) << err;
    EXPECT_EQ(err.find("sk-super-secret-value"), std::string::npos);
    std::filesystem::remove(path);
}

TEST(Binary, DemoOnlyFirstRunStillStartsOnAllInterfaces) {
    auto port = free_port();
    ChildProcess child({"--config", source_dir() + "/config/voxgate.json", "--listen", "0.0.0.0:" + std::to_string(port),
                        "--threads", "1"},
                       {{"OPENAI_API_KEY", ""}, {"ANTHROPIC_API_KEY", ""}});
    ASSERT_TRUE(wait_healthy(port, 10s)) << child.stderr_text();
    child.signal(SIGTERM);
    EXPECT_EQ(child.wait(20s), 0) << child.stderr_text();
}

TEST(Binary, HashKeyPrintsWhatSha256sumPrints) {
    const std::string key = "sk-vox-test-0123456789abcdef";
    ChildProcess child({"hash-key"}, {}, key + "\n");
    ASSERT_EQ(child.wait(10s), 0) << child.stderr_text();
    std::string expected;
    {
        std::FILE* pipe = ::popen(("printf %s '" + key + "' | sha256sum").c_str(), "r");
        ASSERT_NE(pipe, nullptr);
        char line[128] = {};
        ASSERT_NE(std::fgets(line, sizeof line, pipe), nullptr);
        ::pclose(pipe);
        expected = std::string(line).substr(0, 64);
    }
    EXPECT_EQ(child.stdout_text(), expected + "\n");
    EXPECT_EQ(child.stdout_text().find(key), std::string::npos);

    ChildProcess empty({"hash-key"}, {}, std::string());
    EXPECT_EQ(empty.wait(10s), 2);
}

TEST(Binary, SighupReloadsTheKeysFileWithoutDroppingConnections) {
    auto keys = write_temp_config(keys_json("team-a", "sk-key-a"));
    auto port = free_port();
    auto config = write_temp_config(R"({ "auth": { "mode": "api_keys", "keys_file": ")" + keys + R"(" } })");
    ChildProcess child({"--config", config, "--listen", listen_arg(port), "--threads", "2"});
    ASSERT_TRUE(wait_healthy(port, 10s)) << child.stderr_text();
    auto live = WsClient::connect(port, {.headers = {{"Authorization", "Bearer sk-key-a"}}, .read_timeout = 20s});
    ASSERT_TRUE(live->read());  // session.created
    EXPECT_EQ(upgrade_status(port, "sk-key-b"), 401);

    std::ofstream(keys) << keys_json("team-b", "sk-key-b");
    child.signal(SIGHUP);
    int status = 0;
    for (auto deadline = std::chrono::steady_clock::now() + 20s; std::chrono::steady_clock::now() < deadline;) {
        if ((status = upgrade_status(port, "sk-key-b")) == 101) break;
        // Every poll is a new connection from 127.0.0.1: stay well below the default
        // limits.max_handshakes_per_second_per_ip (50) however long a slow (TSan) reload takes.
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(status, 101) << child.stderr_text();
    EXPECT_EQ(upgrade_status(port, "sk-key-a"), 401);

    // A bad file: logged, the previous keys stay.
    std::ofstream(keys) << R"({"keys": [{"name": "x", "sha256": "oops"}]})";
    child.signal(SIGHUP);
    bool logged = false;
    for (auto deadline = std::chrono::steady_clock::now() + 20s; !logged && std::chrono::steady_clock::now() < deadline;) {
        logged = child.stderr_text().find("keys file not reloaded") != std::string::npos;
        if (!logged) std::this_thread::sleep_for(20ms);
    }
    EXPECT_TRUE(logged) << child.stderr_text();
    EXPECT_NE(child.stderr_text().find("keys[0].sha256"), std::string::npos);
    EXPECT_EQ(upgrade_status(port, "sk-key-b"), 101);

    // The connection opened under the removed key is still up.
    live->send_text(R"({"type": "session.update", "session": {"instructions": "still here"}})");
    EXPECT_EQ(live->read_until("session.updated")["session"]["instructions"], "still here");
    child.signal(SIGTERM);
    EXPECT_EQ(child.wait(20s), 0) << child.stderr_text();
    std::filesystem::remove(keys);
    std::filesystem::remove(config);
}

}  // namespace
}  // namespace voxgate::test
