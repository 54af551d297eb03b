#include "core/histogram.h"

#include <gtest/gtest.h>

using kmirror::core::LatencyHistogram;

TEST(LatencyHistogram, CountsIntoTheFirstBucketWhoseBoundIsNotBelow) {
  LatencyHistogram h;
  h.observe(0);
  h.observe(1);
  h.observe(3);
  h.observe(100000);
  EXPECT_EQ(h.bucket(0), 2u);                                 // <= 1 ms
  EXPECT_EQ(h.bucket(2), 1u);                                 // <= 5 ms
  EXPECT_EQ(h.bucket(LatencyHistogram::kBounds.size()), 1u);  // +Inf
  EXPECT_EQ(h.count(), 4u);
  EXPECT_EQ(h.sum(), 100004);
  EXPECT_EQ(h.max(), 100000);
}

TEST(LatencyHistogram, QuantilesAreBucketUpperBounds) {
  LatencyHistogram h;
  for (int i = 0; i < 99; ++i) h.observe(4);
  h.observe(700);
  EXPECT_EQ(h.quantile(0.5), 5);
  EXPECT_EQ(h.quantile(0.999), 1000);
  LatencyHistogram empty;
  EXPECT_EQ(empty.quantile(0.99), 0);
}

TEST(LatencyHistogram, MergeAddsEverything) {
  LatencyHistogram a, b;
  a.observe(10);
  b.observe(20);
  b.observe(70000);
  a.merge(b);
  EXPECT_EQ(a.count(), 3u);
  EXPECT_EQ(a.max(), 70000);
  EXPECT_EQ(a.bucket(3), 1u);
  EXPECT_EQ(a.bucket(4), 1u);
}
