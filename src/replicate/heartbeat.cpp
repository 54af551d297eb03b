#include "replicate/heartbeat.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "kafka/admin.h"

namespace kmirror::replicate {

using namespace std::chrono_literals;

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One partition: heartbeats are tiny and ordered. An hour of them is plenty to bridge a restart;
// short segments let that retention actually apply.
kafka::NewTopic heartbeat_topic() {
  return kafka::NewTopic{
      std::string(kHeartbeatTopic),
      1,
      -1,
      {{"cleanup.policy", "delete"}, {"retention.ms", "3600000"}, {"segment.ms", "600000"}}};
}

// Creates the heartbeat topic on a cluster unless it exists (or `create` is false); returns
// its partition count, or an error message.
std::pair<int, std::string> ensure_topic(rd_kafka_t* rk, std::chrono::milliseconds timeout,
                                         const std::string& cluster, bool create = true) {
  const std::string topic(kHeartbeatTopic);
  try {
    auto md = kafka::fetch_metadata(rk, timeout, topic);
    if (!md.topics.empty() && !md.topics.front().partitions.empty())
      return {static_cast<int>(md.topics.front().partitions.size()), {}};
    if (!create) return {0, {}};
    kafka::Admin admin(rk, timeout);
    auto res = admin.create_topics({heartbeat_topic()});
    if (!res.empty() && res[0].code != RD_KAFKA_RESP_ERR_NO_ERROR &&
        res[0].code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      return {0, "cannot create topic " + topic + " on cluster '" + cluster + "' (" + res[0].error +
                     "); create it (1 partition) or grant kmirror CREATE on it, or set "
                     "heartbeats: false on the flow"};
    }
    return {0, {}};  // created: its partitions show in the next metadata
  } catch (const std::exception& e) {
    return {0, "cannot read topic " + topic + " on cluster '" + cluster + "': " + e.what()};
  }
}

// The heartbeat topic's partition count on a cluster, creating it when missing and `create`
// is set; a topic just created is waited for briefly, so the flow subscribes to it in the same
// pass as the user topics (one rebalance, not a second one a pass later).
std::pair<int, std::string> ready_topic(rd_kafka_t* rk, std::chrono::milliseconds timeout,
                                        const std::string& cluster, bool create) {
  auto result = ensure_topic(rk, timeout, cluster, create);
  if (result.first > 0 || !result.second.empty() || !create) return result;
  kafka::wait_until(
      [&] {
        result = ensure_topic(rk, timeout, cluster, false);
        return result.first > 0 || !result.second.empty();
      },
      5s, 100ms);
  return result;
}

}  // namespace

std::string heartbeat_value(std::string_view flow_id, std::string_view source,
                            std::string_view target, int64_t timestamp_ms) {
  return nlohmann::json{
      {"flow", flow_id}, {"source", source}, {"target", target}, {"timestamp_ms", timestamp_ms}}
      .dump();
}

bool is_own_heartbeat(std::string_view key, std::string_view flow_id,
                      const std::optional<core::Provenance>& prov, core::ClusterHash source) {
  return key == flow_id && (!prov || prov->origin() == source);
}

Heartbeats::Heartbeats(kafka::Properties props, std::string flow_id, std::string source_name,
                       std::string target_name, std::chrono::milliseconds interval)
    : flow_id_(std::move(flow_id)),
      source_name_(std::move(source_name)),
      target_name_(std::move(target_name)),
      interval_(interval) {
  props["client.id"] = "kmirror-" + flow_id_ + "-heartbeat";
  props["acks"] = "all";
  props["linger.ms"] = "0";
  // A heartbeat that cannot be written soon is worthless: give up rather than pile them up.
  props["message.timeout.ms"] = std::to_string(std::max<int64_t>(10000, 2 * interval.count()));
  props["queue.buffering.max.messages"] = "100";
  auto conf = kafka::make_conf(props);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &Heartbeats::delivery_cb);
  rd_kafka_conf_set_opaque(conf.get(), this);
  producer_ = kafka::make_client(kafka::ClientKind::kProducer, std::move(conf));
  status_.enabled = true;
  status_.interval_ms = interval.count();
}

Heartbeats::~Heartbeats() {
  stop();
}

void Heartbeats::start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard lk(stop_mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { loop(); });
}

void Heartbeats::stop() {
  {
    std::lock_guard lk(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Heartbeats::ensure_source_topic() {
  if (source_topic_ready_) return true;
  auto [partitions, error] = ensure_topic(producer_.get(), 10s, source_name_);
  source_topic_ready_ = partitions > 0;
  std::lock_guard lk(mu_);
  if (!error.empty() && error != source_error_) spdlog::warn("flow {}: {}", flow_id_, error);
  source_error_ = error;
  return source_topic_ready_;
}

void Heartbeats::loop() {
  const std::string topic(kHeartbeatTopic);
  auto next = std::chrono::steady_clock::now();
  while (true) {
    {
      std::unique_lock lk(stop_mu_);
      if (stop_cv_.wait_until(lk, next, [&] { return stopping_; })) break;
    }
    next += interval_;
    // A stall (unreachable source) must not produce a burst of catch-up heartbeats.
    if (next < std::chrono::steady_clock::now())
      next = std::chrono::steady_clock::now() + interval_;
    rd_kafka_poll(producer_.get(), 0);
    if (!ensure_source_topic()) continue;
    const int64_t ts = now_ms();
    std::string value = heartbeat_value(flow_id_, source_name_, target_name_, ts);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer_.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
        RD_KAFKA_V_KEY(flow_id_.data(), flow_id_.size()),
        RD_KAFKA_V_VALUE(value.data(), value.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::lock_guard lk(mu_);
      ++status_.send_errors;
      source_error_ = std::string("cannot write a heartbeat to cluster '") + source_name_ +
                      "': " + rd_kafka_err2str(err);
    }
    rd_kafka_poll(producer_.get(), 0);
  }
  rd_kafka_flush(producer_.get(), 2000);
}

void Heartbeats::delivery_cb(rd_kafka_t*, const rd_kafka_message_t* report, void* opaque) {
  auto* self = static_cast<Heartbeats*>(opaque);
  std::lock_guard lk(self->mu_);
  if (report->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++self->status_.sent;
    self->status_.last_sent_ms = now_ms();
    self->source_error_.clear();
  } else {
    ++self->status_.send_errors;
    self->source_error_ = "heartbeat to cluster '" + self->source_name_ +
                          "' failed: " + rd_kafka_err2str(report->err);
  }
}

std::optional<sync::TopicPlan> Heartbeats::target_plan(rd_kafka_t* target_admin,
                                                       std::chrono::milliseconds timeout,
                                                       bool create) {
  auto [partitions, error] = ready_topic(target_admin, timeout, target_name_, create);
  if (!error.empty()) {
    std::lock_guard lk(mu_);
    if (error != target_error_) spdlog::warn("flow {}: {}", flow_id_, error);
    target_error_ = error;
    return std::nullopt;
  }
  bool sent = false;
  {
    std::lock_guard lk(mu_);
    target_error_.clear();
    sent = status_.sent > 0;
  }
  if (partitions == 0) return std::nullopt;  // not (yet) on the target
  // Subscribing before the source holds the topic would only yield unknown-topic errors. The
  // leader writes the heartbeats; other instances copy them if they hold the partition.
  if (!sent && ready_topic(producer_.get(), timeout, source_name_, create).first == 0)
    return std::nullopt;
  sync::TopicPlan plan;
  plan.source_topic = plan.target_topic = std::string(kHeartbeatTopic);
  plan.source_partitions = plan.target_partitions = partitions;
  return plan;
}

void Heartbeats::replicated(const rd_kafka_message_t* m) {
  const int64_t now = now_ms();
  const int64_t ts = rd_kafka_message_timestamp(m, nullptr);
  std::lock_guard lk(mu_);
  ++status_.replicated;
  status_.last_replicated_ms = now;
  if (ts > 0) {
    status_.last_latency_ms = std::max<int64_t>(0, now - ts);
    status_.latency.observe(status_.last_latency_ms);
  }
}

HeartbeatStatus Heartbeats::status() const {
  std::lock_guard lk(mu_);
  HeartbeatStatus st = status_;
  st.error = source_error_.empty() || target_error_.empty() ? source_error_ + target_error_
                                                            : source_error_ + "; " + target_error_;
  return st;
}

}  // namespace kmirror::replicate
