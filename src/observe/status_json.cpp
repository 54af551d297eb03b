#include "observe/status_json.h"

#include <algorithm>

namespace kmirror::observe {

namespace {

using nlohmann::json;

json latency_json(const core::LatencyHistogram& h) {
  json buckets = json::array();
  for (size_t i = 0; i <= core::LatencyHistogram::kBounds.size(); ++i)
    buckets.push_back(h.bucket(i));
  // Raw buckets let clients compute quantiles over their own window (difference of two polls).
  return {{"count", h.count()},
          {"sum", h.sum()},
          // A bucket's upper bound over-estimates; the largest latency seen is a tighter cap.
          {"p50", std::min(h.quantile(0.5), h.max())},
          {"p99", std::min(h.quantile(0.99), h.max())},
          {"max", h.max()},
          {"bounds", core::LatencyHistogram::kBounds},
          {"buckets", std::move(buckets)}};
}

json partition_json(const replicate::PartitionStatus& p) {
  return {{"topic", p.topic},
          {"partition", p.partition},
          {"position", p.position},
          {"source_end", p.source_end},
          {"lag", p.lag},
          {"records_replicated", p.replicated},
          {"records_filtered", p.filtered},
          {"bytes_replicated", p.bytes},
          {"last_latency_ms", p.last_latency_ms},
          {"record_age_ms", p.record_age_ms},
          {"stopped", !p.error.empty()},
          {"error", p.error.empty() ? json(nullptr) : json(p.error)}};
}

json heartbeat_json(const replicate::HeartbeatStatus& h) {
  if (!h.enabled) return {{"enabled", false}};
  return {{"enabled", true},
          {"interval_ms", h.interval_ms},
          {"last_latency_ms", h.last_latency_ms},
          {"last_replicated_ms", h.last_replicated_ms},
          {"last_sent_ms", h.last_sent_ms},
          {"sent", h.sent},
          {"send_errors", h.send_errors},
          {"replicated", h.replicated},
          {"lag", h.lag},
          {"latency_ms", latency_json(h.latency)},
          {"error", h.error.empty() ? json(nullptr) : json(h.error)}};
}

}  // namespace

json flow_json(const replicate::FlowStatus& f) {
  json partitions = json::array();
  for (const auto& p : f.partitions) partitions.push_back(partition_json(p));
  uint64_t errors_total = 0;
  for (const auto& [kind, n] : f.errors) errors_total += n;
  json throttle = json::array();
  for (const auto& t : f.throttle) {
    throttle.push_back({{"role", t.role},
                        {"cluster", t.cluster},
                        {"broker", t.broker},
                        {"broker_id", t.broker_id},
                        {"last_ms", t.last_ms},
                        {"max_ms", t.max_ms},
                        {"throttled", t.throttled},
                        {"total_ms", t.total_ms}});
  }
  return {{"id", f.id},
          {"state", f.state},
          {"control_leader", f.control_leader},
          {"source",
           {{"name", f.source},
            {"cluster_id", f.source_cluster_id},
            {"reachable", f.source_reachable}}},
          {"target",
           {{"name", f.target},
            {"cluster_id", f.target_cluster_id},
            {"reachable", f.target_reachable}}},
          {"records_replicated", f.replicated},
          {"records_filtered", f.filtered},
          {"bytes_replicated", f.bytes},
          {"lag", f.lag},
          {"inflight_bytes", f.inflight_bytes},
          {"backpressure", f.backpressure},
          {"backpressure_pauses", f.backpressure_pauses},
          {"topics", f.topics},
          {"latency_ms", latency_json(f.latency)},
          {"errors", f.errors},
          {"errors_total", errors_total},
          {"topic_errors", f.topic_errors},
          {"last_topic_sync_ms", f.last_topic_sync_ms},
          {"last_position_store_ms", f.last_position_store_ms},
          {"groups_synced", f.groups_synced},
          {"last_group_sync_ms", f.last_group_sync_ms},
          {"groups_skipped_active", f.groups_skipped_active},
          {"heartbeat", heartbeat_json(f.heartbeat)},
          {"throttle", std::move(throttle)},
          {"partitions", std::move(partitions)}};
}

json status_json(const std::vector<replicate::FlowStatus>& flows, const std::vector<Event>& events,
                 const std::string& version, int64_t now_ms) {
  json out = {{"schema", kStatusSchema}, {"version", version}, {"time_ms", now_ms}};
  Readiness r = readiness(flows);
  out["ready"] = r.ready;
  out["not_ready"] = r.reasons;
  json fl = json::array();
  for (const auto& f : flows) fl.push_back(flow_json(f));
  out["flows"] = std::move(fl);
  json ev = json::array();
  for (const auto& e : events) {
    ev.push_back({{"time_ms", e.time_ms},
                  {"flow", e.flow},
                  {"level", e.level},
                  {"kind", e.kind},
                  {"message", e.message}});
  }
  out["events"] = std::move(ev);
  return out;
}

Readiness readiness(const std::vector<replicate::FlowStatus>& flows) {
  Readiness r;
  if (flows.empty()) r.reasons.push_back("no flow is configured");
  for (const auto& f : flows) {
    if (f.state != "replicating") r.reasons.push_back("flow " + f.id + " is " + f.state);
    // Before the first control-plane pass reachability is unknown, not false.
    bool probed = f.last_topic_sync_ms > 0 || f.errors.contains("topic_sync");
    const char* unreachable = probed ? " is not reachable" : " has not been reached yet";
    if (!f.source_reachable) {
      r.reasons.push_back("flow " + f.id + ": source cluster " + f.source + unreachable);
    }
    if (!f.target_reachable) {
      r.reasons.push_back("flow " + f.id + ": target cluster " + f.target + unreachable);
    }
  }
  r.ready = r.reasons.empty();
  return r;
}

}  // namespace kmirror::observe
