// Which source topics a flow replicates, and what they are called on the target.
#pragma once

#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace kmirror::core {

enum class NamingPolicy { kIdentity, kPrefix };

class TopicFilter {
 public:
  // include/exclude: ECMAScript regexes matched against the whole topic name (std::regex_match).
  // Throws std::invalid_argument naming the bad pattern and std::regex's reason.
  // An empty include list accepts nothing.
  TopicFilter(std::vector<std::string> include, std::vector<std::string> exclude);

  // True when the topic is replicated: matches some include, no exclude, and is not internal.
  // Safe to call concurrently.
  bool accepts(std::string_view topic) const;

 private:
  std::vector<std::regex> include_;
  std::vector<std::regex> exclude_;
};

// Topics never replicated whatever the patterns say: Kafka's own ("__*"), kmirror's own
// ("kmirror.*"), "*.internal", Kafka Connect's storage topics and MirrorMaker 2's topics
// ("mm2-offset-syncs.*", "*.checkpoints.internal", "heartbeats"). Copying them would corrupt
// the target's group offsets, transactions or connectors.
bool is_internal_topic(std::string_view topic);

// Target topic name for a source topic: identity keeps it, prefix gives
// "<source cluster name>.<topic>".
std::string target_topic_name(NamingPolicy policy, std::string_view source_cluster_name,
                              std::string_view topic);

}  // namespace kmirror::core
