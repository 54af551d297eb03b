// Faults against real brokers (docs/faults.md): the source link cut for 30 s through a fault
// proxy, the target broker restarted, a broker of a 3-broker target killed, a source topic
// deleted and recreated, kmirror killed while it creates topics. One set of clusters serves
// the whole binary: "a" (source, single broker behind a FaultProxy that it advertises), "b"
// (single-broker target) and "c" (3-broker target).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "core/provenance.h"
#include "harness/fault_proxy.h"
#include "harness/kafka_cluster.h"
#include "kafka/admin.h"
#include "kafka/client.h"
#include "support/kmirror_process.h"
#include "support/records.h"
#include "support/regions_fixture.h"
#include "support/replication_checks.h"

using namespace std::chrono_literals;
using kmirror::testing::KmirrorProcess;
using kmirror::testing::TestRecord;
namespace harness = kmirror::harness;
namespace kafka = kmirror::kafka;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Partitions = std::map<int32_t, std::vector<TestRecord>>;

using kmirror::testing::end_offsets_or_zero;
using kmirror::testing::end_offsets_sum;
using kmirror::testing::expect_complete;
using kmirror::testing::wait_for_records;
using kmirror::testing::wait_for_settled;
using kmirror::testing::with_http;

namespace {

// ---- the shared clusters ----------------------------------------------------------------

struct FaultClusters {
  fs::path dir = harness::make_temp_dir("kmirror-fault");
  harness::FaultProxy proxy;                                     // in front of "a"
  std::vector<std::unique_ptr<harness::KafkaCluster>> clusters;  // a, b, c
  bool keep = false;

  FaultClusters() {
    auto runtime = harness::KafkaRuntime::resolve();
    harness::ClusterOptions a;
    a.name = "a";
    a.advertised_port = proxy.port();  // every client of "a" goes through the proxy
    harness::ClusterOptions b;
    b.name = "b";
    harness::ClusterOptions c;
    c.name = "c";
    c.brokers = 3;
    c.jvm_heap = "512m";
    for (const auto& o : {a, b, c})
      clusters.push_back(std::make_unique<harness::KafkaCluster>(runtime, o, dir / o.name));
    // Forked from this thread (the brokers' parent-death signal follows it), awaited in
    // parallel: JVM start-up dominates.
    for (auto& cl : clusters) cl->launch();
    std::vector<std::string> errors(clusters.size());
    std::vector<std::thread> waiters;
    for (size_t i = 0; i < clusters.size(); ++i) {
      waiters.emplace_back([&, i] {
        try {
          clusters[i]->await_ready(120s);
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      });
    }
    for (auto& t : waiters) t.join();
    for (size_t i = 0; i < clusters.size(); ++i) {
      if (errors[i].empty()) continue;
      try {
        clusters[i]->start(120s);  // retries with other ports when one was taken
      } catch (const std::exception&) {
        keep = true;
        throw;
      }
    }
    proxy.set_upstream(clusters[0]->bootstrap(), 0);
  }

  ~FaultClusters() {
    for (auto& c : clusters) c->kill();
    if (keep) {
      std::cerr << "[fault] broker logs kept in " << dir << std::endl;
    } else {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  }
};

class FaultTest : public ::testing::Test {
 protected:
  static FaultClusters& clusters() {
    auto& s = storage();
    if (!s) s = std::make_unique<FaultClusters>();
    return *s;
  }
  static harness::FaultProxy& proxy() { return clusters().proxy; }
  // Every client of "a" (tests and kmirror) bootstraps through the proxy.
  static std::string a() { return clusters().proxy.address(); }
  static std::string b() { return clusters().clusters[1]->bootstrap(); }
  static std::string c() { return clusters().clusters[2]->bootstrap(); }
  static harness::KafkaCluster& cluster(size_t i) { return *clusters().clusters[i]; }

  void SetUp() override { started_ = Clock::now(); }
  void TearDown() override {
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_).count();
    std::cout << "[fault] " << ::testing::UnitTest::GetInstance()->current_test_info()->name()
              << " took " << secs << " s" << std::endl;
    if (HasFailure() && storage()) storage()->keep = true;
  }

 private:
  static std::unique_ptr<FaultClusters>& storage() {
    static std::unique_ptr<FaultClusters> s;
    return s;
  }
  Clock::time_point started_;
};

// ---- helpers --------------------------------------------------------------------------

// Lines of kmirror's output that contain any of `needles`.
std::string lines_with(const std::string& output, const std::vector<std::string>& needles,
                       bool librdkafka = false) {
  std::istringstream in(output);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    // Connection chatter, unless asked for.
    if (!librdkafka && line.find(" librdkafka ") != std::string::npos) continue;
    for (const auto& n : needles) {
      if (line.find(n) != std::string::npos) {
        out += "    " + line + "\n";
        break;
      }
    }
  }
  return out;
}

// The port kmirror logged for its HTTP endpoint ("http: dashboard at http://127.0.0.1:P/").
int http_port(const KmirrorProcess& km) {
  static const std::regex re(R"(dashboard at http://127\.0\.0\.1:(\d+)/)");
  std::smatch m;
  std::string out = km.output();
  return std::regex_search(out, m, re) ? std::stoi(m[1]) : 0;
}

// GET /status on 127.0.0.1:port; nullopt when it does not answer with JSON.
std::optional<nlohmann::json> get_status(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return std::nullopt;
  timeval tv{3, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    std::string req = "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[65536];
      ssize_t n;
      while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) response.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  auto body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.1 200", 0) != 0 || body == std::string::npos) return std::nullopt;
  auto j = nlohmann::json::parse(response.substr(body + 4), nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

std::map<std::string, int> topic_partitions(const std::string& bootstrap) {
  auto client = kafka::make_client(kafka::ClientKind::kProducer,
                                   {{"bootstrap.servers", bootstrap}, {"log_level", "0"}});
  std::map<std::string, int> out;
  for (const auto& t : kafka::fetch_metadata(client.get(), 10s).topics)
    out[t.name] = static_cast<int>(t.partitions.size());
  return out;
}

size_t total(const Partitions& p) {
  size_t n = 0;
  for (const auto& [k, v] : p) n += v.size();
  return n;
}

// ---- the proxy itself -------------------------------------------------------------------

TEST_F(FaultTest, ProxyDelaysCutsAndRestoresTheLink) {
  auto cluster_id = [&](std::chrono::milliseconds timeout) {
    auto client = kafka::make_client(kafka::ClientKind::kProducer,
                                     {{"bootstrap.servers", a()}, {"log_level", "0"}});
    return kafka::fetch_cluster_id(client.get(), timeout);
  };
  clusters();  // started before the clock runs
  auto t0 = Clock::now();
  std::string id = cluster_id(10s);
  auto direct = Clock::now() - t0;
  EXPECT_FALSE(id.empty());
  EXPECT_GT(proxy().connections_accepted(), 0u);

  // Connect, ApiVersions, Metadata: at least two round trips of 2 x 300 ms.
  proxy().set_delay(300ms);
  t0 = Clock::now();
  EXPECT_EQ(cluster_id(20s), id);
  auto delayed = Clock::now() - t0;
  proxy().set_delay(0ms);
  EXPECT_GE(delayed, 1200ms);
  std::cout << "[proxy] cluster id in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(direct).count()
            << " ms direct, "
            << std::chrono::duration_cast<std::chrono::milliseconds>(delayed).count()
            << " ms with 300 ms each way" << std::endl;

  // Cut: connections reset, new ones refused, until restored.
  proxy().cut();
  EXPECT_EQ(proxy().open_connections(), 0u);
  uint64_t refused = proxy().connections_refused();
  EXPECT_THROW(cluster_id(3s), std::exception);
  EXPECT_GT(proxy().connections_refused(), refused);
  proxy().restore();
  EXPECT_EQ(cluster_id(15s), id);
}

// ---- the faults ---------------------------------------------------------------------------

TEST_F(FaultTest, SourceLinkCutForThirtySecondsThenRestoredLosesNothing) {
  const std::string topic = kmirror::testing::unique_topic_name("cut");
  kmirror::testing::create_topic(a(), topic, 6);
  auto first = kmirror::testing::make_records(31, 60000, 6);
  kmirror::testing::produce(a(), topic, first);

  // A slow link (100 ms each way, small fetches) so the cut lands in the middle of the copy.
  proxy().set_delay(100ms);
  KmirrorProcess km(with_http(kmirror::testing::two_cluster_config(
      a(), b(), "cut", topic, "    consumer:\n      max.partition.fetch.bytes: \"65536\"\n")));
  ASSERT_TRUE(kafka::wait_until(
      [&] { return !km.running() || end_offsets_or_zero(b(), topic) >= 8000; }, 120s, 20ms));
  ASSERT_TRUE(km.running()) << km.output();
  int port = http_port(km);
  ASSERT_NE(port, 0) << km.output();

  proxy().cut();
  auto cut_at = Clock::now();
  int64_t target_at_cut = end_offsets_sum(b(), topic);
  int64_t max_lag = -1, last_lag = -1;
  bool unreachable = false;
  int polls = 0;
  while (Clock::now() - cut_at < 30s) {
    if (auto st = get_status(port)) {
      ++polls;
      const auto& f = (*st)["flows"][0];
      last_lag = f["lag"].get<int64_t>();
      max_lag = std::max(max_lag, last_lag);
      if (!f["source"]["reachable"].get<bool>()) unreachable = true;
    }
    std::this_thread::sleep_for(1s);
  }
  int64_t target_at_restore = end_offsets_sum(b(), topic);
  std::string during = km.output();
  ASSERT_TRUE(km.running()) << "kmirror exited during the cut:\n" << during;
  proxy().restore();
  proxy().set_delay(0ms);
  auto restored_at = Clock::now();

  // New records after the link is back, through new connections.
  auto second = kmirror::testing::make_records(32, 5000, 6);
  kmirror::testing::produce(a(), topic, second);
  int64_t source_total = end_offsets_sum(a(), topic);
  ASSERT_TRUE(wait_for_settled(b(), topic, source_total, 180s)) << km.output();
  auto caught_up = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - restored_at);

  std::cout << "[cut] target held " << target_at_cut << " of 60000 at the cut, "
            << target_at_restore << " when the link came back; during the 30 s cut /status ("
            << polls << " polls) showed max lag " << max_lag << " and lag " << last_lag
            << " at its end, source "
            << (unreachable ? "reported unreachable" : "never reported unreachable") << "; all "
            << source_total << " records on the target " << caught_up.count()
            << " s after the restore" << std::endl;
  std::cout << lines_with(km.output(), {"lag ", "unreachable", "lost", "revoked", "assigned",
                                        "topic sync failed", "resuming", "recovered"});
  EXPECT_TRUE(max_lag > 0 || unreachable)
      << "neither lag nor an unreachable source reported during the cut";
  EXPECT_LT(target_at_cut, 60000) << "the copy finished before the cut: the test proves less";

  auto source = kmirror::testing::read_all(a(), topic);
  auto target = kmirror::testing::read_all(b(), topic);
  size_t dups = expect_complete(source, target);
  std::cout << "[cut] duplicates on the target: " << dups << std::endl;
  EXPECT_EQ(km.terminate(), 0) << km.output();
}

TEST_F(FaultTest, TargetBrokerRestartedMidCopyLosesNothing) {
  const std::string topic = kmirror::testing::unique_topic_name("restart");
  kmirror::testing::create_topic(a(), topic, 6);
  auto recs = kmirror::testing::make_records(41, 150000, 6);
  kmirror::testing::produce(a(), topic, recs);
  KmirrorProcess km(kmirror::testing::two_cluster_config(a(), b(), "restart", topic));
  ASSERT_TRUE(wait_for_records(b(), topic, 30000, 120s, 20ms)) << km.output();

  int64_t at_stop = end_offsets_sum(b(), topic);
  auto t0 = Clock::now();
  cluster(1).stop();
  // Records produced while the target is down: kmirror has work it cannot finish until the
  // broker is back, however fast it copied the first set before the stop.
  auto during = kmirror::testing::make_records(42, 50000, 6);
  kmirror::testing::produce(a(), topic, during);
  int64_t source_total = end_offsets_sum(a(), topic);
  cluster(1).start();
  auto down = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - t0);

  ASSERT_TRUE(wait_for_settled(b(), topic, source_total, 180s)) << km.output();
  ASSERT_TRUE(km.running()) << km.output();
  auto source = kmirror::testing::read_all(a(), topic);
  auto target = kmirror::testing::read_all(b(), topic);
  size_t dups = expect_complete(source, target);
  std::cout << "[restart] target broker down " << down.count() << " s (stop, 50000 records "
            << "produced meanwhile, start) with " << at_stop << " of 150000 records copied at "
            << "the stop; all " << source_total << " on the target after; duplicates: " << dups
            << std::endl;
  std::cout << lines_with(km.output(), {"warn", "error", "lag "});
  EXPECT_EQ(km.terminate(), 0) << km.output();
}

TEST_F(FaultTest, BrokerOfThreeBrokerTargetKilledMidCopyLosesNothing) {
  const std::string topic = kmirror::testing::unique_topic_name("isr");
  kmirror::testing::create_topic(a(), topic, 6);
  // min.insync.replicas is never copied: the target topic is made by its owner.
  kmirror::testing::create_topic(c(), topic, 6, {{"min.insync.replicas", "2"}}, 3);
  auto recs = kmirror::testing::make_records(51, 150000, 6);
  kmirror::testing::produce(a(), topic, recs);
  KmirrorProcess km(
      kmirror::testing::two_cluster_config(a(), c(), "isr", topic, "    replication_factor: 3\n"));
  ASSERT_TRUE(wait_for_records(c(), topic, 30000, 120s, 20ms)) << km.output();
  int64_t at_kill = end_offsets_or_zero(c(), topic);
  cluster(2).kill_broker(2);
  auto killed_at = Clock::now();
  EXPECT_LT(at_kill, 150000) << "the copy finished before the kill: it proves nothing";
  // librdkafka 2.0.2's query_watermark_offsets can wait forever on a dead leader: let the
  // partitions led by broker 3 (node id 3) move before the helpers query end offsets.
  EXPECT_TRUE(kafka::wait_until(
      [&] {
        try {
          auto client = kafka::make_client(kafka::ClientKind::kProducer,
                                           {{"bootstrap.servers", c()}, {"log_level", "0"}});
          for (const auto& t : kafka::fetch_metadata(client.get(), 5s, topic).topics) {
            for (const auto& p : t.partitions) {
              if (p.leader == 3 || p.leader < 0) return false;
            }
          }
          return true;
        } catch (const std::exception&) {
          return false;
        }
      },
      60s, 500ms));

  bool done = wait_for_settled(c(), topic, 150000, 180s);
  auto took = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - killed_at);
  EXPECT_TRUE(done) << km.output();
  EXPECT_TRUE(km.running()) << km.output();
  if (done) {
    auto source = kmirror::testing::read_all(a(), topic);
    auto target = kmirror::testing::read_all(c(), topic);
    size_t dups = expect_complete(source, target);
    std::cout << "[isr] broker 3 of 3 killed with " << at_kill
              << " records on the target; all 150000 there " << took.count()
              << " s later with 2 of 3 brokers; duplicates: " << dups << std::endl;
  }
  auto admin_client = kafka::make_client(kafka::ClientKind::kProducer,
                                         {{"bootstrap.servers", c()}, {"log_level", "0"}});
  kafka::Admin admin(admin_client.get());
  EXPECT_EQ(admin.describe_topic_configs({topic})[topic]["min.insync.replicas"].value, "2");
  std::cout << lines_with(km.output(), {"warn", "error"});
  EXPECT_EQ(km.terminate(), 0) << km.output();
  cluster(2).start_broker(2);
}

// Disabled: fails on two known kmirror bugs (issue #10 note, docs/faults.md): positions of a
// deleted topic are reused for its recreated namesake (records lost), and the process hangs in
// rd_kafka_destroy on SIGTERM afterwards. Run it with --gtest_also_run_disabled_tests.
TEST_F(FaultTest, SourceTopicDeletedThenRecreatedIsCopiedAgainFromItsStart) {
  const std::string prefix = kmirror::testing::unique_topic_name("del");
  const std::string keep = prefix + "-keep";
  // Recreated with fewer records than the old incarnation had (the stored positions point
  // beyond its end), and with more.
  const std::string small = prefix + "-small";
  const std::string big = prefix + "-big";
  for (const auto& t : {keep, small, big}) {
    kmirror::testing::create_topic(a(), t, 3);
    auto recs = kmirror::testing::make_records(61, 1500, 3);
    kmirror::testing::produce(a(), t, recs);
  }
  KmirrorProcess km(kmirror::testing::two_cluster_config(a(), b(), "del", prefix + "-.*"));
  for (const auto& t : {keep, small, big})
    ASSERT_TRUE(wait_for_settled(b(), t, 1500, 90s)) << t << "\n" << km.output();
  std::map<std::string, std::map<int32_t, size_t>> old_copies;
  for (const auto& t : {small, big}) {
    for (const auto& [p, recs] : kmirror::testing::read_all(b(), t)) old_copies[t][p] = recs.size();
  }

  {
    auto admin_client = kafka::make_client(kafka::ClientKind::kProducer,
                                           {{"bootstrap.servers", a()}, {"log_level", "0"}});
    kafka::Admin admin(admin_client.get());
    for (const auto& r : admin.delete_topics({small, big})) EXPECT_EQ(r.error, "") << r.topic;
  }
  size_t mark = km.output().size();
  // kmirror notices within its 5 s discovery and keeps copying the other topic.
  bool noticed = kafka::wait_until(
      [&] {
        const std::string out = km.output().substr(mark);
        return out.find("source topic '" + small + "' was deleted") != std::string::npos &&
               out.find("source topic '" + big + "' was deleted") != std::string::npos;
      },
      30s, 200ms);
  EXPECT_TRUE(noticed) << km.output().substr(mark);
  auto more = kmirror::testing::make_records(62, 1500, 3);
  kmirror::testing::produce(a(), keep, more);
  EXPECT_TRUE(wait_for_settled(b(), keep, 3000, 60s)) << km.output();
  ASSERT_TRUE(km.running()) << "kmirror exited after the topic deletion:\n" << km.output();
  EXPECT_TRUE(kmirror::testing::topic_exists(b(), small)) << "the target copy was deleted";

  // Recreated under the same names; producers write at once, as they would.
  mark = km.output().size();
  kmirror::testing::create_topic(a(), small, 3);
  kmirror::testing::create_topic(a(), big, 3);
  auto small_recs = kmirror::testing::make_records(63, 150, 3);  // ~50 per partition < ~500
  auto big_recs = kmirror::testing::make_records(64, 3000, 3);   // ~1000 per partition > ~500
  kmirror::testing::produce(a(), small, small_recs);
  kmirror::testing::produce(a(), big, big_recs);

  for (const auto& [t, n] : {std::pair{small, 150}, std::pair{big, 3000}}) {
    size_t old_total = 0;
    for (const auto& [p, k] : old_copies[t]) old_total += k;
    bool arrived = kafka::wait_until(
        [&] {
          try {
            return total(kmirror::testing::read_all(b(), t)) >= old_total + n;
          } catch (const std::exception&) {
            return false;
          }
        },
        30s, 1s);
    auto source = kmirror::testing::read_all(a(), t);
    auto target = kmirror::testing::read_all(b(), t);
    std::cout << "[delete] " << t << ": " << old_total << " copies of the old incarnation kept, "
              << total(target) - old_total << " of " << total(source)
              << " new records copied after the recreation" << (arrived ? "" : " (timed out)")
              << std::endl;
    // The old copies stay first; the new incarnation follows them, complete.
    expect_complete(source, target, old_copies[t]);
  }
  std::cout << lines_with(km.output().substr(mark),
                          {"assigned", "revoked", "resuming", "warn", "error", "replicating"})
            << lines_with(km.output().substr(mark), {"offset reset"}, true);
  EXPECT_TRUE(km.running()) << km.output();
  auto t0 = Clock::now();
  int rc = km.terminate(40s);
  EXPECT_EQ(rc, 0) << "kmirror did not exit within 40 s of SIGTERM (-1: killed) after "
                   << std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - t0).count()
                   << " s:\n"
                   << km.output().substr(mark);
}

TEST_F(FaultTest, KilledWhileCreatingTopicsThenRestartedCopiesEverything) {
  // Copied b -> a here: the proxy in front of "a" delays kmirror's CreateTopics response by
  // 2 x 500 ms, while the new partitions show at once in the broker's data directory, so
  // kmirror is killed with its request under way (within about a second of it being sent).
  const std::string prefix = kmirror::testing::unique_topic_name("burst");
  std::map<std::string, int> expected;  // topic -> partitions
  size_t partitions = 0;
  for (int i = 0; i < 50; ++i) {
    std::string t = prefix + "-" + std::to_string(i);
    int parts = 1 + i % 4;
    kmirror::testing::create_topic(b(), t, parts);
    auto recs = kmirror::testing::make_records(700 + static_cast<uint32_t>(i), 200, parts);
    kmirror::testing::produce(b(), t, recs);
    expected[t] = parts;
    partitions += static_cast<size_t>(parts);
  }
  const std::string cfg = kmirror::testing::two_cluster_config(b(), a(), "burst", prefix + "-.*");
  const fs::path data = cluster(0).dir() / "broker-1" / "data";
  auto partition_dirs = [&] {
    size_t n = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(data, ec)) {
      if (e.path().filename().string().rfind(prefix + "-", 0) == 0) ++n;
    }
    return n;
  };
  auto matching = [&] {
    std::map<std::string, int> out;
    try {
      for (const auto& [t, n] : topic_partitions(a())) {
        if (expected.count(t)) out[t] = n;
      }
    } catch (const std::exception&) {
    }
    return out;
  };
  size_t dirs_at_kill = 0;
  std::string first_run;
  {
    proxy().set_delay(500ms);
    KmirrorProcess km(cfg);
    bool creating =
        kafka::wait_until([&] { return partition_dirs() > 0 || !km.running(); }, 120s, 5ms);
    km.kill9();
    proxy().set_delay(0ms);
    dirs_at_kill = partition_dirs();
    first_run = km.output();
    ASSERT_TRUE(creating) << "kmirror never created a topic:\n" << first_run;
  }
  // Only the burst's topics: kmirror also creates its own (kmirror.control for the election).
  bool answered = first_run.find("created topic '" + prefix + "-") != std::string::npos;
  std::cout << "[burst] killed with " << dirs_at_kill << " of " << partitions
            << " partition directories made on the target, " << (answered ? "after" : "before")
            << " kmirror saw the CreateTopics answer" << std::endl;
  EXPECT_FALSE(answered) << "the kill came after the creation: the test proves less";

  auto t0 = Clock::now();
  KmirrorProcess km(cfg);
  bool complete = kafka::wait_until(
      [&] {
        if (matching() != expected) return false;
        for (const auto& [t, n] : expected) {
          if (end_offsets_or_zero(a(), t) < 200) return false;
        }
        return true;
      },
      120s, 1s);
  auto got = matching();
  EXPECT_EQ(got.size(), 50u);
  for (const auto& [t, n] : expected) {
    EXPECT_EQ(got.count(t) ? got[t] : -1, n) << t << " has the wrong partition count";
  }
  ASSERT_TRUE(complete) << km.output();
  size_t dups = 0;
  for (const auto& [t, n] : expected)
    dups += expect_complete(kmirror::testing::read_all(b(), t), kmirror::testing::read_all(a(), t));
  std::cout << "[burst] restarted: all 50 topics with their partition counts and all 10000 "
            << "records on the target after "
            << std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - t0).count()
            << " s; duplicates " << dups << std::endl;
  std::cout << lines_with(km.output(), {"created topic", "error", "warn"});
  EXPECT_EQ(km.terminate(), 0) << km.output();
}

}  // namespace
