// The kmirror binary's answer to bad input: a broken configuration file exits with code 2 and
// one line naming the file, the line, the problem and the fix, before anything is contacted;
// unreachable bootstrap servers exit with code 3 within the connection timeout, not a hang.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "harness/kafka_cluster.h"
#include "support/kmirror_process.h"

using namespace std::chrono_literals;
using kmirror::testing::KmirrorProcess;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kClusters =
    "clusters:\n"
    "  - name: a\n"
    "    bootstrap_servers: 127.0.0.1:9092\n"
    "  - name: b\n"
    "    bootstrap_servers: 127.0.0.1:9093\n";

class CliTest : public ::testing::Test {
 protected:
  fs::path dir_ = kmirror::harness::make_temp_dir("kmirror-cli");
  ~CliTest() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Runs `kmirror run` on `yaml`; returns the exit code and what it printed.
  std::pair<int, std::string> run(const std::string& yaml, std::chrono::seconds timeout = 30s) {
    fs::path file = dir_ / "kmirror.yaml";
    std::ofstream(file) << yaml;
    std::string output;
    int rc = KmirrorProcess::run_to_end({"run", "--config", file.string()}, output, timeout);
    return {rc, output};
  }

  // Exit code 2 and exactly "kmirror: <file>:<line>: <problem>; <fix>\n".
  void expect_config_error(const std::string& yaml, int line, const std::string& problem,
                           const std::string& fix) {
    auto [rc, output] = run(yaml);
    SCOPED_TRACE(output);
    EXPECT_EQ(rc, 2);
    const std::string prefix =
        "kmirror: " + (dir_ / "kmirror.yaml").string() + ":" + std::to_string(line) + ": ";
    EXPECT_EQ(output.rfind(prefix, 0), 0u) << "expected to start with " << prefix;
    EXPECT_EQ(output.find('\n'), output.size() - 1) << "not exactly one line";
    size_t fix_at = output.find("; ");
    ASSERT_NE(fix_at, std::string::npos) << "no '; <fix>'";
    EXPECT_NE(output.substr(0, fix_at).find(problem), std::string::npos) << "problem: " << problem;
    EXPECT_NE(output.find(fix, fix_at), std::string::npos) << "fix: " << fix;
  }
};

TEST_F(CliTest, InvalidYaml) {
  expect_config_error("clusters:\n  - name: a\n   bootstrap_servers: x\n", 3, "invalid YAML",
                      "fix the syntax");
}

TEST_F(CliTest, UnknownKeySuggestsTheNearestKnownKey) {
  expect_config_error("clusters:\n  - name: a\n    bootstrap_server: x\nflows: []\n", 3,
                      "unknown key 'bootstrap_server' in cluster 'a'",
                      "did you mean 'bootstrap_servers'?");
}

TEST_F(CliTest, InvalidRegex) {
  expect_config_error(kClusters + "flows:\n  - source: a\n    target: b\n    topics:\n" +
                          "      include: [\"orders(\"]\n",
                      10, "invalid pattern 'orders(' in 'include'", "fix the pattern");
}

TEST_F(CliTest, FlowReferencingAnUnknownCluster) {
  expect_config_error(kClusters + "flows:\n  - source: a\n    target: c\n", 8,
                      "flow 'a->c' names unknown cluster 'c' as its target",
                      "use one of the defined clusters: a, b");
}

TEST_F(CliTest, SameClusterAsSourceAndTarget) {
  expect_config_error(kClusters + "flows:\n  - source: a\n    target: a\n", 8,
                      "has cluster 'a' as both its source and target",
                      "replicate between two different clusters");
}

TEST_F(CliTest, MissingBootstrapServers) {
  expect_config_error("clusters:\n  - name: a\n    properties: {}\n", 2,
                      "missing required key 'bootstrap_servers' in cluster 'a'",
                      "bootstrap_servers: ");
}

TEST_F(CliTest, ErrorOnASecretsLineDoesNotPrintTheSecret) {
  const std::string secret = "inline-secret-7f3a9c";
  auto [rc, output] = run(kClusters + "    properties:\n      sasl.password: \"" + secret + "\n" +
                          "flows:\n  - source: a\n    target: b\n");
  EXPECT_EQ(rc, 2) << output;
  EXPECT_EQ(output.find(secret), std::string::npos) << output;
}

// The binary is built with mimalloc serving malloc (the copy's per-record allocations cost
// about twice as much CPU under glibc's allocator); a link change that loses it shows here.
TEST_F(CliTest, VersionReportsMimallocServingMalloc) {
  std::string output;
  int rc = KmirrorProcess::run_to_end({"version"}, output, 30s);
  EXPECT_EQ(rc, 0) << output;
  EXPECT_NE(output.find("librdkafka 2."), std::string::npos) << output;
  EXPECT_NE(output.find("allocator mimalloc 2."), std::string::npos) << output;
}

TEST_F(CliTest, MissingConfigurationFile) {
  std::string output;
  int rc =
      KmirrorProcess::run_to_end({"run", "--config", (dir_ / "absent.yaml").string()}, output, 30s);
  EXPECT_EQ(rc, 2) << output;
  EXPECT_NE(output.find("absent.yaml:1: cannot open the configuration file"), std::string::npos)
      << output;
}

TEST_F(CliTest, UnreachableBootstrapServersFailWithinTheTimeout) {
  // A loopback port nothing listens on: connections are refused at once, every time.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string closed = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  const std::string yaml = "clusters:\n  - name: a\n    bootstrap_servers: " + closed +
                           "\n  - name: b\n    bootstrap_servers: " + closed +
                           "\nflows:\n  - source: a\n    target: b\nhttp:\n  enabled: false\n";
  auto start = Clock::now();
  auto [rc, output] = run(yaml, 90s);
  auto took = Clock::now() - start;
  close(fd);  // held bound but not listening until here, so no one else takes the port
  EXPECT_EQ(rc, 3) << output;
  EXPECT_LT(took, 45s) << output;
  EXPECT_NE(output.find("cannot reach cluster 'a' at " + closed + " within 30 s"),
            std::string::npos)
      << output;
}

}  // namespace
