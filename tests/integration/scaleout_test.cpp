// Scale-out against real brokers: several `kmirror run` processes with the same flow share its
// source consumer group (kmirror.<flow id>, cooperative-sticky) and split the partitions, and
// exactly one of them, elected through the group kmirror.<flow id>.control, does the control
// plane. The leader is killed with SIGKILL mid-copy and another instance joins later; the target
// must hold every record, a running instance must take leadership over (within the control
// group's session timeout), and leadership must have moved exactly once: adding an instance
// does not move it (the joining one may only take it while it is vacant).
#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "core/provenance.h"
#include "kafka/client.h"
#include "support/kmirror_process.h"
#include "support/records.h"
#include "support/regions_fixture.h"
#include "support/replication_checks.h"

using namespace std::chrono_literals;
using kmirror::testing::KmirrorProcess;
using kmirror::testing::TestRecord;
using Clock = std::chrono::steady_clock;

using kmirror::testing::end_offsets_or_zero;
using kmirror::testing::expect_complete;
using kmirror::testing::wait_for_settled;

namespace {

constexpr std::string_view kBecameLeader = "control-plane leader (this instance)";
constexpr std::string_view kStoppedLeading = "no longer control-plane leader";

int count_lines(const std::string& output, std::string_view needle) {
  std::istringstream in(output);
  int n = 0;
  for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
  return n;
}

// Whether the instance's log says it leads now.
bool leads(const std::string& output) {
  return count_lines(output, kBecameLeader) > count_lines(output, kStoppedLeading);
}

// How often each needle occurs in kmirror's output, and its last "N replicated" log line.
std::string summary(const std::string& output) {
  std::istringstream in(output);
  int assigned = 0, revoked = 0, lost = 0;
  std::string last_progress;
  for (std::string line; std::getline(in, line);) {
    if (line.find(": assigned ") != std::string::npos) ++assigned;
    if (line.find(" revoked") != std::string::npos) ++revoked;
    if (line.find(" lost") != std::string::npos) ++lost;
    if (line.find(" replicated (+") != std::string::npos) last_progress = line;
  }
  std::ostringstream out;
  out << assigned << " partition assignment(s), " << revoked << " revocation(s), " << lost
      << " loss(es), " << count_lines(output, kBecameLeader) << " leadership start(s), "
      << count_lines(output, kStoppedLeading) << " leadership end(s); last progress line: "
      << (last_progress.empty() ? "-" : last_progress);
  return out.str();
}

class ScaleOutTest : public kmirror::testing::RegionsTest {
 protected:
  std::string a() { return regions(2)[0].bootstrap(); }
  std::string b() { return regions(2)[1].bootstrap(); }
};

TEST_F(ScaleOutTest, InstancesSharingAFlowCopyEveryRecordThroughAKillAndAJoin) {
  constexpr int kPartitions = 12;
  constexpr int kBatches = 30;
  constexpr int kBatch = 10000;  // 300,000 records over ~30 s
  const std::string topic = kmirror::testing::unique_topic_name("scaleout");
  kmirror::testing::create_topic(a(), topic, kPartitions);
  const std::string cfg = kmirror::testing::two_cluster_config(a(), b(), "scaleout", topic);

  std::vector<std::unique_ptr<KmirrorProcess>> instances;
  for (int i = 0; i < 3; ++i) instances.push_back(std::make_unique<KmirrorProcess>(cfg));
  // The instances currently leading (by their logs), the killed one excluded.
  size_t killed = instances.size();
  auto leaders = [&] {
    std::vector<size_t> out;
    for (size_t i = 0; i < instances.size(); ++i) {
      if (i != killed && leads(instances[i]->output())) out.push_back(i);
    }
    return out;
  };
  std::string killed_output;
  int64_t target_at_kill = -1, target_at_join = -1;
  Clock::time_point killed_at;
  std::optional<double> takeover_s;
  auto started = Clock::now();
  for (int batch = 0; batch < kBatches; ++batch) {
    if (batch == 10) {
      // Kill whichever instance leads now: leadership must move.
      std::vector<size_t> now;
      ASSERT_TRUE(kmirror::kafka::wait_until([&] { return (now = leaders()).size() == 1; }, 30s))
          << now.size() << " instance(s) lead 10 s after the start; instance 1:\n"
          << instances[0]->output();
      target_at_kill = end_offsets_or_zero(b(), topic);
      killed = now.front();
      instances[killed]->kill9();
      killed_at = Clock::now();
      killed_output = instances[killed]->output();
    }
    if (batch > 10 && !takeover_s && !leaders().empty()) {
      takeover_s = std::chrono::duration<double>(Clock::now() - killed_at).count();
    }
    if (batch == 20) {
      target_at_join = end_offsets_or_zero(b(), topic);
      instances.push_back(std::make_unique<KmirrorProcess>(cfg));
    }
    auto recs =
        kmirror::testing::make_records(900 + static_cast<uint32_t>(batch), kBatch, kPartitions);
    kmirror::testing::produce(a(), topic, recs);
    std::this_thread::sleep_until(started + (batch + 1) * 1s);
  }
  auto produced_in =
      std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started).count();
  bool settled = wait_for_settled(b(), topic, kBatches * kBatch, 240s);
  auto settled_in =
      std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started).count();

  // A survivor leads: normally long before the records settle (session timeout, 10 s).
  std::vector<size_t> final_leaders;
  bool one_leader =
      kmirror::kafka::wait_until([&] { return (final_leaders = leaders()).size() == 1; }, 30s);
  if (!takeover_s && one_leader)
    takeover_s = std::chrono::duration<double>(Clock::now() - killed_at).count();

  int leadership_starts = 0;
  for (size_t i = 0; i < instances.size(); ++i) {
    std::string out = i == killed ? killed_output : instances[i]->output();
    leadership_starts += count_lines(out, kBecameLeader);
    std::cout << "[scaleout] instance " << i + 1 << (i == killed ? " (leader, killed)" : "")
              << (i == 3 ? " (joined)" : "") << ": " << summary(out) << std::endl;
  }
  ASSERT_TRUE(settled) << "target did not reach " << kBatches * kBatch << " records; instance 1:\n"
                       << instances[0]->output();
  EXPECT_TRUE(one_leader) << final_leaders.size() << " instance(s) lead at the end";
  // Elected once at the start, once after the kill: joining took nothing from a leader.
  EXPECT_EQ(leadership_starts, 2) << "leadership must move exactly once";
  ASSERT_TRUE(takeover_s.has_value());
  std::cout << "[scaleout] leadership: " << leadership_starts << " start(s) in total; instance "
            << final_leaders.front() + 1 << " took over " << *takeover_s
            << " s after the leader was killed" << std::endl;
  EXPECT_LT(*takeover_s, 25.0) << "takeover is bounded by the control session timeout (10 s)";
  for (size_t i = 0; i < instances.size(); ++i) {
    if (i == killed) continue;
    EXPECT_TRUE(instances[i]->running()) << "instance " << i + 1 << " exited:\n"
                                         << instances[i]->output();
  }
  auto source = kmirror::testing::read_all(a(), topic);
  auto target = kmirror::testing::read_all(b(), topic);
  size_t source_total = 0;
  for (const auto& [p, recs] : source) source_total += recs.size();
  EXPECT_EQ(source_total, static_cast<size_t>(kBatches * kBatch));
  size_t duplicates = expect_complete(source, target);
  std::cout << "[scaleout] " << source_total << " records produced in " << produced_in
            << " s; target held " << target_at_kill << " at the kill and " << target_at_join
            << " when the fourth instance joined; complete after " << settled_in
            << " s; duplicates: " << duplicates << std::endl;
  for (size_t i = 0; i < instances.size(); ++i) {
    if (i == killed) continue;
    EXPECT_EQ(instances[i]->terminate(), 0) << instances[i]->output();
  }
}

}  // namespace
