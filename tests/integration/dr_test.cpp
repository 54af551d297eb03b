// Failover and failback against real brokers: an application's consumer group moves from A to
// B and back with nothing re-delivered and nothing skipped; records produced on B during the
// failover travel back to A once; the A->B flow then resumes without sending them back.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/provenance.h"
#include "harness/kafka_cluster.h"
#include "kafka/client.h"
#include "support/consume.h"
#include "support/kmirror_process.h"
#include "support/records.h"
#include "support/regions_fixture.h"

using namespace std::chrono_literals;
using kmirror::testing::KmirrorProcess;
using kmirror::testing::RecordIdentity;

namespace {

size_t count_or_zero(const std::string& bootstrap, const std::string& topic) {
  try {
    return kmirror::testing::count_records(bootstrap, topic);
  } catch (const std::exception&) {
    return 0;
  }
}

size_t overlap(const std::multiset<RecordIdentity>& a, const std::multiset<RecordIdentity>& b) {
  size_t n = 0;
  for (const auto& id : std::set<RecordIdentity>(b.begin(), b.end())) n += a.count(id);
  return n;
}

class DrTest : public kmirror::testing::RegionsTest {
 protected:
  std::string a() { return regions(2)[0].bootstrap(); }
  std::string b() { return regions(2)[1].bootstrap(); }
};

TEST_F(DrTest, PlannedFailoverThenFailbackMovesConsumersExactly) {
  const std::string topic = kmirror::testing::unique_topic_name("dr");
  const std::string group = topic + "-app";
  const std::string flow = "dr-" + topic;
  kmirror::testing::create_topic(a(), topic, 6);
  auto recs = kmirror::testing::make_records(31, 6000, 6);
  kmirror::testing::produce(a(), topic, recs);
  const std::string cfg = kmirror::testing::two_cluster_config(a(), b(), flow, topic);
  auto cfg_file = kmirror::harness::make_temp_dir("kmirror-dr") / "kmirror.yaml";
  std::ofstream(cfg_file) << cfg;

  auto km = std::make_unique<KmirrorProcess>(cfg);
  // The application reads part of the topic on A.
  auto read_on_a = kmirror::testing::consume_with_group(a(), topic, group, 2500, 60s);
  ASSERT_EQ(read_on_a.size(), 2500u);

  // Planned failover: drains, syncs the group exactly, stops the flow durably.
  std::string out;
  int rc = KmirrorProcess::run_to_end(
      {"failover", "--config", cfg_file.string(), "--flow", flow, "--planned", "--json"}, out,
      300s);
  ASSERT_EQ(rc, 0) << out << "\nkmirror run said:\n" << km->output();
  auto report = nlohmann::json::parse(out.substr(out.find("{\n")));
  EXPECT_TRUE(report["ok"].get<bool>());
  EXPECT_TRUE(report["groups_on_target"].contains(group)) << out;
  ASSERT_TRUE(kmirror::kafka::wait_until(
      [&] { return km->output().find("stopping it") != std::string::npos; }, 30s, 200ms))
      << "the running kmirror did not stop the failed-over flow:\n"
      << km->output();
  EXPECT_EQ(count_or_zero(b(), topic), 6000u);

  // The application moves to B with the same group id and topic name.
  auto read_on_b = kmirror::testing::consume_with_group(b(), topic, group, 3500, 60s);
  EXPECT_EQ(read_on_b.size(), 3500u);
  EXPECT_EQ(overlap(read_on_a, read_on_b), 0u) << "re-delivered after failover";
  std::set<RecordIdentity> all(read_on_a.begin(), read_on_a.end());
  all.insert(read_on_b.begin(), read_on_b.end());
  EXPECT_EQ(all.size(), 6000u) << "skipped after failover";

  // B takes writes meanwhile; the application reads some of them.
  auto on_b = kmirror::testing::make_records(32, 1000, 6);
  kmirror::testing::produce(b(), topic, on_b);
  auto read_new_on_b = kmirror::testing::consume_with_group(b(), topic, group, 400, 60s);
  ASSERT_EQ(read_new_on_b.size(), 400u);

  // A restarted kmirror keeps the failed-over flow stopped.
  km.reset();
  km = std::make_unique<KmirrorProcess>(cfg);
  ASSERT_TRUE(kmirror::kafka::wait_until(
      [&] { return km->output().find("failback") != std::string::npos; }, 60s, 200ms))
      << km->output();
  km.reset();

  // Failback: B's new records travel to A, the group moves back exactly.
  rc = KmirrorProcess::run_to_end(
      {"failback", "--config", cfg_file.string(), "--flow", flow, "--json"}, out, 300s);
  ASSERT_EQ(rc, 0) << out;
  report = nlohmann::json::parse(out.substr(out.find("{\n")));
  EXPECT_EQ(report["copied_back"].get<int>(), 1000) << out;
  EXPECT_TRUE(report["only_on_source"].empty()) << out;
  EXPECT_EQ(count_or_zero(a(), topic), 7000u);
  auto back_on_a = kmirror::testing::consume_with_group(a(), topic, group, 600, 60s);
  EXPECT_EQ(back_on_a.size(), 600u);
  EXPECT_EQ(overlap(read_new_on_b, back_on_a), 0u) << "re-delivered after failback";
  std::set<RecordIdentity> b_records;
  for (const auto& id : read_new_on_b) b_records.insert(id);
  for (const auto& id : back_on_a) b_records.insert(id);
  EXPECT_EQ(b_records.size(), 1000u)
      << "B's records read across the failback: skipped ones are missing";

  // A->B resumes and does not send B's records back to B.
  KmirrorProcess resumed(cfg);
  auto more = kmirror::testing::make_records(33, 100, 6);
  kmirror::testing::produce(a(), topic, more);
  ASSERT_TRUE(
      kmirror::kafka::wait_until([&] { return count_or_zero(b(), topic) >= 7100u; }, 120s, 500ms))
      << resumed.output();
  EXPECT_EQ(count_or_zero(b(), topic), 7100u) << "records came back to B: a loop";
  EXPECT_EQ(resumed.terminate(), 0);
}

TEST_F(DrTest, DrillReportMatchesWhatTheClustersHold) {
  const std::string flow = kmirror::testing::unique_topic_name("drill");
  auto cfg_file = kmirror::harness::make_temp_dir("kmirror-drill") / "kmirror.yaml";
  std::ofstream(cfg_file) << kmirror::testing::two_cluster_config(a(), b(), flow, "unused");
  std::string out;
  int rc = KmirrorProcess::run_to_end(
      {"drill", "--config", cfg_file.string(), "--flow", flow, "--records", "2000", "--json"}, out,
      600s);
  ASSERT_EQ(rc, 0) << out;
  // Progress lines come first (stderr), the JSON report last.
  auto report = nlohmann::json::parse(out.substr(out.find("{\n")));
  const std::string topic = report["topic"];
  // Counted independently on the clusters: A holds its own records and those B received during
  // the failover, B the copies and its own.
  size_t on_a = count_or_zero(a(), topic);
  size_t on_b = count_or_zero(b(), topic);
  int64_t produced =
      report["produced_on_source"].get<int64_t>() + report["produced_on_target"].get<int64_t>();
  EXPECT_EQ(report["produced_on_source"].get<int64_t>(), 2000);
  EXPECT_EQ(static_cast<int64_t>(on_a), produced);
  EXPECT_EQ(static_cast<int64_t>(on_b), produced);
  EXPECT_EQ(report["copied"].get<int64_t>(), 2000);
  EXPECT_EQ(report["copied_back"].get<int64_t>(), report["produced_on_target"].get<int64_t>());
  EXPECT_EQ(report["consumed"].get<int64_t>(), produced);
  EXPECT_EQ(report["lost"].get<int64_t>(), 0);
  EXPECT_EQ(report["duplicates_after_dedup"].get<int64_t>(), 0);
  EXPECT_TRUE(report["offsets_exact"].get<bool>());
}

// Runs last in this binary: it kills cluster a and brings it back.
TEST_F(DrTest, UnplannedFailoverNamesExactlyWhatWasLostAndFailbackReportsIt) {
  const std::string topic = kmirror::testing::unique_topic_name("outage");
  const std::string flow = "dr-" + topic;
  kmirror::testing::create_topic(a(), topic, 3);
  const std::string a_bootstrap = a();
  const std::string cfg = kmirror::testing::two_cluster_config(a_bootstrap, b(), flow, topic);
  auto cfg_file = kmirror::harness::make_temp_dir("kmirror-outage") / "kmirror.yaml";
  std::ofstream(cfg_file) << cfg;
  auto km = std::make_unique<KmirrorProcess>(cfg);

  // Traffic on a until the region is lost; every acknowledged record is remembered.
  std::map<int32_t, std::set<int64_t>> acked;
  for (int batch = 0; batch < 40; ++batch) {
    auto recs = kmirror::testing::make_records(500 + batch, 300, 3);
    kmirror::testing::produce(a_bootstrap, topic, recs);
    for (const auto& r : recs) acked[r.partition].insert(r.offset);
    if (batch == 30) {
      ASSERT_TRUE(
          kmirror::kafka::wait_until([&] { return count_or_zero(b(), topic) > 6000; }, 60s, 100ms));
    }
  }
  regions(2)[0].kill();  // region outage: whatever kmirror had not copied yet is lost for now
  std::string out;
  int rc = KmirrorProcess::run_to_end(
      {"failover", "--config", cfg_file.string(), "--flow", flow, "--unplanned", "--json"}, out,
      180s);
  ASSERT_EQ(rc, 0) << out;
  auto report = nlohmann::json::parse(out.substr(out.find("{\n")));
  km.reset();

  // Every acknowledged record at or before the reported last copied offset is on b; none after.
  auto on_b = kmirror::testing::read_all(b(), topic);
  size_t lost = 0;
  for (const auto& row : report["rpo"]) {
    int32_t p = row["partition"].get<int32_t>();
    int64_t last = row["last_copied_offset"].get<int64_t>();
    std::set<int64_t> copied;
    for (const auto& r : on_b[p]) {
      for (const auto& [name, value] : r.headers) {
        if (name == "kmirror.prov" && value) {
          auto prov = kmirror::core::decode(
              {reinterpret_cast<const uint8_t*>(value->data()), value->size()});
          if (prov) copied.insert(prov->source_offset);
        }
      }
    }
    for (int64_t o : acked[p]) {
      if (o <= last) {
        EXPECT_TRUE(copied.count(o))
            << "partition " << p << " offset " << o << " reported copied but missing";
      } else {
        EXPECT_FALSE(copied.count(o))
            << "partition " << p << " offset " << o << " copied but reported lost";
        ++lost;
      }
    }
  }
  std::cout << "[unplanned] " << lost
            << " acknowledged record(s) not copied before the outage, as reported" << std::endl;

  // The region comes back: failback reports exactly those records as only on a.
  regions(2)[0].start();
  ASSERT_EQ(regions(2)[0].bootstrap(), a_bootstrap);
  rc = KmirrorProcess::run_to_end(
      {"failback", "--config", cfg_file.string(), "--flow", flow, "--json"}, out, 300s);
  ASSERT_EQ(rc, 0) << out;
  report = nlohmann::json::parse(out.substr(out.find("{\n")));
  int64_t only_on_a = 0;
  for (const auto& [t, parts] : report["only_on_source"].items()) {
    for (const auto& [p, n] : parts.items()) only_on_a += n.get<int64_t>();
  }
  EXPECT_EQ(only_on_a, static_cast<int64_t>(lost)) << out;
}

}  // namespace
