// Proves the test harness: real Kafka clusters start, keep data across a kill -9, report start-up
// failures clearly, survive a taken port and a lost broker; and the record helpers round-trip
// every record shape exactly.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>

#include "harness/kafka_cluster.h"
#include "kafka/client.h"
#include "support/records.h"
#include "support/regions_fixture.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using kmirror::harness::ClusterOptions;
using kmirror::harness::HarnessError;
using kmirror::harness::KafkaCluster;
using kmirror::harness::KafkaRuntime;
using kmirror::testing::TestRecord;
using kmirror::testing::unique_topic_name;

namespace {

// A cluster of the test's own (for start-up failures and multi-broker cases) in a temporary
// directory that is removed afterwards unless the test failed.
class ScratchCluster {
 public:
  explicit ScratchCluster(ClusterOptions options)
      : dir_(kmirror::harness::make_temp_dir("kmirror-" + options.name)) {
    cluster_ = std::make_unique<KafkaCluster>(KafkaRuntime::resolve(), std::move(options), dir_);
  }
  ~ScratchCluster() {
    cluster_.reset();
    if (::testing::Test::HasFailure()) {
      std::cerr << "[harness_test] broker logs kept in " << dir_ << std::endl;
    } else {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }
  KafkaCluster* operator->() { return cluster_.get(); }
  KafkaCluster& operator*() { return *cluster_; }

 private:
  fs::path dir_;
  std::unique_ptr<KafkaCluster> cluster_;
};

// Checks `actual` holds exactly `expected` (as produced: offsets filled in), per partition and
// in offset order.
void expect_same_records(const std::vector<TestRecord>& expected,
                         const std::map<int32_t, std::vector<TestRecord>>& actual) {
  std::map<int32_t, std::vector<TestRecord>> by_partition;
  for (const auto& r : expected) by_partition[r.partition].push_back(r);
  size_t total = 0;
  for (const auto& [p, records] : actual) total += records.size();
  ASSERT_EQ(total, expected.size());
  for (const auto& [p, want] : by_partition) {
    auto it = actual.find(p);
    ASSERT_NE(it, actual.end()) << "partition " << p << " missing";
    const auto& got = it->second;
    ASSERT_EQ(got.size(), want.size()) << "partition " << p;
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_TRUE(kmirror::testing::same_content(want[i], got[i]))
          << "partition " << p << " index " << i << "\n  want "
          << kmirror::testing::describe(want[i]) << "\n  got  "
          << kmirror::testing::describe(got[i]);
      ASSERT_EQ(got[i].offset, want[i].offset) << "partition " << p << " index " << i;
      if (i > 0) {
        ASSERT_LT(got[i - 1].offset, got[i].offset);
      }
    }
  }
}

ClusterOptions options(const std::string& name, int brokers = 1,
                       std::map<std::string, std::string> properties = {}) {
  ClusterOptions o;
  o.name = name;
  o.brokers = brokers;
  o.broker_properties = std::move(properties);
  return o;
}

int port_of(const std::string& host_port) {
  return std::stoi(host_port.substr(host_port.rfind(':') + 1));
}

// In-sync replica count of every partition of `topic`, via raw metadata (ISR is not in
// kafka::ClusterMetadata).
std::vector<int> isr_sizes(const std::string& bootstrap, const std::string& topic) {
  auto client = kmirror::kafka::make_client(kmirror::kafka::ClientKind::kProducer,
                                            {{"bootstrap.servers", bootstrap}, {"log_level", "0"}});
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(client.get(), topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  auto err = rd_kafka_metadata(client.get(), 0, rkt, &md, 5000);
  rd_kafka_topic_destroy(rkt);
  std::vector<int> out;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return out;
  for (int t = 0; t < md->topic_cnt; ++t) {
    for (int p = 0; p < md->topics[t].partition_cnt; ++p)
      out.push_back(md->topics[t].partitions[p].isr_cnt);
  }
  rd_kafka_metadata_destroy(md);
  return out;
}

class HarnessTest : public kmirror::testing::RegionsTest {};

}  // namespace

TEST_F(HarnessTest, TenThousandRecordsRoundTripOnOneRegionOnly) {
  auto& r = regions(2);
  std::string topic = unique_topic_name("roundtrip");
  kmirror::testing::create_topic(r[0].bootstrap(), topic, 6);

  auto records = kmirror::testing::make_records(42, 10'000, 6);
  kmirror::testing::produce(r[0].bootstrap(), topic, records);
  for (const auto& rec : records) ASSERT_GE(rec.offset, 0);

  auto got = kmirror::testing::read_all(r[0].bootstrap(), topic);
  EXPECT_EQ(got.size(), 6u);
  expect_same_records(records, got);
  EXPECT_EQ(kmirror::testing::count_records(r[0].bootstrap(), topic), 10'000u);

  EXPECT_TRUE(kmirror::testing::topic_exists(r[0].bootstrap(), topic));
  EXPECT_FALSE(kmirror::testing::topic_exists(r[1].bootstrap(), topic));
  EXPECT_THROW(kmirror::testing::read_all(r[1].bootstrap(), topic), std::runtime_error);
}

// kmirror asks the ends of all newly assigned partitions in one request: the answers must be
// those of asking one partition at a time, and a partition that does not exist is left out.
TEST_F(HarnessTest, WatermarksOfManyPartitionsAtOnceMatchOneByOne) {
  auto& r = regions(2);
  std::string topic = unique_topic_name("marks");
  kmirror::testing::create_topic(r[0].bootstrap(), topic, 6);
  auto records = kmirror::testing::make_records(7, 5'000, 6);
  kmirror::testing::produce(r[0].bootstrap(), topic, records);
  auto client = kmirror::kafka::make_client(
      kmirror::kafka::ClientKind::kConsumer,
      {{"bootstrap.servers", r[0].bootstrap()}, {"group.id", "marks"}, {"log_level", "0"}});
  std::vector<std::pair<std::string, int32_t>> asked;
  for (int32_t p = 0; p < 6; ++p) asked.emplace_back(topic, p);
  asked.emplace_back(topic + "-missing", 0);
  auto all = kmirror::kafka::query_watermarks(client.get(), asked, 10s);
  ASSERT_EQ(all.size(), 6u);
  int64_t total = 0;
  for (int32_t p = 0; p < 6; ++p) {
    auto one = kmirror::kafka::query_watermarks(client.get(), topic, p, 10s);
    const auto& w = all.at({topic, p});
    EXPECT_EQ(w.low, one.low) << p;
    EXPECT_EQ(w.high, one.high) << p;
    total += w.high;
  }
  EXPECT_EQ(total, 5'000);
}

// Every edge of the record model survives produce() and read_all() exactly.
TEST_F(HarnessTest, RecordShapesRoundTripExactly) {
  auto& r = regions(2);
  std::string topic = unique_topic_name("shapes");
  kmirror::testing::create_topic(r[0].bootstrap(), topic, 2);
  std::string nul("a\0b\0", 4);
  // Recent timestamps: time-based retention would delete old ones at its next check.
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  std::vector<TestRecord> records = {
      {std::nullopt, std::nullopt, {}, now - 3'000, 0},  // null key, tombstone
      {"", "", {}, now - 2'000, 0},                      // empty key and value
      {nul, nul, {{"h", std::nullopt}, {"h", ""}, {"h", nul}}, now - 1'000, 1},
      {"k", std::string(100'000, 'x'), {{"kmirror.prov", "x"}}, -1, 1},
  };
  kmirror::testing::produce(r[0].bootstrap(), topic, records);
  EXPECT_GT(records[3].timestamp, 0) << "produce() fills in the producer's timestamp";
  auto got = kmirror::testing::read_all(r[0].bootstrap(), topic);
  expect_same_records(records, got);
  EXPECT_EQ(got[0][0], records[0]);
  EXPECT_EQ(got[1][0], records[2]);

  TestRecord without_prov = records[3];
  without_prov.headers.clear();
  EXPECT_TRUE(kmirror::testing::same_content(without_prov, got[1][1]));
  without_prov.partition = 0;
  EXPECT_FALSE(kmirror::testing::same_content(without_prov, got[1][1]));
}

// Transaction markers and aborted records: read_all() returns exactly the committed records,
// and an open transaction does not make it wait (it reads up to the last stable offset).
TEST_F(HarnessTest, ReadAllSkipsMarkersAndAbortedRecords) {
  auto& r = regions(2);
  std::string topic = unique_topic_name("txn");
  kmirror::testing::create_topic(r[0].bootstrap(), topic, 1);

  auto producer = kmirror::kafka::make_client(
      kmirror::kafka::ClientKind::kProducer,
      {{"bootstrap.servers", r[0].bootstrap()}, {"transactional.id", topic}, {"log_level", "3"}});
  kmirror::kafka::check(rd_kafka_init_transactions(producer.get(), 60'000), "init transactions");
  auto send = [&](int n, const char* tag) {
    kmirror::kafka::check(rd_kafka_begin_transaction(producer.get()), "begin");
    for (int i = 0; i < n; ++i) {
      std::string v = std::string(tag) + std::to_string(i);
      kmirror::kafka::check(
          rd_kafka_producev(producer.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
                            RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_VALUE(v.data(), v.size()),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
          "produce");
    }
    kmirror::kafka::check(rd_kafka_flush(producer.get(), 30'000), "flush");
  };
  send(10, "committed-");
  kmirror::kafka::check(rd_kafka_commit_transaction(producer.get(), 30'000), "commit");
  send(5, "aborted-");
  kmirror::kafka::check(rd_kafka_abort_transaction(producer.get(), 30'000), "abort");
  send(3, "open-");  // left open: beyond the last stable offset

  auto start = std::chrono::steady_clock::now();
  auto got = kmirror::testing::read_all(r[0].bootstrap(), topic);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);
  ASSERT_EQ(got[0].size(), 10u);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(got[0][i].value, "committed-" + std::to_string(i));

  kmirror::kafka::check(rd_kafka_commit_transaction(producer.get(), 30'000), "commit");
  // 10 + 5 + 3 records and 3 markers: the count must come from reading, not watermarks.
  EXPECT_EQ(kmirror::testing::count_records(r[0].bootstrap(), topic), 13u);
  auto uncommitted = kmirror::testing::read_all(r[0].bootstrap(), topic,
                                                {{"isolation.level", "read_uncommitted"}});
  EXPECT_EQ(uncommitted[0].size(), 18u);
}

// A region outage (kill -9) loses nothing acknowledged with acks=all once it comes back.
TEST_F(HarnessTest, KilledRegionKeepsDataAfterRestart) {
  auto& r = regions(2);
  auto& cluster = r[1];
  std::string topic = unique_topic_name("outage");
  kmirror::testing::create_topic(cluster.bootstrap(), topic, 3);
  auto records = kmirror::testing::make_records(7, 2'000, 3);
  kmirror::testing::produce(cluster.bootstrap(), topic, records);

  cluster.kill();
  EXPECT_FALSE(cluster.running());
  cluster.start();
  EXPECT_TRUE(cluster.running());
  expect_same_records(records, kmirror::testing::read_all(cluster.bootstrap(), topic));

  // And it takes writes again.
  auto more = kmirror::testing::make_records(8, 100, 3);
  kmirror::testing::produce(cluster.bootstrap(), topic, more);
  EXPECT_EQ(kmirror::testing::count_records(cluster.bootstrap(), topic), 2'100u);
}

// A property Kafka rejects at format time: the error names the step and shows the log.
TEST(HarnessErrors, InvalidBrokerPropertyReportsLogTail) {
  ScratchCluster cluster(options("badprop", 1, {{"num.network.threads", "-5"}}));
  auto start = std::chrono::steady_clock::now();
  try {
    cluster->start(60s);
    FAIL() << "start() succeeded with num.network.threads=-5";
  } catch (const HarnessError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("num.network.threads"), std::string::npos) << what;
    EXPECT_NE(what.find("last lines of"), std::string::npos) << what;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 45s) << "failure must be reported promptly";
  EXPECT_FALSE(cluster->running());
}

// A broker that formats fine but dies while starting: reported with its log tail, promptly.
TEST(HarnessErrors, BrokerExitingDuringStartupReportsLogTail) {
  ScratchCluster cluster(
      options("badclass", 1, {{"metric.reporters", "com.example.NoSuchReporter"}}));
  auto start = std::chrono::steady_clock::now();
  try {
    cluster->start(60s);
    FAIL() << "start() succeeded with a missing metric reporter class";
  } catch (const HarnessError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("NoSuchReporter"), std::string::npos) << what;
    EXPECT_NE(what.find("broker.log"), std::string::npos) << what;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 45s) << "failure must be reported promptly";
  EXPECT_FALSE(cluster->running());
}

// Someone else binds the broker's port between the harness's probe and the broker's start:
// the harness notices "Address already in use" and retries on other ports.
TEST(HarnessErrors, TakenPortIsRetriedOnAnotherPort) {
  ScratchCluster cluster(options("taken"));
  std::string before = cluster->bootstrap();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port_of(before)));
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0)
      << "port " << port_of(before);
  ASSERT_EQ(listen(fd, 1), 0);

  EXPECT_NO_THROW(cluster->start(60s));
  close(fd);
  EXPECT_NE(cluster->bootstrap(), before);
  std::string topic = unique_topic_name("taken");
  kmirror::testing::create_topic(cluster->bootstrap(), topic, 1);
  auto records = kmirror::testing::make_records(3, 10, 1);
  kmirror::testing::produce(cluster->bootstrap(), topic, records);
  EXPECT_EQ(kmirror::testing::count_records(cluster->bootstrap(), topic), 10u);
}

// Three brokers, replication factor 3, min.insync.replicas 2: losing one broker still takes
// acks=all writes, and the broker rejoins the ISR when restarted.
TEST(MultiBroker, SurvivesOneBrokerLoss) {
  ScratchCluster cluster(options("trio", 3));
  cluster->start();
  ASSERT_EQ(cluster->broker_count(), 3);
  std::string bootstrap = cluster->bootstrap();
  std::string topic = unique_topic_name("trio");
  kmirror::testing::create_topic(bootstrap, topic, 3, {{"min.insync.replicas", "2"}}, 3);
  auto records = kmirror::testing::make_records(11, 3'000, 3);
  kmirror::testing::produce(bootstrap, topic, records);
  expect_same_records(records, kmirror::testing::read_all(bootstrap, topic));

  cluster->kill_broker(2);
  auto more = kmirror::testing::make_records(12, 1'000, 3);
  kmirror::testing::produce(bootstrap, topic, more);  // acks=all with 2 of 3 in sync
  EXPECT_TRUE(cluster->running());

  cluster->start_broker(2);
  bool rejoined = kmirror::kafka::wait_until(
      [&] {
        auto isr = isr_sizes(bootstrap, topic);
        return isr.size() == 3 && std::all_of(isr.begin(), isr.end(), [](int n) { return n == 3; });
      },
      60s, 500ms);
  EXPECT_TRUE(rejoined) << "restarted broker did not rejoin every ISR within 60 s";

  records.insert(records.end(), more.begin(), more.end());
  expect_same_records(records, kmirror::testing::read_all(bootstrap, topic));
}
