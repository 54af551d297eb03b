// FetchWaker against librdkafka's in-process mock cluster.
#include "replicate/fetch_waker.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka_mock.h>

#include <thread>

#include "kafka/client.h"
#include "kafka/handles.h"

using namespace std::chrono_literals;
using kmirror::replicate::FetchWaker;

namespace {

// A consumer of the mock cluster with both partitions of topic "t" assigned.
kmirror::kafka::KafkaPtr assigned_consumer() {
  auto rk = kmirror::kafka::make_client(
      kmirror::kafka::ClientKind::kConsumer,
      {{"test.mock.num.brokers", "2"}, {"group.id", "waker-test"}, {"log_level", "3"}});
  rd_kafka_mock_topic_create(rd_kafka_handle_mock_cluster(rk.get()), "t", 2, 1);
  auto list = kmirror::kafka::new_partition_list(2);
  rd_kafka_topic_partition_list_add(list.get(), "t", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_topic_partition_list_add(list.get(), "t", 1)->offset = RD_KAFKA_OFFSET_BEGINNING;
  EXPECT_EQ(rd_kafka_assign(rk.get(), list.get()), RD_KAFKA_RESP_ERR_NO_ERROR);
  return rk;
}

bool rounds_reach(const FetchWaker& waker, uint64_t n, std::chrono::milliseconds within) {
  auto deadline = std::chrono::steady_clock::now() + within;
  while (waker.rounds() < n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

TEST(FetchWakerTest, DoesNothingUntilAsked) {
  auto rk = assigned_consumer();
  FetchWaker waker(rk.get());
  std::this_thread::sleep_for(3 * FetchWaker::kInterval);
  EXPECT_EQ(waker.rounds(), 0u);
}

TEST(FetchWakerTest, AWakeRunsOneRound) {
  auto rk = assigned_consumer();
  FetchWaker waker(rk.get());
  waker.wake();
  EXPECT_TRUE(rounds_reach(waker, 1, 5s));
  std::this_thread::sleep_for(3 * FetchWaker::kInterval);
  EXPECT_EQ(waker.rounds(), 1u);
}

TEST(FetchWakerTest, ABurstOfWakesIsCoalesced) {
  // The main loop asks on every pass while the window is open: the brokers see a request
  // every kInterval at most, not one per pass.
  auto rk = assigned_consumer();
  FetchWaker waker(rk.get());
  for (int i = 0; i < 1000; ++i) waker.wake();
  EXPECT_TRUE(rounds_reach(waker, 1, 5s));
  std::this_thread::sleep_for(3 * FetchWaker::kInterval);
  EXPECT_LE(waker.rounds(), 2u);
}

TEST(FetchWakerTest, StopsPromptlyWhileWaiting) {
  auto rk = assigned_consumer();
  auto start = std::chrono::steady_clock::now();
  {
    FetchWaker waker(rk.get());
    waker.wake();
    ASSERT_TRUE(rounds_reach(waker, 1, 5s));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

}  // namespace
