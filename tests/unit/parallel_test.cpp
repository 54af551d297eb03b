#include "core/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <stdexcept>
#include <thread>

namespace kmirror::core {
namespace {

TEST(ParallelFor, CallsEveryIndexOnce) {
  std::vector<std::atomic<int>> calls(1000);
  parallel_for(calls.size(), 8, [&](size_t i) { ++calls[i]; });
  for (size_t i = 0; i < calls.size(); ++i) EXPECT_EQ(calls[i].load(), 1) << i;
}

TEST(ParallelFor, NeverUsesMoreThreadsThanAsked) {
  std::atomic<int> running{0}, most{0};
  parallel_for(64, 3, [&](size_t) {
    int now = ++running;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // overlap the calls
    --running;
  });
  EXPECT_LE(most.load(), 3);
  EXPECT_GE(most.load(), 2);  // and really side by side
}

TEST(ParallelFor, RethrowsTheFirstFailureAndStopsHandingOutWork) {
  std::atomic<int> calls{0};
  // 1 ms per call: handing out all 1,000 would take 250 ms on 4 threads, far more than the
  // early failure needs to stop it.
  EXPECT_THROW(parallel_for(1000, 4,
                            [&](size_t i) {
                              ++calls;
                              if (i == 5) throw std::runtime_error("stop");
                              std::this_thread::sleep_for(std::chrono::milliseconds(1));
                            }),
               std::runtime_error);
  EXPECT_LT(calls.load(), 100);
}

TEST(ParallelFor, WidthOneRunsInOrderOnTheCaller) {
  std::vector<size_t> order;
  auto caller = std::this_thread::get_id();
  parallel_for(5, 1, [&](size_t i) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    order.push_back(i);
  });
  EXPECT_EQ(order, (std::vector<size_t>{0, 1, 2, 3, 4}));
}

}  // namespace
}  // namespace kmirror::core
