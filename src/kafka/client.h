// Creating librdkafka clients and the metadata calls every subsystem needs.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kafka/handles.h"

namespace kmirror::kafka {

using Properties = std::map<std::string, std::string>;

// True for property names whose values must never be printed (passwords, keys, tokens).
bool is_secret_property(const std::string& name);

// Builds a librdkafka configuration; errors name the property but never a secret's value.
ConfPtr make_conf(const Properties& props);

enum class ClientKind { kProducer, kConsumer };

// Creates a client. `conf` is consumed. Errors carry librdkafka's explanation.
KafkaPtr make_client(ClientKind kind, ConfPtr conf);
KafkaPtr make_client(ClientKind kind, const Properties& props);

struct PartitionInfo {
  int32_t id = 0;
  int32_t leader = -1;
  std::vector<int32_t> replicas;
};

struct TopicInfo {
  std::string name;
  std::vector<PartitionInfo> partitions;
};

struct ClusterMetadata {
  std::string cluster_id;
  int broker_count = 0;
  std::vector<TopicInfo> topics;  // sorted by name
};

// Fetches metadata for all topics (or one when `topic` is non-empty).
ClusterMetadata fetch_metadata(rd_kafka_t* rk, std::chrono::milliseconds timeout,
                               const std::string& topic = {});

// Kafka's own cluster id; throws when the cluster does not answer within `timeout`.
std::string fetch_cluster_id(rd_kafka_t* rk, std::chrono::milliseconds timeout);

// Connects a short-lived client made from `props` and returns the cluster id. A failed
// authentication or TLS handshake, which retrying cannot fix, throws KafkaError at once
// (code RD_KAFKA_RESP_ERR__AUTHENTICATION or __SSL, librdkafka's reason as message) instead of
// waiting out `timeout`; no answer within `timeout` throws with code __TIMED_OUT and the last
// connection error as message (empty when there was none).
std::string probe_cluster_id(const Properties& props, std::chrono::milliseconds timeout);

struct Watermarks {
  int64_t low = 0;
  int64_t high = 0;
};

Watermarks query_watermarks(rd_kafka_t* rk, const std::string& topic, int32_t partition,
                            std::chrono::milliseconds timeout);

// The watermarks of many partitions in one request per broker (two: low, then high). A
// partition missing from the result could not be asked now (e.g. no leader yet): ask it alone
// with query_watermarks, which waits for it.
std::map<std::pair<std::string, int32_t>, Watermarks> query_watermarks(
    rd_kafka_t* rk, const std::vector<std::pair<std::string, int32_t>>& partitions,
    std::chrono::milliseconds timeout);

// One round trip to a broker of `rk`'s cluster: the shorter of two metadata requests timed
// once the connection is up (a first request opens it). nullopt when no broker answers
// within `timeout` (each request waits at most that long).
std::optional<std::chrono::milliseconds> round_trip(rd_kafka_t* rk,
                                                    std::chrono::milliseconds timeout);

// The first (`which` = RD_KAFKA_OFFSET_BEGINNING) or end (RD_KAFKA_OFFSET_END) offsets of
// many partitions in one request per broker; as above, a partition may be missing.
std::map<std::pair<std::string, int32_t>, int64_t> query_offsets(
    rd_kafka_t* rk, const std::vector<std::pair<std::string, int32_t>>& partitions, int64_t which,
    std::chrono::milliseconds timeout);

// Commits `offsets` for the consumer group of `rk` and waits for the answer at most `timeout`
// (RD_KAFKA_RESP_ERR__TIMED_OUT then). librdkafka's synchronous rd_kafka_commit waits as long
// as the group's coordinator is unknown: past a minute with a target broker killed.
rd_kafka_resp_err_t commit_within(rd_kafka_t* rk, const rd_kafka_topic_partition_list_t* offsets,
                                  std::chrono::milliseconds timeout);

// While an InterruptScope lives, the blocking requests its thread makes through this module
// (metadata, watermarks, offsets, Admin) give up within a few seconds of `stop` being set,
// with KafkaError RD_KAFKA_RESP_ERR__INTR: a stopping flow does not wait out a 30 s request
// to a cluster that is gone. Scopes nest; the innermost one counts.
class InterruptScope {
 public:
  explicit InterruptScope(const std::atomic<bool>& stop);
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  const std::atomic<bool>* outer_;
};

// True when this thread's innermost InterruptScope has been told to stop.
bool interrupted();

// Runs `attempt(slice_ms)`, a blocking librdkafka call, until it answers anything but a
// timeout, `timeout` passes, or the thread is interrupted (RD_KAFKA_RESP_ERR__INTR). Outside
// an InterruptScope: one attempt with the whole timeout. Inside: slices of 1, 2, 4 s (at
// most 4 s), so an answer slower than a slice still arrives and a stop waits one slice.
rd_kafka_resp_err_t call_interruptibly(std::chrono::milliseconds timeout,
                                       const std::function<rd_kafka_resp_err_t(int)>& attempt);

// Polls `condition` every `interval` until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = std::chrono::milliseconds(100));

}  // namespace kmirror::kafka
