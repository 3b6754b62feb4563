// The browser console at GET / and /console over real loopback HTTP: the embedded page,
// its headers, and console.enabled. (tests/browser/ drives the page in Chromium.)
#include <gtest/gtest.h>

#include "console/console_page.hpp"
#include "support/test_gateway.hpp"

namespace voxgate::test {
namespace {

TEST(Console, RootAndConsoleServeTheEmbeddedPageWithAStrictPolicy) {
    TestGateway gateway;
    for (const std::string path : {"/", "/console", "/console?x=1"}) {
        auto result = http_get(gateway.port(), path);
        EXPECT_EQ(result.status, 200) << path;
        EXPECT_EQ(result.headers["content-type"], "text/html; charset=utf-8");
        EXPECT_EQ(result.body, std::string(console::console_html()));
        EXPECT_NE(result.body.find("<title>voxgate console</title>"), std::string::npos);
        const std::string policy = result.headers["content-security-policy"];
        EXPECT_TRUE(policy.starts_with("default-src 'none'; script-src 'sha256-")) << policy;
        EXPECT_NE(policy.find("connect-src 'self' ws: wss:"), std::string::npos) << policy;
        // Scripts: the inline one by hash, and blob: for the microphone's AudioWorklet only.
        EXPECT_NE(policy.find("' blob:; style-src 'sha256-"), std::string::npos) << policy;
        EXPECT_EQ(policy.find("unsafe-inline"), std::string::npos);
        EXPECT_EQ(result.headers["x-content-type-options"], "nosniff");
    }
    // Nothing from another origin: no CDN script, stylesheet or font.
    const std::string page(console::console_html());
    EXPECT_EQ(page.find("http://"), std::string::npos);
    EXPECT_EQ(page.find("https://"), std::string::npos);
    EXPECT_EQ(page.find("@import"), std::string::npos);
    auto head = http_get(gateway.port(), "/console", "HEAD");
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.headers["content-length"], std::to_string(page.size()));
    EXPECT_EQ(http_post(gateway.port(), "/console", "x").status, 405);
    EXPECT_EQ(scrape_metric(gateway.port(), "voxgate_http_requests_total", "{code=\"200\",path=\"/console\"}"), 4);
}

TEST(Console, ConsoleEnabledFalseMakesBothPaths404) {
    Config config = test_config();
    config.console.enabled = false;
    TestGateway gateway(config);
    EXPECT_EQ(http_get(gateway.port(), "/").status, 404);
    EXPECT_EQ(http_get(gateway.port(), "/console").status, 404);
    EXPECT_EQ(http_get(gateway.port(), "/healthz").status, 200);
}

}  // namespace
}  // namespace voxgate::test
