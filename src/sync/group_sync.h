// Consumer-group offset sync: each source group's committed offsets, translated exactly
// through the flow's offset maps, committed to the same group on the target.
#pragma once

#include <functional>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "core/offset_map.h"
#include "kafka/admin.h"

namespace kmirror::sync {

struct GroupSyncOptions {
  std::string source_name;
  std::string target_name;
  std::vector<std::string> include = {".*"};
  std::vector<std::string> exclude;
};

struct GroupSyncReport {
  int groups_synced = 0;
  int partitions_committed = 0;
  int partitions_unknown = 0;               // committed before what the offset map covers
  std::vector<std::string> skipped_active;  // groups with live members on the target
  std::vector<std::string> failures;
};

// Groups kmirror never syncs: its own, and librdkafka/CLI tool groups.
bool is_internal_group(const std::string& group);

class GroupSync {
 public:
  // `target_topic` maps a source topic to its target name (nullopt: not replicated);
  // `translate` looks up (target topic, partition, source offset) in the offset maps.
  using TopicMapper = std::function<std::optional<std::string>(const std::string&)>;
  using Translator = std::function<core::Translation(const std::string&, int32_t, int64_t)>;

  GroupSync(rd_kafka_t* source, rd_kafka_t* target, GroupSyncOptions options);

  // One pass over every matching group (or only `only_group` when given).
  GroupSyncReport run_once(const TopicMapper& target_topic, const Translator& translate,
                           const std::string& only_group = {});

 private:
  bool accepts(const std::string& group) const;

  kafka::Admin source_;
  kafka::Admin target_;
  GroupSyncOptions options_;
  std::vector<std::regex> include_;
  std::vector<std::regex> exclude_;
};

}  // namespace kmirror::sync
