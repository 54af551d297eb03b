#include "sync/topic_sync.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>

namespace kmirror::sync {

bool is_excluded_topic_config(const std::string& name) {
  static const std::array<std::string, 9> kExcluded = {
      "follower.replication.throttled.replicas",
      "leader.replication.throttled.replicas",
      "min.insync.replicas",
      "unclean.leader.election.enable",
      "message.timestamp.type",
      "message.timestamp.difference.max.ms",
      "message.timestamp.before.max.ms",
      "message.timestamp.after.max.ms",
      "message.downconversion.enable",
  };
  for (const auto& e : kExcluded) {
    if (name == e) return true;
  }
  return name.rfind("confluent.", 0) == 0;
}

TopicSync::TopicSync(rd_kafka_t* source, rd_kafka_t* target, core::TopicFilter filter,
                     TopicSyncOptions options)
    : source_(source),
      target_(target),
      filter_(std::move(filter)),
      options_(std::move(options)),
      source_admin_(source, options_.timeout),
      target_admin_(target, options_.timeout) {}

std::map<std::string, std::string> TopicSync::copied_configs(
    const kafka::TopicConfig& source) const {
  std::map<std::string, std::string> out;
  for (const auto& [name, entry] : source) {
    // Only what was set on the topic itself: broker defaults belong to each cluster.
    if (entry.source != RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG) continue;
    if (entry.read_only || entry.sensitive || is_excluded_topic_config(name)) continue;
    out[name] = entry.value;
  }
  return out;
}

std::optional<std::map<std::string, std::string>> TopicSync::follow_source(
    const std::string& source_topic, const std::map<std::string, std::string>& source,
    const kafka::TopicConfig& target) {
  // The target's own dynamic settings: AlterConfigs replaces the whole set, so keep them all.
  std::map<std::string, std::string> desired;
  for (const auto& [name, entry] : target) {
    if (entry.source == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG && !entry.sensitive)
      desired[name] = entry.value;
  }
  auto& previous = last_source_[source_topic];
  bool first_look = previous.empty() && !seen_[source_topic];
  seen_[source_topic] = true;
  bool changed = false;
  auto pinned = [&](const std::string& name) {
    return std::find(options_.pinned_configs.begin(), options_.pinned_configs.end(), name) !=
           options_.pinned_configs.end();
  };
  for (const auto& [name, value] : source) {
    if (pinned(name)) continue;
    auto cur = desired.find(name);
    if (cur == desired.end()) {
      // Not set on the target: follow the source (except on a first look at a topic kmirror
      // found already made, whose owner may rely on the broker default).
      if (!first_look) {
        desired[name] = value;
        changed = true;
      }
    } else if (cur->second != value) {
      // Set on the target: follow only if it still holds what the source had before; a value
      // changed on the target is the target owner's choice (pinned).
      auto prev = previous.find(name);
      if (prev != previous.end() && prev->second == cur->second) {
        cur->second = value;
        changed = true;
      }
    }
  }
  // Settings removed on the source are removed on the target if it still followed them.
  for (const auto& [name, value] : previous) {
    if (source.count(name) || pinned(name)) continue;
    auto cur = desired.find(name);
    if (cur != desired.end() && cur->second == value) {
      desired.erase(cur);
      changed = true;
    }
  }
  previous = source;
  if (!changed) return std::nullopt;
  return desired;
}

std::vector<TopicPlan> TopicSync::run_once(bool apply) {
  auto source_md = kafka::fetch_metadata(source_, options_.timeout);
  auto target_md = kafka::fetch_metadata(target_, options_.timeout);
  std::map<std::string, int> target_partitions;
  for (const auto& t : target_md.topics)
    target_partitions[t.name] = static_cast<int>(t.partitions.size());

  std::vector<TopicPlan> plans;
  std::vector<std::string> to_create;
  for (const auto& t : source_md.topics) {
    if (!filter_.accepts(t.name) || t.partitions.empty()) continue;
    TopicPlan plan;
    plan.source_topic = t.name;
    plan.target_topic = core::target_topic_name(options_.naming, options_.source_name, t.name);
    plan.source_partitions = static_cast<int>(t.partitions.size());
    if (auto it = target_partitions.find(plan.target_topic); it != target_partitions.end()) {
      plan.target_partitions = it->second;
    } else {
      to_create.push_back(t.name);
    }
    plans.push_back(std::move(plan));
  }

  // Create missing target topics with the source's partition count and topic configs.
  std::map<std::string, kafka::TopicConfig> configs;  // source configs read this pass
  if (!to_create.empty() && apply) {
    configs = source_admin_.describe_topic_configs(to_create);
    std::vector<kafka::NewTopic> requests;
    for (auto& plan : plans) {
      if (plan.target_partitions != 0) continue;
      requests.push_back(kafka::NewTopic{plan.target_topic, plan.source_partitions,
                                         options_.replication_factor,
                                         copied_configs(configs[plan.source_topic])});
    }
    auto results = target_admin_.create_topics(requests);
    std::map<std::string, kafka::TopicResult> by_name;
    for (auto& r : results) by_name[r.topic] = r;
    for (auto& plan : plans) {
      auto it = by_name.find(plan.target_topic);
      if (it == by_name.end()) continue;
      const auto& r = it->second;
      if (r.code == RD_KAFKA_RESP_ERR_NO_ERROR ||
          r.code == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        if (r.code == RD_KAFKA_RESP_ERR_NO_ERROR) {
          spdlog::info("created topic '{}' on cluster '{}' with {} partitions", plan.target_topic,
                       options_.target_name, plan.source_partitions);
          plan.created = true;
        }
        // Re-read below: a topic made concurrently may differ.
        plan.target_partitions = -1;
      } else {
        plan.error = "cannot create topic '" + plan.target_topic + "' on cluster '" +
                     options_.target_name + "': " + rd_kafka_err2str(r.code) +
                     (r.error.empty() ? "" : " (" + r.error + ")") +
                     "; grant kmirror CREATE on it, or create it yourself with " +
                     std::to_string(plan.source_partitions) + " partitions";
      }
    }
  }

  // Newly created topics: learn their real partition count.
  bool need_refresh = false;
  for (const auto& plan : plans) need_refresh = need_refresh || plan.target_partitions == -1;
  if (need_refresh) {
    // Metadata can lag creation by a moment: wait briefly so new topics start this pass.
    kafka::wait_until(
        [&] {
          target_md = kafka::fetch_metadata(target_, options_.timeout);
          target_partitions.clear();
          for (const auto& t : target_md.topics) {
            target_partitions[t.name] = static_cast<int>(t.partitions.size());
          }
          for (const auto& plan : plans) {
            if (plan.target_partitions == -1 && !target_partitions.count(plan.target_topic))
              return false;
          }
          return true;
        },
        std::chrono::seconds(5), std::chrono::milliseconds(25));
    for (auto& plan : plans) {
      if (plan.target_partitions != -1) continue;
      auto it = target_partitions.find(plan.target_topic);
      plan.target_partitions = it == target_partitions.end() ? 0 : it->second;
    }
  }

  // Partition counts: extend the target; a target with more partitions cannot mirror 1:1.
  std::map<std::string, int> to_extend;
  for (auto& plan : plans) {
    if (!plan.error.empty() || plan.target_partitions == 0) continue;
    if (plan.target_partitions > plan.source_partitions) {
      plan.error = "topic '" + plan.target_topic + "' on cluster '" + options_.target_name +
                   "' has " + std::to_string(plan.target_partitions) + " partitions but '" +
                   plan.source_topic + "' on '" + options_.source_name + "' has " +
                   std::to_string(plan.source_partitions) +
                   "; kmirror copies partition p to partition p, so the counts must match: "
                   "recreate the target topic with " +
                   std::to_string(plan.source_partitions) + " partitions or exclude the topic";
    } else if (plan.target_partitions < plan.source_partitions) {
      to_extend[plan.target_topic] = plan.source_partitions;
    }
  }
  if (!to_extend.empty() && apply) {
    for (const auto& r : target_admin_.create_partitions(to_extend)) {
      if (r.code == RD_KAFKA_RESP_ERR_NO_ERROR) {
        spdlog::info("extended topic '{}' on cluster '{}' to {} partitions", r.topic,
                     options_.target_name, to_extend[r.topic]);
      } else {
        spdlog::warn("cannot extend topic '{}' on cluster '{}' to {} partitions: {} {}", r.topic,
                     options_.target_name, to_extend[r.topic], rd_kafka_err2str(r.code), r.error);
      }
    }
    // The new partitions become usable on a later pass, once metadata shows them.
  }

  std::vector<std::string> ready_targets;
  std::vector<std::string> ready_sources;  // those whose configs were not read above
  for (const auto& plan : plans) {
    if (plan.error.empty() && plan.target_partitions > 0) {
      ready_targets.push_back(plan.target_topic);
      if (!configs.count(plan.source_topic)) ready_sources.push_back(plan.source_topic);
    }
  }
  if (!ready_targets.empty()) {
    auto target_configs = target_admin_.describe_topic_configs(ready_targets);
    // The configs of topics just created were read a moment ago: one round trip to the source
    // less before a new topic is copied (a tenth of a second over a 40 ms link).
    std::map<std::string, kafka::TopicConfig> source_configs;
    if (!ready_sources.empty())
      source_configs = source_admin_.describe_topic_configs(ready_sources);
    source_configs.merge(configs);
    std::map<std::string, std::map<std::string, std::string>> to_alter;
    for (auto& plan : plans) {
      auto it = target_configs.find(plan.target_topic);
      if (it == target_configs.end()) continue;
      auto desired = follow_source(plan.source_topic,
                                   copied_configs(source_configs[plan.source_topic]), it->second);
      // Computed by non-leaders too: they then know what the source had when they take over.
      if (desired && apply) to_alter[plan.target_topic] = std::move(*desired);
      // The target's record size limit, so oversize records fail clearly before produce.
      if (auto mmb = it->second.find("max.message.bytes"); mmb != it->second.end()) {
        plan.target_max_message_bytes = std::stoll(mmb->second.value);
      }
    }
    if (!to_alter.empty()) {
      for (const auto& r : target_admin_.alter_topic_configs(to_alter)) {
        if (r.code == RD_KAFKA_RESP_ERR_NO_ERROR) {
          spdlog::info(
              "updated the configuration of topic '{}' on cluster '{}' to follow the source",
              r.topic, options_.target_name);
        } else {
          spdlog::warn("cannot update the configuration of topic '{}' on cluster '{}': {} {}",
                       r.topic, options_.target_name, rd_kafka_err2str(r.code), r.error);
        }
      }
    }
  }
  return plans;
}

}  // namespace kmirror::sync
