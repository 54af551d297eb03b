// ACL sync against brokers running Kafka's StandardAuthorizer: literal and prefixed ACLs of
// replicated topics and synced groups reach the target (renamed with prefix naming), ALLOW
// WRITE only when asked, nothing else; a source without an authorizer is reported once.
#include <gtest/gtest.h>

#include <iostream>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness/kafka_cluster.h"
#include "kafka/admin.h"
#include "kafka/client.h"
#include "support/kmirror_process.h"
#include "support/records.h"
#include "support/regions_fixture.h"
#include "sync/acl_sync.h"

namespace kmirror::kafka {
void PrintTo(const AclBinding& acl, std::ostream* os) {
  *os << to_string(acl);
}
}  // namespace kmirror::kafka

using namespace std::chrono_literals;
using kmirror::kafka::AclBinding;
using kmirror::testing::KmirrorProcess;
using kmirror::testing::occurrences;
using AclSet = std::set<AclBinding>;

namespace {

constexpr auto kTopic = RD_KAFKA_RESOURCE_TOPIC;
constexpr auto kGroup = RD_KAFKA_RESOURCE_GROUP;
constexpr auto kLiteral = RD_KAFKA_RESOURCE_PATTERN_LITERAL;
constexpr auto kPrefixed = RD_KAFKA_RESOURCE_PATTERN_PREFIXED;
constexpr auto kAllow = RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW;
constexpr auto kDeny = RD_KAFKA_ACL_PERMISSION_TYPE_DENY;

AclBinding acl(rd_kafka_ResourceType_t type, const std::string& name,
               rd_kafka_ResourcePatternType_t pattern, const std::string& principal,
               rd_kafka_AclOperation_t operation,
               rd_kafka_AclPermissionType_t permission = kAllow) {
  return AclBinding{type, name, pattern, principal, "*", operation, permission};
}

AclBinding renamed(AclBinding a, const std::string& name) {
  a.resource_name = name;
  return a;
}

kmirror::kafka::KafkaPtr client(const std::string& bootstrap) {
  return kmirror::kafka::make_client(kmirror::kafka::ClientKind::kProducer,
                                     {{"bootstrap.servers", bootstrap}, {"log_level", "0"}});
}

// The cluster's ACLs whose resource name contains `marker` (each test uses its own), plus any
// wildcard or cluster ACL (never copied).
AclSet acls_of(const std::string& bootstrap, const std::string& marker) {
  auto rk = client(bootstrap);
  AclSet out;
  for (const auto& a : kmirror::kafka::Admin(rk.get()).describe_acls()) {
    if (a.resource_name.find(marker) != std::string::npos || a.resource_name == "*" ||
        a.resource_type == RD_KAFKA_RESOURCE_BROKER) {
      out.insert(a);
    }
  }
  return out;
}

// Brokers apply ACL changes from the metadata log shortly after CreateAcls returns.
bool shows(const std::string& bootstrap, const std::string& marker, const AclSet& expected,
           std::chrono::milliseconds timeout = 30s) {
  return kmirror::kafka::wait_until([&] { return acls_of(bootstrap, marker) == expected; }, timeout,
                                    200ms);
}

void create(const std::string& bootstrap, const std::vector<AclBinding>& acls) {
  auto rk = client(bootstrap);
  auto failed = kmirror::kafka::Admin(rk.get()).create_acls(acls);
  ASSERT_TRUE(failed.empty()) << failed.front();
}

// A group that exists on the source: offsets committed by a standalone client (retried: the
// offsets topic of a fresh cluster takes a moment to get a leader).
void commit_group(const std::string& bootstrap, const std::string& group,
                  const std::string& topic) {
  auto rk = client(bootstrap);
  kmirror::kafka::Admin admin(rk.get());
  std::string why;
  bool done = kmirror::kafka::wait_until(
      [&] {
        auto failed = admin.alter_group_offsets(group, {{{topic, 0}, 0}});
        why = failed.empty() ? "" : failed.begin()->second;
        return failed.empty();
      },
      60s, 500ms);
  ASSERT_TRUE(done) << "cannot commit offsets of group " << group << ": " << why;
}

// Source ACLs of one test: what is copied and what is not, under the name `p`.
struct Scenario {
  std::string p;       // marker and topic/group name prefix
  std::string topic;   // replicated
  std::string hidden;  // not replicated
  std::string group;   // synced
  std::string team;    // a synced group under the PREFIXED group ACL
  AclSet copied;       // source ACLs copied as they are (identity naming)
  AclSet allow_write;  // source ACLs copied only with copy_allow_write
  AclSet not_copied;   // never copied
  AclSet all() const {
    AclSet out = copied;
    out.insert(allow_write.begin(), allow_write.end());
    out.insert(not_copied.begin(), not_copied.end());
    return out;
  }
};

Scenario make_scenario(const std::string& bootstrap, const std::string& name) {
  Scenario s;
  s.p = kmirror::testing::unique_topic_name(name);
  s.topic = s.p + ".orders";
  s.hidden = s.p + ".hidden";
  s.group = s.p + "-app";
  s.team = s.p + "-team-1";
  kmirror::testing::create_topic(bootstrap, s.topic, 1);
  kmirror::testing::create_topic(bootstrap, s.hidden, 1);
  s.copied = {
      acl(kTopic, s.topic, kLiteral, "User:alice", RD_KAFKA_ACL_OPERATION_READ),
      acl(kTopic, s.topic, kLiteral, "User:alice", RD_KAFKA_ACL_OPERATION_DESCRIBE),
      acl(kTopic, s.p + ".ord", kPrefixed, "User:bob", RD_KAFKA_ACL_OPERATION_READ),
      acl(kTopic, s.topic, kLiteral, "User:eve", RD_KAFKA_ACL_OPERATION_WRITE, kDeny),
      acl(kGroup, s.group, kLiteral, "User:alice", RD_KAFKA_ACL_OPERATION_READ),
      acl(kGroup, s.p + "-team-", kPrefixed, "User:bob", RD_KAFKA_ACL_OPERATION_READ),
  };
  s.allow_write = {
      acl(kTopic, s.topic, kLiteral, "User:carol", RD_KAFKA_ACL_OPERATION_WRITE),
      acl(kTopic, s.p + ".", kPrefixed, "User:dave", RD_KAFKA_ACL_OPERATION_ALL),
  };
  s.not_copied = {
      // Not replicated, no replicated topic under the prefix, not a synced group.
      acl(kTopic, s.hidden, kLiteral, "User:alice", RD_KAFKA_ACL_OPERATION_READ),
      acl(kTopic, s.p + ".hid", kPrefixed, "User:bob", RD_KAFKA_ACL_OPERATION_READ),
      acl(kGroup, s.p + "-excluded", kLiteral, "User:alice", RD_KAFKA_ACL_OPERATION_READ),
      acl(kGroup, s.p + "-nobody-", kPrefixed, "User:bob", RD_KAFKA_ACL_OPERATION_READ),
      // Reach beyond what is replicated.
      acl(kTopic, "*", kLiteral, "User:zed", RD_KAFKA_ACL_OPERATION_READ),
      acl(RD_KAFKA_RESOURCE_BROKER, "kafka-cluster", kLiteral, "User:zed",
          RD_KAFKA_ACL_OPERATION_DESCRIBE),
  };
  auto all = s.all();
  create(bootstrap, {all.begin(), all.end()});
  commit_group(bootstrap, s.team, s.topic);
  EXPECT_TRUE(shows(bootstrap, s.p, all)) << "source ACLs not visible";
  return s;
}

class AclTest : public ::testing::Test {
 protected:
  // Two clusters (a, b) with the StandardAuthorizer: PLAINTEXT clients are User:ANONYMOUS, a
  // super user, so the test and kmirror may do anything; other principals are bound by ACLs.
  static kmirror::harness::Regions& secured() {
    auto& r = storage(0);
    if (!r) {
      kmirror::harness::ClusterOptions options;
      options.broker_properties = {
          {"authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"},
          {"super.users", "User:ANONYMOUS"},
          {"allow.everyone.if.no.acl.found", "true"}};
      r = std::make_unique<kmirror::harness::Regions>(2, options);
    }
    return *r;
  }
  // One cluster without an authorizer.
  static kmirror::harness::KafkaCluster& plain() {
    auto& r = storage(1);
    if (!r) {
      r = std::make_unique<kmirror::harness::Regions>(1, kmirror::harness::ClusterOptions{},
                                                      std::vector<std::string>{"plain"});
    }
    return (*r)[0];
  }
  std::string a() { return secured()[0].bootstrap(); }
  std::string b() { return secured()[1].bootstrap(); }

  void TearDown() override {
    if (!HasFailure()) return;
    for (int i = 0; i < 2; ++i) {
      if (auto& r = storage(i)) {
        r->keep_logs();
        std::cerr << "[acl] test failed: broker logs will be kept in " << r->dir() << std::endl;
      }
    }
  }

 private:
  static std::unique_ptr<kmirror::harness::Regions>& storage(int i) {
    static std::unique_ptr<kmirror::harness::Regions> regions[2];
    return regions[i];
  }
};

kmirror::sync::AclSync::TopicMapper only(const std::string& topic, const std::string& prefix = {}) {
  return [=](const std::string& t) -> std::optional<std::string> {
    if (t != topic) return std::nullopt;
    return prefix + t;
  };
}

TEST_F(AclTest, CopiesTopicAndGroupAclsOfWhatIsReplicated) {
  Scenario s = make_scenario(a(), "direct");
  auto src = client(a());
  auto tgt = client(b());
  kmirror::sync::AclSync sync(src.get(), tgt.get(), {"a", "b"});
  auto synced_groups = kmirror::sync::group_selector({".*"}, {".*-excluded"});

  auto report = sync.run_once(only(s.topic), synced_groups);
  EXPECT_TRUE(report.enabled);
  EXPECT_TRUE(report.failures.empty()) << report.failures.front();
  EXPECT_EQ(report.wanted, static_cast<int>(s.copied.size()));
  EXPECT_EQ(report.created, static_cast<int>(s.copied.size()));
  EXPECT_EQ(report.skipped_allow_write, 2);
  EXPECT_EQ(report.messages.size(), s.copied.size());
  for (const auto& m : report.messages) EXPECT_EQ(m.rfind("copied ACL ", 0), 0u) << m;
  ASSERT_TRUE(shows(b(), s.p, s.copied)) << "target has other ACLs than expected";

  // Nothing left to do; an ACL made on the target is never deleted.
  AclBinding own = acl(kTopic, s.topic, kLiteral, "User:frank", RD_KAFKA_ACL_OPERATION_WRITE);
  create(b(), {own});
  AclSet with_own = s.copied;
  with_own.insert(own);
  ASSERT_TRUE(shows(b(), s.p, with_own));
  report = sync.run_once(only(s.topic), synced_groups);
  EXPECT_EQ(report.wanted, static_cast<int>(s.copied.size()));
  EXPECT_EQ(report.created, 0);
  EXPECT_TRUE(report.messages.empty());
  EXPECT_TRUE(shows(b(), s.p, with_own, 3s));

  // copy_allow_write: the target is meant to take writes too.
  kmirror::sync::AclSync writable(src.get(), tgt.get(), {"a", "b", true});
  report = writable.run_once(only(s.topic), synced_groups);
  EXPECT_EQ(report.created, 2);
  EXPECT_EQ(report.skipped_allow_write, 0);
  with_own.insert(s.allow_write.begin(), s.allow_write.end());
  EXPECT_TRUE(shows(b(), s.p, with_own));
}

TEST_F(AclTest, PrefixNamingRenamesTopicAcls) {
  Scenario s = make_scenario(a(), "prefixed");
  auto src = client(a());
  auto tgt = client(b());
  kmirror::sync::AclSync sync(src.get(), tgt.get(), {"a", "b"});
  auto report =
      sync.run_once(only(s.topic, "a."), kmirror::sync::group_selector({".*"}, {".*-excluded"}));
  EXPECT_TRUE(report.failures.empty()) << report.failures.front();
  AclSet expected;
  for (const auto& c : s.copied) {
    expected.insert(c.resource_type == kTopic ? renamed(c, "a." + c.resource_name) : c);
  }
  EXPECT_EQ(report.created, static_cast<int>(expected.size()));
  EXPECT_TRUE(shows(b(), s.p, expected)) << "e.g. " << s.topic << " -> a." << s.topic;
}

TEST_F(AclTest, SourceWithoutAuthorizerIsReportedOnce) {
  auto src = client(plain().bootstrap());
  auto tgt = client(b());
  kmirror::sync::AclSync sync(src.get(), tgt.get(), {"plain", "b"});
  auto all = [](const std::string&) -> std::optional<std::string> { return "x"; };
  auto any = [](const std::string&) { return true; };
  auto report = sync.run_once(all, any);
  EXPECT_FALSE(report.enabled);
  ASSERT_EQ(report.messages.size(), 1u);
  EXPECT_EQ(report.messages[0].rfind("acl sync disabled: source has no authorizer", 0), 0u)
      << report.messages[0];
  report = sync.run_once(all, any);
  EXPECT_FALSE(report.enabled);
  EXPECT_TRUE(report.messages.empty());

  // The other way round: the target cannot take ACLs; said once too.
  Scenario s = make_scenario(a(), "notarget");
  auto secured_src = client(a());
  auto plain_tgt = client(plain().bootstrap());
  kmirror::sync::AclSync to_plain(secured_src.get(), plain_tgt.get(), {"a", "plain"});
  auto groups = kmirror::sync::group_selector({".*"}, {".*-excluded"});
  report = to_plain.run_once(only(s.topic), groups);
  ASSERT_EQ(report.messages.size(), 1u);
  EXPECT_NE(report.messages[0].find("target 'plain' has no authorizer"), std::string::npos)
      << report.messages[0];
  EXPECT_EQ(report.created, 0);
  EXPECT_TRUE(to_plain.run_once(only(s.topic), groups).messages.empty());
}

TEST_F(AclTest, KmirrorCopiesAclsWhileReplicating) {
  Scenario s = make_scenario(a(), "flow");
  KmirrorProcess km(kmirror::testing::two_cluster_config(
      a(), b(), "acls", s.p + "[.]o.*", "    groups:\n      exclude: [\".*-excluded\"]\n"));
  ASSERT_TRUE(shows(b(), s.p, s.copied, 60s))
      << "target ACLs: " << ::testing::PrintToString(acls_of(b(), s.p)) << "\nkmirror said:\n"
      << km.output();
  // An ACL made later follows within a sync interval (2 s).
  AclBinding later = acl(kTopic, s.topic, kLiteral, "User:grace", RD_KAFKA_ACL_OPERATION_READ);
  create(a(), {later});
  AclSet expected = s.copied;
  expected.insert(later);
  ASSERT_TRUE(shows(b(), s.p, expected, 20s)) << km.output();
  // A few more intervals: still exactly these, each copy logged once.
  std::this_thread::sleep_for(5s);
  EXPECT_EQ(acls_of(b(), s.p), expected);
  for (const auto& c : expected) {
    EXPECT_EQ(occurrences(km.output(), "copied ACL " + kmirror::kafka::to_string(c)), 1u)
        << km.output();
  }
  EXPECT_EQ(km.terminate(), 0) << km.output();
}

TEST_F(AclTest, KmirrorSaysOnceThatTheSourceHasNoAuthorizer) {
  const std::string topic = kmirror::testing::unique_topic_name("plain");
  kmirror::testing::create_topic(plain().bootstrap(), topic, 1);
  KmirrorProcess km(kmirror::testing::two_cluster_config(plain().bootstrap(), b(), "plain", topic));
  const std::string said = "acl sync disabled: source has no authorizer";
  ASSERT_TRUE(
      kmirror::kafka::wait_until([&] { return occurrences(km.output(), said) > 0; }, 60s, 200ms))
      << km.output();
  ASSERT_TRUE(
      kmirror::kafka::wait_until([&] { return kmirror::testing::topic_exists(b(), topic); }, 30s));
  std::this_thread::sleep_for(5s);  // more sync intervals
  EXPECT_EQ(occurrences(km.output(), said), 1u) << km.output();
  EXPECT_EQ(km.terminate(), 0) << km.output();
}

}  // namespace
