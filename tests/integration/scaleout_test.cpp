// Scale-out against real brokers: several `kmirror run` processes with the same flow share its
// source consumer group (kmirror.<flow id>, cooperative-sticky) and split the partitions. One is
// killed with SIGKILL mid-copy and another joins later; the target must hold every record.
// Only data completeness is checked: every instance still runs topic and group sync itself (no
// control-plane leader yet).
#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <memory>
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
      << " loss(es); last progress line: " << (last_progress.empty() ? "-" : last_progress);
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
  std::string killed_output;
  int64_t target_at_kill = -1, target_at_join = -1;
  auto started = Clock::now();
  for (int batch = 0; batch < kBatches; ++batch) {
    if (batch == 10) {
      target_at_kill = end_offsets_or_zero(b(), topic);
      instances[1]->kill9();
      killed_output = instances[1]->output();
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

  for (size_t i = 0; i < instances.size(); ++i) {
    std::string out = i == 1 ? killed_output : instances[i]->output();
    std::cout << "[scaleout] instance " << i + 1 << (i == 1 ? " (killed)" : "")
              << (i == 3 ? " (joined)" : "") << ": " << summary(out) << std::endl;
  }
  ASSERT_TRUE(settled) << "target did not reach " << kBatches * kBatch << " records; instance 1:\n"
                       << instances[0]->output();
  for (size_t i = 0; i < instances.size(); ++i) {
    if (i == 1) continue;
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
    if (i == 1) continue;
    EXPECT_EQ(instances[i]->terminate(), 0) << instances[i]->output();
  }
}

}  // namespace
