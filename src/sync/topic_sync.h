// Topic discovery and creation: finds the source topics a flow replicates and makes sure the
// target has each one, with the same partition count and the source's topic configs, before
// any record is written to it.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/topic_filter.h"
#include "kafka/admin.h"
#include "kafka/client.h"

namespace kmirror::sync {

// A source topic and what the data plane needs to copy it.
struct TopicPlan {
  std::string source_topic;
  std::string target_topic;
  int source_partitions = 0;
  int target_partitions = 0;  // partitions p < target_partitions may be copied
  int64_t target_max_message_bytes = 1048588;
  std::string error;     // set: the topic is not replicated; says why and the fix
  bool created = false;  // this pass created the target topic (empty when created)
  bool ready() const { return error.empty() && target_partitions > 0; }
};

// Source topic configs never copied (as MirrorMaker 2 does, plus timestamp type: kmirror
// keeps source timestamps as CreateTime, which a LogAppendTime target would overwrite).
bool is_excluded_topic_config(const std::string& name);

struct TopicSyncOptions {
  std::string source_name;
  std::string target_name;
  core::NamingPolicy naming = core::NamingPolicy::kIdentity;
  int replication_factor = -1;
  std::chrono::milliseconds timeout{30000};
  std::vector<std::string> pinned_configs;  // never changed on the target
};

class TopicSync {
 public:
  TopicSync(rd_kafka_t* source, rd_kafka_t* target, core::TopicFilter filter,
            TopicSyncOptions options);

  // One pass: lists source topics, creates missing target topics, extends partition counts,
  // and returns a plan per replicated source topic (sorted by source name). With `apply` false
  // (an instance that is not the control-plane leader) nothing on the target changes: a topic
  // the target lacks is planned with no partitions, so its records wait for the leader.
  std::vector<TopicPlan> run_once(bool apply = true);

 private:
  std::map<std::string, std::string> copied_configs(const kafka::TopicConfig& source) const;
  // The target topic's new dynamic configuration when it must change to follow the source.
  std::optional<std::map<std::string, std::string>> follow_source(
      const std::string& source_topic, const std::map<std::string, std::string>& source,
      const kafka::TopicConfig& target);

  std::map<std::string, std::map<std::string, std::string>> last_source_;  // per source topic
  std::map<std::string, bool> seen_;

  rd_kafka_t* source_;
  rd_kafka_t* target_;
  core::TopicFilter filter_;
  TopicSyncOptions options_;
  kafka::Admin source_admin_;
  kafka::Admin target_admin_;
};

}  // namespace kmirror::sync
