// The durable state of a flow (running, failed over, failing back), stored in the flow's
// target cluster so that it survives the loss of the source region and every kmirror process
// sees the same: a failed-over flow is not resumed by a restarted `kmirror run`.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "kafka/client.h"

namespace kmirror::sync {

inline constexpr const char* kFlowStateTopic = "kmirror.flow-state";

using PartitionOffsets = std::map<std::string, std::map<int32_t, int64_t>>;  // topic -> p -> offset

struct FlowState {
  std::string state = "running";  // running | failed-over | failing-back
  std::string mode;               // planned | unplanned (for failed-over)
  int64_t since_ms = 0;
  PartitionOffsets target_ends;  // target end offsets when the flow was failed over
  PartitionOffsets source_ends;  // last source end offsets the flow saw (RPO reporting)
  int64_t source_ends_ms = 0;
};

class FlowStateStore {
 public:
  // `target` are the client properties of the flow's target cluster.
  explicit FlowStateStore(kafka::Properties target);

  std::optional<FlowState> read(const std::string& flow_id, std::chrono::milliseconds timeout);
  // Writes state, mode, since and target_ends (not source_ends, which the running flow owns).
  void write(const std::string& flow_id, const FlowState& state, std::chrono::milliseconds timeout);
  // The running flow's last seen source end offsets, kept under their own key so that it never
  // overwrites a failover written meanwhile by another process.
  void write_source_ends(const std::string& flow_id, const PartitionOffsets& ends,
                         std::chrono::milliseconds timeout);

 private:
  void ensure_topic(std::chrono::milliseconds timeout);
  void put(const std::string& key, const std::string& value, std::chrono::milliseconds timeout);

  kafka::Properties props_;
  kafka::KafkaPtr producer_;
  bool topic_ready_ = false;
};

}  // namespace kmirror::sync
