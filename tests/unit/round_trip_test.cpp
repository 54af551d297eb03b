// kafka::round_trip against librdkafka's in-process mock cluster, whose brokers can be told to
// answer late: how kmirror tells a source a region away from one next door.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kafka/client.h"

using namespace std::chrono_literals;

namespace {

kmirror::kafka::KafkaPtr mock_client() {
  return kmirror::kafka::make_client(kmirror::kafka::ClientKind::kProducer,
                                     {{"test.mock.num.brokers", "1"}, {"log_level", "3"}});
}

TEST(RoundTripTest, MeasuresTheDelayOfAFarBroker) {
  auto near = mock_client();
  auto far = mock_client();
  rd_kafka_mock_broker_set_rtt(rd_kafka_handle_mock_cluster(far.get()), 1, 60);
  auto near_rtt = kmirror::kafka::round_trip(near.get(), 5s);
  auto far_rtt = kmirror::kafka::round_trip(far.get(), 5s);
  ASSERT_TRUE(near_rtt.has_value());
  ASSERT_TRUE(far_rtt.has_value());
  EXPECT_GE(*far_rtt, 60ms);
  EXPECT_LT(*near_rtt, *far_rtt);
}

TEST(RoundTripTest, NoAnswerGivesNothing) {
  // A port nothing listens on (the discard port is not served here).
  auto rk = kmirror::kafka::make_client(kmirror::kafka::ClientKind::kProducer,
                                        {{"bootstrap.servers", "127.0.0.1:9"}, {"log_level", "0"}});
  EXPECT_FALSE(kmirror::kafka::round_trip(rk.get(), 500ms).has_value());
}

}  // namespace
