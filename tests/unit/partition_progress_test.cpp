#include "core/partition_progress.h"

#include <gtest/gtest.h>

using kmirror::core::PartitionProgress;

TEST(PartitionProgress, UnknownUntilFirstRecordWhenNoResumePoint) {
  PartitionProgress p;
  EXPECT_FALSE(p.committable().has_value());
  p.sent(10);
  EXPECT_FALSE(p.committable().has_value());
  p.acked(10);
  EXPECT_EQ(p.committable(), 11);
}

TEST(PartitionProgress, ResumePointIsCommittableAtOnce) {
  PartitionProgress p(42);
  EXPECT_EQ(p.committable(), 42);
}

TEST(PartitionProgress, OutOfOrderAcksHoldThePositionAtTheOldestOutstanding) {
  PartitionProgress p(0);
  for (int64_t o = 0; o < 5; ++o) p.sent(o);
  p.acked(2);
  p.acked(1);
  EXPECT_EQ(p.committable(), 0);  // 0 still outstanding
  EXPECT_EQ(p.oldest_outstanding(), 0);
  p.acked(0);
  EXPECT_EQ(p.committable(), 3);
  p.acked(4);
  EXPECT_EQ(p.committable(), 3);
  p.acked(3);
  EXPECT_EQ(p.committable(), 5);
  EXPECT_EQ(p.outstanding(), 0u);
}

TEST(PartitionProgress, SkippedRecordsAdvanceInOrder) {
  PartitionProgress p(0);
  p.skipped(0);
  EXPECT_EQ(p.committable(), 1);
  p.sent(1);
  p.skipped(2);  // behind an outstanding record: must not jump over it
  EXPECT_EQ(p.committable(), 1);
  p.acked(1);
  EXPECT_EQ(p.committable(), 3);
}

TEST(PartitionProgress, GapsFromCompactionOrMarkersResumeAfterLastRecord) {
  PartitionProgress p(0);
  p.sent(3);
  p.sent(7);
  p.acked(3);
  p.acked(7);
  EXPECT_EQ(p.committable(), 8);
}

TEST(PartitionProgress, FailedRecordNeverLetsThePositionPassIt) {
  PartitionProgress p(100);
  p.sent(100);
  p.sent(101);
  p.acked(101);  // 100 failed and is never acknowledged
  EXPECT_EQ(p.committable(), 100);
  EXPECT_EQ(p.oldest_outstanding(), 100);
}

TEST(PartitionProgress, UnknownAckIsIgnored) {
  PartitionProgress p(0);
  p.sent(0);
  p.acked(5);
  EXPECT_EQ(p.committable(), 0);
  EXPECT_EQ(p.outstanding(), 1u);
}
