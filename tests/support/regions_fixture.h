// GoogleTest fixture sharing real Kafka clusters ("regions") across the cases of one test
// binary: JVM start-up costs seconds, so clusters start once, on first use, and live until the
// binary exits. Tests sharing them use unique_topic_name() so they never collide.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <memory>
#include <random>
#include <string>

#include "harness/kafka_cluster.h"

namespace kmirror::testing {

// "<prefix>-<n>-<random>": unique within the binary and across reruns against one cluster.
inline std::string unique_topic_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  static const std::string run = [] {
    std::mt19937 rng{std::random_device{}()};
    std::string s;
    for (int i = 0; i < 6; ++i) s += "0123456789abcdef"[rng() % 16];
    return s;
  }();
  return prefix + "-" + std::to_string(++counter) + "-" + run;
}

class RegionsTest : public ::testing::Test {
 protected:
  // Starts `n` single-broker clusters named a, b, ... on first use; later calls return the same
  // ones (restarted with `n` clusters if more are asked for than are running).
  static kmirror::harness::Regions& regions(int n = 2) {
    auto& shared = storage();
    if (!shared || static_cast<int>(shared->size()) < n) {
      shared.reset();
      shared = std::make_unique<kmirror::harness::Regions>(n);
    }
    return *shared;
  }

  // A failing test keeps every broker log of the binary for a post-mortem.
  void TearDown() override {
    if (HasFailure() && storage()) {
      storage()->keep_logs();
      std::cerr << "[regions] test failed: broker logs will be kept in " << storage()->dir()
                << std::endl;
    }
  }

 private:
  // Destroyed at exit, which stops the brokers and removes their data (unless kept).
  static std::unique_ptr<kmirror::harness::Regions>& storage() {
    static std::unique_ptr<kmirror::harness::Regions> regions;
    return regions;
  }
};

}  // namespace kmirror::testing
