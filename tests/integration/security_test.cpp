// Secured clusters on real brokers. "a" (Kafka 3.9.1, see kScramKafkaVersion) accepts clients
// over SASL_SSL with SCRAM-SHA-512, "b" (the default version) over TLS with client certificates
// (mutual TLS); the CA and every certificate are made by the test with openssl. kmirror replicates
// a->b and b->a with the SCRAM password taken from an environment variable and the client key's
// passphrase from a file, and none of the secrets may appear in anything kmirror prints, in /status
// or in /metrics. Wrong credentials fail at start, quickly, with an error that names the cluster.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "harness/kafka_cluster.h"
#include "kafka/client.h"
#include "support/http.h"
#include "support/kmirror_process.h"
#include "support/records.h"
#include "support/regions_fixture.h"

using namespace std::chrono_literals;
using kmirror::testing::Http;
using kmirror::testing::KmirrorProcess;
using kmirror::testing::TestRecord;
namespace harness = kmirror::harness;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Partitions = std::map<int32_t, std::vector<TestRecord>>;

namespace {

constexpr const char* kPasswordEnv = "KMIRROR_SECURITY_TEST_A_PASSWORD";
constexpr const char* kUser = "kmirror";
// librdkafka before 2.6.1 repeats its nonce in SCRAM's final message; Kafka 3.8.1 to 3.9.x
// tolerate that, 4.x brokers refuse it as invalid credentials. With Debian's librdkafka 2.0.2,
// SCRAM therefore only works against 3.x: the SASL_SSL cluster runs the newest 3.x release.
constexpr const char* kScramKafkaVersion = "3.9.1";

// A secret unique to this run, so finding it in output cannot be a coincidence.
std::string random_secret(const std::string& prefix) {
  static std::mt19937_64 rng{std::random_device{}()};
  std::string s = prefix;
  for (int i = 0; i < 20; ++i) s += "abcdefghijklmnopqrstuvwxyz0123456789"[rng() % 36];
  return s;
}

struct SecureClusters {
  fs::path dir = harness::make_temp_dir("kmirror-security");
  std::string scram_password = random_secret("scram-");
  std::string broker_key_password = random_secret("brokerkey-");
  std::string client_key_password = random_secret("clientkey-");
  harness::TestCa ca{dir / "tls"};
  harness::TlsFiles broker_tls = ca.issue("broker", broker_key_password);
  harness::TlsFiles client_tls = ca.issue("kmirror-client", client_key_password);
  fs::path client_key_password_file = dir / "tls" / "kmirror-client.key-password";
  std::unique_ptr<harness::KafkaCluster> a, b;
  bool keep = false;

  SecureClusters() {
    std::ofstream(client_key_password_file) << client_key_password << "\n";
    fs::permissions(client_key_password_file, fs::perms::owner_read | fs::perms::owner_write);
    auto runtime = harness::KafkaRuntime::resolve();
    auto scram_runtime = harness::KafkaRuntime::resolve(kScramKafkaVersion);
    harness::ClusterOptions ao;
    ao.name = "a";
    ao.security.protocol = "SASL_SSL";
    ao.security.tls = broker_tls;
    ao.security.scram_users = {{kUser, scram_password}};
    harness::ClusterOptions bo;
    bo.name = "b";
    bo.security.protocol = "SSL";
    bo.security.tls = broker_tls;
    bo.security.require_client_cert = true;
    a = std::make_unique<harness::KafkaCluster>(scram_runtime, ao, dir / "a");
    b = std::make_unique<harness::KafkaCluster>(runtime, bo, dir / "b");
    a->launch();
    b->launch();
    try {
      a->await_ready(120s);
      b->await_ready(120s);
    } catch (...) {
      keep = true;
      std::cerr << "[security] broker logs kept in " << dir << std::endl;
      throw;
    }
  }
  ~SecureClusters() {
    a->kill();
    b->kill();
    if (keep) {
      std::cerr << "[security] broker logs kept in " << dir << std::endl;
    } else {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  }

  std::vector<std::string> secrets() const {
    return {scram_password, broker_key_password, client_key_password};
  }

  // Cluster entries for kmirror: secrets only through ${env:} and ${file:} references.
  std::string clusters_yaml(const std::string& password_env = kPasswordEnv,
                            bool client_cert = true) const {
    std::string yaml =
        "clusters:\n"
        "  - name: a\n"
        "    bootstrap_servers: \"" +
        a->bootstrap() +
        "\"\n"
        "    properties:\n"
        "      security.protocol: SASL_SSL\n"
        "      sasl.mechanisms: SCRAM-SHA-512\n"
        "      sasl.username: " +
        kUser +
        "\n"
        "      sasl.password: ${env:" +
        password_env +
        "}\n"
        "      ssl.ca.location: " +
        ca.cert().string() +
        "\n"
        "  - name: b\n"
        "    bootstrap_servers: \"" +
        b->bootstrap() +
        "\"\n"
        "    properties:\n"
        "      security.protocol: SSL\n"
        "      ssl.ca.location: " +
        ca.cert().string() + "\n";
    if (client_cert) {
      yaml += "      ssl.certificate.location: " + client_tls.cert.string() +
              "\n"
              "      ssl.key.location: " +
              client_tls.key.string() +
              "\n"
              "      ssl.key.password: ${file:" +
              client_key_password_file.string() + "}\n";
    }
    return yaml;
  }
};

std::string flow_yaml(const std::string& source, const std::string& target, const std::string& id,
                      const std::string& topic) {
  return "  - source: " + source + "\n    target: " + target + "\n    id: " + id +
         "\n    sync_interval: 2s\n    commit_interval: 500ms\n    topics:\n      include: [\"" +
         topic + "\"]\n";
}

// Writes `yaml` to a file and runs `kmirror run` on it to its end (bounded); returns the exit
// code, the output in `output` and the time it took in `took`.
int run_config(const std::string& yaml, std::string& output, Clock::duration& took) {
  fs::path dir = harness::make_temp_dir("kmirror-security-run");
  std::ofstream(dir / "kmirror.yaml") << yaml;
  auto start = Clock::now();
  int rc =
      KmirrorProcess::run_to_end({"run", "--config", (dir / "kmirror.yaml").string()}, output, 90s);
  took = Clock::now() - start;
  fs::remove_all(dir);
  return rc;
}

class SecurityTest : public ::testing::Test {
 protected:
  static SecureClusters& clusters() {
    static std::unique_ptr<SecureClusters> shared = std::make_unique<SecureClusters>();
    return *shared;
  }
  void SetUp() override { ::setenv(kPasswordEnv, clusters().scram_password.c_str(), 1); }
  void TearDown() override {
    if (HasFailure()) clusters().keep = true;
  }

  // Every secret of the run, checked against one text kmirror produced.
  static void expect_no_secret(const std::string& text, const std::string& where) {
    for (const auto& secret : clusters().secrets()) {
      EXPECT_EQ(text.find(secret), std::string::npos)
          << "a secret (" << secret.substr(0, secret.find('-')) << ") appears in " << where;
    }
  }
};

TEST_F(SecurityTest, ReplicatesBothWaysOverSaslSslAndMutualTlsWithoutShowingSecrets) {
  auto& c = clusters();
  // The test's own clients use the plaintext listeners; kmirror only gets the secured ones.
  const std::string a_plain = c.a->internal_bootstrap();
  const std::string b_plain = c.b->internal_bootstrap();
  ASSERT_NE(a_plain, c.a->bootstrap());
  const std::string ab_topic = kmirror::testing::unique_topic_name("sec-ab");
  const std::string ba_topic = kmirror::testing::unique_topic_name("sec-ba");
  kmirror::testing::create_topic(a_plain, ab_topic, 3);
  kmirror::testing::create_topic(b_plain, ba_topic, 2);
  auto ab_records = kmirror::testing::make_records(11, 600, 3);
  auto ba_records = kmirror::testing::make_records(12, 400, 2);
  kmirror::testing::produce(a_plain, ab_topic, ab_records);
  kmirror::testing::produce(b_plain, ba_topic, ba_records);

  const std::string yaml = c.clusters_yaml() + "flows:\n" +
                           flow_yaml("a", "b", "sec-ab", ab_topic) +
                           flow_yaml("b", "a", "sec-ba", ba_topic) + "http:\n  bind: 127.0.0.1:0\n";
  for (const auto& secret : c.secrets()) {
    ASSERT_EQ(yaml.find(secret), std::string::npos) << "the configuration holds a secret inline";
  }
  KmirrorProcess km(yaml);
  int port = kmirror::testing::wait_for_port(km);
  ASSERT_NE(port, 0) << km.output();
  Http http(port);

  auto by_partition = [](const std::vector<TestRecord>& records) {
    Partitions out;
    for (const auto& r : records) out[r.partition].push_back(r);
    return out;
  };
  const Partitions ab_expected = by_partition(ab_records);
  const Partitions ba_expected = by_partition(ba_records);
  Partitions ab_copied, ba_copied;
  auto total = [](const Partitions& p) {
    size_t n = 0;
    for (const auto& [_, records] : p) n += records.size();
    return n;
  };
  ASSERT_TRUE(kmirror::kafka::wait_until(
      [&] {
        if (!kmirror::testing::topic_exists(b_plain, ab_topic) ||
            !kmirror::testing::topic_exists(a_plain, ba_topic)) {
          return false;
        }
        ab_copied = kmirror::testing::read_all(b_plain, ab_topic);
        ba_copied = kmirror::testing::read_all(a_plain, ba_topic);
        return total(ab_copied) >= ab_records.size() && total(ba_copied) >= ba_records.size();
      },
      120s, 1s))
      << "copied a->b " << total(ab_copied) << "/" << ab_records.size() << ", b->a "
      << total(ba_copied) << "/" << ba_records.size() << "\n"
      << km.output();
  for (const auto& [expected, copied] :
       {std::pair{&ab_expected, &ab_copied}, std::pair{&ba_expected, &ba_copied}}) {
    ASSERT_EQ(copied->size(), expected->size());
    for (const auto& [p, records] : *expected) {
      ASSERT_EQ(copied->at(p).size(), records.size()) << "partition " << p;
      for (size_t i = 0; i < records.size(); ++i) {
        ASSERT_TRUE(kmirror::testing::same_content(records[i], copied->at(p)[i]))
            << "partition " << p << " record " << i << ": " << describe(records[i]) << " vs "
            << describe(copied->at(p)[i]);
      }
    }
  }

  // Both flows report their work, and the endpoints never show a secret.
  nlohmann::json status;
  ASSERT_TRUE(kmirror::kafka::wait_until(
      [&] {
        status = http.status();
        if (!status.is_object()) return false;
        int done = 0;
        for (const auto& f : status["flows"]) {
          if ((f["id"] == "sec-ab" && f["records_replicated"] == 600) ||
              (f["id"] == "sec-ba" && f["records_replicated"] == 400)) {
            ++done;
          }
        }
        return done == 2;
      },
      30s, 250ms))
      << status.dump(2);
  std::string metrics = http.metrics();
  EXPECT_NE(metrics.find("kmirror_records_replicated_total"), std::string::npos) << metrics;
  expect_no_secret(status.dump(), "/status");
  expect_no_secret(metrics, "/metrics");
  EXPECT_EQ(km.terminate(), 0) << km.output();
  std::string output = km.output();
  EXPECT_NE(output.find("kmirror starting"), std::string::npos) << output;
  expect_no_secret(output, "kmirror's output");
}

TEST_F(SecurityTest, WrongPasswordFailsFastNamingTheCluster) {
  auto& c = clusters();
  const std::string wrong = random_secret("wrong-");
  ::setenv("KMIRROR_SECURITY_TEST_WRONG", wrong.c_str(), 1);
  const std::string topic = kmirror::testing::unique_topic_name("sec-wrong");
  std::string output;
  Clock::duration took{};
  int rc = run_config(c.clusters_yaml("KMIRROR_SECURITY_TEST_WRONG") + "flows:\n" +
                          flow_yaml("a", "b", "sec-wrong", topic) + "http:\n  enabled: false\n",
                      output, took);
  EXPECT_EQ(rc, 3) << output;
  EXPECT_LT(took, 25s) << "an authentication failure waited out the connection timeout";
  EXPECT_NE(output.find("cluster 'a' at " + c.a->bootstrap() + " refused kmirror's credentials"),
            std::string::npos)
      << output;
  EXPECT_NE(output.find("sasl.password"), std::string::npos) << "the fix is named: " << output;
  EXPECT_EQ(output.find(wrong), std::string::npos) << "the wrong password was printed";
  expect_no_secret(output, "the failed start's output");
}

TEST_F(SecurityTest, MissingClientCertificateFailsNamingTheCluster) {
  auto& c = clusters();
  const std::string topic = kmirror::testing::unique_topic_name("sec-nocert");
  std::string output;
  Clock::duration took{};
  int rc = run_config(c.clusters_yaml(kPasswordEnv, false) + "flows:\n" +
                          flow_yaml("a", "b", "sec-nocert", topic) + "http:\n  enabled: false\n",
                      output, took);
  EXPECT_EQ(rc, 3) << output;
  EXPECT_LT(took, 45s) << output;
  EXPECT_NE(output.find("cannot reach cluster 'b' at " + c.b->bootstrap()), std::string::npos)
      << output;
  EXPECT_NE(output.find("bad certificate"), std::string::npos)
      << "the TLS reason is shown: " << output;
  expect_no_secret(output, "the failed start's output");
}

}  // namespace
