#include "harness/kafka_cluster.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <deque>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "kafka/client.h"

#ifndef KMIRROR_SOURCE_DIR
#error "KMIRROR_SOURCE_DIR must point at the source tree (set by CMake)"
#endif

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace kmirror::harness {
namespace {

// The newest Kafka release that passes the whole suite with librdkafka 2.0.2 (README matrix).
constexpr const char* kDefaultKafkaVersion = "4.1.1";

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? v : fallback;
}

// Finds an executable on PATH; empty when absent.
std::string which(const std::string& program) {
  std::stringstream path(env_or("PATH", "/usr/bin:/bin"));
  std::string dir;
  while (std::getline(path, dir, ':')) {
    fs::path candidate = fs::path(dir) / program;
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

std::string find_java() {
  if (const char* home = std::getenv("JAVA_HOME"); home != nullptr && *home != '\0') {
    fs::path java = fs::path(home) / "bin" / "java";
    if (access(java.c_str(), X_OK) == 0) return java;
  }
  std::string java = which("java");
  if (java.empty()) {
    throw HarnessError(
        "Java not found: the Kafka brokers of tests and the demo need a JDK 17 or newer. "
        "Run scripts/install-deps (installs openjdk-17-jdk-headless) or set JAVA_HOME.");
  }
  return java;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string tail_lines(const fs::path& p, int lines) {
  std::ifstream in(p);
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(line);
    if (static_cast<int>(last.size()) > lines) last.pop_front();
  }
  std::string out;
  for (const auto& l : last) out += "    " + l + "\n";
  return out;
}

// The first ERROR/FATAL line of a log and the few after it (the exception), or empty: a dying
// broker's shutdown chatter can push the cause out of the tail.
std::string first_error(const fs::path& p) {
  std::ifstream in(p);
  std::string line, out;
  int remaining = -1;
  while (remaining != 0 && std::getline(in, line)) {
    if (remaining < 0 && line.find(" ERROR ") == std::string::npos &&
        line.find(" FATAL ") == std::string::npos) {
      continue;
    }
    if (remaining < 0) remaining = 6;
    out += "    " + line + "\n";
    --remaining;
  }
  return out;
}

// Runs a command, output to `log`; returns the exit status.
int run_command(const std::vector<std::string>& argv, const fs::path& log) {
  pid_t pid = fork();
  if (pid < 0) throw HarnessError("fork failed");
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

fs::path cache_dir() {
  return env_or("KMIRROR_CACHE_DIR", std::string(KMIRROR_SOURCE_DIR) + "/.cache");
}

KafkaRuntime resolve_runtime(std::string version, bool mirrormaker) {
  if (version.empty()) version = default_kafka_version();
  KafkaRuntime rt;
  rt.version = version;
  rt.java = find_java();
  rt.log4j1 = version.rfind("3.", 0) == 0;

  fs::path dir = cache_dir() / "kafka" / (version + (mirrormaker ? "-mirrormaker" : ""));
  fs::create_directories(dir);
  fs::path classpath_file = dir / "classpath.txt";
  // One Maven run at a time per version, even with parallel test processes.
  int lock = open((dir / ".lock").c_str(), O_CREAT | O_RDWR, 0644);
  flock(lock, LOCK_EX);
  if (!fs::exists(classpath_file) || fs::file_size(classpath_file) == 0) {
    std::string mvn = which("mvn");
    if (mvn.empty()) {
      close(lock);
      throw HarnessError(
          "Maven (mvn) not found: the harness resolves the Kafka " + version +
          " jars from Maven Central with it. Run scripts/install-deps (installs maven).");
    }
    std::cerr << "[harness] resolving Apache Kafka " << version
              << " jars from Maven Central (first use only)..." << std::endl;
    fs::path log = dir / "maven.log";
    std::vector<std::string> argv = {mvn,
                                     "-q",
                                     "-B",
                                     "-f",
                                     std::string(KMIRROR_SOURCE_DIR) + "/harness/maven/pom.xml",
                                     "dependency:build-classpath",
                                     "-Dkafka.version=" + version,
                                     "-Dmdep.outputFile=" + (dir / "classpath.tmp").string()};
    if (rt.log4j1) argv.push_back("-Dkafka.log4j1");
    if (mirrormaker) argv.push_back("-Dmirrormaker");
    if (run_command(argv, log) != 0) {
      close(lock);
      throw HarnessError("Maven could not resolve Apache Kafka " + version +
                         " (is the version published, and Maven Central reachable?). "
                         "Last lines of " +
                         log.string() + ":\n" + tail_lines(log, 15));
    }
    fs::rename(dir / "classpath.tmp", classpath_file);
  }
  close(lock);
  rt.classpath = read_file(classpath_file);
  while (!rt.classpath.empty() && isspace(static_cast<unsigned char>(rt.classpath.back()))) {
    rt.classpath.pop_back();
  }
  return rt;
}

// A free loopback port, never one this process handed out before: a port just released may be
// the very next one the kernel hands out, and brokers bind theirs only later (a broker once got
// the same port for its two listeners, and two clusters of one test choose theirs in turn).
int free_port() {
  static std::mutex mutex;
  static std::set<int> handed_out;
  for (int attempt = 0; attempt < 64; ++attempt) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      if (fd >= 0) close(fd);
      throw HarnessError("cannot bind a loopback port to find a free one");
    }
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    std::lock_guard lock(mutex);
    if (handed_out.insert(ntohs(addr.sin_port)).second) return ntohs(addr.sin_port);
  }
  throw HarnessError("cannot find a loopback port not already given to a broker");
}

bool alive(pid_t pid) {
  if (pid <= 0) return false;
  return waitpid(pid, nullptr, WNOHANG) == 0;
}

}  // namespace

std::string default_kafka_version() {
  return env_or("KMIRROR_KAFKA_VERSION", kDefaultKafkaVersion);
}

KafkaRuntime KafkaRuntime::resolve(std::string version) {
  return resolve_runtime(std::move(version), false);
}

KafkaRuntime KafkaRuntime::resolve_with_mirrormaker(std::string version) {
  return resolve_runtime(std::move(version), true);
}

fs::path make_temp_dir(const std::string& prefix) {
  std::string tmpl = env_or("TMPDIR", "/tmp") + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr)
    throw HarnessError("cannot create a temporary directory " + tmpl);
  return fs::path(buf.data());
}

TestCa::TestCa(fs::path dir) : dir_(std::move(dir)), cert_(dir_ / "ca.pem"), key_(dir_ / "ca.key") {
  fs::create_directories(dir_);
  std::string openssl = which("openssl");
  if (openssl.empty()) {
    throw HarnessError(
        "openssl not found: TLS tests make their certificates with it. "
        "Run scripts/install-deps (installs openssl).");
  }
  fs::path log = dir_ / "openssl.log";
  int rc = run_command(
      {openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key_.string(), "-out",
       cert_.string(), "-days", "2", "-subj", "/CN=kmirror-test-ca"},
      log);
  if (rc != 0) {
    throw HarnessError("openssl could not create the test CA; last lines of " + log.string() +
                       ":\n" + tail_lines(log, 15));
  }
}

TlsFiles TestCa::issue(const std::string& name, const std::string& key_password) const {
  std::string openssl = which("openssl");
  fs::path log = dir_ / "openssl.log";
  TlsFiles f;
  f.ca_cert = cert_;
  f.cert = dir_ / (name + ".pem");
  f.key = dir_ / (name + ".key");
  f.keystore = dir_ / (name + ".keystore.pem");
  f.key_password = key_password;
  fs::path plain_key = dir_ / (name + ".plain.key");
  fs::path csr = dir_ / (name + ".csr");
  fs::path ext = dir_ / (name + ".ext");
  // Clients verify the broker's name (librdkafka checks it by default since 2.0).
  std::ofstream(ext) << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  // PBE-SHA1-3DES: an encryption both Java's PEM keystore and OpenSSL 3 read without extras.
  std::vector<std::vector<std::string>> steps = {
      {openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", plain_key.string(), "-out",
       csr.string(), "-subj", "/CN=" + name},
      {openssl, "x509", "-req", "-in", csr.string(), "-CA", cert_.string(), "-CAkey", key_.string(),
       "-CAcreateserial", "-out", f.cert.string(), "-days", "2", "-extfile", ext.string()},
      {openssl, "pkcs8", "-topk8", "-in", plain_key.string(), "-out", f.key.string(), "-v1",
       "PBE-SHA1-3DES", "-passout", "pass:" + key_password},
  };
  for (const auto& argv : steps) {
    if (run_command(argv, log) != 0) {
      throw HarnessError("openssl could not issue the test certificate " + name +
                         "; last lines of " + log.string() + ":\n" + tail_lines(log, 15));
    }
  }
  fs::remove(plain_key);
  std::ofstream(f.keystore) << read_file(f.key) << read_file(f.cert);
  return f;
}

KafkaCluster::KafkaCluster(KafkaRuntime runtime, ClusterOptions options, fs::path dir)
    : runtime_(std::move(runtime)), options_(std::move(options)), dir_(std::move(dir)) {
  if (options_.brokers < 1) throw HarnessError("a cluster needs at least one broker");
  const auto& sec = options_.security;
  if (sec.protocol != "PLAINTEXT" && sec.protocol != "SSL" && sec.protocol != "SASL_PLAINTEXT" &&
      sec.protocol != "SASL_SSL") {
    throw HarnessError("unknown security protocol '" + sec.protocol +
                       "'; use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL");
  }
  if (sec.protocol.find("SSL") != std::string::npos && !sec.tls) {
    throw HarnessError(sec.protocol + " needs the brokers' certificate; set security.tls");
  }
  if (sec.protocol.rfind("SASL", 0) == 0 && sec.scram_users.empty()) {
    throw HarnessError(sec.protocol + " needs at least one user; set security.scram_users");
  }
  fs::create_directories(dir_);
  for (int i = 0; i < options_.brokers; ++i) {
    Broker b;
    b.node_id = i + 1;
    b.dir = dir_ / ("broker-" + std::to_string(b.node_id));
    fs::create_directories(b.dir);
    brokers_.push_back(b);
  }
  assign_ports();
}

KafkaCluster::~KafkaCluster() {
  for (auto& b : brokers_) signal_and_reap(b, SIGKILL, 5s);
}

void KafkaCluster::assign_ports() {
  for (auto& b : brokers_) {
    b.port = free_port();
    b.controller_port = free_port();
    if (secured()) b.internal_port = free_port();
  }
}

std::string KafkaCluster::bootstrap() const {
  std::string out;
  for (const auto& b : brokers_) {
    if (!out.empty()) out += ",";
    out += "127.0.0.1:" + std::to_string(b.port);
  }
  return out;
}

std::string KafkaCluster::internal_bootstrap() const {
  if (!secured()) return bootstrap();
  std::string out;
  for (const auto& b : brokers_) {
    if (!out.empty()) out += ",";
    out += "127.0.0.1:" + std::to_string(b.internal_port);
  }
  return out;
}

void KafkaCluster::write_properties(const Broker& b) const {
  std::string voters;
  for (const auto& o : brokers_) {
    if (!voters.empty()) voters += ",";
    voters += std::to_string(o.node_id) + "@127.0.0.1:" + std::to_string(o.controller_port);
  }
  int rf = std::min(3, static_cast<int>(brokers_.size()));
  std::map<std::string, std::string> props = {
      {"process.roles", "broker,controller"},
      {"node.id", std::to_string(b.node_id)},
      {"controller.quorum.voters", voters},
      {"listeners", "PLAINTEXT://127.0.0.1:" + std::to_string(b.port) +
                        ",CONTROLLER://127.0.0.1:" + std::to_string(b.controller_port)},
      {"advertised.listeners",
       "PLAINTEXT://127.0.0.1:" +
           std::to_string(options_.advertised_port != 0 ? options_.advertised_port : b.port)},
      {"controller.listener.names", "CONTROLLER"},
      {"inter.broker.listener.name", "PLAINTEXT"},
      {"listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"},
      {"log.dirs", (b.dir / "data").string()},
      {"num.partitions", "1"},
      {"default.replication.factor", std::to_string(rf)},
      {"offsets.topic.replication.factor", std::to_string(rf)},
      {"offsets.topic.num.partitions", "10"},
      {"transaction.state.log.replication.factor", std::to_string(rf)},
      {"transaction.state.log.min.isr", "1"},
      {"transaction.state.log.num.partitions", "10"},
      {"group.initial.rebalance.delay.ms", "0"},
      {"auto.create.topics.enable", "false"},
      {"log.segment.bytes", "67108864"},
      {"log.cleaner.backoff.ms", "1000"},
      // A broker restarted after kill -9 cannot re-register until its old session expires
      // (default 9 s); a shorter session makes outages and restarts in tests quicker.
      {"broker.heartbeat.interval.ms", "1000"},
      {"broker.session.timeout.ms", "4000"},
  };
  if (secured()) add_security_properties(b, props);
  for (const auto& [k, v] : options_.broker_properties) props[k] = v;
  std::ofstream out(b.dir / "server.properties");
  for (const auto& [k, v] : props) out << k << "=" << v << "\n";
}

void KafkaCluster::add_security_properties(const Broker& b,
                                           std::map<std::string, std::string>& props) const {
  const auto& sec = options_.security;
  std::string port = std::to_string(b.port);
  std::string advertised =
      std::to_string(options_.advertised_port != 0 ? options_.advertised_port : b.port);
  std::string internal = std::to_string(b.internal_port);
  props["listeners"] = "CLIENT://127.0.0.1:" + port + ",INTERNAL://127.0.0.1:" + internal +
                       ",CONTROLLER://127.0.0.1:" + std::to_string(b.controller_port);
  props["advertised.listeners"] =
      "CLIENT://127.0.0.1:" + advertised + ",INTERNAL://127.0.0.1:" + internal;
  props["inter.broker.listener.name"] = "INTERNAL";
  props["listener.security.protocol.map"] =
      "CLIENT:" + sec.protocol + ",INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT";
  const std::string prefix = "listener.name.client.";
  if (sec.tls) {
    props[prefix + "ssl.keystore.type"] = "PEM";
    props[prefix + "ssl.keystore.location"] = sec.tls->keystore.string();
    props[prefix + "ssl.key.password"] = sec.tls->key_password;
    props[prefix + "ssl.truststore.type"] = "PEM";
    props[prefix + "ssl.truststore.location"] = sec.tls->ca_cert.string();
    props[prefix + "ssl.client.auth"] = sec.require_client_cert ? "required" : "none";
  }
  if (sec.protocol.rfind("SASL", 0) == 0) {
    props[prefix + "sasl.enabled.mechanisms"] = "SCRAM-SHA-512";
    props[prefix + "scram-sha-512.sasl.jaas.config"] =
        "org.apache.kafka.common.security.scram.ScramLoginModule required;";
  }
}

void KafkaCluster::format_storage() {
  fs::path log = dir_ / "format.log";
  // A fixed-format cluster id: 16 random bytes, base64url without padding (22 chars).
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string cluster_id;
  std::srand(static_cast<unsigned>(getpid() ^
                                   std::chrono::steady_clock::now().time_since_epoch().count()));
  // Never a leading '-': StorageTool's argument parser would take the id for an option.
  cluster_id += kAlphabet[std::rand() % 62];
  for (int i = 1; i < 21; ++i) cluster_id += kAlphabet[std::rand() % 64];
  cluster_id += kAlphabet[(std::rand() % 4) * 16];  // last char carries only 2 bits
  for (const auto& b : brokers_) {
    write_properties(b);
    std::vector<std::string> argv = {runtime_.java,
                                     "-cp",
                                     runtime_.classpath,
                                     "kafka.tools.StorageTool",
                                     "format",
                                     "-t",
                                     cluster_id,
                                     "-c",
                                     (b.dir / "server.properties").string()};
    // SCRAM credentials go into the metadata log's first records (Kafka 3.5+).
    for (const auto& [user, password] : options_.security.scram_users) {
      argv.push_back("--add-scram");
      argv.push_back("SCRAM-SHA-512=[name=" + user + ",password=" + password + "]");
    }
    int rc = run_command(argv, log);
    if (rc != 0) {
      throw HarnessError("formatting the storage of " + options_.name + " broker " +
                         std::to_string(b.node_id) + " failed (exit " + std::to_string(rc) +
                         "); last lines of " + log.string() + ":\n" + tail_lines(log, 20));
    }
  }
  formatted_ = true;
}

void KafkaCluster::launch(Broker& b) {
  write_properties(b);
  fs::path log = b.dir / "broker.log";
  std::vector<std::string> argv = {runtime_.java,
                                   "-Xms256m",
                                   "-Xmx" + options_.jvm_heap,
                                   "-XX:+UseG1GC",
                                   "-XX:MaxGCPauseMillis=20",
                                   "-Djava.awt.headless=true"};
  std::string src = KMIRROR_SOURCE_DIR;
  argv.push_back(runtime_.log4j1
                     ? "-Dlog4j.configuration=file:" + src + "/harness/log4j.properties"
                     : "-Dlog4j2.configurationFile=" + src + "/harness/log4j2.properties");
  std::stringstream extra(env_or("KMIRROR_KAFKA_JVM_OPTS", ""));
  for (std::string opt; extra >> opt;) argv.push_back(opt);
  argv.insert(argv.end(),
              {"-cp", runtime_.classpath, "kafka.Kafka", (b.dir / "server.properties").string()});

  pid_t pid = fork();
  if (pid < 0) throw HarnessError("fork failed");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // no orphan brokers when a test process dies
    setpgid(0, 0);                     // Ctrl-C in a terminal reaches the harness, not the JVM
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  b.pid = pid;
}

bool KafkaCluster::port_conflict(const Broker& b) const {
  return read_file(b.dir / "broker.log").find("Address already in use") != std::string::npos;
}

void KafkaCluster::wait_ready(std::chrono::seconds timeout, int expected_brokers,
                              const Broker* only) {
  // Bootstrapping from `only` alone: no other broker can answer for it.
  // The PLAINTEXT listener: readiness does not depend on the test's credentials.
  std::string servers =
      only ? "127.0.0.1:" + std::to_string(secured() ? only->internal_port : only->port)
           : internal_bootstrap();
  auto client = kafka::make_client(kafka::ClientKind::kProducer,
                                   {{"bootstrap.servers", servers}, {"log_level", "0"}});
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    for (const auto& b : brokers_) {
      if (b.pid > 0 && !alive(b.pid)) {
        throw HarnessError("broker " + std::to_string(b.node_id) + " of cluster " + options_.name +
                           " exited during start-up; first error:\n" +
                           first_error(b.dir / "broker.log") + "  last lines of " +
                           (b.dir / "broker.log").string() + ":\n" +
                           tail_lines(b.dir / "broker.log", 40));
      }
    }
    try {
      auto md = kafka::fetch_metadata(client.get(), 2s);
      if (md.broker_count >= expected_brokers) return;
    } catch (const kafka::KafkaError&) {
      // not up yet
    }
    std::this_thread::sleep_for(200ms);
  }
  throw HarnessError("cluster " + options_.name + " did not answer metadata with " +
                     std::to_string(expected_brokers) + " broker(s) within " +
                     std::to_string(timeout.count()) + " s; last broker log lines:\n" +
                     log_tail(40));
}

void KafkaCluster::launch() {
  if (!formatted_) format_storage();
  for (auto& b : brokers_) {
    if (!alive(b.pid)) launch(b);
  }
}

void KafkaCluster::await_ready(std::chrono::seconds timeout) {
  wait_ready(timeout, static_cast<int>(brokers_.size()));
}

void KafkaCluster::start(std::chrono::seconds timeout) {
  for (int attempt = 0;; ++attempt) {
    launch();
    try {
      await_ready(timeout);
      return;
    } catch (const HarnessError&) {
      bool conflict = false;
      for (const auto& b : brokers_) conflict = conflict || port_conflict(b);
      // Another process took a port between our probe and the broker's bind: pick others.
      if (!conflict || attempt >= 3) throw;
      for (auto& b : brokers_) signal_and_reap(b, SIGKILL, 5s);
      for (auto& b : brokers_) fs::remove(b.dir / "broker.log");
      assign_ports();
    }
  }
}

void KafkaCluster::signal_and_reap(Broker& b, int signal, std::chrono::milliseconds grace) {
  if (b.pid <= 0) return;
  ::kill(b.pid, signal);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (waitpid(b.pid, nullptr, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(b.pid, SIGKILL);
      waitpid(b.pid, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  b.pid = -1;
}

void KafkaCluster::stop() {
  for (auto& b : brokers_) {
    if (b.pid > 0) ::kill(b.pid, SIGTERM);
  }
  for (auto& b : brokers_) signal_and_reap(b, SIGTERM, 30s);
}

void KafkaCluster::kill() {
  for (auto& b : brokers_) signal_and_reap(b, SIGKILL, 5s);
}

void KafkaCluster::kill_broker(int index) {
  signal_and_reap(brokers_.at(index), SIGKILL, 5s);
}

void KafkaCluster::start_broker(int index, std::chrono::seconds timeout) {
  auto& b = brokers_.at(index);
  if (!alive(b.pid)) launch(b);
  wait_ready(timeout, 1, &b);
}

bool KafkaCluster::running() const {
  for (const auto& b : brokers_) {
    if (alive(b.pid)) return true;
  }
  return false;
}

std::string KafkaCluster::log_tail(int lines) const {
  std::string out;
  for (const auto& b : brokers_) {
    out += "  " + (b.dir / "broker.log").string() + ":\n" + tail_lines(b.dir / "broker.log", lines);
  }
  return out;
}

Regions::Regions(int count, ClusterOptions base, std::vector<std::string> names)
    : dir_(make_temp_dir("kmirror-regions")) {
  auto runtime = KafkaRuntime::resolve();
  for (int i = 0; i < count; ++i) {
    ClusterOptions opts = base;
    opts.name =
        i < static_cast<int>(names.size()) ? names[i] : std::string(1, static_cast<char>('a' + i));
    clusters_.push_back(std::make_unique<KafkaCluster>(runtime, opts, dir_ / opts.name));
  }
  // Brokers are forked from this thread (their parent-death signal follows the forking
  // thread); only the waiting runs in parallel, since JVM start-up dominates.
  for (auto& c : clusters_) c->launch();
  std::vector<std::thread> waiters;
  std::vector<std::string> errors(clusters_.size());
  for (size_t i = 0; i < clusters_.size(); ++i) {
    waiters.emplace_back([&, i] {
      try {
        clusters_[i]->await_ready(std::chrono::seconds(90));
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : waiters) t.join();
  for (size_t i = 0; i < clusters_.size(); ++i) {
    if (errors[i].empty()) continue;
    try {
      clusters_[i]->start();  // retries with other ports when one was taken
    } catch (const std::exception& e) {
      keep_ = true;
      std::cerr << "[harness] broker logs kept in " << dir_ << std::endl;
      throw HarnessError(e.what());
    }
  }
}

Regions::~Regions() {
  for (auto& c : clusters_) c->kill();
  if (keep_) {
    std::cerr << "[harness] broker logs kept in " << dir_ << std::endl;
  } else {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

}  // namespace kmirror::harness
