// Heartbeats: a flow writes a small record to kmirror's heartbeat topic on its source every
// interval and replicates it through its own data plane, so the time from the record's creation
// to its acknowledgement by the target measures the real pipeline even when no user record
// flows (MirrorMaker 2's MirrorHeartbeatConnector plays this part there).
//
// Each flow copies only its own heartbeats, exactly one hop: records of other flows in the same
// topic (copies arriving from a reverse flow, heartbeats of flows to other targets) are skipped,
// so heartbeats can never loop whatever the topology or provenance settings.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "core/histogram.h"
#include "core/provenance.h"
#include "kafka/client.h"
#include "sync/topic_sync.h"

namespace kmirror::replicate {

// Same name on source and target (kmirror's own topics are never picked by topic filters).
inline constexpr std::string_view kHeartbeatTopic = "kmirror.heartbeats";

struct HeartbeatStatus {
  bool enabled = false;
  int64_t interval_ms = 0;
  uint64_t sent = 0;               // heartbeats the source acknowledged
  uint64_t send_errors = 0;        // heartbeats the source refused or that timed out
  uint64_t replicated = 0;         // own heartbeats acknowledged by the target
  int64_t last_latency_ms = -1;    // creation on the source -> acknowledgement by the target
  int64_t last_replicated_ms = 0;  // epoch ms of that acknowledgement (0: none yet)
  int64_t last_sent_ms = 0;        // epoch ms of the last heartbeat the source acknowledged
  int64_t lag = 0;                 // heartbeat records on the source not yet replicated
  core::LatencyHistogram latency;  // of every own heartbeat replicated
  std::string error;               // last problem writing heartbeats (empty: none)
};

// A heartbeat record's value: readable with any console consumer.
std::string heartbeat_value(std::string_view flow_id, std::string_view source,
                            std::string_view target, int64_t timestamp_ms);

// True when a record of the heartbeat topic is one this flow wrote: its key is the flow id and
// it was produced on the flow's source (no provenance, or provenance naming the source first).
bool is_own_heartbeat(std::string_view key, std::string_view flow_id,
                      const std::optional<core::Provenance>& prov, core::ClusterHash source);

class Heartbeats {
 public:
  Heartbeats(kafka::Properties source_props, std::string flow_id, std::string source_name,
             std::string target_name, std::chrono::milliseconds interval);
  ~Heartbeats();
  Heartbeats(const Heartbeats&) = delete;
  Heartbeats& operator=(const Heartbeats&) = delete;

  // Starts / stops the thread writing heartbeats to the source (creating the topic if missing).
  // Only the flow's control-plane leader writes them; stop() then start() resumes.
  void start();
  void stop();

  // The control plane's plan for the heartbeat topic: creates it on the target when missing
  // (unless `create` is false: not the leader). nullopt (and the reason in status) when the
  // target cannot be read or written, or the topic is not on both clusters yet.
  std::optional<sync::TopicPlan> target_plan(rd_kafka_t* target_admin,
                                             std::chrono::milliseconds timeout, bool create = true);

  static bool is_topic(std::string_view topic) { return topic == kHeartbeatTopic; }
  // Data plane: the target acknowledged one of this flow's heartbeats (the consumed source
  // record, whose timestamp is its creation time).
  void replicated(const rd_kafka_message_t* source_record);

  HeartbeatStatus status() const;

 private:
  void loop();
  bool ensure_source_topic();
  static void delivery_cb(rd_kafka_t*, const rd_kafka_message_t* report, void* opaque);

  const std::string flow_id_, source_name_, target_name_;
  const std::chrono::milliseconds interval_;
  kafka::KafkaPtr producer_;
  bool source_topic_ready_ = false;  // heartbeat thread only
  std::thread thread_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  mutable std::mutex mu_;
  HeartbeatStatus status_;
  std::string source_error_, target_error_;  // kept apart: one side's success clears its own
};

}  // namespace kmirror::replicate
