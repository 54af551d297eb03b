// ACL sync: the source's ACLs on replicated topics and on synced consumer groups, copied to the
// target so the same principals have the same access after a failover. Never deletes a target
// ACL. ALLOW WRITE (and ALLOW ALL, which includes it) on topics is not copied by default: the
// target of a flow is passive, only kmirror writes there.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kafka/admin.h"

namespace kmirror::sync {

struct AclSyncOptions {
  std::string source_name;
  std::string target_name;
  bool copy_allow_write = false;  // also copy topic ACLs that ALLOW WRITE or ALL
  std::chrono::milliseconds timeout{30000};
};

struct AclSyncReport {
  bool enabled = true;  // false: the source has no authorizer, nothing was done
  int wanted = 0;       // source ACLs that apply to the target (after renaming)
  int created = 0;      // of those, created on the target in this pass
  int skipped_allow_write = 0;
  // New conditions and copies, each reported once (log at info): "acl sync disabled: source has
  // no authorizer", "copied ACL TOPIC:LITERAL:orders User:alice@* READ ALLOW", ...
  std::vector<std::string> messages;
  std::vector<std::string> failures;  // ACLs the target refused (log as warnings)
};

// The groups GroupSync syncs (matching `include`, not `exclude`, never internal groups), as a
// predicate for AclSync::run_once. Patterns must be valid (the configuration checked them).
std::function<bool(const std::string&)> group_selector(std::vector<std::string> include,
                                                       std::vector<std::string> exclude);

class AclSync {
 public:
  using TopicMapper = std::function<std::optional<std::string>(const std::string&)>;
  using GroupPredicate = std::function<bool(const std::string&)>;

  // Handles are any clients of the two clusters; not owned.
  AclSync(rd_kafka_t* source, rd_kafka_t* target, AclSyncOptions options);

  // One pass. `target_topic` maps a source topic to its target name (nullopt: not replicated);
  // `group_synced` says whether a group's offsets are synced. Copied:
  // - TOPIC LITERAL ACLs of replicated topics, under the target name;
  // - TOPIC PREFIXED ACLs whose prefix some replicated topic starts with, with the prefix the
  //   naming policy adds (as is with identity naming, "<source>.<prefix>" with prefix naming);
  // - GROUP LITERAL ACLs of synced groups, GROUP PREFIXED ACLs that some synced source group
  //   falls under.
  // DENY ACLs are copied (they only restrict). Wildcard ("*") ACLs and other resource types are
  // not (they reach beyond what the flow replicates). Only ACLs missing on the target are
  // created. A source without an authorizer disables the pass (report.enabled false), a
  // target without one skips it; each condition is reported once in `messages`. Throws
  // kafka::KafkaError when a cluster cannot be asked.
  AclSyncReport run_once(const TopicMapper& target_topic, const GroupPredicate& group_synced);

 private:
  // The target ACL for a source ACL (nullopt: not copied). `topics` are the replicated source
  // topics, `groups` the synced source groups (both only needed for PREFIXED ACLs).
  std::optional<kafka::AclBinding> translate(const kafka::AclBinding& acl,
                                             const TopicMapper& target_topic,
                                             const GroupPredicate& group_synced,
                                             const std::vector<std::string>& topics,
                                             const std::vector<std::string>& groups) const;
  // Adds `message` to the report when the condition it names is new.
  void condition(AclSyncReport& report, const std::string& message);

  rd_kafka_t* source_rk_;
  AclSyncOptions options_;
  kafka::Admin source_;
  kafka::Admin target_;
  std::string condition_;  // the last reported condition ("" when all is well)
};

}  // namespace kmirror::sync
