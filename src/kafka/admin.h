// Admin API calls (librdkafka C API), synchronous with a timeout, errors as KafkaError.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kafka/client.h"
#include "kafka/handles.h"

namespace kmirror::kafka {

struct NewTopic {
  std::string name;
  int partitions = 1;
  int replication_factor = -1;  // -1: the broker's default
  std::map<std::string, std::string> configs;
};

// Result of one topic in a batch call: empty error means success.
struct TopicResult {
  std::string topic;
  rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::string error;
};

struct ConfigEntry {
  std::string value;
  bool is_default = false;
  bool read_only = false;
  bool sensitive = false;
  rd_kafka_ConfigSource_t source = RD_KAFKA_CONFIG_SOURCE_UNKNOWN_CONFIG;
};
using TopicConfig = std::map<std::string, ConfigEntry>;

struct GroupListing {
  std::string id;
  rd_kafka_consumer_group_state_t state = RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN;
  bool simple = false;  // no members ever joined: offsets committed by a standalone client
};

struct GroupDescription {
  std::string id;
  rd_kafka_consumer_group_state_t state = RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN;
  size_t members = 0;
  std::string error;
};

// Committed offsets of one group: (topic, partition) -> offset.
using GroupOffsets = std::map<std::pair<std::string, int32_t>, int64_t>;

// One ACL: who (principal, host) may or may not (permission) do what (operation) on which
// resources (type, name, and whether the name is LITERAL or a PREFIXED pattern).
struct AclBinding {
  rd_kafka_ResourceType_t resource_type = RD_KAFKA_RESOURCE_TOPIC;
  std::string resource_name;
  rd_kafka_ResourcePatternType_t pattern_type = RD_KAFKA_RESOURCE_PATTERN_LITERAL;
  std::string principal;  // "User:alice"
  std::string host = "*";
  rd_kafka_AclOperation_t operation = RD_KAFKA_ACL_OPERATION_READ;
  rd_kafka_AclPermissionType_t permission = RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW;
  bool operator==(const AclBinding&) const = default;
  auto operator<=>(const AclBinding&) const = default;
};

// "TOPIC:LITERAL:orders User:alice@* READ ALLOW", for logs and errors.
std::string to_string(const AclBinding& acl);

// Which ACLs DescribeAcls returns; the defaults (ANY, unset) match every ACL.
struct AclFilter {
  rd_kafka_ResourceType_t resource_type = RD_KAFKA_RESOURCE_ANY;
  std::optional<std::string> resource_name;
  rd_kafka_ResourcePatternType_t pattern_type = RD_KAFKA_RESOURCE_PATTERN_ANY;
  std::optional<std::string> principal;
  std::optional<std::string> host;
  rd_kafka_AclOperation_t operation = RD_KAFKA_ACL_OPERATION_ANY;
  rd_kafka_AclPermissionType_t permission = RD_KAFKA_ACL_PERMISSION_TYPE_ANY;
};

// A client for metadata and admin calls that may list group offsets: a consumer carrying
// `group` that never subscribes (so it joins and commits nothing). librdkafka 2.0.2 answers a
// NOT_COORDINATOR or COORDINATOR_NOT_AVAILABLE reply to ListConsumerGroupOffsets by re-querying
// the coordinator of the handle's own consumer group; a producer, or a consumer without group.id,
// has none and the process dies on a NULL dereference (librdkafka issue #5040), as happens while
// a cluster's __consumer_offsets is still loading or moving. Pick a `group` the principal may
// Describe (kmirror's own kmirror.<flow id>, or the group being listed).
KafkaPtr make_admin_client(Properties props, const std::string& group);

class Admin {
 public:
  // `rk` is any client handle (producer or consumer); not owned.
  explicit Admin(rd_kafka_t* rk, std::chrono::milliseconds timeout = std::chrono::seconds(30));

  std::vector<TopicResult> create_topics(const std::vector<NewTopic>& topics);
  std::vector<TopicResult> delete_topics(const std::vector<std::string>& topics);
  std::vector<TopicResult> create_partitions(const std::map<std::string, int>& new_totals);

  // Current configuration of each topic (all entries, defaults flagged).
  std::map<std::string, TopicConfig> describe_topic_configs(const std::vector<std::string>& topics);
  // Replaces the topic's dynamic configuration with `configs` (AlterConfigs semantics).
  std::vector<TopicResult> alter_topic_configs(
      const std::map<std::string, std::map<std::string, std::string>>& configs);

  std::vector<GroupListing> list_groups();
  std::vector<GroupDescription> describe_groups(const std::vector<std::string>& ids);
  // Every committed offset of the group (librdkafka 2.0 takes one group per request). Needs a
  // handle from make_admin_client (throws KafkaError __INVALID_ARG otherwise, instead of risking
  // the crash); a coordinator still loading or moving is waited for within the timeout.
  GroupOffsets list_group_offsets(const std::string& group);
  // Commits `offsets` for the group; returns the partitions that failed, with reasons.
  std::map<std::pair<std::string, int32_t>, std::string> alter_group_offsets(
      const std::string& group, const GroupOffsets& offsets);

  // ACLs matching `filter` (all by default), sorted. librdkafka 2.0.2 drops the response's
  // error code: a cluster without an authorizer, or a principal that may not describe ACLs,
  // gives an empty list too (see describe_broker_config).
  std::vector<AclBinding> describe_acls(const AclFilter& filter = {});
  // Creates the ACLs (creating an existing one is a no-op); returns one message per ACL that
  // failed, naming it and the reason (empty: all created).
  std::vector<std::string> create_acls(const std::vector<AclBinding>& acls);
  // Configuration of one broker (-1: any broker of the cluster), e.g. "authorizer.class.name",
  // empty when the cluster has no authorizer.
  TopicConfig describe_broker_config(int32_t broker_id = -1);

 private:
  EventPtr run(rd_kafka_event_type_t expected,
               const std::function<void(rd_kafka_queue_t*, rd_kafka_AdminOptions_t*)>& call);

  GroupOffsets list_group_offsets_once(const std::string& group);

  rd_kafka_t* rk_;
  std::chrono::milliseconds timeout_;
};

}  // namespace kmirror::kafka
