// Failover and failback against real brokers: an application's consumer group moves from A to
// B and back with nothing re-delivered and nothing skipped; records produced on B during the
// failover travel back to A once; the A->B flow then resumes without sending them back.
#include <gtest/gtest.h>
#include <kmirror/dedup.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/provenance.h"
#include "harness/kafka_cluster.h"
#include "kafka/admin.h"
#include "kafka/client.h"
#include "support/consume.h"
#include "support/kmirror_process.h"
#include "support/records.h"
#include "support/regions_fixture.h"
#include "support/replication_checks.h"

using namespace std::chrono_literals;
using kmirror::testing::KmirrorProcess;
using kmirror::testing::provenance_of;
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

std::string cluster_id(const std::string& bootstrap) {
  auto rk = kmirror::kafka::make_client(kmirror::kafka::ClientKind::kProducer,
                                        {{"bootstrap.servers", bootstrap}});
  return kmirror::kafka::fetch_cluster_id(rk.get(), 10s);
}

// Every record of the topic named by where it was first produced (its copies share the name).
std::set<RecordIdentity> identities(const std::string& bootstrap, const std::string& topic) {
  const uint64_t self = kmirror::core::hash_cluster_id(cluster_id(bootstrap));
  std::set<RecordIdentity> out;
  for (const auto& [p, recs] : kmirror::testing::read_all(bootstrap, topic)) {
    for (const auto& r : recs) {
      auto prov = provenance_of(r);
      out.insert(prov ? RecordIdentity{prov->origin(), prov->origin_partition, prov->origin_offset}
                      : RecordIdentity{self, p, r.offset});
    }
  }
  return out;
}

kmirror::kafka::GroupOffsets group_offsets(const std::string& bootstrap, const std::string& group,
                                           const std::string& topic) {
  auto rk = kmirror::kafka::make_admin_client({{"bootstrap.servers", bootstrap}}, group);
  kmirror::kafka::Admin admin(rk.get(), 15s);
  kmirror::kafka::GroupOffsets out;
  for (const auto& [tp, off] : admin.list_group_offsets(group)) {
    if (tp.first == topic) out[tp] = off;
  }
  return out;
}

// The flow's state as `kmirror status --config` reads it from the target cluster. Only from the
// clusters: a kmirror of another test or user serving 127.0.0.1:9644 must not answer instead.
std::string stored_state(const std::filesystem::path& cfg_file) {
  std::string out;
  int rc = KmirrorProcess::run_to_end(
      {"status", "--config", cfg_file.string(), "--from-clusters", "--json"}, out, 60s);
  if (rc != 0) return "exit " + std::to_string(rc) + ": " + out;
  auto j = nlohmann::json::parse(out.substr(out.find('{')), nullptr, false);
  if (j.is_discarded() || j["flows"].size() != 1) return "unreadable: " + out;
  return j["flows"][0].value("state", "?");
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
  auto read_on_a = kmirror::testing::consume_with_group(a(), topic, group, 2500, 180s);
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
  auto read_on_b = kmirror::testing::consume_with_group(b(), topic, group, 3500, 180s);
  EXPECT_EQ(read_on_b.size(), 3500u);
  EXPECT_EQ(overlap(read_on_a, read_on_b), 0u) << "re-delivered after failover";
  std::set<RecordIdentity> all(read_on_a.begin(), read_on_a.end());
  all.insert(read_on_b.begin(), read_on_b.end());
  EXPECT_EQ(all.size(), 6000u) << "skipped after failover";

  // B takes writes meanwhile; the application reads some of them.
  auto on_b = kmirror::testing::make_records(32, 1000, 6);
  kmirror::testing::produce(b(), topic, on_b);
  auto read_new_on_b = kmirror::testing::consume_with_group(b(), topic, group, 400, 180s);
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
  auto back_on_a = kmirror::testing::consume_with_group(a(), topic, group, 600, 180s);
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
TEST_F(DrTest, UnplannedFailoverAndFailbackKeepTheConsumerExactWithDedup) {
  const std::string topic = kmirror::testing::unique_topic_name("outage");
  const std::string group = topic + "-app";
  const std::string flow = "dr-" + topic;
  kmirror::testing::create_topic(a(), topic, 3);
  const std::string a_bootstrap = a();
  const std::string cfg = kmirror::testing::two_cluster_config(a_bootstrap, b(), flow, topic);
  auto cfg_file = kmirror::harness::make_temp_dir("kmirror-outage") / "kmirror.yaml";
  std::ofstream(cfg_file) << cfg;
  const uint64_t a_hash = kmirror::core::hash_cluster_id(cluster_id(a_bootstrap));
  const uint64_t b_hash = kmirror::core::hash_cluster_id(cluster_id(b()));
  auto km = std::make_unique<KmirrorProcess>(cfg);
  EXPECT_EQ(stored_state(cfg_file), "running");

  // The application: one consumer group with one dedup state, from cluster to cluster.
  kmirror::Deduplicator dedup;
  size_t dropped = 0;
  std::multiset<RecordIdentity> delivered;
  auto read = [&](const std::string& bootstrap, size_t count, std::chrono::seconds timeout) {
    auto got = kmirror::testing::consume_with_group(bootstrap, topic, group, count, timeout, dedup,
                                                    dropped);
    delivered.insert(got.begin(), got.end());
    return got;
  };

  // Traffic on a until the region is lost; every acknowledged record is remembered. The group
  // reads on a meanwhile; a first part of its position is synced to b before the outage.
  std::map<int32_t, std::set<int64_t>> acked;
  std::multiset<RecordIdentity> read_synced, read_unsynced;
  for (int batch = 0; batch < 40; ++batch) {
    auto recs = kmirror::testing::make_records(500 + batch, 300, 3);
    kmirror::testing::produce(a_bootstrap, topic, recs);
    for (const auto& r : recs) acked[r.partition].insert(r.offset);
    if (batch == 20) {
      read_synced = read(a_bootstrap, 3000, 180s);
      ASSERT_EQ(read_synced.size(), 3000u);
      auto on_a = group_offsets(a_bootstrap, group, topic);
      ASSERT_TRUE(kmirror::kafka::wait_until(
          [&] { return group_offsets(b(), group, topic) == on_a; }, 60s, 200ms))
          << "the group's position was not synced to b";
    }
    if (batch == 30) {
      ASSERT_TRUE(
          kmirror::kafka::wait_until([&] { return count_or_zero(b(), topic) > 6000; }, 60s, 100ms));
    }
  }
  read_unsynced = read(a_bootstrap, 500, 180s);  // not synced yet: b re-delivers some of it
  ASSERT_EQ(read_unsynced.size(), 500u);
  regions(2)[0].kill();  // region outage: whatever kmirror had not copied yet is lost for now
  std::string out;
  int rc = KmirrorProcess::run_to_end(
      {"failover", "--config", cfg_file.string(), "--flow", flow, "--unplanned", "--json"}, out,
      180s);
  ASSERT_EQ(rc, 0) << out;
  auto report = nlohmann::json::parse(out.substr(out.find("{\n")));
  km.reset();
  // No kmirror runs now: the state comes from b itself.
  EXPECT_EQ(stored_state(cfg_file), "failed-over");

  // Every acknowledged record at or before the reported last copied offset is on b; none after.
  auto on_b = kmirror::testing::read_all(b(), topic);
  std::set<RecordIdentity> not_copied;  // named by the report
  for (const auto& row : report["rpo"]) {
    int32_t p = row["partition"].get<int32_t>();
    int64_t last = row["last_copied_offset"].get<int64_t>();
    std::set<int64_t> copied;
    for (const auto& r : on_b[p]) {
      if (auto prov = provenance_of(r)) copied.insert(prov->source_offset);
    }
    for (int64_t o : acked[p]) {
      if (o <= last) {
        EXPECT_TRUE(copied.count(o))
            << "partition " << p << " offset " << o << " reported copied but missing";
      } else {
        EXPECT_FALSE(copied.count(o))
            << "partition " << p << " offset " << o << " copied but reported lost";
        not_copied.insert(RecordIdentity{a_hash, p, o});
      }
    }
  }
  std::cout << "[unplanned] " << not_copied.size()
            << " acknowledged record(s) not copied before the outage, as reported" << std::endl;

  // The group resumes on b at the position the failover reports, which is at or after what was
  // synced: nothing synced is read again, the rest of the repeats is dropped by dedup.
  ASSERT_TRUE(report["groups_on_target"].contains(group)) << out;
  auto on_b_position = group_offsets(b(), group, topic);
  for (const auto& [p, off] : report["groups_on_target"][group][topic].items()) {
    const std::pair<std::string, int32_t> tp{topic, std::stoi(p)};
    EXPECT_EQ(on_b_position[tp], off.get<int64_t>()) << "partition " << p;
  }
  int64_t b_end = 0, b_pos = 0;
  for (const auto& [p, recs] : on_b) b_end += static_cast<int64_t>(recs.size());
  for (const auto& [tp, off] : on_b_position) b_pos += off;
  auto read_on_b = read(b(), static_cast<size_t>(b_end - b_pos), 180s);
  EXPECT_EQ(read_on_b.size(), static_cast<size_t>(b_end - b_pos));
  EXPECT_EQ(overlap(read_synced, read_on_b), 0u) << "a synced position was not used on b";
  size_t redelivered = overlap(read_unsynced, read_on_b);
  EXPECT_EQ(dropped, redelivered) << "dedup must drop exactly the re-delivered records";

  // Lost for the application: exactly the records the report names as not copied, less those
  // it had read on a before the outage.
  std::set<RecordIdentity> lost;
  for (const auto& [p, offs] : acked) {
    for (int64_t o : offs) {
      RecordIdentity id{a_hash, p, o};
      if (!delivered.count(id)) lost.insert(id);
    }
  }
  std::set<RecordIdentity> expected_lost;
  for (const auto& id : not_copied) {
    if (!delivered.count(id)) expected_lost.insert(id);
  }
  EXPECT_EQ(lost, expected_lost);
  std::cout << "[unplanned] re-delivered on b: " << redelivered << ", dropped by dedup: " << dropped
            << ", lost for the group: " << lost.size() << std::endl;

  // b takes writes during the outage; the group reads the first ones, not the last.
  auto during = kmirror::testing::make_records(900, 600, 3);
  kmirror::testing::produce(b(), topic, during);
  auto read_new_on_b = read(b(), 600, 180s);
  ASSERT_EQ(read_new_on_b.size(), 600u);
  auto unread = kmirror::testing::make_records(901, 300, 3);
  kmirror::testing::produce(b(), topic, unread);
  during.insert(during.end(), unread.begin(), unread.end());

  // The region comes back: failback reports exactly the records only a had, copies b's new
  // ones back and moves the group to a.
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
  EXPECT_EQ(only_on_a, static_cast<int64_t>(not_copied.size())) << out;
  EXPECT_EQ(report["copied_back"].get<int64_t>(), 900) << out;
  EXPECT_EQ(stored_state(cfg_file), "running");

  // a holds every record b received during the outage.
  auto ids_on_a = identities(a_bootstrap, topic);
  for (const auto& r : during) {
    EXPECT_TRUE(ids_on_a.count(RecordIdentity{b_hash, r.partition, r.offset}))
        << "b's record " << r.partition << "/" << r.offset << " missing on a";
  }
  // The group is back on a at the exact position: the rest of b's records, nothing else.
  size_t dropped_before = dropped;
  auto back_on_a = read(a_bootstrap, 300, 180s);
  EXPECT_EQ(back_on_a.size(), 300u);
  EXPECT_EQ(overlap(read_new_on_b, back_on_a), 0u) << "re-delivered after failback";
  auto extra = read(a_bootstrap, 1000000, 20s);
  EXPECT_EQ(extra.size(), 0u) << "the group on a was not at the exact position";
  EXPECT_EQ(dropped, dropped_before);
  std::set<RecordIdentity> b_records(read_new_on_b.begin(), read_new_on_b.end());
  b_records.insert(back_on_a.begin(), back_on_a.end());
  EXPECT_EQ(b_records.size(), 900u) << "b's records read across the failback";
  std::set<RecordIdentity> distinct(delivered.begin(), delivered.end());
  EXPECT_EQ(delivered.size() - distinct.size() - dropped, 0u) << "duplicates after dedup";

  // a->b runs again: b receives what only a had and a's new records, and ends equal to a.
  KmirrorProcess resumed(cfg);
  auto more = kmirror::testing::make_records(950, 100, 3);
  kmirror::testing::produce(a_bootstrap, topic, more);
  ASSERT_TRUE(kmirror::kafka::wait_until(
      [&] { return identities(b(), topic) == identities(a_bootstrap, topic); }, 120s, 1s))
      << "b is not in sync with a after the failback:\n"
      << resumed.output();
  EXPECT_EQ(count_or_zero(b(), topic), count_or_zero(a_bootstrap, topic));
  EXPECT_EQ(resumed.terminate(), 0);
}

}  // namespace
