#include "core/topic_filter.h"

#include <array>
#include <stdexcept>

namespace kmirror::core {
namespace {

std::vector<std::regex> compile(const std::vector<std::string>& patterns, const char* kind) {
  std::vector<std::regex> out;
  out.reserve(patterns.size());
  for (const auto& pattern : patterns) {
    try {
      out.emplace_back(pattern, std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error& e) {
      throw std::invalid_argument(std::string("invalid topic ") + kind + " regex '" + pattern +
                                  "': " + e.what());
    }
  }
  return out;
}

bool any_match(const std::vector<std::regex>& regexes, std::string_view topic) {
  for (const auto& re : regexes) {
    if (std::regex_match(topic.begin(), topic.end(), re)) return true;
  }
  return false;
}

}  // namespace

TopicFilter::TopicFilter(std::vector<std::string> include, std::vector<std::string> exclude)
    : include_(compile(include, "include")), exclude_(compile(exclude, "exclude")) {}

bool TopicFilter::accepts(std::string_view topic) const {
  // Cheapest test first: internal topics are rejected without running any regex.
  return !is_internal_topic(topic) && any_match(include_, topic) && !any_match(exclude_, topic);
}

bool is_internal_topic(std::string_view topic) {
  static constexpr std::array<std::string_view, 4> kExact = {"connect-offsets", "connect-configs",
                                                             "connect-status", "heartbeats"};
  for (auto name : kExact) {
    if (topic == name) return true;
  }
  // "*.checkpoints.internal" is covered by the ".internal" suffix.
  return topic.starts_with("__") || topic.starts_with("kmirror.") ||
         topic.starts_with("mm2-offset-syncs.") || topic.ends_with(".internal");
}

std::string target_topic_name(NamingPolicy policy, std::string_view source_cluster_name,
                              std::string_view topic) {
  switch (policy) {
    case NamingPolicy::kIdentity:
      return std::string(topic);
    case NamingPolicy::kPrefix: {
      std::string name;
      name.reserve(source_cluster_name.size() + 1 + topic.size());
      name.append(source_cluster_name).append(".").append(topic);
      return name;
    }
  }
  throw std::invalid_argument("unknown naming policy");
}

}  // namespace kmirror::core
