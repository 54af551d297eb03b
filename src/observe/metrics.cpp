#include "observe/metrics.h"

#include <prometheus/gauge.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <string_view>

namespace kmirror::observe {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

// Error kinds a flow counts; always exported so alerts see 0 rather than a missing series.
constexpr std::array<std::string_view, 6> kErrorKinds = {
    "produce", "delivery", "consume", "position_store", "topic_sync", "offset_sync"};

MetricFamily family(std::string name, std::string help, MetricType type) {
  return MetricFamily{"kmirror_" + std::move(name), std::move(help), type, {}};
}

void add(MetricFamily& fam, Labels labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (fam.type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  fam.metric.push_back(std::move(m));
}

ClientMetric histogram(const Labels& labels, const core::LatencyHistogram& hist) {
  ClientMetric h;
  h.label = labels;
  h.histogram.sample_count = hist.count();
  h.histogram.sample_sum = static_cast<double>(hist.sum());
  uint64_t cumulative = 0;
  for (size_t i = 0; i < core::LatencyHistogram::kBounds.size(); ++i) {
    cumulative += hist.bucket(i);
    h.histogram.bucket.push_back(
        {cumulative, static_cast<double>(core::LatencyHistogram::kBounds[i])});
  }
  return h;  // the serializer adds le="+Inf" = sample_count
}

Labels partition_labels(const replicate::FlowStatus& f, const replicate::PartitionStatus& p) {
  return {{"flow", f.id}, {"topic", p.topic}, {"partition", std::to_string(p.partition)}};
}

}  // namespace

std::vector<MetricFamily> FlowCollector::families(const std::vector<replicate::FlowStatus>& flows) {
  auto latency = family("replication_latency_ms",
                        "Time from a record's source timestamp to its acknowledgement by the "
                        "target cluster, in milliseconds",
                        MetricType::Histogram);
  auto lag = family("message_lag",
                    "Records on the source partition not yet replicated (source end offset minus "
                    "replicated position)",
                    MetricType::Gauge);
  auto age = family("record_age_ms",
                    "Age of the last record of the partition when kmirror consumed it, in "
                    "milliseconds",
                    MetricType::Gauge);
  auto position =
      family("replicated_position", "Next source offset stored as replicated on the target cluster",
             MetricType::Gauge);
  auto source_end =
      family("source_end_offset", "Source partition end offset last seen", MetricType::Gauge);
  auto records = family("records_replicated_total",
                        "Records acknowledged by the target cluster since kmirror started",
                        MetricType::Counter);
  auto bytes = family("bytes_replicated_total",
                      "Key and value bytes acknowledged by the target cluster since kmirror "
                      "started",
                      MetricType::Counter);
  auto filtered = family("records_filtered_total",
                         "Records not copied because the target already has them (loop "
                         "prevention by provenance header)",
                         MetricType::Counter);
  auto stopped = family("partition_stopped",
                        "1 when replication of the partition is stopped by an error (see "
                        "/status for the reason)",
                        MetricType::Gauge);
  auto errors = family("errors_total", "Errors by kind since kmirror started", MetricType::Counter);
  auto inflight = family("inflight_bytes", "Bytes consumed but not yet acknowledged by the target",
                         MetricType::Gauge);
  auto backpressure = family("backpressure",
                             "1 while consumption is paused because inflight_bytes reached "
                             "buffer.max_inflight_bytes",
                             MetricType::Gauge);
  auto pauses = family("backpressure_pauses_total",
                       "Times the source partitions were paused because the target stayed over "
                       "the in-flight limits for buffer.pause_after",
                       MetricType::Counter);
  auto reachable =
      family("cluster_reachable", "1 when the flow's last control-plane pass reached the cluster",
             MetricType::Gauge);
  auto topics = family("topics_replicated", "Topics the flow replicates", MetricType::Gauge);
  auto leader = family("control_leader",
                       "1 while this instance is the flow's control-plane leader (topic, ACL and "
                       "group offset sync, heartbeats); exactly one instance of a flow has 1",
                       MetricType::Gauge);
  auto topic_sync = family("last_topic_sync_timestamp_ms",
                           "Epoch milliseconds of the last successful topic synchronisation (0: "
                           "none yet)",
                           MetricType::Gauge);
  auto position_store = family("last_position_store_timestamp_ms",
                               "Epoch milliseconds when positions were last stored on the target "
                               "cluster (0: none yet)",
                               MetricType::Gauge);
  auto groups = family("consumer_groups_synced",
                       "Consumer groups whose offsets the last group offset sync translated",
                       MetricType::Gauge);
  auto group_sync = family("last_group_sync_timestamp_ms",
                           "Epoch milliseconds of the last consumer group offset sync (0: none "
                           "yet)",
                           MetricType::Gauge);
  auto state = family("flow_state", "1 for the flow's current state", MetricType::Gauge);
  auto flow_lag =
      family("flow_lag", "Sum of message_lag over the flow's partitions", MetricType::Gauge);
  auto hb_latency = family("heartbeat_latency_ms",
                           "Time from a heartbeat's creation on the source to its acknowledgement "
                           "by the target, in milliseconds (measured while no user record flows "
                           "too)",
                           MetricType::Histogram);
  auto hb_last = family("last_heartbeat_latency_ms",
                        "Latency of the last heartbeat the target acknowledged, in milliseconds",
                        MetricType::Gauge);
  auto hb_time = family("last_heartbeat_timestamp_ms",
                        "Epoch milliseconds when the target last acknowledged a heartbeat of the "
                        "flow (0: none yet)",
                        MetricType::Gauge);
  auto hb_sent = family("heartbeats_sent_total", "Heartbeats written to the source cluster",
                        MetricType::Counter);
  auto hb_replicated =
      family("heartbeats_replicated_total",
             "Heartbeats of the flow acknowledged by the target cluster", MetricType::Counter);
  auto throttle_last = family("throttle_time_ms",
                              "Throttle time (client quota) the broker reported in its last "
                              "throttled response and 0 once throttling stopped, in milliseconds",
                              MetricType::Gauge);
  auto throttle_total =
      family("throttle_time_ms_total", "Sum of throttle times the broker reported, in milliseconds",
             MetricType::Counter);
  auto throttled =
      family("throttled_responses_total", "Broker responses that reported a throttle time above 0",
             MetricType::Counter);

  for (const auto& f : flows) {
    const Labels flow{{"flow", f.id}};

    latency.metric.push_back(
        histogram(flow, f.latency));  // the serializer adds le="+Inf" = sample_count

    if (f.heartbeat.enabled) {
      hb_latency.metric.push_back(histogram(flow, f.heartbeat.latency));
      if (f.heartbeat.last_latency_ms >= 0)
        add(hb_last, flow, static_cast<double>(f.heartbeat.last_latency_ms));
      add(hb_time, flow, static_cast<double>(f.heartbeat.last_replicated_ms));
      add(hb_sent, flow, static_cast<double>(f.heartbeat.sent));
      add(hb_replicated, flow, static_cast<double>(f.heartbeat.replicated));
    }
    for (const auto& t : f.throttle) {
      Labels labels{{"flow", f.id},
                    {"cluster", t.cluster},
                    {"role", t.role},
                    {"broker", std::to_string(t.broker_id)}};
      add(throttle_last, labels, static_cast<double>(t.last_ms));
      add(throttle_total, labels, static_cast<double>(t.total_ms));
      add(throttled, labels, static_cast<double>(t.throttled));
    }

    for (const auto& p : f.partitions) {
      auto labels = partition_labels(f, p);
      add(lag, labels, static_cast<double>(p.lag));
      if (p.record_age_ms >= 0) add(age, labels, static_cast<double>(p.record_age_ms));
      if (p.position >= 0) add(position, labels, static_cast<double>(p.position));
      if (p.source_end >= 0) add(source_end, labels, static_cast<double>(p.source_end));
      add(records, labels, static_cast<double>(p.replicated));
      add(bytes, labels, static_cast<double>(p.bytes));
      add(filtered, labels, static_cast<double>(p.filtered));
      add(stopped, labels, p.error.empty() ? 0 : 1);
    }

    std::map<std::string, uint64_t> by_kind(f.errors.begin(), f.errors.end());
    for (auto kind : kErrorKinds) by_kind.try_emplace(std::string(kind), 0);
    for (const auto& [kind, n] : by_kind) {
      add(errors, {{"flow", f.id}, {"kind", kind}}, static_cast<double>(n));
    }

    add(inflight, flow, static_cast<double>(f.inflight_bytes));
    add(backpressure, flow, f.backpressure ? 1 : 0);
    add(pauses, flow, static_cast<double>(f.backpressure_pauses));
    add(reachable, {{"flow", f.id}, {"cluster", f.source}, {"role", "source"}},
        f.source_reachable ? 1 : 0);
    add(reachable, {{"flow", f.id}, {"cluster", f.target}, {"role", "target"}},
        f.target_reachable ? 1 : 0);
    add(topics, flow, f.topics);
    add(leader, flow, f.control_leader ? 1 : 0);
    add(topic_sync, flow, static_cast<double>(f.last_topic_sync_ms));
    add(position_store, flow, static_cast<double>(f.last_position_store_ms));
    add(groups, flow, f.groups_synced);
    add(group_sync, flow, static_cast<double>(f.last_group_sync_ms));
    add(state, {{"flow", f.id}, {"state", f.state}}, 1);
    add(flow_lag, flow, static_cast<double>(f.lag));
  }

  std::vector<MetricFamily> out;
  for (auto* fam :
       {&latency,        &lag,     &flow_lag,      &age,           &position,       &source_end,
        &records,        &bytes,   &filtered,      &stopped,       &errors,         &inflight,
        &backpressure,   &pauses,  &reachable,     &topics,        &leader,         &topic_sync,
        &position_store, &groups,  &group_sync,    &state,         &hb_latency,     &hb_last,
        &hb_time,        &hb_sent, &hb_replicated, &throttle_last, &throttle_total, &throttled}) {
    out.push_back(std::move(*fam));
  }
  return out;
}

std::vector<MetricFamily> FlowCollector::Collect() const {
  return families(source_());
}

Metrics::Metrics(StatusSource source, const std::string& version)
    : registry_(std::make_shared<prometheus::Registry>()), flows_(std::move(source)) {
  prometheus::BuildGauge()
      .Name("kmirror_build_info")
      .Help("Always 1; the version label says which kmirror runs")
      .Register(*registry_)
      .Add({{"version", version}})
      .Set(1);
}

std::string Metrics::render() const {
  auto families = registry_->Collect();
  auto flows = flows_.Collect();
  families.insert(families.end(), std::make_move_iterator(flows.begin()),
                  std::make_move_iterator(flows.end()));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace kmirror::observe
