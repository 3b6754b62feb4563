// Client authentication pieces without sockets: key hashing, the keys file parser, the
// token bucket and per-key usage on a fake clock, the Authenticator's reload, and the
// start-up refusal of an unauthenticated open relay.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "auth/authenticator.hpp"
#include "auth/key_digest.hpp"
#include "auth/key_usage.hpp"
#include "limits/token_bucket.hpp"
#include "config/cli.hpp"
#include "config/config_loader.hpp"

namespace voxgate::auth {
namespace {

using limits::TokenBucket;
using Clock = TokenBucket::Clock;
using namespace std::chrono_literals;

// sha256("abc"), FIPS 180-2 appendix B.1.
constexpr std::string_view abc_hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

std::string error_of(std::string_view keys_json) {
    try {
        config::keys_from_json(keys_json, "keys.json");
    } catch (const config::ConfigError& error) {
        return error.what();
    }
    return "(no error)";
}

std::string key_json(std::string_view name, std::string_view secret, std::string_view extra = "") {
    return "{\"name\": \"" + std::string(name) + "\", \"sha256\": \"" + to_hex(sha256_of(secret)) + "\"" +
           std::string(extra) + "}";
}

std::string temp_file(const std::string& content) {
    char path[] = "/tmp/voxgate-auth-test-XXXXXX";
    int fd = ::mkstemp(path);
    ::close(fd);
    std::ofstream(path) << content;
    return path;
}

TEST(KeyDigest, Sha256MatchesTheStandardVectorAndRoundTripsThroughHex) {
    EXPECT_EQ(to_hex(sha256_of("abc")), abc_hex);
    auto parsed = digest_from_hex(abc_hex);
    ASSERT_TRUE(parsed);
    EXPECT_TRUE(same_digest(*parsed, sha256_of("abc")));
    std::string upper(abc_hex);
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_TRUE(digest_from_hex(upper));
    EXPECT_FALSE(same_digest(*parsed, sha256_of("abd")));
}

TEST(KeyDigest, RejectsAnythingButSixtyFourHexDigits) {
    EXPECT_FALSE(digest_from_hex(""));
    EXPECT_FALSE(digest_from_hex(abc_hex.substr(1)));
    EXPECT_FALSE(digest_from_hex(std::string(abc_hex) + "0"));
    EXPECT_FALSE(digest_from_hex(std::string(63, '0') + "g"));
}

TEST(KeysFile, ParsesNamesDigestsModelsAndLimits) {
    auto keys = config::keys_from_json(R"({"keys": [)" +
                                           key_json("team-a", "secret-a",
                                                    R"(, "models": ["gpt-4o-mini"], "limits": {"max_sessions": 50,
                                                    "responses_per_minute": 600, "tokens_per_minute": 200000})") +
                                           ", " + key_json("team-b", "secret-b") + "]}",
                                       "keys.json");
    ASSERT_EQ(keys.size(), 2u);
    EXPECT_EQ(keys[0].name, "team-a");
    EXPECT_TRUE(same_digest(keys[0].sha256, sha256_of("secret-a")));
    EXPECT_EQ(keys[0].models, std::vector<std::string>{"gpt-4o-mini"});
    EXPECT_EQ(keys[0].limits.max_sessions, 50u);
    EXPECT_EQ(keys[0].limits.responses_per_minute, 600u);
    EXPECT_EQ(keys[0].limits.tokens_per_minute, 200000u);
    // Defaults: any model, the documented limits.
    EXPECT_EQ(keys[1].models, std::vector<std::string>{"*"});
    EXPECT_EQ(keys[1].limits.max_sessions, KeyLimits{}.max_sessions);
    EXPECT_TRUE(allows_model(keys[1], "anything"));
    EXPECT_FALSE(allows_model(keys[0], "gpt-4o"));
}

TEST(KeysFile, ErrorsNameThePathInTheFileAndNeverEchoTheHashValue) {
    EXPECT_EQ(error_of(R"({"keys": [{"name": "a", "sha256": "sk-pasted-secret-key"}]})"),
              "config error: keys[0].sha256: expected 64 hex digits, the SHA-256 of the key (voxgate hash-key "
              "prints it)");
    EXPECT_EQ(error_of(R"({"keys": [)" + key_json("a", "1") + ", " + key_json("a", "2") + "]}"),
              "config error: keys[1].name: duplicate name \"a\" (also keys[0])");
    EXPECT_EQ(error_of(R"({"keys": [)" + key_json("a", "1") + ", " + key_json("b", "1") + "]}"),
              "config error: keys[1].sha256: the same key as keys[0]");
    EXPECT_EQ(error_of(R"({"keys": [)" + key_json("a", "1", R"(, "modles": ["*"])") + "]}"),
              "config error: keys[0].modles: unknown key (did you mean models?)");
    EXPECT_EQ(error_of(R"({"keys": [)" + key_json("a", "1", R"(, "limits": {"max_session": 1})") + "]}"),
              "config error: keys[0].limits.max_session: unknown key (did you mean max_sessions?)");
    EXPECT_EQ(error_of(R"({"keys": [)" + key_json("a", "1", R"(, "limits": {"max_sessions": -1})") + "]}"),
              "config error: keys[0].limits.max_sessions: expected an integer >= 0");
    EXPECT_EQ(error_of(R"({"keys": [)" + key_json("a", "1", R"(, "models": [])") + "]}"),
              "config error: keys[0].models: expected at least one model (or \"*\")");
    EXPECT_EQ(error_of(R"({"keys": [{"sha256": "00"}]})"), "config error: keys[0].name: missing");
    EXPECT_EQ(error_of(R"({"kyes": []})"), "config error: kyes: unknown key (did you mean keys?)");
    EXPECT_EQ(error_of(R"({})"), "config error: keys: expected an array of keys");
    EXPECT_NE(error_of(R"({"keys": [)").find("keys.json"), std::string::npos);
}

TEST(KeysFile, LoadingNamesTheConfigKeyAndTheFile) {
    const std::string path = temp_file(R"({"keys": [{"name": "a", "sha256": "zz"}]})");
    try {
        config::load_keys_file(path);
        FAIL() << "expected a ConfigError";
    } catch (const config::ConfigError& error) {
        EXPECT_EQ(error.where(), "auth.keys_file");
        EXPECT_NE(std::string(error.what()).find(path + ": keys[0].sha256"), std::string::npos) << error.what();
    }
    std::filesystem::remove(path);
}

TEST(TokenBucket, StartsFullRefillsOverTimeAndCanGoIntoDebt) {
    const Clock::time_point t0{};
    TokenBucket bucket(60, 1min, t0);  // one token per second
    EXPECT_TRUE(bucket.try_take(60, t0));
    EXPECT_FALSE(bucket.try_take(1, t0));
    EXPECT_FALSE(bucket.try_take(1, t0 + 500ms));
    EXPECT_TRUE(bucket.try_take(1, t0 + 1s));
    EXPECT_DOUBLE_EQ(bucket.available(t0 + 1h), 60);  // never more than the capacity
    bucket.spend(100, t0 + 1h);
    EXPECT_DOUBLE_EQ(bucket.available(t0 + 1h), -40);
    EXPECT_DOUBLE_EQ(bucket.seconds_until_full(t0 + 1h), 100);
    EXPECT_DOUBLE_EQ(bucket.available(t0 + 1h + 41s), 1);
}

TEST(TokenBucket, ANewCapacityKeepsWhatWasUsed) {
    const Clock::time_point t0{};
    TokenBucket bucket(10, 1min, t0);
    EXPECT_TRUE(bucket.try_take(4, t0));
    bucket.set_capacity(20, t0);
    EXPECT_DOUBLE_EQ(bucket.available(t0), 16);
    EXPECT_DOUBLE_EQ(bucket.seconds_until_full(t0), 12);  // 20 per minute now
}

TEST(KeyUsage, SessionSlotsAreBoundedAndFreedByTheLease) {
    auto usage = std::make_shared<KeyUsage>();
    EXPECT_TRUE(usage->try_open_session(2));
    {
        SessionLease lease(usage);  // the second slot, already taken
        EXPECT_TRUE(usage->try_open_session(2));
        usage->close_session();
    }
    EXPECT_EQ(usage->open_sessions(), 0u);
    EXPECT_TRUE(usage->try_open_session(0));  // 0 = unlimited
}

TEST(KeyUsage, ResponsesPerMinuteAndTokenDebtRefuseTheNextResponse) {
    KeyUsage usage;
    KeyLimits limits{.max_sessions = 0, .responses_per_minute = 2, .tokens_per_minute = 100};
    const Clock::time_point t0{};
    EXPECT_EQ(usage.admit_response(limits, t0), std::nullopt);
    EXPECT_EQ(usage.admit_response(limits, t0), std::nullopt);
    EXPECT_EQ(usage.admit_response(limits, t0), KeyUsage::Limit::responses_per_minute);
    EXPECT_EQ(usage.admit_response(limits, t0 + 30s), std::nullopt);  // one request back after 30 s

    usage.charge_tokens(limits, 150, t0 + 30s);  // streamed more than the minute allows
    // -50 at 30 s, refilled at 100 per minute: still in debt 10 s later.
    EXPECT_EQ(usage.admit_response(limits, t0 + 40s), KeyUsage::Limit::tokens_per_minute);
    auto states = usage.rate_limits(limits, t0 + 40s);
    ASSERT_EQ(states.size(), 2u);
    EXPECT_EQ(states[0].name, "requests");
    EXPECT_EQ(states[0].limit, 2u);
    EXPECT_EQ(states[1].name, "tokens");
    EXPECT_EQ(states[1].remaining, 0u);
    EXPECT_GT(states[1].reset_seconds, 60);
    EXPECT_EQ(usage.admit_response(limits, t0 + 62s), std::nullopt);  // one token back: the debt is paid off
}

TEST(KeyUsage, NoPerMinuteLimitsReportNothing) {
    KeyUsage usage;
    KeyLimits unlimited{.max_sessions = 0, .responses_per_minute = 0, .tokens_per_minute = 0};
    EXPECT_EQ(usage.admit_response(unlimited, Clock::time_point{}), std::nullopt);
    EXPECT_TRUE(usage.rate_limits(unlimited, Clock::time_point{}).empty());
}

TEST(Authenticator, FindsTheKeyByItsSecretAndNothingElse) {
    ClientKey a{.name = "a", .sha256 = sha256_of("secret-a")};
    ClientKey b{.name = "b", .sha256 = sha256_of("secret-b")};
    Authenticator authenticator("", {a, b});
    ASSERT_TRUE(authenticator.authenticate("secret-b"));
    EXPECT_EQ(authenticator.authenticate("secret-b")->name, "b");
    EXPECT_EQ(authenticator.authenticate("secret-c"), nullptr);
    EXPECT_EQ(authenticator.authenticate(""), nullptr);
    EXPECT_EQ(authenticator.authenticate(to_hex(sha256_of("secret-a"))), nullptr);  // the hash is not the key
}

TEST(Authenticator, ReloadSwapsTheSetKeepsUsageByNameAndKeepsTheOldSetOnABadFile) {
    const std::string path = temp_file(R"({"keys": [)" + key_json("a", "secret-a") + "]}");
    Authenticator authenticator(path);
    auto a = authenticator.authenticate("secret-a");
    ASSERT_TRUE(a);
    ASSERT_TRUE(a->usage->try_open_session(0));

    std::ofstream(path) << R"({"keys": [)" + key_json("a", "secret-a2") + ", " + key_json("b", "secret-b") + "]}";
    EXPECT_EQ(authenticator.reload(), std::nullopt);
    EXPECT_EQ(authenticator.authenticate("secret-a"), nullptr);
    auto a2 = authenticator.authenticate("secret-a2");
    ASSERT_TRUE(a2);
    EXPECT_EQ(a2->usage, a->usage);  // the open session still counts against "a"
    EXPECT_EQ(a2->usage->open_sessions(), 1u);

    std::ofstream(path) << R"({"keys": [{"name": "broken"}]})";
    auto error = authenticator.reload();
    ASSERT_TRUE(error);
    EXPECT_NE(error->find("keys[0].sha256"), std::string::npos) << *error;
    EXPECT_TRUE(authenticator.authenticate("secret-b"));  // the previous set still serves
    std::filesystem::remove(path);
}

// Handshakes on shard threads authenticate while SIGHUP reloads on the main thread: the
// set a handshake reads must stay alive until it is done with it. The ASan and TSan
// builds turn a use-after-free here into a failure (one was found this way).
TEST(Authenticator, AuthenticateStaysSafeWhileAnotherThreadReloads) {
    const std::string path = temp_file(R"({"keys": [)" + key_json("a", "secret-a") + ", " + key_json("b", "secret-b") + "]}");
    Authenticator authenticator(path);
    std::atomic<bool> done{false};
    std::thread reloader([&] {
        for (int i = 0; i < 200; ++i) EXPECT_EQ(authenticator.reload(), std::nullopt);
        done = true;
    });
    int found = 0, lookups = 0;
    while (!done || lookups < 1000) {
        found += authenticator.authenticate(lookups % 2 ? "secret-a" : "secret-b") != nullptr;
        ++lookups;
    }
    reloader.join();
    EXPECT_EQ(found, lookups);  // every set has both keys
    std::filesystem::remove(path);
}

TEST(HashKey, PrintsTheSha256OfTheKeyWithoutTheLineEnding) {
    EXPECT_EQ(config::hash_key_text("abc"), abc_hex);
    EXPECT_EQ(config::hash_key_text("abc\n"), abc_hex);
    EXPECT_EQ(config::hash_key_text("abc\r\n"), abc_hex);
    EXPECT_THROW(config::hash_key_text("\n"), config::ConfigError);
    EXPECT_EQ(config::parse_command_line(std::vector<std::string_view>{"hash-key"}).action,
              config::CliAction::hash_key);
    EXPECT_THROW(config::parse_command_line(std::vector<std::string_view>{"hash-key", "sk-secret"}),
                 config::ConfigError);
}

// ---------------------------------------------------------------------------------------
// The auth section and the open-relay refusal

config::Environment environment_with_key() {
    return [](const char* name) -> const char* { return std::string_view(name) == "TEST_KEY" ? "sk-real" : nullptr; };
}

std::string error_of_load(const std::string& config_json, const std::string& listen) {
    const std::string path = temp_file(config_json);
    config::CliOptions cli;
    cli.config_file = path;
    cli.listen = listen;
    std::string error = "(no error)";
    try {
        config::load_config(cli, environment_with_key());
    } catch (const config::ConfigError& e) {
        error = e.what();
    }
    std::filesystem::remove(path);
    return error;
}

const std::string real_provider = R"("providers": {"main": {"kind": "openai", "base_url": "https://x.example/v1",
    "api_key_env": "TEST_KEY"}})";

TEST(ConfigAuth, UnauthenticatedNonLoopbackWithARealKeyIsRefused) {
    const std::string error = error_of_load("{" + real_provider + "}", "0.0.0.0:8080");
    EXPECT_NE(error.find("config error: auth.mode: "), std::string::npos) << error;
    EXPECT_NE(error.find("server.listen (0.0.0.0)"), std::string::npos) << error;
    EXPECT_NE(error.find("auth.allow_unauthenticated"), std::string::npos) << error;
    EXPECT_EQ(error.find("sk-real"), std::string::npos);
}

TEST(ConfigAuth, LoopbackDemoOnlyOrAnExplicitOptOutStartWithoutAuth) {
    EXPECT_EQ(error_of_load("{" + real_provider + "}", "127.0.0.1:8080"), "(no error)");
    EXPECT_EQ(error_of_load("{" + real_provider + "}", "[::1]:8080"), "(no error)");
    EXPECT_EQ(error_of_load("{}", "0.0.0.0:8080"), "(no error)");  // demo only
    EXPECT_EQ(error_of_load(R"({"auth": {"allow_unauthenticated": true}, )" + real_provider + "}", "0.0.0.0:8080"),
              "(no error)");
}

TEST(ConfigAuth, ApiKeysModeNeedsAValidKeysFile) {
    EXPECT_EQ(error_of_load(R"({"auth": {"mode": "api_keys"}})", "0.0.0.0:8080"),
              "config error: auth.keys_file: missing; required when auth.mode is api_keys");
    EXPECT_EQ(error_of_load(R"({"auth": {"mode": "tokens"}})", "0.0.0.0:8080"),
              "config error: auth.mode: expected one of none, api_keys");
    EXPECT_EQ(error_of_load(R"({"auth": {"allowed_origins": "https://a"}})", "0.0.0.0:8080"),
              "config error: auth.allowed_origins: expected an array of non-empty strings");
    const std::string keys = temp_file(R"({"keys": [)" + key_json("a", "s") + "]}");
    const std::string good = R"({"auth": {"mode": "api_keys", "keys_file": ")" + keys +
                             R"(", "allowed_origins": ["https://app.example"]}, )" + real_provider + "}";
    EXPECT_EQ(error_of_load(good, "0.0.0.0:8080"), "(no error)");
    std::ofstream(keys) << "{\"keys\": [{\"name\": \"a\", \"sha256\": \"x\"}]}";
    EXPECT_NE(error_of_load(good, "0.0.0.0:8080").find("auth.keys_file: " + keys + ": keys[0].sha256"),
              std::string::npos);
    std::filesystem::remove(keys);
}

}  // namespace
}  // namespace voxgate::auth
