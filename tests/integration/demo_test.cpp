// `kmirror demo` run as a user would, non-interactively: its summary is checked against what
// its clusters hold (kept running until the test has looked), Ctrl-C must leave nothing behind,
// and the --failover story must end with a report whose numbers add up.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/provenance.h"
#include "harness/kafka_cluster.h"
#include "kafka/admin.h"
#include "kafka/client.h"
#include "support/kmirror_process.h"
#include "support/records.h"
#include "support/replication_checks.h"

using namespace std::chrono_literals;
using kmirror::testing::KmirrorProcess;
using kmirror::testing::provenance_of;
namespace fs = std::filesystem;

namespace {

nlohmann::json wait_for_summary(KmirrorProcess& demo, const fs::path& file,
                                std::chrono::seconds timeout) {
  kmirror::kafka::wait_until([&] { return fs::exists(file) || !demo.running(); }, timeout, 200ms);
  if (!fs::exists(file)) return nullptr;
  std::ifstream in(file);
  return nlohmann::json::parse(in);
}

std::map<int32_t, int64_t> group_offsets(const std::string& bootstrap, const std::string& group) {
  auto rk = kmirror::kafka::make_admin_client({{"bootstrap.servers", bootstrap}}, group);
  kmirror::kafka::Admin admin(rk.get(), 15s);
  std::map<int32_t, int64_t> out;
  for (const auto& [tp, off] : admin.list_group_offsets(group)) {
    if (tp.first == "orders") out[tp.second] = off;
  }
  return out;
}

std::map<int32_t, int64_t> as_map(const nlohmann::json& j) {
  std::map<int32_t, int64_t> out;
  for (const auto& [p, v] : j.items()) out[std::stoi(p)] = v.get<int64_t>();
  return out;
}

// Processes whose command line mentions `path` (the demo's brokers run from its data dir).
int processes_using(const std::string& path) {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::ifstream in(e.path() / "cmdline");
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmd.find(path) != std::string::npos) ++n;
  }
  return n;
}

TEST(DemoTest, SummaryMatchesWhatTheClustersHold) {
  auto dir = kmirror::harness::make_temp_dir("kmirror-demo-test");
  auto summary_file = dir / "summary.json";
  auto hold = dir / "done";
  auto demo = KmirrorProcess::start({"demo", "--duration", "30", "--summary-file",
                                     summary_file.string(), "--hold-until-file", hold.string()});
  auto s = wait_for_summary(*demo, summary_file, 300s);
  ASSERT_FALSE(s.is_null()) << demo->output();
  EXPECT_TRUE(s["ok"].get<bool>()) << s.dump(2);
  EXPECT_TRUE(s["settled"].get<bool>()) << s.dump(2);
  const std::string primary = s["primary_bootstrap"];
  const std::string secondary = s["secondary_bootstrap"];
  const auto produced = s["produced"].get<uint64_t>();
  EXPECT_GT(produced, 1000u) << "30 s at the default 200 records/s";

  // The records, read back from both clusters: every acknowledged order is in us-east, and its
  // copy in eu-west at the same offset with the same content.
  auto on_primary = kmirror::testing::read_all(primary, "orders");
  auto on_secondary = kmirror::testing::read_all(secondary, "orders");
  size_t n_primary = 0, n_secondary = 0;
  for (const auto& [p, recs] : on_primary) n_primary += recs.size();
  for (const auto& [p, recs] : on_secondary) n_secondary += recs.size();
  EXPECT_EQ(n_primary, produced);
  EXPECT_EQ(s["primary_records"].get<uint64_t>(), n_primary);
  EXPECT_EQ(s["secondary_records"].get<uint64_t>(), n_secondary);
  EXPECT_EQ(s["replicated"].get<uint64_t>(), n_primary);
  EXPECT_EQ(n_secondary, n_primary);
  for (const auto& [p, recs] : on_primary) {
    const auto& copies = on_secondary[p];
    ASSERT_EQ(copies.size(), recs.size()) << "partition " << p;
    EXPECT_EQ(as_map(s["primary_end_offsets"])[p], recs.empty() ? 0 : recs.back().offset + 1);
    for (size_t i = 0; i < recs.size(); ++i) {
      ASSERT_TRUE(kmirror::testing::same_content(recs[i], copies[i]))
          << "partition " << p << " record " << i;
      auto prov = provenance_of(copies[i]);
      ASSERT_TRUE(prov) << "copy without provenance";
      EXPECT_EQ(prov->source_offset, recs[i].offset);
    }
  }

  // The sample group: its committed position in us-east is what the summary says, it consumed
  // every record once, and eu-west holds the translation of that position.
  const std::string group = s["consumer"]["group"];
  auto pos_primary = group_offsets(primary, group);
  auto pos_secondary = group_offsets(secondary, group);
  EXPECT_EQ(as_map(s["consumer"]["position_primary"]), pos_primary);
  EXPECT_EQ(as_map(s["consumer"]["position_secondary"]), pos_secondary);
  int64_t committed = 0;
  for (const auto& [p, off] : pos_primary) committed += off;
  EXPECT_EQ(s["consumer"]["consumed"].get<int64_t>(), committed);
  EXPECT_EQ(static_cast<uint64_t>(committed), produced) << "the consumer did not catch up";
  EXPECT_EQ(s["consumer"]["duplicates_dropped"].get<int64_t>(), 0);
  for (const auto& [p, c] : pos_primary) {
    ASSERT_TRUE(pos_secondary.count(p)) << "partition " << p << " not synced to eu-west";
    const auto& copies = on_secondary[p];
    int64_t t = pos_secondary[p];
    if (c == (on_primary[p].empty() ? 0 : on_primary[p].back().offset + 1)) {
      EXPECT_EQ(t, copies.empty() ? 0 : copies.back().offset + 1) << "partition " << p;
    } else {
      // The next record the group reads in eu-west is the copy of its next one in us-east.
      auto it =
          std::find_if(copies.begin(), copies.end(), [&](const auto& r) { return r.offset == t; });
      ASSERT_NE(it, copies.end()) << "partition " << p;
      EXPECT_EQ(provenance_of(*it)->source_offset, c) << "partition " << p;
    }
  }

  std::ofstream(hold) << "done\n";
  EXPECT_EQ(demo->wait_exit(120s), 0) << demo->output();
  const std::string out = demo->output();
  EXPECT_NE(out.find("replicating us-east -> eu-west"), std::string::npos) << out;
  EXPECT_NE(out.find("dashboard: http://127.0.0.1:"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(s["data_dir"].get<std::string>())) << "temporary data left behind";
  fs::remove_all(dir);
}

TEST(DemoTest, CtrlCStopsEverythingAndRemovesTheData) {
  auto demo = KmirrorProcess::start({"demo"});
  // Running: a status line with replicated records.
  ASSERT_TRUE(kmirror::kafka::wait_until(
      [&] {
        auto out = demo->output();
        auto at = out.rfind("replicated=");
        return at != std::string::npos && out[at + 11] != '0';
      },
      300s, 500ms))
      << demo->output();
  auto out = demo->output();
  auto at = out.find("data in ");
  ASSERT_NE(at, std::string::npos) << out;
  std::string data_dir = out.substr(at + 8, out.find('\n', at) - at - 8);
  ASSERT_TRUE(fs::exists(data_dir));
  EXPECT_GT(processes_using(data_dir), 0) << "the brokers should run from " << data_dir;

  EXPECT_EQ(demo->terminate(120s, SIGINT), 0) << demo->output();
  EXPECT_FALSE(fs::exists(data_dir)) << "Ctrl-C left " << data_dir;
  EXPECT_EQ(processes_using(data_dir), 0) << "Ctrl-C left broker processes running";
}

TEST(DemoTest, FailoverStoryEndsWithAConsistentReport) {
  auto dir = kmirror::harness::make_temp_dir("kmirror-demo-failover");
  auto summary_file = dir / "summary.json";
  auto hold = dir / "done";
  auto demo = KmirrorProcess::start({"demo", "--failover", "--duration", "8", "--summary-file",
                                     summary_file.string(), "--hold-until-file", hold.string()});
  auto s = wait_for_summary(*demo, summary_file, 600s);
  ASSERT_FALSE(s.is_null()) << demo->output();
  const std::string out = demo->output();
  for (const char* step :
       {"us-east goes down", "unplanned failover", "RPO window", "application moves to eu-west",
        "us-east comes back", "failback", "copied back", "drill report"}) {
    EXPECT_NE(out.find(step), std::string::npos) << "no narration of: " << step << "\n" << out;
  }
  EXPECT_TRUE(s["ok"].get<bool>()) << s.dump(2) << "\n" << out;
  const int64_t produced =
      s["produced_on_source"].get<int64_t>() + s["produced_on_target"].get<int64_t>();
  EXPECT_GT(s["produced_on_source"].get<int64_t>(), 0);
  EXPECT_GT(s["produced_on_target"].get<int64_t>(), 0);
  EXPECT_EQ(s["copied_back"].get<int64_t>(), s["produced_on_target"].get<int64_t>()) << out;
  EXPECT_EQ(s["duplicates_after_dedup"].get<int64_t>(), 0);
  // Only records us-east alone held at the outage can be lost, and the reports name them.
  EXPECT_LE(s["lost"].get<int64_t>(), s["only_on_source"].get<int64_t>());
  // Every acknowledged record was consumed once after dedup, except the lost ones.
  const int64_t distinct =
      s["consumed"].get<int64_t>() - s["duplicates_before_dedup"].get<int64_t>();
  EXPECT_EQ(distinct,
            produced - s["lost"].get<int64_t>() + s["consumed_unacknowledged"].get<int64_t>());

  // After the failback both regions hold the same records again (eu-west in sync).
  const std::string primary = s["primary_bootstrap"];
  const std::string secondary = s["secondary_bootstrap"];
  auto a = kmirror::testing::count_records(primary, "orders");
  auto b = kmirror::testing::count_records(secondary, "orders");
  EXPECT_EQ(a, b);
  EXPECT_GE(static_cast<int64_t>(a), produced);

  std::ofstream(hold) << "done\n";
  EXPECT_EQ(demo->wait_exit(120s), 0) << demo->output();
  EXPECT_FALSE(fs::exists(s["data_dir"].get<std::string>()));
  fs::remove_all(dir);
}

}  // namespace
