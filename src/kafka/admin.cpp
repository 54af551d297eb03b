#include "kafka/admin.h"

#include <algorithm>
#include <memory>
#include <thread>

#include "kafka/client.h"

namespace kmirror::kafka {
namespace {

std::vector<TopicResult> topic_results(const rd_kafka_topic_result_t** results, size_t count) {
  std::vector<TopicResult> out;
  for (size_t i = 0; i < count; ++i) {
    const char* msg = rd_kafka_topic_result_error_string(results[i]);
    out.push_back(TopicResult{rd_kafka_topic_result_name(results[i]),
                              rd_kafka_topic_result_error(results[i]), msg ? msg : ""});
  }
  return out;
}

// Owns an array of librdkafka admin request objects and destroys them all.
template <typename T, void (*Destroy)(T**, size_t)>
class RequestArray {
 public:
  ~RequestArray() { Destroy(items_.data(), items_.size()); }
  void push(T* item) { items_.push_back(item); }
  T** data() { return items_.data(); }
  size_t size() const { return items_.size(); }

 private:
  std::vector<T*> items_;
};

// Whether librdkafka gave the handle a consumer group (see make_admin_client).
bool has_consumer_group(rd_kafka_t* rk) {
  if (rd_kafka_type(rk) != RD_KAFKA_CONSUMER) return false;
  char group[512];
  size_t size = sizeof(group);
  return rd_kafka_conf_get(rd_kafka_conf(rk), "group.id", group, &size) == RD_KAFKA_CONF_OK &&
         group[0] != '\0';
}

// The group's coordinator is still being elected or loaded (a new cluster, a broker restart).
bool coordinator_moving(rd_kafka_resp_err_t code) {
  return code == RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS ||
         code == RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE ||
         code == RD_KAFKA_RESP_ERR_NOT_COORDINATOR;
}

}  // namespace

KafkaPtr make_admin_client(Properties props, const std::string& group) {
  props["group.id"] = group;
  props["enable.auto.commit"] = "false";
  return make_client(ClientKind::kConsumer, props);
}

Admin::Admin(rd_kafka_t* rk, std::chrono::milliseconds timeout) : rk_(rk), timeout_(timeout) {}

EventPtr Admin::run(rd_kafka_event_type_t expected,
                    const std::function<void(rd_kafka_queue_t*, rd_kafka_AdminOptions_t*)>& call) {
  QueuePtr queue(rd_kafka_queue_new(rk_));
  AdminOptionsPtr options(rd_kafka_AdminOptions_new(rk_, RD_KAFKA_ADMIN_OP_ANY));
  char errstr[256];
  rd_kafka_AdminOptions_set_request_timeout(options.get(), static_cast<int>(timeout_.count()),
                                            errstr, sizeof(errstr));
  call(queue.get(), options.get());
  // In slices, so an interrupted thread (InterruptScope) stops waiting; the answer, if any
  // comes, goes with the queue.
  const auto deadline = std::chrono::steady_clock::now() + timeout_ + std::chrono::seconds(1);
  EventPtr event;
  while (!event && std::chrono::steady_clock::now() < deadline) {
    if (interrupted()) {
      throw KafkaError(RD_KAFKA_RESP_ERR__INTR, "admin request abandoned: stopping");
    }
    event.reset(rd_kafka_queue_poll(queue.get(), 200));
  }
  if (!event) {
    throw KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, "admin request got no answer within " +
                                                       std::to_string(timeout_.count()) + " ms");
  }
  if (rd_kafka_event_type(event.get()) != expected) {
    throw KafkaError(RD_KAFKA_RESP_ERR__FAIL, "unexpected admin event");
  }
  if (auto err = rd_kafka_event_error(event.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw KafkaError(
        err, std::string("admin request failed: ") + rd_kafka_event_error_string(event.get()));
  }
  return event;
}

std::vector<TopicResult> Admin::create_topics(const std::vector<NewTopic>& topics) {
  RequestArray<rd_kafka_NewTopic_t, rd_kafka_NewTopic_destroy_array> req;
  char errstr[512];
  for (const auto& t : topics) {
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(t.name.c_str(), t.partitions,
                                                    t.replication_factor, errstr, sizeof(errstr));
    if (nt == nullptr) {
      throw KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG,
                       "cannot request topic " + t.name + ": " + errstr);
    }
    req.push(nt);
    for (const auto& [k, v] : t.configs)
      check(rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str()), "topic config " + k);
  }
  auto ev = run(RD_KAFKA_EVENT_CREATETOPICS_RESULT, [&](auto* q, auto* opts) {
    rd_kafka_CreateTopics(rk_, req.data(), req.size(), opts, q);
  });
  size_t n = 0;
  auto* res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev.get()), &n);
  return topic_results(res, n);
}

std::vector<TopicResult> Admin::delete_topics(const std::vector<std::string>& topics) {
  RequestArray<rd_kafka_DeleteTopic_t, rd_kafka_DeleteTopic_destroy_array> req;
  for (const auto& t : topics) req.push(rd_kafka_DeleteTopic_new(t.c_str()));
  auto ev = run(RD_KAFKA_EVENT_DELETETOPICS_RESULT, [&](auto* q, auto* opts) {
    rd_kafka_DeleteTopics(rk_, req.data(), req.size(), opts, q);
  });
  size_t n = 0;
  auto* res = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev.get()), &n);
  return topic_results(res, n);
}

std::vector<TopicResult> Admin::create_partitions(const std::map<std::string, int>& new_totals) {
  RequestArray<rd_kafka_NewPartitions_t, rd_kafka_NewPartitions_destroy_array> req;
  char errstr[512];
  for (const auto& [topic, total] : new_totals) {
    auto* np = rd_kafka_NewPartitions_new(topic.c_str(), total, errstr, sizeof(errstr));
    if (np == nullptr) throw KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG, errstr);
    req.push(np);
  }
  auto ev = run(RD_KAFKA_EVENT_CREATEPARTITIONS_RESULT, [&](auto* q, auto* opts) {
    rd_kafka_CreatePartitions(rk_, req.data(), req.size(), opts, q);
  });
  size_t n = 0;
  auto* res =
      rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev.get()), &n);
  return topic_results(res, n);
}

std::map<std::string, TopicConfig> Admin::describe_topic_configs(
    const std::vector<std::string>& topics) {
  RequestArray<rd_kafka_ConfigResource_t, rd_kafka_ConfigResource_destroy_array> req;
  for (const auto& t : topics)
    req.push(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, t.c_str()));
  auto ev = run(RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, [&](auto* q, auto* opts) {
    rd_kafka_DescribeConfigs(rk_, req.data(), req.size(), opts, q);
  });
  size_t n = 0;
  auto* res = rd_kafka_DescribeConfigs_result_resources(
      rd_kafka_event_DescribeConfigs_result(ev.get()), &n);
  std::map<std::string, TopicConfig> out;
  for (size_t i = 0; i < n; ++i) {
    std::string name = rd_kafka_ConfigResource_name(res[i]);
    check(rd_kafka_ConfigResource_error(res[i]), "describe configs of topic " + name);
    size_t cnt = 0;
    auto* entries = rd_kafka_ConfigResource_configs(res[i], &cnt);
    auto& cfg = out[name];
    for (size_t e = 0; e < cnt; ++e) {
      const char* v = rd_kafka_ConfigEntry_value(entries[e]);
      cfg[rd_kafka_ConfigEntry_name(entries[e])] =
          ConfigEntry{v ? v : "", rd_kafka_ConfigEntry_is_default(entries[e]) != 0,
                      rd_kafka_ConfigEntry_is_read_only(entries[e]) != 0,
                      rd_kafka_ConfigEntry_is_sensitive(entries[e]) != 0,
                      rd_kafka_ConfigEntry_source(entries[e])};
    }
  }
  return out;
}

std::vector<TopicResult> Admin::alter_topic_configs(
    const std::map<std::string, std::map<std::string, std::string>>& configs) {
  RequestArray<rd_kafka_ConfigResource_t, rd_kafka_ConfigResource_destroy_array> req;
  for (const auto& [topic, entries] : configs) {
    auto* r = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
    req.push(r);
    for (const auto& [k, v] : entries)
      check(rd_kafka_ConfigResource_set_config(r, k.c_str(), v.c_str()), "config " + k);
  }
  auto ev = run(RD_KAFKA_EVENT_ALTERCONFIGS_RESULT, [&](auto* q, auto* opts) {
    rd_kafka_AlterConfigs(rk_, req.data(), req.size(), opts, q);
  });
  size_t n = 0;
  auto* res =
      rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev.get()), &n);
  std::vector<TopicResult> out;
  for (size_t i = 0; i < n; ++i) {
    const char* msg = rd_kafka_ConfigResource_error_string(res[i]);
    out.push_back(TopicResult{rd_kafka_ConfigResource_name(res[i]),
                              rd_kafka_ConfigResource_error(res[i]), msg ? msg : ""});
  }
  return out;
}

std::vector<GroupListing> Admin::list_groups() {
  auto ev = run(RD_KAFKA_EVENT_LISTCONSUMERGROUPS_RESULT,
                [&](auto* q, auto* opts) { rd_kafka_ListConsumerGroups(rk_, opts, q); });
  size_t n = 0;
  auto* listings = rd_kafka_ListConsumerGroups_result_valid(
      rd_kafka_event_ListConsumerGroups_result(ev.get()), &n);
  std::vector<GroupListing> out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(
        GroupListing{rd_kafka_ConsumerGroupListing_group_id(listings[i]),
                     rd_kafka_ConsumerGroupListing_state(listings[i]),
                     rd_kafka_ConsumerGroupListing_is_simple_consumer_group(listings[i]) != 0});
  }
  return out;
}

std::vector<GroupDescription> Admin::describe_groups(const std::vector<std::string>& ids) {
  if (ids.empty()) return {};
  std::vector<const char*> names;
  for (const auto& id : ids) names.push_back(id.c_str());
  auto ev = run(RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT, [&](auto* q, auto* opts) {
    rd_kafka_DescribeConsumerGroups(rk_, names.data(), names.size(), opts, q);
  });
  size_t n = 0;
  auto* groups = rd_kafka_DescribeConsumerGroups_result_groups(
      rd_kafka_event_DescribeConsumerGroups_result(ev.get()), &n);
  std::vector<GroupDescription> out;
  for (size_t i = 0; i < n; ++i) {
    const rd_kafka_error_t* err = rd_kafka_ConsumerGroupDescription_error(groups[i]);
    out.push_back(GroupDescription{rd_kafka_ConsumerGroupDescription_group_id(groups[i]),
                                   rd_kafka_ConsumerGroupDescription_state(groups[i]),
                                   rd_kafka_ConsumerGroupDescription_member_count(groups[i]),
                                   err ? rd_kafka_error_string(err) : ""});
  }
  return out;
}

GroupOffsets Admin::list_group_offsets(const std::string& group) {
  if (!has_consumer_group(rk_)) {
    throw KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG,
                     "listing the offsets of group " + group +
                         " needs a client made by make_admin_client (librdkafka crashes on a "
                         "coordinator change otherwise)");
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  while (true) {
    try {
      return list_group_offsets_once(group);
    } catch (const KafkaError& e) {
      if (!coordinator_moving(e.code()) ||
          std::chrono::steady_clock::now() + std::chrono::milliseconds(200) >= deadline) {
        throw;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

GroupOffsets Admin::list_group_offsets_once(const std::string& group) {
  std::unique_ptr<rd_kafka_ListConsumerGroupOffsets_t,
                  decltype(&rd_kafka_ListConsumerGroupOffsets_destroy)>
      req(rd_kafka_ListConsumerGroupOffsets_new(group.c_str(), nullptr),
          &rd_kafka_ListConsumerGroupOffsets_destroy);
  auto ev = run(RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT, [&](auto* q, auto* opts) {
    auto* r = req.get();
    rd_kafka_ListConsumerGroupOffsets(rk_, &r, 1, opts, q);
  });
  size_t n = 0;
  auto* res = rd_kafka_ListConsumerGroupOffsets_result_groups(
      rd_kafka_event_ListConsumerGroupOffsets_result(ev.get()), &n);
  GroupOffsets out;
  for (size_t i = 0; i < n; ++i) {
    if (const rd_kafka_error_t* err = rd_kafka_group_result_error(res[i])) {
      throw KafkaError(rd_kafka_error_code(err),
                       "offsets of group " + group + ": " + rd_kafka_error_string(err));
    }
    const auto* parts = rd_kafka_group_result_partitions(res[i]);
    for (int p = 0; parts != nullptr && p < parts->cnt; ++p) {
      const auto& tp = parts->elems[p];
      if (tp.err == RD_KAFKA_RESP_ERR_NO_ERROR && tp.offset >= 0)
        out[{tp.topic, tp.partition}] = tp.offset;
    }
  }
  return out;
}

std::map<std::pair<std::string, int32_t>, std::string> Admin::alter_group_offsets(
    const std::string& group, const GroupOffsets& offsets) {
  std::map<std::pair<std::string, int32_t>, std::string> failed;
  if (offsets.empty()) return failed;
  auto list = new_partition_list(static_cast<int>(offsets.size()));
  for (const auto& [tp, off] : offsets)
    rd_kafka_topic_partition_list_add(list.get(), tp.first.c_str(), tp.second)->offset = off;
  rd_kafka_AlterConsumerGroupOffsets_t* req =
      rd_kafka_AlterConsumerGroupOffsets_new(group.c_str(), list.get());
  EventPtr ev;
  try {
    ev = run(RD_KAFKA_EVENT_ALTERCONSUMERGROUPOFFSETS_RESULT, [&](auto* q, auto* opts) {
      rd_kafka_AlterConsumerGroupOffsets(rk_, &req, 1, opts, q);
    });
  } catch (...) {
    rd_kafka_AlterConsumerGroupOffsets_destroy(req);
    throw;
  }
  rd_kafka_AlterConsumerGroupOffsets_destroy(req);
  size_t n = 0;
  auto* res = rd_kafka_AlterConsumerGroupOffsets_result_groups(
      rd_kafka_event_AlterConsumerGroupOffsets_result(ev.get()), &n);
  for (size_t i = 0; i < n; ++i) {
    if (const rd_kafka_error_t* err = rd_kafka_group_result_error(res[i])) {
      for (const auto& [tp, off] : offsets) failed[tp] = rd_kafka_error_string(err);
      continue;
    }
    const auto* parts = rd_kafka_group_result_partitions(res[i]);
    for (int p = 0; parts != nullptr && p < parts->cnt; ++p) {
      const auto& tp = parts->elems[p];
      if (tp.err != RD_KAFKA_RESP_ERR_NO_ERROR)
        failed[{tp.topic, tp.partition}] = rd_kafka_err2str(tp.err);
    }
  }
  return failed;
}

std::string to_string(const AclBinding& acl) {
  return std::string(rd_kafka_ResourceType_name(acl.resource_type)) + ":" +
         rd_kafka_ResourcePatternType_name(acl.pattern_type) + ":" + acl.resource_name + " " +
         acl.principal + "@" + acl.host + " " + rd_kafka_AclOperation_name(acl.operation) + " " +
         rd_kafka_AclPermissionType_name(acl.permission);
}

std::vector<AclBinding> Admin::describe_acls(const AclFilter& filter) {
  char errstr[512];
  auto text = [](const std::optional<std::string>& s) { return s ? s->c_str() : nullptr; };
  rd_kafka_AclBindingFilter_t* req = rd_kafka_AclBindingFilter_new(
      filter.resource_type, text(filter.resource_name), filter.pattern_type, text(filter.principal),
      text(filter.host), filter.operation, filter.permission, errstr, sizeof(errstr));
  if (req == nullptr) {
    throw KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG, std::string("invalid ACL filter: ") + errstr);
  }
  std::unique_ptr<rd_kafka_AclBindingFilter_t, void (*)(rd_kafka_AclBinding_t*)> owned(
      req, rd_kafka_AclBinding_destroy);
  auto ev = run(RD_KAFKA_EVENT_DESCRIBEACLS_RESULT,
                [&](auto* q, auto* opts) { rd_kafka_DescribeAcls(rk_, req, opts, q); });
  size_t n = 0;
  auto* acls = rd_kafka_DescribeAcls_result_acls(rd_kafka_event_DescribeAcls_result(ev.get()), &n);
  std::vector<AclBinding> out;
  for (size_t i = 0; i < n; ++i) {
    const char* host = rd_kafka_AclBinding_host(acls[i]);
    out.push_back(AclBinding{
        rd_kafka_AclBinding_restype(acls[i]), rd_kafka_AclBinding_name(acls[i]),
        rd_kafka_AclBinding_resource_pattern_type(acls[i]), rd_kafka_AclBinding_principal(acls[i]),
        host ? host : "*", rd_kafka_AclBinding_operation(acls[i]),
        rd_kafka_AclBinding_permission_type(acls[i])});
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> Admin::create_acls(const std::vector<AclBinding>& acls) {
  if (acls.empty()) return {};
  RequestArray<rd_kafka_AclBinding_t, rd_kafka_AclBinding_destroy_array> req;
  char errstr[512];
  for (const auto& a : acls) {
    rd_kafka_AclBinding_t* b = rd_kafka_AclBinding_new(
        a.resource_type, a.resource_name.c_str(), a.pattern_type, a.principal.c_str(),
        a.host.c_str(), a.operation, a.permission, errstr, sizeof(errstr));
    if (b == nullptr) {
      throw KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG,
                       "cannot request ACL " + to_string(a) + ": " + errstr);
    }
    req.push(b);
  }
  auto ev = run(RD_KAFKA_EVENT_CREATEACLS_RESULT, [&](auto* q, auto* opts) {
    rd_kafka_CreateAcls(rk_, req.data(), req.size(), opts, q);
  });
  size_t n = 0;
  auto* res = rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(ev.get()), &n);
  std::vector<std::string> failed;
  // Results come in request order.
  for (size_t i = 0; i < n; ++i) {
    if (const rd_kafka_error_t* err = rd_kafka_acl_result_error(res[i])) {
      failed.push_back("ACL " + (i < acls.size() ? to_string(acls[i]) : std::to_string(i)) + ": " +
                       rd_kafka_error_string(err));
    }
  }
  return failed;
}

TopicConfig Admin::describe_broker_config(int32_t broker_id) {
  if (broker_id < 0) {
    const rd_kafka_metadata_t* md = nullptr;
    check(call_interruptibly(
              timeout_,
              [&](int slice_ms) { return rd_kafka_metadata(rk_, 0, nullptr, &md, slice_ms); }),
          "metadata");
    MetadataPtr owned(md);
    if (md->broker_cnt == 0) throw KafkaError(RD_KAFKA_RESP_ERR__TRANSPORT, "no broker known");
    broker_id = md->brokers[0].id;
  }
  const std::string name = std::to_string(broker_id);
  RequestArray<rd_kafka_ConfigResource_t, rd_kafka_ConfigResource_destroy_array> req;
  req.push(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_BROKER, name.c_str()));
  auto ev = run(RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, [&](auto* q, auto* opts) {
    rd_kafka_DescribeConfigs(rk_, req.data(), req.size(), opts, q);
  });
  size_t n = 0;
  auto* res = rd_kafka_DescribeConfigs_result_resources(
      rd_kafka_event_DescribeConfigs_result(ev.get()), &n);
  TopicConfig out;
  for (size_t i = 0; i < n; ++i) {
    check(rd_kafka_ConfigResource_error(res[i]), "describe configs of broker " + name);
    size_t cnt = 0;
    auto* entries = rd_kafka_ConfigResource_configs(res[i], &cnt);
    for (size_t e = 0; e < cnt; ++e) {
      const char* v = rd_kafka_ConfigEntry_value(entries[e]);
      out[rd_kafka_ConfigEntry_name(entries[e])] =
          ConfigEntry{v ? v : "", rd_kafka_ConfigEntry_is_default(entries[e]) != 0,
                      rd_kafka_ConfigEntry_is_read_only(entries[e]) != 0,
                      rd_kafka_ConfigEntry_is_sensitive(entries[e]) != 0,
                      rd_kafka_ConfigEntry_source(entries[e])};
    }
  }
  return out;
}

}  // namespace kmirror::kafka
