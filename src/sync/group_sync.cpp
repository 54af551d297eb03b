#include "sync/group_sync.h"

#include <spdlog/spdlog.h>

namespace kmirror::sync {

bool is_internal_group(const std::string& group) {
  return group.rfind("kmirror.", 0) == 0 || group.rfind("console-consumer-", 0) == 0 ||
         group.rfind("_confluent", 0) == 0 || group == "rdkafka";
}

GroupSync::GroupSync(rd_kafka_t* source, rd_kafka_t* target, GroupSyncOptions options)
    : source_(source), target_(target), options_(std::move(options)) {
  for (const auto& r : options_.include) include_.emplace_back(r);
  for (const auto& r : options_.exclude) exclude_.emplace_back(r);
}

bool GroupSync::accepts(const std::string& group) const {
  if (is_internal_group(group)) return false;
  bool in = false;
  for (const auto& r : include_) in = in || std::regex_match(group, r);
  for (const auto& r : exclude_) in = in && !std::regex_match(group, r);
  return in;
}

GroupSyncReport GroupSync::run_once(const TopicMapper& target_topic, const Translator& translate,
                                    const std::string& only_group) {
  GroupSyncReport report;
  std::vector<std::string> groups;
  if (!only_group.empty()) {
    groups.push_back(only_group);
  } else {
    for (const auto& g : source_.list_groups()) {
      if (accepts(g.id)) groups.push_back(g.id);
    }
  }
  if (groups.empty()) return report;

  // Kafka refuses commits into a group with live members; those consumers have moved already.
  std::map<std::string, size_t> target_members;
  for (const auto& d : target_.describe_groups(groups)) target_members[d.id] = d.members;

  for (const auto& group : groups) {
    try {
      kafka::GroupOffsets wanted;
      for (const auto& [tp, committed] : source_.list_group_offsets(group)) {
        auto topic = target_topic(tp.first);
        if (!topic) continue;
        auto t = translate(*topic, tp.second, committed);
        if (!t.known()) {
          ++report.partitions_unknown;
          continue;
        }
        wanted[{*topic, tp.second}] = t.target.value;
      }
      if (wanted.empty()) continue;
      if (target_members[group] > 0) {
        report.skipped_active.push_back(group);
        continue;
      }
      // Never move a group backwards past what its own consumers committed on the target.
      auto current = target_.list_group_offsets(group);
      kafka::GroupOffsets commit;
      for (const auto& [tp, off] : wanted) {
        auto cur = current.find(tp);
        if (cur == current.end() || cur->second < off) commit[tp] = off;
      }
      if (commit.empty()) {
        ++report.groups_synced;
        continue;
      }
      auto failed = target_.alter_group_offsets(group, commit);
      for (const auto& [tp, why] : failed) {
        report.failures.push_back("group " + group + " " + tp.first + "[" +
                                  std::to_string(tp.second) + "]: " + why);
      }
      report.partitions_committed += static_cast<int>(commit.size() - failed.size());
      ++report.groups_synced;
    } catch (const std::exception& e) {
      report.failures.push_back("group " + group + ": " + e.what());
    }
  }
  return report;
}

}  // namespace kmirror::sync
