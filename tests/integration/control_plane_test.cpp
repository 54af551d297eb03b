// The control plane against real brokers: consumer-group offsets translated exactly (checked
// by content), a consumer failing over with zero re-delivered and zero skipped, and partition
// and config changes following the source.
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "core/provenance.h"
#include "kafka/admin.h"
#include "kafka/client.h"
#include "support/kmirror_process.h"
#include "support/records.h"
#include "support/regions_fixture.h"

using namespace std::chrono_literals;
using kmirror::testing::KmirrorProcess;
using kmirror::testing::TestRecord;

namespace {

// It lists group offsets, so it carries a group (see make_admin_client).
kmirror::kafka::KafkaPtr admin_client(const std::string& bootstrap) {
  return kmirror::kafka::make_admin_client({{"bootstrap.servers", bootstrap}, {"log_level", "0"}},
                                           "kmirror.test-admin");
}

bool caught_up(const std::string& b, const std::string& topic, size_t expected) {
  try {
    return kmirror::testing::count_records(b, topic) >= expected;
  } catch (...) {
    return false;
  }
}

// Origin offset of a copied record (its provenance), or the record's own offset.
int64_t origin_offset(const TestRecord& r) {
  for (const auto& [name, value] : r.headers) {
    if (name == kmirror::core::kProvenanceHeader && value) {
      auto p =
          kmirror::core::decode({reinterpret_cast<const uint8_t*>(value->data()), value->size()});
      if (p) return p->origin_offset;
    }
  }
  return r.offset;
}

// Writes transactions (leaving commit markers in the log) between plain records.
void produce_with_transactions(const std::string& bootstrap, const std::string& topic,
                               int partitions, const std::string& txn_id) {
  auto p =
      kmirror::kafka::make_client(kmirror::kafka::ClientKind::kProducer,
                                  {{"bootstrap.servers", bootstrap}, {"transactional.id", txn_id}});
  kmirror::kafka::check(rd_kafka_init_transactions(p.get(), 30000), "init");
  for (int round = 0; round < 4; ++round) {
    auto plain = kmirror::testing::make_records(40 + round, 300 * partitions, partitions);
    kmirror::testing::produce(bootstrap, topic, plain);
    kmirror::kafka::check(rd_kafka_begin_transaction(p.get()), "begin");
    for (int i = 0; i < 50 * partitions; ++i) {
      std::string v = "txn-" + std::to_string(round) + "-" + std::to_string(i);
      kmirror::kafka::check(
          rd_kafka_producev(p.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
                            RD_KAFKA_V_PARTITION(i % partitions),
                            RD_KAFKA_V_VALUE(v.data(), v.size()),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
          "produce");
    }
    kmirror::kafka::check(rd_kafka_commit_transaction(p.get(), 30000), "commit");
  }
}

class ControlPlaneTest : public kmirror::testing::RegionsTest {
 protected:
  std::string a() { return regions(2)[0].bootstrap(); }
  std::string b() { return regions(2)[1].bootstrap(); }
};

TEST_F(ControlPlaneTest, GroupOffsetsTranslateToTheCopyOfTheNextRecord) {
  const std::string topic = kmirror::testing::unique_topic_name("translate");
  kmirror::testing::create_topic(a(), topic, 3);
  produce_with_transactions(a(), topic, 3, topic + "-txn");
  auto source = kmirror::testing::read_all(a(), topic);
  size_t total = 0;
  for (const auto& [p, recs] : source) total += recs.size();

  // Positions per partition: start, middle, the offset of a commit marker (the next record is
  // after it), and the end.
  std::map<std::string, kmirror::kafka::GroupOffsets> groups;
  auto client = admin_client(a());
  for (const auto& [p, recs] : source) {
    int64_t marker = -1;
    for (size_t i = 1; i < recs.size() && marker < 0; ++i) {
      if (recs[i].offset > recs[i - 1].offset + 1) marker = recs[i - 1].offset + 1;
    }
    ASSERT_GE(marker, 0) << "no transaction marker in partition " << p;
    int64_t end = kmirror::kafka::query_watermarks(client.get(), topic, p, 10s).high;
    groups[topic + "-start"][{topic, p}] = 0;
    groups[topic + "-middle"][{topic, p}] = recs[recs.size() / 2].offset;
    groups[topic + "-marker"][{topic, p}] = marker;
    groups[topic + "-end"][{topic, p}] = end;
  }
  kmirror::kafka::Admin source_admin(client.get());
  for (const auto& [g, offs] : groups)
    ASSERT_TRUE(source_admin.alter_group_offsets(g, offs).empty());

  const std::string cfg = kmirror::testing::two_cluster_config(a(), b(), "translate", topic);
  KmirrorProcess km(cfg);
  ASSERT_TRUE(kmirror::kafka::wait_until([&] { return caught_up(b(), topic, total); }, 120s, 500ms))
      << km.output();
  auto target = kmirror::testing::read_all(b(), topic);
  auto tclient = admin_client(b());
  kmirror::kafka::Admin target_admin(tclient.get());

  for (const auto& [g, offs] : groups) {
    kmirror::kafka::GroupOffsets synced;
    ASSERT_TRUE(kmirror::kafka::wait_until(
        [&] {
          synced = target_admin.list_group_offsets(g);
          return synced.size() == offs.size();
        },
        60s, 500ms))
        << "group " << g << " not synced; kmirror said:\n"
        << km.output();
    for (const auto& [tp, committed] : offs) {
      const auto& src = source[tp.second];
      const auto& tgt = target[tp.second];
      int64_t translated = synced[tp];
      // The next record the group would have read on the source...
      auto next = std::find_if(src.begin(), src.end(),
                               [&](const TestRecord& r) { return r.offset >= committed; });
      if (next == src.end()) {
        int64_t target_end =
            kmirror::kafka::query_watermarks(tclient.get(), topic, tp.second, 10s).high;
        EXPECT_EQ(translated, target_end) << g << " partition " << tp.second;
        continue;
      }
      // ...is exactly the record at the translated position on the target.
      auto at = std::find_if(tgt.begin(), tgt.end(),
                             [&](const TestRecord& r) { return r.offset == translated; });
      ASSERT_NE(at, tgt.end()) << g << " partition " << tp.second << " translated to "
                               << translated;
      EXPECT_TRUE(kmirror::testing::same_content(*next, *at)) << g << " partition " << tp.second;
      EXPECT_EQ(origin_offset(*at), next->offset);
    }
  }
  EXPECT_EQ(km.terminate(), 0);

  // `kmirror offsets translate` agrees with what the running flow synced.
  auto cfg_file = kmirror::harness::make_temp_dir("kmirror-cfg") / "kmirror.yaml";
  std::ofstream(cfg_file) << cfg;
  std::string out;
  const std::string group = topic + "-middle";
  ASSERT_EQ(KmirrorProcess::run_to_end({"offsets", "translate", "--config", cfg_file.string(),
                                        "--flow", "translate", "--group", group, "--json"},
                                       out),
            0)
      << out;
  auto json = nlohmann::json::parse(out.substr(out.find('{')));
  auto synced = target_admin.list_group_offsets(group);
  ASSERT_EQ(json["partitions"].size(), 3u) << out;
  for (const auto& row : json["partitions"]) {
    EXPECT_EQ(row["translation"], "exact");
    EXPECT_EQ(row["target_offset"].get<int64_t>(),
              (synced[{topic, row["partition"].get<int32_t>()}]))
        << out;
  }
}

// Consumes with a group until `count` records were read, committing each record read; returns
// (partition, origin offset) of every record read.
std::set<std::pair<int32_t, int64_t>> consume_with_group(const std::string& bootstrap,
                                                         const std::string& topic,
                                                         const std::string& group, size_t count,
                                                         std::chrono::seconds timeout) {
  auto rk = kmirror::kafka::make_client(kmirror::kafka::ClientKind::kConsumer,
                                        {{"bootstrap.servers", bootstrap},
                                         {"group.id", group},
                                         {"enable.auto.commit", "false"},
                                         {"auto.offset.reset", "earliest"},
                                         {"log_level", "0"}});
  rd_kafka_poll_set_consumer(rk.get());
  auto list = kmirror::kafka::new_partition_list(1);
  rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  kmirror::kafka::check(rd_kafka_subscribe(rk.get(), list.get()), "subscribe");
  std::set<std::pair<int32_t, int64_t>> seen;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (seen.size() < count && std::chrono::steady_clock::now() < deadline) {
    kmirror::kafka::MessagePtr m(rd_kafka_consumer_poll(rk.get(), 200));
    if (!m || m->err) continue;
    std::vector<std::pair<std::string, std::optional<std::string>>> headers;
    TestRecord r;
    r.offset = m->offset;
    rd_kafka_headers_t* hdrs = nullptr;
    if (rd_kafka_message_headers(m.get(), &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const void* v;
      size_t n;
      if (rd_kafka_header_get_last(hdrs, "kmirror.prov", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        r.headers.push_back({"kmirror.prov", std::string(static_cast<const char*>(v), n)});
      }
    }
    EXPECT_TRUE(seen.insert({m->partition, origin_offset(r)}).second)
        << "re-delivered within one consumer";
    kmirror::kafka::check(rd_kafka_commit_message(rk.get(), m.get(), 0), "commit");
  }
  rd_kafka_consumer_close(rk.get());
  return seen;
}

TEST_F(ControlPlaneTest, ConsumerFailsOverWithNothingRedeliveredNothingSkipped) {
  const std::string topic = kmirror::testing::unique_topic_name("failover");
  const std::string group = topic + "-app";
  kmirror::testing::create_topic(a(), topic, 6);
  auto recs = kmirror::testing::make_records(77, 10000, 6);
  kmirror::testing::produce(a(), topic, recs);
  KmirrorProcess km(kmirror::testing::two_cluster_config(a(), b(), "failover", topic));
  auto on_a = consume_with_group(a(), topic, group, 4321, 60s);
  ASSERT_EQ(on_a.size(), 4321u);
  ASSERT_TRUE(
      kmirror::kafka::wait_until([&] { return caught_up(b(), topic, 10000); }, 120s, 500ms));
  // The group's offsets reach the target within a sync interval.
  auto tclient = admin_client(b());
  kmirror::kafka::Admin target_admin(tclient.get());
  auto sclient = admin_client(a());
  kmirror::kafka::Admin source_admin(sclient.get());
  // Plain records on a fresh topic: the copy's offsets equal the source's, so the final sync
  // is visible as equal committed offsets.
  auto committed = source_admin.list_group_offsets(group);
  ASSERT_TRUE(kmirror::kafka::wait_until(
      [&] { return target_admin.list_group_offsets(group) == committed; }, 60s, 500ms))
      << km.output();
  km.terminate();
  // The application moves to the target with the same group id and topic name.
  auto on_b = consume_with_group(b(), topic, group, 10000 - on_a.size(), 60s);
  size_t redelivered = 0;
  for (const auto& id : on_b) redelivered += on_a.count(id);
  std::set<std::pair<int32_t, int64_t>> all(on_a.begin(), on_a.end());
  all.insert(on_b.begin(), on_b.end());
  std::cout << "[failover] read " << on_a.size() << " on the source, " << on_b.size()
            << " on the target, " << redelivered << " re-delivered, " << 10000 - all.size()
            << " skipped" << std::endl;
  EXPECT_EQ(redelivered, 0u);
  EXPECT_EQ(all.size(), 10000u);
}

// kmirror killed with SIGKILL while it syncs consumer-group offsets: the restarted instance
// finishes the job, and every group ends where one uninterrupted sync puts it.
TEST_F(ControlPlaneTest, KilledWhileSyncingGroupOffsetsARestartCompletesThem) {
  constexpr int kPartitions = 6;
  constexpr int kGroups = 200;
  const std::string topic = kmirror::testing::unique_topic_name("gkill");
  kmirror::testing::create_topic(a(), topic, kPartitions);
  // Plain records into an empty target: each copy lands at its source offset, so a group's
  // translated offsets equal its source offsets (none beyond a partition's end).
  auto recs = kmirror::testing::make_records(91, 6000, kPartitions);
  kmirror::testing::produce(a(), topic, recs);
  auto client = admin_client(a());
  kmirror::kafka::Admin source_admin(client.get());
  std::vector<int64_t> ends;  // records are spread unevenly over the partitions
  for (int p = 0; p < kPartitions; ++p)
    ends.push_back(kmirror::kafka::query_watermarks(client.get(), topic, p, 10s).high);
  std::map<std::string, kmirror::kafka::GroupOffsets> groups;
  for (int g = 0; g < kGroups; ++g) {
    auto& offs = groups[topic + "-g" + std::to_string(g)];
    for (int p = 0; p < kPartitions; ++p) offs[{topic, p}] = (g * 37 + p * 11) % (ends[p] + 1);
  }
  for (const auto& [g, offs] : groups) {
    std::map<std::pair<std::string, int32_t>, std::string> failed;
    // A fresh cluster answers "coordinator load in progress" for a moment.
    ASSERT_TRUE(kmirror::kafka::wait_until(
        [&] { return (failed = source_admin.alter_group_offsets(g, offs)).empty(); }, 30s, 200ms))
        << g << ": " << failed.begin()->second;
  }

  auto tclient = admin_client(b());
  kmirror::kafka::Admin target_admin(tclient.get());
  auto correct = [&](const std::string& g) {
    return target_admin.list_group_offsets(g) == groups[g];
  };
  auto count_correct = [&] {
    int n = 0;
    for (const auto& [g, offs] : groups) n += correct(g) ? 1 : 0;
    return n;
  };
  const std::string cfg = kmirror::testing::two_cluster_config(a(), b(), "gkill", topic);
  int at_kill = 0;
  {
    KmirrorProcess km(cfg);
    // Kill as soon as any of the groups exists on the target (one ListGroups request per
    // look): the sync of the others is under way.
    ASSERT_TRUE(kmirror::kafka::wait_until(
        [&] {
          for (const auto& listing : target_admin.list_groups()) {
            if (groups.count(listing.id)) return true;
          }
          return false;
        },
        120s, 5ms))
        << km.output();
    km.kill9();
    at_kill = count_correct();
  }
  KmirrorProcess km(cfg);
  int synced = 0;
  bool complete =
      kmirror::kafka::wait_until([&] { return (synced = count_correct()) == kGroups; }, 120s, 1s);
  std::cout << "[group sync kill] " << at_kill << " of " << kGroups
            << " groups synced when kmirror was killed; " << synced << " correct after the restart"
            << std::endl;
  for (const auto& [g, offs] : groups) {
    auto got = target_admin.list_group_offsets(g);
    if (got == offs) continue;
    std::ostringstream diff;
    for (const auto& [tp, o] : offs) {
      auto it = got.find(tp);
      diff << " p" << tp.second << " " << o << "->" << (it == got.end() ? -1 : it->second);
    }
    ADD_FAILURE() << "group " << g << " on the target differs (source->target):" << diff.str();
  }
  ASSERT_TRUE(complete) << km.output();
  EXPECT_EQ(km.terminate(), 0) << km.output();
}

TEST_F(ControlPlaneTest, PartitionAndConfigChangesFollowTheSource) {
  const std::string topic = kmirror::testing::unique_topic_name("follow");
  kmirror::testing::create_topic(a(), topic, 2, {{"retention.ms", "123456789"}});
  KmirrorProcess km(kmirror::testing::two_cluster_config(a(), b(), "follow", topic));
  auto tclient = admin_client(b());
  kmirror::kafka::Admin target_admin(tclient.get());
  ASSERT_TRUE(
      kmirror::kafka::wait_until([&] { return kmirror::testing::topic_exists(b(), topic); }, 30s));
  EXPECT_EQ(target_admin.describe_topic_configs({topic})[topic]["retention.ms"].value, "123456789");

  auto sclient = admin_client(a());
  kmirror::kafka::Admin source_admin(sclient.get());
  ASSERT_EQ(source_admin.create_partitions({{topic, 4}}).at(0).code, RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(source_admin.alter_topic_configs({{topic, {{"retention.ms", "987654321"}}}}).at(0).code,
            RD_KAFKA_RESP_ERR_NO_ERROR);
  auto changed_at = std::chrono::steady_clock::now();
  // Records written to a new partition before its target partition exists (kmirror extends
  // the target within its 2 s sync interval, so most likely after these) wait for it, and
  // start from the source partition's first record once it does.
  auto partition3 = [](int from, int to) {
    std::vector<TestRecord> recs;
    for (int i = from; i < to; ++i) {
      recs.emplace_back();
      recs.back().value = "p3-" + std::to_string(i);
      recs.back().partition = 3;
    }
    return recs;
  };
  ASSERT_TRUE(kmirror::kafka::wait_until(
      [&] {
        auto md = kmirror::kafka::fetch_metadata(sclient.get(), 5s, topic);
        return !md.topics.empty() && md.topics[0].partitions.size() == 4;
      },
      10s));
  auto early = partition3(0, 5);
  kmirror::testing::produce(a(), topic, early);
  // The sync interval is 2 s in this configuration; allow two intervals plus metadata delays.
  ASSERT_TRUE(kmirror::kafka::wait_until(
      [&] {
        auto md = kmirror::kafka::fetch_metadata(tclient.get(), 5s, topic);
        return !md.topics.empty() && md.topics[0].partitions.size() == 4 &&
               target_admin.describe_topic_configs({topic})[topic]["retention.ms"].value ==
                   "987654321";
      },
      20s, 200ms))
      << km.output();
  std::cout << "[follow] partitions and config on the target after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - changed_at)
                   .count()
            << " ms" << std::endl;
  // And those written after it exists follow them, in order.
  auto late = partition3(5, 10);
  kmirror::testing::produce(a(), topic, late);
  ASSERT_TRUE(kmirror::kafka::wait_until(
      [&] { return kmirror::testing::read_all(b(), topic)[3].size() >= 10; }, 60s, 500ms))
      << km.output();
  EXPECT_EQ(km.terminate(), 0);
  auto copied = kmirror::testing::read_all(b(), topic)[3];
  ASSERT_EQ(copied.size(), 10u);
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(copied[i].value.value_or("<null>"), "p3-" + std::to_string(i));
}

}  // namespace
