#include "core/topic_filter.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace kmirror::core {
namespace {

TEST(TopicFilter, IncludeIsAFullMatch) {
  TopicFilter f({"orders"}, {});
  EXPECT_TRUE(f.accepts("orders"));
  EXPECT_FALSE(f.accepts("orders-v2"));
  EXPECT_FALSE(f.accepts("old-orders"));
}

TEST(TopicFilter, AnyIncludeMatches) {
  TopicFilter f({"orders\\..*", "payments"}, {});
  EXPECT_TRUE(f.accepts("orders.eu"));
  EXPECT_TRUE(f.accepts("payments"));
  EXPECT_FALSE(f.accepts("ordersXeu"));
  EXPECT_FALSE(f.accepts("users"));
}

TEST(TopicFilter, ExcludeWins) {
  TopicFilter f({".*"}, {".*-tmp", "debug"});
  EXPECT_TRUE(f.accepts("orders"));
  EXPECT_FALSE(f.accepts("orders-tmp"));
  EXPECT_FALSE(f.accepts("debug"));
  EXPECT_TRUE(f.accepts("debugger"));  // exclude is a full match too
}

TEST(TopicFilter, EmptyIncludeAcceptsNothing) {
  TopicFilter f({}, {});
  EXPECT_FALSE(f.accepts("orders"));
}

TEST(TopicFilter, InternalTopicsNeverAccepted) {
  TopicFilter f({".*"}, {});
  for (const char* topic :
       {"__consumer_offsets", "__transaction_state", "kmirror.positions", "connect-offsets",
        "heartbeats", "mm2-offset-syncs.b.internal", "a.checkpoints.internal"}) {
    EXPECT_FALSE(f.accepts(topic)) << topic;
  }
  // Even when named explicitly.
  TopicFilter g({"__consumer_offsets"}, {});
  EXPECT_FALSE(g.accepts("__consumer_offsets"));
}

TEST(TopicFilter, EcmaScriptSyntax) {
  TopicFilter f({"(?:eu|us)-\\d+"}, {});
  EXPECT_TRUE(f.accepts("eu-12"));
  EXPECT_FALSE(f.accepts("ap-12"));
}

TEST(TopicFilter, BadPatternNamesPatternAndReason) {
  for (auto [include, exclude, bad] :
       {std::tuple<std::vector<std::string>, std::vector<std::string>, std::string>{
            {"ok", "orders("}, {}, "orders("},
        {{".*"}, {"[a-"}, "[a-"}}) {
    try {
      TopicFilter f(include, exclude);
      FAIL() << "no exception for " << bad;
    } catch (const std::invalid_argument& e) {
      std::string what = e.what();
      EXPECT_NE(what.find("'" + bad + "'"), std::string::npos) << what;
      EXPECT_GT(what.size(), bad.size() + 30) << "no reason in: " << what;
    }
  }
}

TEST(TopicFilter, CopiesAreIndependent) {
  TopicFilter f({"a.*"}, {});
  TopicFilter g = f;
  EXPECT_TRUE(g.accepts("abc"));
}

TEST(InternalTopic, Classification) {
  for (const char* topic :
       {"__consumer_offsets", "__transaction_state", "__cluster_metadata", "__x", "kmirror.offsets",
        "kmirror.", "foo.internal", "a.checkpoints.internal", "mm2-offset-syncs.b.internal",
        "mm2-offset-syncs.b", "connect-offsets", "connect-configs", "connect-status",
        "heartbeats"}) {
    EXPECT_TRUE(is_internal_topic(topic)) << topic;
  }
  for (const char* topic :
       {"orders", "_schemas", "_private", "kmirror", "kmirror-data", "internal", "my.internals",
        "connect-offsets-2", "my-heartbeats", "heartbeats.v2", "mm2-offset-syncs", "x__y", ""}) {
    EXPECT_FALSE(is_internal_topic(topic)) << topic;
  }
}

TEST(TargetTopicName, Identity) {
  EXPECT_EQ(target_topic_name(NamingPolicy::kIdentity, "eu", "orders"), "orders");
}

TEST(TargetTopicName, Prefix) {
  EXPECT_EQ(target_topic_name(NamingPolicy::kPrefix, "eu", "orders"), "eu.orders");
  EXPECT_EQ(target_topic_name(NamingPolicy::kPrefix, "us-east", "eu.orders"), "us-east.eu.orders");
}

}  // namespace
}  // namespace kmirror::core
