// Heartbeat record helpers, throttle accounting and the heartbeat configuration keys.
#include "replicate/heartbeat.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "replicate/throttle.h"

namespace {

using namespace std::chrono_literals;
using kmirror::replicate::is_own_heartbeat;

TEST(HeartbeatTest, ValueIsReadableJson) {
  auto j = nlohmann::json::parse(kmirror::replicate::heartbeat_value("a->b", "a", "b", 1234));
  EXPECT_EQ(j["flow"], "a->b");
  EXPECT_EQ(j["source"], "a");
  EXPECT_EQ(j["target"], "b");
  EXPECT_EQ(j["timestamp_ms"], 1234);
  // Quotes in a flow id stay valid JSON.
  auto q = nlohmann::json::parse(kmirror::replicate::heartbeat_value("x\"y", "a", "b", 1));
  EXPECT_EQ(q["flow"], "x\"y");
}

TEST(HeartbeatTest, OnlyTheFlowsOwnHeartbeatsFromItsSourceAreCopied) {
  const kmirror::core::ClusterHash a = kmirror::core::hash_cluster_id("cluster-a");
  const kmirror::core::ClusterHash b = kmirror::core::hash_cluster_id("cluster-b");
  // Written by the flow's heartbeat producer: no provenance header.
  EXPECT_TRUE(is_own_heartbeat("a->b", "a->b", std::nullopt, a));
  // Another flow's heartbeat in the same topic.
  EXPECT_FALSE(is_own_heartbeat("c->b", "a->b", std::nullopt, a));
  EXPECT_FALSE(is_own_heartbeat("", "a->b", std::nullopt, a));
  // The flow's id, but a copy that came from elsewhere (a same-named flow of another setup).
  kmirror::core::Provenance from_b;
  from_b.visited = {b, a};
  EXPECT_FALSE(is_own_heartbeat("a->b", "a->b", from_b, a));
  kmirror::core::Provenance from_a;
  from_a.visited = {a};
  EXPECT_TRUE(is_own_heartbeat("a->b", "a->b", from_a, a));
  EXPECT_TRUE(kmirror::replicate::Heartbeats::is_topic("kmirror.heartbeats"));
  EXPECT_FALSE(kmirror::replicate::Heartbeats::is_topic("heartbeats"));
}

TEST(ThrottleTest, KeepsLastMaxAndTotalsPerRoleAndBroker) {
  kmirror::replicate::ThrottleTracker t;
  EXPECT_TRUE(t.snapshot().empty());
  t.record("target", "b", "127.0.0.1:9092/1", 1, 250);
  t.record("target", "b", "127.0.0.1:9092/1", 1, 100);
  t.record("source", "a", "127.0.0.1:9093/1", 1, 40);
  t.record("target", "b", "127.0.0.1:9094/2", 2, 0);
  t.record("target", "b", "127.0.0.1:9092/1", 1, 0);   // throttling stopped
  t.record("target", "b", "127.0.0.1:9094/2", 2, -5);  // never negative
  auto s = t.snapshot();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].role, "source");
  EXPECT_EQ(s[0].last_ms, 40);
  EXPECT_EQ(s[0].throttled, 1u);
  EXPECT_EQ(s[1].role, "target");
  EXPECT_EQ(s[1].broker_id, 1);
  EXPECT_EQ(s[1].cluster, "b");
  EXPECT_EQ(s[1].broker, "127.0.0.1:9092/1");
  EXPECT_EQ(s[1].last_ms, 0);
  EXPECT_EQ(s[1].max_ms, 250);
  EXPECT_EQ(s[1].total_ms, 350);
  EXPECT_EQ(s[1].throttled, 2u);
  EXPECT_EQ(s[2].broker_id, 2);
  EXPECT_EQ(s[2].last_ms, 0);
  EXPECT_EQ(s[2].throttled, 0u);
  EXPECT_EQ(s[2].total_ms, 0);
}

const std::string kBase =
    "clusters:\n  - {name: a, bootstrap_servers: \"x:1\"}\n  - {name: b, bootstrap_servers: "
    "\"y:1\"}\nflows:\n  - source: a\n    target: b\n";

TEST(HeartbeatTest, ConfigKeys) {
  auto c = kmirror::config::load_string(kBase);
  EXPECT_TRUE(c.flows[0].heartbeats);
  EXPECT_EQ(c.flows[0].heartbeat_interval, 1s);
  c = kmirror::config::load_string(kBase +
                                   "    heartbeats: false\n    heartbeat_interval: 250ms\n");
  EXPECT_FALSE(c.flows[0].heartbeats);
  EXPECT_EQ(c.flows[0].heartbeat_interval, 250ms);
  EXPECT_THROW(kmirror::config::load_string(kBase + "    heartbeat_interval: 0s\n"),
               kmirror::config::ConfigError);
  EXPECT_THROW(kmirror::config::load_string(kBase + "    heartbeats: maybe\n"),
               kmirror::config::ConfigError);
}

}  // namespace
