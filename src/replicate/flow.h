// The data plane of one flow (source cluster -> target cluster): consume, apply the loop rule,
// produce the same record to the same partition without copying its payload, and store the
// source position in the target cluster once every earlier record is acknowledged.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/histogram.h"
#include "replicate/heartbeat.h"
#include "replicate/throttle.h"

namespace kmirror::replicate {

struct PartitionStatus {
  std::string topic;  // source topic
  int32_t partition = 0;
  int64_t position = -1;         // next source offset stored as replicated (-1: none yet)
  int64_t source_end = -1;       // source high watermark last seen
  int64_t lag = 0;               // source_end - position (records not yet replicated)
  uint64_t replicated = 0;       // records acknowledged by the target, this run
  uint64_t filtered = 0;         // records skipped by the loop rule, this run
  uint64_t bytes = 0;            // payload bytes acknowledged, this run
  int64_t last_latency_ms = -1;  // source timestamp -> target acknowledgement, last record
  int64_t record_age_ms = -1;    // age of the last record when kmirror consumed it
  std::string error;             // set when the partition is stopped; says why and the fix
};

struct FlowStatus {
  std::string id;
  std::string source;
  std::string target;
  std::string state = "starting";  // starting | replicating | stopping | stopped | failed
  std::string source_cluster_id;
  std::string target_cluster_id;
  uint64_t replicated = 0;
  uint64_t filtered = 0;
  uint64_t bytes = 0;
  int64_t inflight_bytes = 0;
  int64_t lag = 0;
  bool backpressure = false;
  uint64_t backpressure_pauses = 0;  // times the target stayed over the limits for pause_after
  bool control_leader = false;       // this instance does the flow's control-plane work
  bool source_reachable = false;     // the last control-plane pass reached the cluster
  bool target_reachable = false;
  int64_t last_topic_sync_ms = 0;      // epoch ms of the last successful topic sync
  int64_t last_position_store_ms = 0;  // epoch ms of the last stored positions
  int topics = 0;                      // topics replicated
  int groups_synced = 0;               // consumer groups whose offsets the last group sync handled
  int64_t last_group_sync_ms = 0;
  std::vector<std::string> groups_skipped_active;  // live members on the target: not synced
  core::LatencyHistogram latency;  // source timestamp -> target ack (replication latency)
  std::map<std::string, uint64_t>
      errors;  // by kind: produce, delivery, consume, position_store, topic_sync
  std::vector<std::string> topic_errors;
  std::vector<PartitionStatus> partitions;  // user topics only (not the heartbeat topic)
  HeartbeatStatus heartbeat;                // enabled == false: heartbeats are off
  std::vector<BrokerThrottle> throttle;     // brokers that reported a throttle time
};

// Names of the flow's consumer group on the source and position group on the target.
std::string flow_group_id(const config::FlowConfig& flow);

class Flow {
 public:
  Flow(const config::Config& config, const config::FlowConfig& flow);
  ~Flow();
  Flow(const Flow&) = delete;
  Flow& operator=(const Flow&) = delete;

  // Connects to both clusters (clear error within the timeout when one is unreachable).
  void connect(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Replicates until `stop` is set; then flushes in-flight records, stores positions and
  // returns. Throws on a fatal error (after storing what is safe to store).
  void run(const std::atomic<bool>& stop);

  FlowStatus status() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kmirror::replicate
