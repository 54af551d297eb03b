// Admin calls and bounded commits against librdkafka's in-process mock cluster, which can inject
// broker errors.
#include "kafka/admin.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>

#include "kafka/client.h"

using namespace std::chrono_literals;

namespace {

constexpr int16_t kOffsetFetch = 9;  // Kafka API key

const kmirror::kafka::Properties kMock = {{"test.mock.num.brokers", "1"}, {"log_level", "3"}};

// The coordinator answers the next OffsetFetch requests with `errors`, as while
// __consumer_offsets loads on a new cluster or after a broker restart.
void coordinator_moves(rd_kafka_t* rk, std::vector<rd_kafka_resp_err_t> errors) {
  rd_kafka_mock_push_request_errors_array(rd_kafka_handle_mock_cluster(rk), kOffsetFetch,
                                          errors.size(), errors.data());
}

TEST(AdminTest, ListGroupOffsetsRefusesAClientWithoutAGroup) {
  // librdkafka 2.0.2 dereferences the client's missing consumer group on NOT_COORDINATOR: the
  // call must be refused up front, never reach it.
  auto rk = kmirror::kafka::make_client(kmirror::kafka::ClientKind::kProducer, kMock);
  coordinator_moves(rk.get(), {RD_KAFKA_RESP_ERR_NOT_COORDINATOR});
  kmirror::kafka::Admin admin(rk.get(), 10s);
  try {
    admin.list_group_offsets("app");
    FAIL() << "a producer client was accepted";
  } catch (const kmirror::kafka::KafkaError& e) {
    EXPECT_EQ(e.code(), RD_KAFKA_RESP_ERR__INVALID_ARG);
  }
}

TEST(AdminTest, ListGroupOffsetsWaitsForAMovingCoordinator) {
  auto rk = kmirror::kafka::make_admin_client(kMock, "kmirror.flow");
  kmirror::kafka::Admin admin(rk.get(), 10s);
  // (The mock answers a request for all of a group's offsets with none.)
  const auto settled = admin.list_group_offsets("app");
  coordinator_moves(rk.get(),
                    {RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
                     RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS});
  EXPECT_EQ(admin.list_group_offsets("app"), settled);
}

TEST(AdminTest, ListGroupOffsetsGivesUpOnACoordinatorThatNeverSettles) {
  auto rk = kmirror::kafka::make_admin_client(kMock, "kmirror.flow");
  coordinator_moves(rk.get(),
                    std::vector<rd_kafka_resp_err_t>(100, RD_KAFKA_RESP_ERR_NOT_COORDINATOR));
  kmirror::kafka::Admin admin(rk.get(), 1s);
  try {
    admin.list_group_offsets("app");
    FAIL() << "no error";
  } catch (const kmirror::kafka::KafkaError& e) {
    EXPECT_EQ(e.code(), RD_KAFKA_RESP_ERR_NOT_COORDINATOR);
  }
}

}  // namespace

namespace {

TEST(CommitWithinTest, StoresTheOffsetsAndGivesUpOnAnUnreachableCoordinator) {
  auto rk = kmirror::kafka::make_admin_client(kMock, "kmirror.flow");
  auto* mock = rd_kafka_handle_mock_cluster(rk.get());
  ASSERT_EQ(rd_kafka_mock_topic_create(mock, "t", 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  auto list = kmirror::kafka::new_partition_list(1);
  rd_kafka_topic_partition_list_add(list.get(), "t", 0)->offset = 5;
  ASSERT_EQ(kmirror::kafka::commit_within(rk.get(), list.get(), 10s), RD_KAFKA_RESP_ERR_NO_ERROR);
  auto read = kmirror::kafka::new_partition_list(1);
  rd_kafka_topic_partition_list_add(read.get(), "t", 0);
  ASSERT_EQ(rd_kafka_committed(rk.get(), read.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(read->elems[0].offset, 5);

  // The only broker, and so the coordinator, goes away: librdkafka's synchronous commit would
  // wait for it to come back; this one answers within its timeout.
  rd_kafka_mock_broker_set_down(mock, 1);
  list->elems[0].offset = 7;
  auto start = std::chrono::steady_clock::now();
  EXPECT_NE(kmirror::kafka::commit_within(rk.get(), list.get(), 1s), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  rd_kafka_mock_broker_set_up(mock, 1);
}

}  // namespace
