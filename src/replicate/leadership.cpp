#include "replicate/leadership.h"

#include <spdlog/spdlog.h>

#include "kafka/admin.h"

namespace kmirror::replicate {

using namespace std::chrono_literals;

std::string control_group_id(std::string_view flow_id) {
  return "kmirror." + std::string(flow_id) + ".control";
}

std::optional<bool> LeadershipState::changed(bool before) const {
  if (leader() == before) return std::nullopt;
  return leader();
}

std::optional<bool> LeadershipState::assigned(const std::vector<int32_t>& partitions) {
  bool before = leader();
  held_.insert(partitions.begin(), partitions.end());
  return changed(before);
}

std::optional<bool> LeadershipState::revoked(const std::vector<int32_t>& partitions) {
  bool before = leader();
  for (int32_t p : partitions) held_.erase(p);
  return changed(before);
}

std::optional<bool> LeadershipState::cleared() {
  bool before = leader();
  held_.clear();
  return changed(before);
}

ControlLeadership::ControlLeadership(kafka::Properties props, std::string flow_id,
                                     std::string cluster_name, std::function<void(bool)> on_change)
    : flow_id_(std::move(flow_id)),
      cluster_name_(std::move(cluster_name)),
      on_change_(std::move(on_change)) {
  props["client.id"] = "kmirror-" + flow_id_ + "-control";
  props["group.id"] = control_group_id(flow_id_);
  // Sticky: a joining instance leaves partition 0 where it is, so adding instances never moves
  // leadership; only a leaving or dead leader does.
  props["partition.assignment.strategy"] = "cooperative-sticky";
  props["session.timeout.ms"] = std::to_string(kControlSessionTimeout.count());
  // Survivors learn of a rebalance from their next heartbeat: keep that short of the timeout.
  props["heartbeat.interval.ms"] = "1000";
  props["enable.auto.commit"] = "false";
  props["auto.offset.reset"] = "latest";
  props["enable.partition.eof"] = "false";
  auto conf = kafka::make_conf(props);
  rd_kafka_conf_set_rebalance_cb(conf.get(), &ControlLeadership::rebalance_cb);
  rd_kafka_conf_set_opaque(conf.get(), this);
  consumer_ = kafka::make_client(kafka::ClientKind::kConsumer, std::move(conf));
  rd_kafka_poll_set_consumer(consumer_.get());
}

ControlLeadership::~ControlLeadership() {
  stop();
}

void ControlLeadership::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { loop(); });
}

void ControlLeadership::stop() {
  {
    std::lock_guard lk(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

// Creates the control topic when missing (instances starting together may race: one wins, the
// others see TOPIC_ALREADY_EXISTS) and subscribes. False (logged) when that is not possible yet.
bool ControlLeadership::join() {
  const std::string topic(kControlTopic);
  std::string error;
  try {
    auto md = kafka::fetch_metadata(consumer_.get(), 10s, topic);
    if (md.topics.empty() || md.topics.front().partitions.empty()) {
      kafka::Admin admin(consumer_.get(), 10s);
      // Nothing is ever written to it: its partition only names the leader.
      auto res = admin.create_topics({kafka::NewTopic{
          topic, 1, -1, {{"cleanup.policy", "delete"}, {"retention.ms", "3600000"}}}});
      if (!res.empty() && res[0].code != RD_KAFKA_RESP_ERR_NO_ERROR &&
          res[0].code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        error = "cannot create topic " + topic + " (" + res[0].error + ")";
      } else {
        if (!res.empty() && res[0].code == RD_KAFKA_RESP_ERR_NO_ERROR) {
          spdlog::info("created topic '{}' on cluster '{}' for control-plane leader election",
                       topic, cluster_name_);
        }
        // Subscribing before metadata shows the new topic only yields an unknown-topic error.
        kafka::wait_until(
            [&] {
              try {
                auto md = kafka::fetch_metadata(consumer_.get(), 2s, topic);
                return !md.topics.empty() && !md.topics.front().partitions.empty();
              } catch (const std::exception&) {
                return false;
              }
            },
            10s, 100ms);
      }
    }
    if (error.empty()) {
      auto list = kafka::new_partition_list(1);
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
      kafka::check(rd_kafka_subscribe(consumer_.get(), list.get()), "subscribe");
    }
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (error.empty()) return true;
  if (error != last_error_) {
    spdlog::warn(
        "flow {}: cannot join the control-plane leader election on cluster '{}' ({}); "
        "retrying. Until it succeeds this instance only copies records: create topic {} "
        "(1 partition) or grant kmirror CREATE on it, and READ on it and on group {}",
        flow_id_, cluster_name_, error, topic, control_group_id(flow_id_));
    last_error_ = error;
  }
  return false;
}

void ControlLeadership::loop() {
  bool joined = false;
  while (true) {
    {
      std::lock_guard lk(mu_);
      if (stopping_) break;
    }
    if (!joined) {
      joined = join();
      if (!joined) {
        std::unique_lock lk(mu_);
        cv_.wait_for(lk, 2s, [&] { return stopping_; });
      }
      continue;
    }
    // Serves the group protocol (rebalance callbacks); the paused partition yields no records.
    if (rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_.get(), 200)) {
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        std::string error = rd_kafka_message_errstr(m);
        if (error != last_error_) {
          spdlog::warn("flow {}: control-plane leader election: {}", flow_id_, error);
          last_error_ = error;
        }
      }
      rd_kafka_message_destroy(m);
    }
  }
  // Leaving the group hands partition 0 to another instance without waiting for the timeout.
  rd_kafka_consumer_close(consumer_.get());
  set_leader(state_.cleared());
}

void ControlLeadership::set_leader(std::optional<bool> change) {
  if (!change) return;
  leader_ = *change;
  if (*change) {
    spdlog::info("flow {}: control-plane leader (this instance)", flow_id_);
  } else {
    spdlog::info("flow {}: no longer control-plane leader", flow_id_);
  }
  if (on_change_) on_change_(*change);
}

void ControlLeadership::rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                     rd_kafka_topic_partition_list_t* list, void* opaque) {
  static_cast<ControlLeadership*>(opaque)->on_rebalance(rk, err, list);
}

void ControlLeadership::on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                     rd_kafka_topic_partition_list_t* list) {
  const bool cooperative = std::string(rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE";
  std::vector<int32_t> partitions;
  for (int i = 0; i < list->cnt; ++i) partitions.push_back(list->elems[i].partition);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (cooperative) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, list)) {
        spdlog::warn("flow {}: control-plane leader election: assign failed: {}", flow_id_,
                     rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return;
      }
    } else {
      rd_kafka_assign(rk, list);
    }
    rd_kafka_pause_partitions(rk, list);  // nothing to read: spare the brokers the fetches
    set_leader(state_.assigned(partitions));
    return;
  }
  // Revoked or lost: stop leading before the partition can go to another instance.
  if (rd_kafka_assignment_lost(rk)) {
    spdlog::warn("flow {}: control-plane leader election: assignment lost (session timed out)",
                 flow_id_);
  }
  set_leader(cooperative ? state_.revoked(partitions) : state_.cleared());
  if (cooperative) {
    if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, list)) rd_kafka_error_destroy(e);
  } else {
    rd_kafka_assign(rk, nullptr);
  }
}

}  // namespace kmirror::replicate
