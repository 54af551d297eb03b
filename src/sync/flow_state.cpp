#include "sync/flow_state.h"

#include <nlohmann/json.hpp>

#include "kafka/admin.h"
#include "kafka/reader.h"

namespace kmirror::sync {

namespace {

nlohmann::json offsets_json(const PartitionOffsets& o) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [topic, parts] : o) {
    for (const auto& [p, off] : parts) j[topic][std::to_string(p)] = off;
  }
  return j;
}

PartitionOffsets offsets_from(const nlohmann::json& j) {
  PartitionOffsets o;
  if (!j.is_object()) return o;
  for (const auto& [topic, parts] : j.items()) {
    for (const auto& [p, off] : parts.items()) o[topic][std::stoi(p)] = off.get<int64_t>();
  }
  return o;
}

}  // namespace

FlowStateStore::FlowStateStore(kafka::Properties target) : props_(std::move(target)) {
  auto p = props_;
  p["enable.idempotence"] = "true";
  p["acks"] = "all";
  producer_ = kafka::make_client(kafka::ClientKind::kProducer, p);
}

void FlowStateStore::ensure_topic(std::chrono::milliseconds timeout) {
  if (topic_ready_) return;
  auto md = kafka::fetch_metadata(producer_.get(), timeout, kFlowStateTopic);
  if (md.topics.empty()) {
    kafka::Admin admin(producer_.get(), timeout);
    auto res = admin.create_topics(
        {kafka::NewTopic{kFlowStateTopic, 1, -1, {{"cleanup.policy", "compact"}}}});
    if (!res.empty() && res[0].code != RD_KAFKA_RESP_ERR_NO_ERROR &&
        res[0].code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      throw std::runtime_error("cannot create " + std::string(kFlowStateTopic) +
                               " on the target: " + res[0].error);
    }
    kafka::wait_until(
        [&] {
          return !kafka::fetch_metadata(producer_.get(), timeout, kFlowStateTopic).topics.empty();
        },
        timeout);
  }
  topic_ready_ = true;
}

std::optional<FlowState> FlowStateStore::read(const std::string& flow_id,
                                              std::chrono::milliseconds timeout) {
  auto md = kafka::fetch_metadata(producer_.get(), timeout, kFlowStateTopic);
  if (md.topics.empty()) return std::nullopt;
  auto w = kafka::query_watermarks(producer_.get(), kFlowStateTopic, 0, timeout);
  std::optional<FlowState> out;
  PartitionOffsets source_ends;
  int64_t source_ends_ms = 0;
  const std::string ends_key = flow_id + "#source-ends";
  bool complete = kafka::read_range(
      props_, kFlowStateTopic, 0, w.low, w.high, timeout, [&](const rd_kafka_message_t* m) {
        std::string key(static_cast<const char*>(m->key), m->key_len);
        if (key == ends_key && m->payload != nullptr) {
          auto j = nlohmann::json::parse(std::string(static_cast<const char*>(m->payload), m->len),
                                         nullptr, false);
          if (!j.is_discarded()) {
            source_ends = offsets_from(j.value("ends", nlohmann::json::object()));
            source_ends_ms = j.value("at_ms", int64_t{0});
          }
          return;
        }
        if (key != flow_id) return;
        if (m->payload == nullptr) {
          out.reset();
          return;
        }
        auto j = nlohmann::json::parse(std::string(static_cast<const char*>(m->payload), m->len),
                                       nullptr, false);
        if (j.is_discarded()) return;
        FlowState s;
        s.state = j.value("state", "running");
        s.mode = j.value("mode", "");
        s.since_ms = j.value("since_ms", int64_t{0});
        s.target_ends = offsets_from(j.value("target_ends", nlohmann::json::object()));
        out = s;
      });
  if (!complete) throw std::runtime_error("reading the state of flow " + flow_id + " timed out");
  if (!source_ends.empty()) {
    if (!out) out = FlowState{};
    out->source_ends = source_ends;
    out->source_ends_ms = source_ends_ms;
  }
  return out;
}

void FlowStateStore::write(const std::string& flow_id, const FlowState& s,
                           std::chrono::milliseconds timeout) {
  std::string value = nlohmann::json{{"state", s.state},
                                     {"mode", s.mode},
                                     {"since_ms", s.since_ms},
                                     {"target_ends", offsets_json(s.target_ends)}}
                          .dump();
  put(flow_id, value, timeout);
}

void FlowStateStore::write_source_ends(const std::string& flow_id, const PartitionOffsets& ends,
                                       std::chrono::milliseconds timeout) {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  put(flow_id + "#source-ends", nlohmann::json{{"ends", offsets_json(ends)}, {"at_ms", now}}.dump(),
      timeout);
}

void FlowStateStore::put(const std::string& key, const std::string& value,
                         std::chrono::milliseconds timeout) {
  ensure_topic(timeout);
  kafka::check(rd_kafka_producev(producer_.get(), RD_KAFKA_V_TOPIC(kFlowStateTopic),
                                 RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_KEY(key.data(), key.size()),
                                 RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
               "write flow state");
  if (rd_kafka_flush(producer_.get(), static_cast<int>(timeout.count())) !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("writing " + key + " to " + kFlowStateTopic +
                             " was not acknowledged in time");
  }
}

}  // namespace kmirror::sync
