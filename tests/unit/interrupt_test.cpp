// Blocking requests abandoned when their thread is told to stop (kafka::InterruptScope).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "kafka/admin.h"
#include "kafka/client.h"

using namespace std::chrono_literals;
using kmirror::kafka::call_interruptibly;
using kmirror::kafka::InterruptScope;

namespace {

TEST(InterruptTest, OutsideAScopeOneAttemptGetsTheWholeTimeout) {
  std::vector<int> slices;
  auto err = call_interruptibly(30s, [&](int ms) {
    slices.push_back(ms);
    return RD_KAFKA_RESP_ERR__TIMED_OUT;
  });
  EXPECT_EQ(err, RD_KAFKA_RESP_ERR__TIMED_OUT);
  EXPECT_EQ(slices, std::vector<int>{30000});
}

TEST(InterruptTest, InsideAScopeTimeoutsAreAskedAgainInGrowingSlicesUntilTheStop) {
  std::atomic<bool> stop{false};
  InterruptScope scope(stop);
  std::vector<int> slices;
  auto err = call_interruptibly(60s, [&](int ms) {
    slices.push_back(ms);
    if (slices.size() == 5) stop = true;
    return RD_KAFKA_RESP_ERR__TIMED_OUT;
  });
  EXPECT_EQ(err, RD_KAFKA_RESP_ERR__INTR);
  EXPECT_EQ(slices, (std::vector<int>{1000, 2000, 4000, 4000, 4000}));
}

TEST(InterruptTest, AnAnswerOtherThanATimeoutEndsTheCall) {
  std::atomic<bool> stop{false};
  InterruptScope scope(stop);
  int attempts = 0;
  auto err = call_interruptibly(60s, [&](int) {
    return ++attempts == 2 ? RD_KAFKA_RESP_ERR__TRANSPORT : RD_KAFKA_RESP_ERR__TIMED_OUT;
  });
  EXPECT_EQ(err, RD_KAFKA_RESP_ERR__TRANSPORT);
  EXPECT_EQ(attempts, 2);
}

TEST(InterruptTest, ATimeoutShorterThanASliceIsOneAttempt) {
  std::atomic<bool> stop{false};
  InterruptScope scope(stop);
  std::vector<int> slices;
  auto err = call_interruptibly(300ms, [&](int ms) {
    slices.push_back(ms);
    return RD_KAFKA_RESP_ERR__TIMED_OUT;
  });
  EXPECT_EQ(err, RD_KAFKA_RESP_ERR__TIMED_OUT);
  ASSERT_EQ(slices.size(), 1u);
  EXPECT_LE(slices[0], 300);
  EXPECT_GT(slices[0], 200);
}

TEST(InterruptTest, ScopesNestAndTheOuterOneCountsAgainAfterTheInner) {
  std::atomic<bool> outer_stop{true}, inner_stop{false};
  EXPECT_FALSE(kmirror::kafka::interrupted());
  InterruptScope outer(outer_stop);
  EXPECT_TRUE(kmirror::kafka::interrupted());
  {
    InterruptScope inner(inner_stop);
    EXPECT_FALSE(kmirror::kafka::interrupted());
  }
  EXPECT_TRUE(kmirror::kafka::interrupted());
  // Another thread has no scope.
  bool elsewhere = true;
  std::thread([&] { elsewhere = kmirror::kafka::interrupted(); }).join();
  EXPECT_FALSE(elsewhere);
}

// A cluster nobody answers for (nothing listens on the port): the requests would wait out
// their 30 s timeouts; a stop ends them within a slice.
TEST(InterruptTest, RequestsToAnUnreachableClusterEndSoonAfterTheStop) {
  auto rk = kmirror::kafka::make_client(kmirror::kafka::ClientKind::kProducer,
                                        {{"bootstrap.servers", "127.0.0.1:9"}, {"log_level", "0"}});
  kmirror::kafka::Admin admin(rk.get(), 30s);
  std::atomic<bool> stop{false};
  InterruptScope scope(stop);
  auto expect_abandoned = [&](const char* what, const std::function<void()>& call) {
    SCOPED_TRACE(what);
    stop = false;
    std::thread stopper([&] {
      std::this_thread::sleep_for(300ms);
      stop = true;
    });
    auto start = std::chrono::steady_clock::now();
    try {
      call();
      ADD_FAILURE() << "answered";
    } catch (const kmirror::kafka::KafkaError& e) {
      // librdkafka may also fail the metadata request on its own at once ("transport
      // failure"); an admin request it keeps until its timeout.
      if (std::string(what) == "admin") {
        EXPECT_EQ(e.code(), RD_KAFKA_RESP_ERR__INTR) << e.what();
      }
    }
    stopper.join();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  };
  expect_abandoned("admin", [&] { admin.create_topics({{"t", 1, 1, {}}}); });
  expect_abandoned("metadata", [&] { kmirror::kafka::fetch_metadata(rk.get(), 30s); });
}

}  // namespace
