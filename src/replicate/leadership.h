// Control-plane leadership: of the instances running the same flow, exactly one at a time does
// the control-plane work (topic creation and config sync, ACL sync, group offset sync,
// heartbeats); the others only copy records. The leader is chosen through Kafka: every instance
// joins the consumer group kmirror.<flow id>.control on the flow's source cluster, subscribed to
// the one-partition topic kmirror.control, and the member assigned its partition 0 leads. When
// the leader stops, it leaves the group and another member takes over at once; when it dies,
// the group notices within the session timeout (kControlSessionTimeout) and reassigns it.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include "kafka/client.h"

namespace kmirror::replicate {

// Shared by every flow (one group per flow); never replicated (topic filters skip kmirror.*).
inline constexpr std::string_view kControlTopic = "kmirror.control";
// Bounds the takeover after a leader dies without leaving the group (kill -9, lost host).
inline constexpr std::chrono::milliseconds kControlSessionTimeout{10000};

std::string control_group_id(std::string_view flow_id);

// The pure decision: which control-topic partitions this member holds, and whether that makes
// it the leader. Fed with librdkafka's incremental (cooperative) assignment changes.
class LeadershipState {
 public:
  // Each returns the new leadership when this change flips it.
  std::optional<bool> assigned(const std::vector<int32_t>& partitions);
  std::optional<bool> revoked(const std::vector<int32_t>& partitions);  // revoked or lost
  std::optional<bool> cleared();  // the whole assignment is gone (eager protocol, close)
  bool leader() const { return held_.count(0) > 0; }

 private:
  std::optional<bool> changed(bool before) const;
  std::set<int32_t> held_;
};

class ControlLeadership {
 public:
  // `props` are the source cluster's client properties. `on_change` runs on the leadership
  // thread whenever this instance becomes or stops being the leader.
  ControlLeadership(kafka::Properties props, std::string flow_id, std::string cluster_name,
                    std::function<void(bool)> on_change);
  ~ControlLeadership();
  ControlLeadership(const ControlLeadership&) = delete;
  ControlLeadership& operator=(const ControlLeadership&) = delete;

  void start();
  // Leaves the group (so another instance takes over at once) and ends leadership.
  void stop();
  bool is_leader() const { return leader_.load(); }

 private:
  void loop();
  bool join();
  void set_leader(std::optional<bool> change);
  static void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* list, void* opaque);
  void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* list);

  const std::string flow_id_, cluster_name_;
  const std::function<void(bool)> on_change_;
  kafka::KafkaPtr consumer_;
  LeadershipState state_;  // leadership thread only
  std::atomic<bool> leader_{false};
  std::string last_error_;  // leadership thread only: logged once until it changes
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
};

}  // namespace kmirror::replicate
