// Exactly-once flows against real brokers: SIGKILL at random moments, a second instance of the
// same flow (fencing), and exactly-once in both directions of an active-active pair. Every
// check reads the target with read_committed, as the documentation tells consumers to.
#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <random>
#include <set>
#include <thread>

#include "kafka/client.h"
#include "support/kmirror_process.h"
#include "support/records.h"
#include "support/regions_fixture.h"
#include "support/replication_checks.h"

using namespace std::chrono_literals;
using kmirror::testing::committed_sum;
using kmirror::testing::expect_complete;
using kmirror::testing::KmirrorProcess;
using kmirror::testing::Partitions;
using kmirror::testing::TestRecord;

namespace {

constexpr int kPartitions = 6;

size_t total(const Partitions& p) {
  size_t n = 0;
  for (const auto& [id, recs] : p) n += recs.size();
  return n;
}

int64_t source_end(const std::string& bootstrap, const std::string& topic) {
  return kmirror::testing::end_offsets_sum(bootstrap, topic);
}

// Positions of flow `flow_id` stored on the target, 0 while none (or on error).
int64_t positions(const std::string& target, const std::string& flow_id, const std::string& topic) {
  try {
    return committed_sum(target, "kmirror." + flow_id, topic, kPartitions);
  } catch (const std::exception&) {
    return 0;
  }
}

// Produces `records` inside one transaction and aborts it: none may ever reach a consumer.
void produce_aborted(const std::string& bootstrap, const std::string& topic,
                     const std::string& txn_id, int count) {
  auto p = kmirror::kafka::make_client(
      kmirror::kafka::ClientKind::kProducer,
      {{"bootstrap.servers", bootstrap}, {"transactional.id", txn_id}, {"log_level", "0"}});
  kmirror::kafka::check(rd_kafka_init_transactions(p.get(), 30000), "init");
  kmirror::kafka::check(rd_kafka_begin_transaction(p.get()), "begin");
  for (int i = 0; i < count; ++i) {
    std::string v = "aborted-" + std::to_string(i);
    kmirror::kafka::check(
        rd_kafka_producev(p.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
                          RD_KAFKA_V_PARTITION(i % kPartitions),
                          RD_KAFKA_V_VALUE(v.data(), v.size()),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
        "produce");
  }
  // Aborting with records still in flight fails against Kafka 3.9 (librdkafka 2.0.2).
  rd_kafka_flush(p.get(), 30000);
  kmirror::kafka::check(rd_kafka_abort_transaction(p.get(), 30000), "abort");
}

std::string exactly_once_flow(const std::string& a, const std::string& b, const std::string& id,
                              const std::string& topic, int source_connections = 1) {
  // A short session lets a restarted instance take the partitions of the killed one sooner;
  // small transactions make more of them, so more kills land inside one.
  return kmirror::testing::two_cluster_config(a, b, id, topic,
                                              "    delivery: exactly-once\n"
                                              "    transaction: {max_bytes: 256KiB}\n"
                                              "    source_connections: " +
                                                  std::to_string(source_connections) +
                                                  "\n"
                                                  "    consumer:\n"
                                                  "      session.timeout.ms: \"6000\"\n");
}

class ExactlyOnceTest : public kmirror::testing::RegionsTest {
 protected:
  std::string a() { return regions(2)[0].bootstrap(); }
  std::string b() { return regions(2)[1].bootstrap(); }
};

TEST_F(ExactlyOnceTest, TwentyKillNinesLeaveEveryRecordExactlyOnce) {
  const std::string topic = kmirror::testing::unique_topic_name("eos-kill");
  kmirror::testing::create_topic(a(), topic, kPartitions);
  // Two source connections (a far source's set-up): a transaction spans records of both, and
  // an abort rewinds each partition through the connection that fetches it.
  const std::string cfg = exactly_once_flow(a(), b(), topic, topic, 2);

  // The source grows while kmirror dies and restarts: 100 chunks of 2,000 records, five per
  // kill round (a chunk waits for its round, so every instance has records to copy), with an
  // aborted transaction after every tenth chunk; the last chunk is plain, so each partition
  // ends with a record.
  auto records = kmirror::testing::make_records(606, 200000, kPartitions);
  std::atomic<int> round{0};
  std::atomic<bool> stop{false};
  std::atomic<int> produce_errors{0};
  std::thread producer([&] {
    try {
      constexpr size_t kChunk = 2000;
      for (size_t from = 0; from < records.size() && !stop; from += kChunk) {
        const int chunk_index = static_cast<int>(from / kChunk);
        kmirror::kafka::wait_until([&] { return stop || round >= chunk_index / 5; }, 600s, 50ms);
        std::vector<TestRecord> chunk(records.begin() + from, records.begin() + from + kChunk);
        kmirror::testing::produce(a(), topic, chunk);
        if (chunk_index % 10 == 9 && from + kChunk < records.size()) {
          produce_aborted(a(), topic, topic + "-aborter", 300);
        }
      }
    } catch (const std::exception& e) {
      std::cerr << "producer: " << e.what() << std::endl;
      ++produce_errors;
    }
  });
  struct Join {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Join() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } join{stop, producer};

  std::mt19937 rng(20261127);
  std::uniform_int_distribution<int> moment_ms(0, 700);
  int kills = 0, kills_mid_copy = 0;
  for (; kills < 20; ++kills) {
    KmirrorProcess km(cfg);
    int64_t before = positions(b(), topic, topic);
    // A random moment once this instance copies: during a transaction, a commit, a rebalance.
    bool progressed = kmirror::kafka::wait_until(
        [&] { return positions(b(), topic, topic) > before || !km.running(); }, 90s, 100ms);
    ASSERT_TRUE(progressed && km.running()) << "instance " << kills << " made no progress\n"
                                            << km.output();
    std::this_thread::sleep_for(std::chrono::milliseconds(moment_ms(rng)));
    km.kill9();
    if (positions(b(), topic, topic) < source_end(a(), topic)) ++kills_mid_copy;
    ++round;
  }
  int64_t at_last_kill = positions(b(), topic, topic);

  KmirrorProcess km(cfg);
  producer.join();
  ASSERT_EQ(produce_errors, 0);
  const int64_t end = source_end(a(), topic);
  std::cout << "[exactly-once] " << kills_mid_copy << " of " << kills
            << " kills hit an unfinished copy (positions " << at_last_kill << " of " << end
            << " at the last)" << std::endl;
  EXPECT_GE(kills_mid_copy, 3) << "the kills missed the copy: the test proves too little";
  ASSERT_TRUE(
      kmirror::kafka::wait_until([&] { return positions(b(), topic, topic) >= end; }, 240s, 500ms))
      << "positions " << positions(b(), topic, topic) << " of " << end << "\n"
      << km.output();
  EXPECT_EQ(km.terminate(), 0) << km.output();

  auto source = kmirror::testing::read_all(a(), topic);
  auto target = kmirror::testing::read_all(b(), topic);
  size_t duplicates = expect_complete(source, target);
  size_t missing = total(source) + duplicates - total(target);
  std::cout << "[exactly-once] " << kills << " kill -9s; source " << total(source)
            << " records, target " << total(target) << "; duplicates " << duplicates << ", missing "
            << missing << std::endl;
  EXPECT_EQ(total(source), records.size());
  EXPECT_EQ(duplicates, 0u);
  EXPECT_EQ(missing, 0u);
}

TEST_F(ExactlyOnceTest, SecondInstanceOfTheFlowIsFencedWithoutDuplicates) {
  const std::string topic = kmirror::testing::unique_topic_name("eos-fence");
  kmirror::testing::create_topic(a(), topic, kPartitions);
  auto first = kmirror::testing::make_records(77, 30000, kPartitions);
  kmirror::testing::produce(a(), topic, first);
  const std::string cfg = exactly_once_flow(a(), b(), topic, topic);

  KmirrorProcess one(cfg);
  KmirrorProcess two(cfg);
  // Records keep coming until the fence falls, so both instances have work once the group has
  // split the partitions between them, however long that takes (the first to join may copy
  // everything written so far before the other gets any partition).
  auto fenced_yet = [&] { return !one.running() || !two.running(); };
  uint32_t batches = 0;
  bool fell = kmirror::kafka::wait_until(
      [&] {
        if (fenced_yet()) return true;
        auto more = kmirror::testing::make_records(78 + batches++, 1000, kPartitions);
        kmirror::testing::produce(a(), topic, more);
        return fenced_yet();
      },
      120s, 200ms);
  std::cout << "[exactly-once] " << batches << " batches of 1,000 records produced until the fence"
            << std::endl;
  ASSERT_TRUE(fell) << "neither instance was fenced\n--- one ---\n"
                    << one.output() << "\n--- two ---\n"
                    << two.output();
  KmirrorProcess& fenced = one.running() ? two : one;
  KmirrorProcess& survivor = one.running() ? one : two;
  EXPECT_NE(fenced.wait_exit(10s), 0);
  EXPECT_NE(fenced.output().find("fenced"), std::string::npos) << fenced.output();
  EXPECT_NE(fenced.output().find("writes nothing more"), std::string::npos);

  const int64_t end = source_end(a(), topic);
  ASSERT_TRUE(
      kmirror::kafka::wait_until([&] { return positions(b(), topic, topic) >= end; }, 120s, 500ms))
      << survivor.output();
  EXPECT_TRUE(survivor.running());
  EXPECT_EQ(survivor.terminate(), 0) << survivor.output();

  auto source = kmirror::testing::read_all(a(), topic);
  auto target = kmirror::testing::read_all(b(), topic);
  size_t duplicates = expect_complete(source, target);
  std::cout << "[exactly-once] fenced instance exited; duplicates " << duplicates << std::endl;
  EXPECT_EQ(duplicates, 0u);
  EXPECT_EQ(total(target), total(source));
}

TEST_F(ExactlyOnceTest, ActiveActiveHoldsEachRecordOnceOnEachCluster) {
  const std::string topic = kmirror::testing::unique_topic_name("eos-aa");
  kmirror::testing::create_topic(a(), topic, kPartitions);
  kmirror::testing::create_topic(b(), topic, kPartitions);
  auto on_a = kmirror::testing::make_records(1, 20000, kPartitions);
  auto on_b = kmirror::testing::make_records(2, 15000, kPartitions);
  kmirror::testing::produce(a(), topic, on_a);
  kmirror::testing::produce(b(), topic, on_b);

  const std::string flows = std::string("clusters:\n") +  //
                            "  - name: a\n    bootstrap_servers: \"" + a() + "\"\n" +
                            "  - name: b\n    bootstrap_servers: \"" + b() + "\"\n" + "flows:\n" +
                            "  - {source: a, target: b, delivery: exactly-once, "
                            "commit_interval: 500ms, topics: {include: [\"" +
                            topic + "\"]}}\n" +
                            "  - {source: b, target: a, delivery: exactly-once, "
                            "commit_interval: 500ms, topics: {include: [\"" +
                            topic + "\"]}}\n" + "http:\n  enabled: false\n";
  KmirrorProcess km(flows);
  const size_t all = on_a.size() + on_b.size();
  // Each side's own records plus the other side's copies, then both flows caught up with
  // their sources (positions at the end: nothing more will arrive).
  for (const auto& [target, flow] : {std::pair{b(), std::string("a->b")}, {a(), "b->a"}}) {
    ASSERT_TRUE(kmirror::kafka::wait_until(
        [&] { return kmirror::testing::count_or_zero(target, topic) >= all; }, 120s, 500ms))
        << km.output();
  }
  for (const auto& [source, target, flow] :
       {std::tuple{a(), b(), std::string("a->b")}, {b(), a(), std::string("b->a")}}) {
    ASSERT_TRUE(kmirror::kafka::wait_until(
        [&] { return positions(target, flow, topic) >= source_end(source, topic); }, 120s, 500ms))
        << flow << " never caught up with its source (transaction markers included)\n"
        << km.output();
  }
  EXPECT_EQ(km.terminate(), 0) << km.output();

  for (const auto& bootstrap : {a(), b()}) {
    auto content = kmirror::testing::read_all(bootstrap, topic);
    std::set<std::tuple<uint64_t, int32_t, int64_t>> distinct;
    size_t n = 0;
    for (const auto& [p, recs] : content) {
      for (const auto& r : recs) {
        ++n;
        auto prov = kmirror::testing::provenance_of(r);
        // Local records carry no header: name them by their own partition and offset.
        distinct.insert(
            prov ? std::tuple{prov->origin(), prov->origin_partition, prov->origin_offset}
                 : std::tuple{uint64_t{0}, p, r.offset});
      }
    }
    std::cout << "[exactly-once] " << bootstrap << ": " << n << " records, " << distinct.size()
              << " distinct" << std::endl;
    EXPECT_EQ(n, all) << bootstrap;
    EXPECT_EQ(distinct.size(), all) << bootstrap << ": duplicates";
  }
}

}  // namespace
