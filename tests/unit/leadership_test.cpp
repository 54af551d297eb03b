// The control-plane leadership decision: the member holding partition 0 of the control topic
// leads, fed with cooperative (incremental) assignment changes.
#include "replicate/leadership.h"

#include <gtest/gtest.h>

#include "core/topic_filter.h"
#include "sync/group_sync.h"

namespace {

using kmirror::replicate::LeadershipState;

TEST(LeadershipTest, HoldingPartitionZeroLeads) {
  LeadershipState s;
  EXPECT_FALSE(s.leader());
  EXPECT_EQ(s.assigned({0}), true);
  EXPECT_TRUE(s.leader());
  // No change: nothing to report.
  EXPECT_EQ(s.assigned({0}), std::nullopt);
  EXPECT_EQ(s.revoked({0}), false);
  EXPECT_FALSE(s.leader());
  EXPECT_EQ(s.revoked({0}), std::nullopt);
}

TEST(LeadershipTest, IncrementalChangesToOtherPartitionsKeepLeadership) {
  // The topic has one partition, but one created with more must not confuse the decision.
  LeadershipState s;
  EXPECT_EQ(s.assigned({1}), std::nullopt);
  EXPECT_FALSE(s.leader());
  EXPECT_EQ(s.assigned({0, 2}), true);
  EXPECT_EQ(s.revoked({1, 2}), std::nullopt);
  EXPECT_TRUE(s.leader());
  EXPECT_EQ(s.cleared(), false);
  EXPECT_EQ(s.cleared(), std::nullopt);
}

TEST(LeadershipTest, ControlGroupAndTopicAreNeverReplicatedOrSynced) {
  EXPECT_EQ(kmirror::replicate::control_group_id("a->b"), "kmirror.a->b.control");
  EXPECT_TRUE(kmirror::sync::is_internal_group(kmirror::replicate::control_group_id("x")));
  kmirror::core::TopicFilter all({".*"}, {});
  EXPECT_FALSE(all.accepts(std::string(kmirror::replicate::kControlTopic)));
}

}  // namespace
