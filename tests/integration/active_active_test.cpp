// Active-active with identical topic names against real brokers: two regions with both flows,
// a full mesh of three, and a kill -9 in the middle. No record may come back to a cluster it
// was written to, every record must reach every cluster, and counts must settle.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "core/provenance.h"
#include "kafka/client.h"
#include "support/kmirror_process.h"
#include "support/records.h"
#include "support/regions_fixture.h"
#include "support/replication_checks.h"

using namespace std::chrono_literals;
using kmirror::testing::KmirrorProcess;
using kmirror::testing::TestRecord;

using kmirror::testing::end_offsets_sum;

namespace {

constexpr int kPartitions = 6;

// Where a record was first produced: (origin cluster, origin partition, origin offset).
using Identity = std::tuple<uint64_t, int32_t, int64_t>;

std::string cluster_id(const std::string& bootstrap) {
  auto rk = kmirror::kafka::make_client(kmirror::kafka::ClientKind::kProducer,
                                        {{"bootstrap.servers", bootstrap}});
  return kmirror::kafka::fetch_cluster_id(rk.get(), 10s);
}

struct ClusterContent {
  std::set<Identity> distinct;
  size_t total = 0;
  size_t duplicates = 0;
};

// Reads the topic on one cluster and checks per-partition order of each origin's records.
ClusterContent inspect(const std::string& bootstrap, const std::string& topic) {
  uint64_t self = kmirror::core::hash_cluster_id(cluster_id(bootstrap));
  ClusterContent out;
  for (const auto& [p, recs] : kmirror::testing::read_all(bootstrap, topic)) {
    std::map<uint64_t, int64_t> last_by_origin;
    for (const auto& r : recs) {
      std::optional<kmirror::core::Provenance> prov;
      for (const auto& [name, value] : r.headers) {
        if (name == kmirror::core::kProvenanceHeader && value) {
          prov = kmirror::core::decode(
              {reinterpret_cast<const uint8_t*>(value->data()), value->size()});
        }
      }
      Identity id = prov ? Identity{prov->origin(), prov->origin_partition, prov->origin_offset}
                         : Identity{self, p, r.offset};
      ++out.total;
      if (!out.distinct.insert(id).second) {
        ++out.duplicates;
        continue;
      }
      auto [it, first] = last_by_origin.try_emplace(std::get<0>(id), std::get<2>(id));
      if (!first) {
        EXPECT_GT(std::get<2>(id), it->second)
            << "order of one origin's records broken in partition " << p;
        it->second = std::get<2>(id);
      }
    }
  }
  return out;
}

std::string cluster_yaml(const std::vector<std::pair<std::string, std::string>>& clusters) {
  std::string y = "clusters:\n";
  for (const auto& [name, bootstrap] : clusters) {
    y += "  - name: " + name + "\n    bootstrap_servers: \"" + bootstrap + "\"\n";
  }
  return y;
}

std::string flow_yaml(const std::string& source, const std::string& target,
                      const std::string& id_prefix, const std::string& topic) {
  return "  - source: " + source + "\n    target: " + target + "\n    id: " + id_prefix + "-" +
         source + target +
         "\n    sync_interval: 2s\n    commit_interval: 500ms\n    topics:\n      include: [\"" +
         topic + "\"]\n";
}

// Produces `count` records to `topic` on each cluster at once.
void produce_everywhere(const std::vector<std::string>& bootstraps, const std::string& topic,
                        int count, uint32_t seed) {
  std::vector<std::thread> producers;
  for (size_t i = 0; i < bootstraps.size(); ++i) {
    producers.emplace_back([&, i] {
      auto recs =
          kmirror::testing::make_records(seed + static_cast<uint32_t>(i), count, kPartitions);
      kmirror::testing::produce(bootstraps[i], topic, recs);
    });
  }
  for (auto& t : producers) t.join();
}

// Waits until every cluster holds `expected` records and every flow's stored position has
// reached its source's end (copies and filtered records included), so nothing is in flight;
// then checks the counts do not move for `quiet`: nothing circulates. Counts alone cannot tell
// settled from paused: after a kill -9, restart duplicates keep arriving past `expected`.
// `names[i]` is the cluster name of `bootstraps[i]` in the flow ids made by flow_yaml.
void expect_settled(const std::vector<std::string>& bootstraps,
                    const std::vector<std::string>& names, const std::string& id_prefix,
                    const std::string& topic, int64_t expected, std::chrono::seconds quiet,
                    KmirrorProcess& km) {
  std::string progress;
  auto settled = [&] {
    std::ostringstream why;
    bool all = true;
    for (size_t s = 0; s < bootstraps.size(); ++s) {
      int64_t held = kmirror::testing::end_offsets_or_zero(bootstraps[s], topic);
      if (held < expected) all = false;
      why << names[s] << " holds " << held << "; ";
      for (size_t t = 0; t < bootstraps.size(); ++t) {
        if (s == t) continue;
        std::string group = "kmirror." + id_prefix + "-" + names[s] + names[t];
        int64_t position = -1;
        try {
          position = kmirror::testing::committed_sum(bootstraps[t], group, topic, kPartitions);
        } catch (const std::exception&) {
        }
        if (position != held) all = false;
        why << names[s] << "->" << names[t] << " position " << position << "; ";
      }
    }
    progress = why.str();
    return all;
  };
  ASSERT_TRUE(kmirror::kafka::wait_until(settled, 180s, 500ms))
      << "not settled: " << progress << "kmirror said:\n"
      << km.output();
  std::vector<int64_t> before;
  for (const auto& b : bootstraps) before.push_back(end_offsets_sum(b, topic));
  auto deadline = std::chrono::steady_clock::now() + quiet;
  while (std::chrono::steady_clock::now() < deadline) {
    for (size_t i = 0; i < bootstraps.size(); ++i) {
      ASSERT_EQ(end_offsets_sum(bootstraps[i], topic), before[i])
          << "records still arriving: a loop?";
    }
    std::this_thread::sleep_for(1s);
  }
}

class ActiveActiveTest : public kmirror::testing::RegionsTest {
 protected:
  std::string at(int i) { return regions(3)[i].bootstrap(); }
};

TEST_F(ActiveActiveTest, TwoRegionsBothFlowsNoLoopEveryRecordOnce) {
  const std::string topic = kmirror::testing::unique_topic_name("aa2");
  std::vector<std::string> bs = {at(0), at(1)};
  for (const auto& b : bs) kmirror::testing::create_topic(b, topic, kPartitions);
  KmirrorProcess km(cluster_yaml({{"a", bs[0]}, {"b", bs[1]}}) + "flows:\n" +
                    flow_yaml("a", "b", "aa2", topic) + flow_yaml("b", "a", "aa2", topic) +
                    "http:\n  enabled: false\n");
  produce_everywhere(bs, topic, 50000, 500);
  expect_settled(bs, {"a", "b"}, "aa2", topic, 100000, 30s, km);
  for (const auto& b : bs) {
    auto content = inspect(b, topic);
    EXPECT_EQ(content.distinct.size(), 100000u) << b;
    EXPECT_EQ(content.duplicates, 0u) << b;
  }
  std::string out = km.output();
  EXPECT_EQ(km.terminate(), 0) << out;
}

TEST_F(ActiveActiveTest, MeshOfThreeDeliversEachRecordToEachClusterOnce) {
  const std::string topic = kmirror::testing::unique_topic_name("aa3");
  std::vector<std::string> bs = {at(0), at(1), at(2)};
  for (const auto& b : bs) kmirror::testing::create_topic(b, topic, kPartitions);
  std::string flows = "flows:\n";
  for (std::string s : {"a", "b", "c"}) {
    for (std::string t : {"a", "b", "c"}) {
      if (s != t) flows += flow_yaml(s, t, "aa3", topic);
    }
  }
  KmirrorProcess km(cluster_yaml({{"a", bs[0]}, {"b", bs[1]}, {"c", bs[2]}}) + flows +
                    "http:\n  enabled: false\n");
  produce_everywhere(bs, topic, 20000, 900);
  expect_settled(bs, {"a", "b", "c"}, "aa3", topic, 60000, 10s, km);
  for (const auto& b : bs) {
    auto content = inspect(b, topic);
    EXPECT_EQ(content.distinct.size(), 60000u) << b;
    EXPECT_EQ(content.duplicates, 0u) << b;
  }
  EXPECT_EQ(km.terminate(), 0);
}

TEST_F(ActiveActiveTest, KillNineDuringTwoWayReplicationStillNoLoopNothingLost) {
  const std::string topic = kmirror::testing::unique_topic_name("aakill");
  std::vector<std::string> bs = {at(0), at(1)};
  for (const auto& b : bs) kmirror::testing::create_topic(b, topic, kPartitions);
  const std::string cfg = cluster_yaml({{"a", bs[0]}, {"b", bs[1]}}) + "flows:\n" +
                          flow_yaml("a", "b", "aakill", topic) +
                          flow_yaml("b", "a", "aakill", topic) + "http:\n  enabled: false\n";
  {
    KmirrorProcess km(cfg);
    std::thread load([&] { produce_everywhere(bs, topic, 50000, 1300); });
    // Kill it once copies have started arriving on b (b's own records alone make 50,000).
    bool copying = kmirror::kafka::wait_until(
        [&] {
          try {
            return end_offsets_sum(bs[1], topic) > 60000;
          } catch (const std::exception&) {
            return false;
          }
        },
        180s, 20ms);
    km.kill9();
    load.join();
    ASSERT_TRUE(copying) << "b never received copies; kmirror said:\n" << km.output();
  }
  KmirrorProcess km(cfg);
  expect_settled(bs, {"a", "b"}, "aakill", topic, 100000, 10s, km);
  for (const auto& b : bs) {
    auto content = inspect(b, topic);
    EXPECT_EQ(content.distinct.size(), 100000u) << b;
    std::cout << "[active-active kill -9] " << b << ": " << content.total << " records, "
              << content.duplicates << " restart duplicates" << std::endl;
  }
  EXPECT_EQ(km.terminate(), 0);
}

}  // namespace
