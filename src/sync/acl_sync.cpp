#include "sync/acl_sync.h"

#include <algorithm>
#include <regex>
#include <set>

#include "kafka/client.h"
#include "sync/group_sync.h"

namespace kmirror::sync {
namespace {

bool grants_write(const kafka::AclBinding& acl) {
  return acl.resource_type == RD_KAFKA_RESOURCE_TOPIC &&
         acl.permission == RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW &&
         (acl.operation == RD_KAFKA_ACL_OPERATION_WRITE ||
          acl.operation == RD_KAFKA_ACL_OPERATION_ALL);
}

bool copied_kind(const kafka::AclBinding& acl) {
  bool resource =
      acl.resource_type == RD_KAFKA_RESOURCE_TOPIC || acl.resource_type == RD_KAFKA_RESOURCE_GROUP;
  bool pattern = acl.pattern_type == RD_KAFKA_RESOURCE_PATTERN_LITERAL ||
                 acl.pattern_type == RD_KAFKA_RESOURCE_PATTERN_PREFIXED;
  bool wildcard = acl.pattern_type == RD_KAFKA_RESOURCE_PATTERN_LITERAL && acl.resource_name == "*";
  return resource && pattern && !wildcard;
}

// True when the cluster is known to run no authorizer (false also when it cannot tell: no
// permission to describe broker configs).
bool lacks_authorizer(kafka::Admin& admin) {
  try {
    auto config = admin.describe_broker_config();
    auto it = config.find("authorizer.class.name");
    return it == config.end() || it->second.value.empty();
  } catch (const kafka::KafkaError&) {
    return false;
  }
}

}  // namespace

std::function<bool(const std::string&)> group_selector(std::vector<std::string> include,
                                                       std::vector<std::string> exclude) {
  std::vector<std::regex> in;
  std::vector<std::regex> out;
  for (const auto& r : include) in.emplace_back(r);
  for (const auto& r : exclude) out.emplace_back(r);
  return [in = std::move(in), out = std::move(out)](const std::string& group) {
    if (is_internal_group(group)) return false;
    auto matches = [&](const std::regex& r) { return std::regex_match(group, r); };
    return std::any_of(in.begin(), in.end(), matches) &&
           std::none_of(out.begin(), out.end(), matches);
  };
}

AclSync::AclSync(rd_kafka_t* source, rd_kafka_t* target, AclSyncOptions options)
    : source_rk_(source),
      options_(std::move(options)),
      source_(source, options_.timeout),
      target_(target, options_.timeout) {}

void AclSync::condition(AclSyncReport& report, const std::string& message) {
  if (message == condition_) return;
  if (!message.empty()) {
    report.messages.push_back(message);
  } else if (!condition_.empty()) {
    report.messages.push_back("acl sync resumed");
  }
  condition_ = message;
}

std::optional<kafka::AclBinding> AclSync::translate(const kafka::AclBinding& acl,
                                                    const TopicMapper& target_topic,
                                                    const GroupPredicate& group_synced,
                                                    const std::vector<std::string>& topics,
                                                    const std::vector<std::string>& groups) const {
  if (!copied_kind(acl)) return std::nullopt;
  const bool literal = acl.pattern_type == RD_KAFKA_RESOURCE_PATTERN_LITERAL;
  auto under = [&](const std::string& name) { return name.starts_with(acl.resource_name); };
  kafka::AclBinding out = acl;
  if (acl.resource_type == RD_KAFKA_RESOURCE_GROUP) {
    // Group names are the same on both clusters.
    bool synced = literal ? group_synced(acl.resource_name)
                          : std::any_of(groups.begin(), groups.end(), under);
    if (!synced) return std::nullopt;
    return out;
  }
  if (literal) {
    auto name = target_topic(acl.resource_name);
    if (!name) return std::nullopt;
    out.resource_name = *name;
    return out;
  }
  // A prefix maps as the topics under it do: whatever the naming policy puts before the name.
  auto topic = std::find_if(topics.begin(), topics.end(), under);
  if (topic == topics.end()) return std::nullopt;
  auto name = target_topic(*topic);
  if (!name || !name->ends_with(*topic)) return std::nullopt;
  out.resource_name = name->substr(0, name->size() - topic->size()) + acl.resource_name;
  return out;
}

AclSyncReport AclSync::run_once(const TopicMapper& target_topic,
                                const GroupPredicate& group_synced) {
  AclSyncReport report;
  std::vector<kafka::AclBinding> source_acls = source_.describe_acls();
  if (source_acls.empty()) {
    // librdkafka 2.0.2 answers an empty list, not SECURITY_DISABLED, without an authorizer.
    if (lacks_authorizer(source_)) {
      report.enabled = false;
      condition(report, "acl sync disabled: source has no authorizer (cluster '" +
                            options_.source_name + "')");
    } else {
      condition(report, "");
    }
    return report;
  }

  // Replicated topics and synced groups are listed only when a PREFIXED ACL needs them.
  auto prefixed = [&](rd_kafka_ResourceType_t type) {
    return std::any_of(source_acls.begin(), source_acls.end(), [&](const auto& a) {
      return a.resource_type == type && a.pattern_type == RD_KAFKA_RESOURCE_PATTERN_PREFIXED;
    });
  };
  std::vector<std::string> topics;
  if (prefixed(RD_KAFKA_RESOURCE_TOPIC)) {
    for (const auto& t : kafka::fetch_metadata(source_rk_, options_.timeout).topics) {
      if (target_topic(t.name)) topics.push_back(t.name);
    }
  }
  std::vector<std::string> groups;
  if (prefixed(RD_KAFKA_RESOURCE_GROUP)) {
    for (const auto& g : source_.list_groups()) {
      if (group_synced(g.id)) groups.push_back(g.id);
    }
  }

  std::set<kafka::AclBinding> wanted;
  for (const auto& acl : source_acls) {
    auto copy = translate(acl, target_topic, group_synced, topics, groups);
    if (!copy) continue;
    if (grants_write(*copy) && !options_.copy_allow_write) {
      ++report.skipped_allow_write;
      continue;
    }
    wanted.insert(*copy);
  }
  report.wanted = static_cast<int>(wanted.size());
  if (wanted.empty()) {
    condition(report, "");
    return report;
  }

  std::vector<kafka::AclBinding> existing = target_.describe_acls();
  if (existing.empty() && lacks_authorizer(target_)) {
    condition(report, "acl sync: target '" + options_.target_name +
                          "' has no authorizer, so the ACLs of '" + options_.source_name +
                          "' are not copied; enable one there or set acls: {enabled: false}");
    return report;
  }
  condition(report, "");
  std::vector<kafka::AclBinding> missing;
  std::set_difference(wanted.begin(), wanted.end(), existing.begin(), existing.end(),
                      std::back_inserter(missing));
  if (missing.empty()) return report;
  report.failures = target_.create_acls(missing);
  report.created = static_cast<int>(missing.size() - report.failures.size());
  for (const auto& acl : missing) {
    const std::string failed = "ACL " + kafka::to_string(acl) + ":";
    if (std::none_of(report.failures.begin(), report.failures.end(),
                     [&](const std::string& f) { return f.starts_with(failed); })) {
      report.messages.push_back("copied ACL " + kafka::to_string(acl) + " to '" +
                                options_.target_name + "'");
    }
  }
  return report;
}

}  // namespace kmirror::sync
