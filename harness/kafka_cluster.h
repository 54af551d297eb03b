// Real Apache Kafka clusters (KRaft, jars from Maven Central) started on demand for tests,
// benchmarks and the demo. No Docker, no distribution tarball: Maven resolves the jars once
// into a cache, and each broker is a `java kafka.Kafka` child process on loopback ports.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace kmirror::harness {

// Thrown with a message that names the problem and its fix.
class HarnessError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The Kafka version the harness uses unless KMIRROR_KAFKA_VERSION says otherwise.
std::string default_kafka_version();

// A resolved Kafka installation: java binary and the broker's classpath.
struct KafkaRuntime {
  std::string version;
  std::string java;
  std::string classpath;
  bool log4j1 = false;  // Kafka 3.x logs through reload4j

  // Resolves `version` (empty: KMIRROR_KAFKA_VERSION or the default), downloading the jars with
  // Maven on first use into the cache (KMIRROR_CACHE_DIR or <source>/.cache).
  static KafkaRuntime resolve(std::string version = {});
  // Same, with the MirrorMaker 2 artifacts added (benchmarks).
  static KafkaRuntime resolve_with_mirrormaker(std::string version = {});
};

// TLS files made by TestCa: a PEM certificate signed by the CA, and its private key in PEM
// PKCS#8, encrypted with `key_password`.
struct TlsFiles {
  std::filesystem::path ca_cert;
  std::filesystem::path cert;
  std::filesystem::path key;
  std::filesystem::path keystore;  // key then certificate in one file (Kafka's PEM keystore)
  std::string key_password;
};

// A throwaway certificate authority for tests, made with the openssl command line.
class TestCa {
 public:
  explicit TestCa(std::filesystem::path dir);  // creates the CA key and certificate in `dir`
  // A certificate for 127.0.0.1 and localhost (what brokers and clients here use), named `name`.
  TlsFiles issue(const std::string& name, const std::string& key_password) const;
  const std::filesystem::path& cert() const { return cert_; }

 private:
  std::filesystem::path dir_;
  std::filesystem::path cert_;
  std::filesystem::path key_;
};

// How clients reach the cluster. Anything but PLAINTEXT adds a second, PLAINTEXT listener
// (internal_bootstrap()) for inter-broker traffic and the harness's own readiness checks.
struct ClusterSecurity {
  std::string protocol = "PLAINTEXT";  // PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
  std::optional<TlsFiles> tls;         // the brokers' certificate (SSL, SASL_SSL)
  bool require_client_cert = false;    // ssl.client.auth=required (signed by tls->ca_cert)
  // SCRAM-SHA-512 users (name -> password) stored at format time (SASL_*).
  std::map<std::string, std::string> scram_users;
};

struct ClusterOptions {
  std::string name = "kafka";
  int brokers = 1;
  std::map<std::string, std::string> broker_properties;  // added to server.properties
  std::string jvm_heap = "768m";
  int advertised_port = 0;  // non-zero: advertise this port (a fault proxy in front)
  ClusterSecurity security;
};

class KafkaCluster {
 public:
  KafkaCluster(KafkaRuntime runtime, ClusterOptions options, std::filesystem::path dir);
  ~KafkaCluster();  // stops brokers still running (kill -9: the data dir is disposable)
  KafkaCluster(const KafkaCluster&) = delete;
  KafkaCluster& operator=(const KafkaCluster&) = delete;

  // Formats storage (first time) and starts every broker; returns when the cluster answers
  // metadata with all brokers. Throws with the broker log's last lines on failure.
  void start(std::chrono::seconds timeout = std::chrono::seconds(90));
  // The two halves of start(): launch() forks the brokers (call it from a thread that lives
  // as long as they do), await_ready() only waits and may run on any thread.
  void launch();
  void await_ready(std::chrono::seconds timeout);
  void stop();  // clean shutdown (SIGTERM, then SIGKILL after a grace period)
  void kill();  // kill -9 every broker: a region outage
  void kill_broker(int index);
  void start_broker(int index, std::chrono::seconds timeout = std::chrono::seconds(90));
  bool running() const;

  const std::string& name() const { return options_.name; }
  std::string bootstrap() const;  // "127.0.0.1:p1,127.0.0.1:p2,..."
  // The PLAINTEXT listener: bootstrap() unless options.security secures the client listener.
  std::string internal_bootstrap() const;
  const std::filesystem::path& dir() const { return dir_; }
  std::string log_tail(int lines = 40) const;
  int broker_count() const { return static_cast<int>(brokers_.size()); }

 private:
  struct Broker {
    int node_id = 0;
    int port = 0;
    int controller_port = 0;
    int internal_port = 0;  // secured clusters only
    pid_t pid = -1;
    std::filesystem::path dir;
  };

  void assign_ports();
  void write_properties(const Broker& b) const;
  void add_security_properties(const Broker& b, std::map<std::string, std::string>& props) const;
  void format_storage();
  void launch(Broker& b);
  void wait_ready(std::chrono::seconds timeout, int expected_brokers, const Broker* only = nullptr);
  void signal_and_reap(Broker& b, int signal, std::chrono::milliseconds grace);
  bool port_conflict(const Broker& b) const;
  bool secured() const { return options_.security.protocol != "PLAINTEXT"; }

  KafkaRuntime runtime_;
  ClusterOptions options_;
  std::filesystem::path dir_;
  std::vector<Broker> brokers_;
  bool formatted_ = false;
};

// Several independent clusters ("regions") under one temporary directory, removed at the end
// unless keep_logs() was called (a failing test), in which case the path is printed.
class Regions {
 public:
  explicit Regions(int count, ClusterOptions base = {}, std::vector<std::string> names = {});
  ~Regions();
  KafkaCluster& operator[](size_t i) { return *clusters_.at(i); }
  size_t size() const { return clusters_.size(); }
  const std::filesystem::path& dir() const { return dir_; }
  void keep_logs() { keep_ = true; }

 private:
  std::filesystem::path dir_;
  std::vector<std::unique_ptr<KafkaCluster>> clusters_;
  bool keep_ = false;
};

// Creates a fresh directory under $TMPDIR (or /tmp) named after `prefix`.
std::filesystem::path make_temp_dir(const std::string& prefix);

}  // namespace kmirror::harness
