#include "replicate/flow.h"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <future>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>

#include "core/parallel.h"
#include "core/partition_progress.h"
#include "core/position_metadata.h"
#include "core/provenance.h"
#include "core/topic_filter.h"
#include "kafka/client.h"
#include "kafka/reader.h"
#include "replicate/fetch_waker.h"
#include "replicate/leadership.h"
#include "replicate/offset_maps.h"
#include "replicate/transaction.h"
#include "sync/acl_sync.h"
#include "sync/flow_state.h"
#include "sync/group_sync.h"
#include "sync/topic_sync.h"

namespace kmirror::replicate {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string flow_group_id(const config::FlowConfig& flow) {
  return "kmirror." + flow.id;
}

namespace {

// Framing bytes a record adds to its key, value and headers in a v2 batch (upper bound).
constexpr int64_t kRecordOverhead = 128;
// Partitions whose resume point is worked out at once when an assignment arrives.
constexpr size_t kAssignParallelism = 8;

core::NamingPolicy naming_of(const config::FlowConfig& f) {
  return f.naming == config::NamingPolicy::kPrefix ? core::NamingPolicy::kPrefix
                                                   : core::NamingPolicy::kIdentity;
}

std::string tp_name(const std::string& topic, int32_t partition) {
  return topic + "[" + std::to_string(partition) + "]";
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t headers_size(const rd_kafka_headers_t* hdrs) {
  if (hdrs == nullptr) return 0;
  int64_t total = 0;
  const char* name;
  const void* value;
  size_t size;
  for (size_t i = 0;
       rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
    total += static_cast<int64_t>(strlen(name) + size + 10);
  }
  return total;
}

}  // namespace

struct Flow::Impl {
  struct PartitionState {
    std::string source_topic;
    int32_t partition = 0;
    std::string target_topic;
    rd_kafka_topic_t* target_rkt = nullptr;  // owned by the producer handle's topic cache
    core::PartitionProgress progress;
    int64_t stored = -1;         // position last stored in the target cluster
    int64_t next_expected = -1;  // offset after the last record taken from the consumer
    // The offset it was assigned at (maybe logical): where it resumes before its first record.
    int64_t assigned_at = RD_KAFKA_OFFSET_INVALID;
    int64_t rewind_to = -1;    // exactly-once: where to re-read from if the open txn aborts
    int64_t target_floor = 0;  // target offset where copies of this source incarnation begin
    int64_t max_message_bytes = 1048588;
    rd_kafka_t* consumer = nullptr;  // the lane's consumer that fetches it
    bool failed = false;
    bool waiting_target = false;  // the target partition does not exist yet
    // Assigned while waiting for its target from the source's first offset, which is looked up
    // once the target is ready (retention may move it meanwhile).
    bool first_offset_unresolved = false;
    bool heartbeat = false;  // of the heartbeat topic: not a user record
    std::string error;
    uint64_t replicated = 0, filtered = 0, bytes = 0;
    int64_t last_latency_ms = -1, record_age_ms = -1;
  };

  config::Config config;
  config::FlowConfig flow;
  config::ClusterConfig source_cluster;
  config::ClusterConfig target_cluster;
  core::ClusterHash source_hash = 0;
  core::ClusterHash target_hash = 0;
  // Origins whose records this flow does not relay (they reach the target by another flow).
  std::set<core::ClusterHash> not_relayed;
  bool relay_none = false;

  // Source consumers, each with its own connections (source_connections): a long link carries
  // one fetch per round trip and connection. The first is the flow's member of its consumer
  // group and is assigned every partition the group gives this instance; it fetches its share
  // and keeps the others paused, which the other lanes fetch by manual assignment. Extra group
  // members would cost a rebalance per lane at start (a second or more over a long link).
  struct Lane {
    kafka::KafkaPtr consumer;
    kafka::QueuePtr queue;  // the consumer's queue, taken from in batches (released first)
    std::unique_ptr<FetchWaker> fetch_waker;  // null when KMIRROR_FETCH_WAKEUP=0 (measurements)
  };
  std::vector<Lane> lanes;
  rd_kafka_t* group_member() const { return lanes.front().consumer.get(); }
  // Several lanes: librdkafka writes to this pipe when a lane's queue gets something, so the
  // copy thread can wait for any lane.
  std::array<int, 2> lanes_ready{-1, -1};
  // Until then, the fetchers are woken even while no record arrives: partitions just assigned,
  // resumed or sought start fetching only when their broker thread wakes up.
  Clock::time_point wake_fetch_until{};
  kafka::KafkaPtr producer;      // target: records
  kafka::KafkaPtr positions;     // target: stores positions as the flow group's offsets
  kafka::KafkaPtr source_admin;  // source: metadata and admin calls of the control thread
  kafka::KafkaPtr target_admin;  // target: same
  std::unique_ptr<OffsetMaps> offset_maps;
  std::unique_ptr<sync::FlowStateStore> state_store;
  std::unique_ptr<Heartbeats> heartbeats;  // null when the flow's heartbeats are off
  // Which instance of the flow does the control-plane work (the others only copy records).
  std::unique_ptr<ControlLeadership> leadership;
  std::atomic<bool> leadership_changed{false};  // wakes the control thread
  // The leader's offset maps of partitions other instances copy (control thread only): rebuilt
  // from the persisted maps and the copies' provenance headers on the target.
  std::unique_ptr<OffsetMaps> peer_maps;
  std::mutex owned_mu;
  std::set<OffsetMaps::Key> owned;  // target partitions this instance copies (its own maps)
  ThrottleTracker throttle;
  std::string disabled_reason;         // set: the flow is failed over and must not run
  std::atomic<bool> self_stop{false};  // a failover declared while running stops the flow

  // Control plane -> data plane hand-over.
  std::mutex plans_mu;
  std::condition_variable plans_cv;
  std::map<std::string, sync::TopicPlan> plans;  // by source topic
  uint64_t plans_version = 0;
  Clock::time_point plans_made{};        // when the control plane last published plans
  std::set<std::string> initial_topics;  // topics seen at start: the start position applies
  bool initial_known = false;
  std::atomic<bool> control_stop{false};
  std::thread control;

  // Data plane state: touched only by the thread in run() (callbacks run there too).
  std::map<std::pair<std::string, int32_t>, std::unique_ptr<PartitionState>> parts;
  // By target topic: its producer handle and the source topic it copies (a delivery report
  // names only the target).
  struct TargetTopic {
    rd_kafka_topic_t* rkt = nullptr;  // owned by the producer handle's topic cache
    std::string source_topic;
  };
  std::map<std::string, TargetTopic, std::less<>> target_topics;
  std::vector<std::string> subscribed;
  std::set<std::string> deleted_topics;  // gone from the source while subscribed
  uint64_t applied_version = 0;
  int64_t inflight_bytes = 0;
  int64_t inflight_records = 0;
  uint64_t total_replicated = 0, total_filtered = 0, total_bytes = 0;  // this run, all partitions
  bool stopping = false;     // shutdown() began: partitions are revoked without a second drain
  uint64_t redelivered = 0;  // records the consumer handed over twice (dropped the second time)
  uint64_t redelivered_logged = 0;
  core::LatencyHistogram latency;
  std::map<std::string, uint64_t> errors;  // data plane errors by kind
  int64_t last_position_store_ms = 0;
  // Backpressure: above the in-flight limit no record is taken from the consumer. Its queue
  // (queued.max.messages.kbytes) fills and librdkafka stops fetching by itself, keeping what
  // it fetched. Pausing the partitions instead drops that queue (the pause bumps each
  // partition's fetch version) and fetches it again on resume; it is done only when the
  // target stays stuck, so the consumer keeps serving group rebalances.
  bool backpressure = false;
  bool backpressure_paused = false;
  uint64_t backpressure_pauses = 0;
  Clock::time_point backpressure_since{};
  // A source this far away gets larger fetches and more connections (regions far apart, not
  // racks). A busy broker nearby answered in 11 ms; a neighbouring region under 20 ms keeps
  // the near settings, whose 4 MiB fetches carry 270 MB/s per connection at 15 ms.
  static constexpr auto kLongLinkRoundTrip = 20ms;
  // Source connections of a far source at source_connections: auto.
  static constexpr int kLongLinkConnections = 3;
  const std::atomic<bool>* stop_flag = nullptr;

  // Exactly-once: records and positions go to the target in one transaction.
  struct PendingCopy {
    std::string target_topic;
    int32_t partition;
    int64_t source_offset, target_offset;
  };
  bool exactly_once = false;
  bool txn_open = false;
  bool txn_failed = false;  // a record of the open transaction was refused: it must abort
  int64_t txn_bytes = 0;
  std::vector<PendingCopy> txn_copies;  // offset-map entries, recorded once committed
  std::string txn_fatal;                // set: the producer is fenced or broken; stop writing
  rd_kafka_consumer_group_metadata_t* group_metadata = nullptr;

  mutable std::mutex status_mu;
  FlowStatus snapshot;

  Impl(const config::Config& c, const config::FlowConfig& f)
      : config(c),
        flow(f),
        source_cluster(c.cluster(f.source)),
        target_cluster(c.cluster(f.target)) {
    snapshot.id = f.id;
    snapshot.source = f.source;
    snapshot.target = f.target;
  }

  // ---- setup -------------------------------------------------------------------------

  kafka::Properties base_props(const config::ClusterConfig& cluster, const std::string& role) {
    kafka::Properties p = cluster.client_properties();
    p["client.id"] = "kmirror-" + flow.id + "-" + role;
    return p;
  }

  // The cluster's id, through a probe client that fails at once on bad credentials or TLS.
  std::string connect_cluster(const config::ClusterConfig& cluster,
                              std::chrono::milliseconds timeout) {
    try {
      return kafka::probe_cluster_id(base_props(cluster, "probe"), timeout);
    } catch (const kafka::KafkaError& e) {
      if (e.code() == RD_KAFKA_RESP_ERR__AUTHENTICATION) {
        throw std::runtime_error("flow " + flow.id + ": cluster '" + cluster.name + "' at " +
                                 cluster.bootstrap_servers + " refused kmirror's credentials (" +
                                 e.what() +
                                 "); check sasl.mechanisms, sasl.username and sasl.password in "
                                 "the cluster's properties");
      }
      if (e.code() == RD_KAFKA_RESP_ERR__SSL) {
        throw std::runtime_error("flow " + flow.id + ": TLS with cluster '" + cluster.name +
                                 "' at " + cluster.bootstrap_servers + " failed (" + e.what() +
                                 "); check ssl.ca.location and the client certificate and key "
                                 "in the cluster's properties");
      }
      std::string last = e.what();
      throw std::runtime_error("flow " + flow.id + ": cannot reach cluster '" + cluster.name +
                               "' at " + cluster.bootstrap_servers + " within " +
                               std::to_string(timeout.count() / 1000) + " s" +
                               (last.empty() ? "" : " (last error: " + last + ")") +
                               "; check bootstrap_servers, the network and the cluster's "
                               "security settings (properties)");
    }
  }

  // librdkafka before 2.6.1 repeats the client nonce in SCRAM's final message, which Kafka 4
  // brokers refuse as invalid credentials even when the password is right.
  static std::string scram_hint(const config::ClusterConfig& cluster) {
    auto props = cluster.client_properties();
    std::string mechanism = props.count("sasl.mechanisms")  ? props.at("sasl.mechanisms")
                            : props.count("sasl.mechanism") ? props.at("sasl.mechanism")
                                                            : "";
    if (mechanism.rfind("SCRAM", 0) != 0 || rd_kafka_version() >= 0x020601ff) return "";
    return std::string(" (if they are right: librdkafka ") + rd_kafka_version_str() +
           " cannot use SCRAM with Kafka 4 brokers, fixed in librdkafka 2.6.1; use PLAIN over "
           "TLS or a newer librdkafka)";
  }

  void make_lanes(kafka::Properties props, int connections) {
    const char* wakeup = std::getenv("KMIRROR_FETCH_WAKEUP");
    const bool wake_fetchers = wakeup == nullptr || std::string(wakeup) != "0";
    if (connections > 1 && pipe2(lanes_ready.data(), O_NONBLOCK | O_CLOEXEC) != 0)
      throw std::runtime_error(std::string("cannot create a pipe: ") + strerror(errno));
    const std::string client_id = props["client.id"];
    for (int i = 0; i < connections; ++i) {
      if (i > 0) props["client.id"] = client_id + "-" + std::to_string(i + 1);
      auto conf = kafka::make_conf(props);
      rd_kafka_conf_set_rebalance_cb(conf.get(), &Impl::rebalance_cb);
      rd_kafka_conf_set_throttle_cb(conf.get(), &Impl::throttle_cb);
      rd_kafka_conf_set_opaque(conf.get(), this);
      Lane lane;
      lane.consumer = kafka::make_client(kafka::ClientKind::kConsumer, std::move(conf));
      rd_kafka_poll_set_consumer(lane.consumer.get());
      lane.queue.reset(rd_kafka_queue_get_consumer(lane.consumer.get()));
      if (connections > 1) rd_kafka_queue_io_event_enable(lane.queue.get(), lanes_ready[1], "1", 1);
      if (wake_fetchers) lane.fetch_waker = std::make_unique<FetchWaker>(lane.consumer.get());
      lanes.push_back(std::move(lane));
    }
  }

  void connect(std::chrono::milliseconds timeout) {
    try {
      set_up(timeout);
    } catch (...) {
      stop_control();  // started part-way through: a failed start leaves nothing running
      throw;
    }
  }

  // Under plans_mu: a control thread between its check of control_stop and its wait would
  // otherwise miss the wake-up and sleep a whole sync interval.
  void stop_control() {
    {
      std::lock_guard lk(plans_mu);
      control_stop = true;
    }
    plans_cv.notify_all();
    if (control.joinable()) control.join();
  }

  void set_up(std::chrono::milliseconds timeout) {
    // Group sync lists group offsets through them (see make_admin_client).
    source_admin =
        kafka::make_admin_client(base_props(source_cluster, "admin"), flow_group_id(flow));
    target_admin =
        kafka::make_admin_client(base_props(target_cluster, "admin"), flow_group_id(flow));
    std::string source_id, target_id;
    std::thread t([&] {
      try {
        target_id = connect_cluster(target_cluster, timeout);
      } catch (const std::exception& e) {
        target_id = std::string("\n") + e.what();
      }
    });
    std::string source_error;
    try {
      source_id = connect_cluster(source_cluster, timeout);
    } catch (const std::exception& e) {
      source_error = e.what();
    }
    t.join();
    if (!source_error.empty()) throw std::runtime_error(source_error);
    if (!target_id.empty() && target_id[0] == '\n') throw std::runtime_error(target_id.substr(1));
    if (source_id == target_id) {
      throw std::runtime_error("flow " + flow.id + ": source '" + source_cluster.name +
                               "' and target '" + target_cluster.name +
                               "' are the same Kafka cluster (id " + source_id +
                               "); a flow must copy between two clusters");
    }
    // Three round trips to the source (a third of a second over a 40 ms link), measured while
    // the rest is set up: the fetch sizes below depend on it. Only once the source answered:
    // a failed start waits for the probe, up to the whole timeout.
    auto source_rtt = std::async(std::launch::async, [this, timeout] {
      // On a connection of its own: the control thread asks the same broker for every topic
      // meanwhile, and a probe queued behind that answer (1,000 topics) read a near source as
      // 11 ms away.
      auto probe =
          kafka::make_client(kafka::ClientKind::kProducer, base_props(source_cluster, "rtt"));
      return kafka::round_trip(probe.get(), timeout);
    });
    source_hash = core::hash_cluster_id(source_id);
    target_hash = core::hash_cluster_id(target_id);
    relay_none = flow.forward == config::Forward::kOriginOnly;
    if (flow.forward == config::Forward::kAuto) {
      // Another flow of this configuration copies origin O straight to our target: relaying
      // O's records too would deliver them twice.
      for (const auto& other : config.flows) {
        if (other.target != flow.target || other.source == flow.source) continue;
        auto id = connect_cluster(config.cluster(other.source), timeout);
        not_relayed.insert(core::hash_cluster_id(id));
      }
    }
    state_store = std::make_unique<sync::FlowStateStore>(base_props(target_cluster, "state"));
    if (!flow.ignore_flow_state) {
      try {
        auto st = state_store->read(flow.id, timeout);
        if (st && st->state != "running") {
          disabled_reason = "flow " + flow.id + " is " + st->state +
                            (st->mode.empty() ? "" : " (" + st->mode + ")") +
                            ": it stays stopped until `kmirror failback --flow " + flow.id +
                            "` brings it back";
        }
      } catch (const std::exception& e) {
        spdlog::warn("flow {}: cannot read its state from '{}' ({}); assuming it runs", flow.id,
                     target_cluster.name, e.what());
      }
    }
    leadership = std::make_unique<ControlLeadership>(
        source_cluster.client_properties(), flow.id, source_cluster.name,
        [this](bool leader) { on_leadership(leader); });
    // The election (a group join on the source: half a second over a 40 ms link) runs while
    // the rest is set up; the control thread, started below, sees its outcome.
    if (disabled_reason.empty()) leadership->start();
    offset_maps = std::make_unique<OffsetMaps>(base_props(target_cluster, "maps"), flow.id,
                                               source_hash, target_hash);
    offset_maps->load(timeout);
    if (flow.heartbeats) {
      heartbeats = std::make_unique<Heartbeats>(source_cluster.client_properties(), flow.id,
                                                source_cluster.name, target_cluster.name,
                                                flow.heartbeat_interval);
    }
    // The control thread plans (and, once elected, creates target topics) while the clients
    // below are made: the first plan is three round trips to the source, a quarter of a
    // second over a 40 ms link, beside the round-trip probe's.
    if (disabled_reason.empty()) control = std::thread([this] { control_loop(); });
    {
      std::lock_guard lk(status_mu);
      snapshot.source_cluster_id = source_id;
      snapshot.target_cluster_id = target_id;
    }
    spdlog::info("flow {}: source '{}' (cluster id {}), target '{}' (cluster id {})", flow.id,
                 source_cluster.name, source_id, target_cluster.name, target_id);

    const int64_t limit = flow.max_inflight_bytes;
    auto cprops = base_props(source_cluster, "consumer");
    cprops["group.id"] = flow_group_id(flow);
    cprops["enable.auto.commit"] = "false";
    cprops["enable.auto.offset.store"] = "false";
    cprops["auto.offset.reset"] = "earliest";
    cprops["isolation.level"] = "read_committed";
    // The end-of-partition event carries the offset after trailing transaction markers, which
    // no record does: without it a transactional source would always show a lag of one.
    cprops["enable.partition.eof"] = "true";
    cprops["partition.assignment.strategy"] = "cooperative-sticky";
    cprops["session.timeout.ms"] = "10000";
    cprops["heartbeat.interval.ms"] = "1000";
    // Partition increases on the source are noticed through metadata refreshes.
    cprops["topic.metadata.refresh.interval.ms"] =
        std::to_string(std::min<int64_t>(flow.sync_interval.count(), 10000));
    // Prefetch queue (queued.max.messages.kbytes, set below): one and a half times the
    // in-flight limit (at most 256 MiB). Under backpressure it fills and fetching stops;
    // librdkafka 2.0 then fetches again only when its broker thread wakes up (up to a second
    // later, fetch.queue.backoff.ms came in 2.2), so the queue must carry the copy through that
    // gap; kmirror wakes the fetchers as it takes records. Twice the limit once copied 1 KiB
    // records 1.2 to 1.5x faster than once; with the fetchers woken, one and a half times was
    // as fast as twice and kept peak RSS at or under 130 MiB where twice reached 174
    // (docs/benchmarks.md, first session of 2026-11-30).
    // One fetch is in flight per broker, so a long link carries at most a fetch per round trip:
    // 1 MiB per partition (librdkafka's default) held a 40 ms link to 0.6 of the copy rate
    // without delay; half of fetch.max.bytes per partition doubled it, and twice the fetch
    // gave 1.1x more again (docs/benchmarks.md): a far source gets twice the limit (32 MiB at
    // the default), shared by its connections. Near sources keep a quarter of the limit: each
    // response stays in memory until its last record is taken. The size is per broker and
    // connection: a far source with N leaders may have N such fetches in flight per connection
    // (measured with one broker).
    const auto rtt = source_rtt.get();
    const bool long_link = rtt && *rtt >= kLongLinkRoundTrip;
    // Several connections share the fetch and queue sizes below, so memory stays as it is.
    const int connections = flow.source_connections > 0 ? flow.source_connections
                            : long_link                 ? kLongLinkConnections
                                                        : 1;
    const int64_t fetch =
        std::clamp<int64_t>((long_link ? 2 * limit : limit / 4) / connections, 1 << 20, 52428800);
    cprops["fetch.max.bytes"] = std::to_string(fetch);
    cprops["max.partition.fetch.bytes"] = std::to_string(std::max<int64_t>(fetch / 2, 1 << 20));
    // A long link queues a whole fetch beyond the limit: librdkafka sends the next fetch only
    // once the queue is below this, and a queue no larger than one response ran dry during
    // every round trip (48 against 16 MiB: 1.3x on the 40 ms link, same peak RSS). Several
    // connections share that: each queue may also hold a fetch beyond its bound, and three
    // queues of a third of the limit plus a fetch each took peak RSS to 175 MiB behind a slow
    // (cold) target; 8 MiB each, 98 to 109 MiB at the same throughput.
    const int64_t queue = (limit + (long_link ? fetch : limit / 2)) / connections;
    cprops["queued.max.messages.kbytes"] =
        std::to_string(std::clamp<int64_t>(queue / 1024, 1024, 262144));
    if (long_link) {
      spdlog::info(
          "flow {}: source round trip {} ms: long link, {} connection(s), fetches of up to {} "
          "MiB, {} MiB queued each",
          flow.id, rtt->count(), connections, fetch >> 20, queue >> 20);
    } else if (connections > 1) {
      spdlog::info("flow {}: {} source connections", flow.id, connections);
    }
    // librdkafka stops fetching a partition holding this many queued records, whatever their
    // size: as many as may be in flight. Each queued record costs a few hundred bytes beyond
    // its payload; with the fetchers woken, 50,000 copied 100-byte records faster than
    // 100,000 and 300,000 did, at 95 against 131 and 209 MiB peak RSS (docs/benchmarks.md).
    cprops["queued.min.messages"] =
        std::to_string(std::max<int64_t>(flow.max_inflight_records / connections, 1000));
    for (const auto& [k, v] : flow.consumer_properties) cprops[k] = v;
    // librdkafka refuses a consumer whose fetch.max.bytes is below message.max.bytes (which
    // a cluster's properties may raise): the fetch grows to it unless the user set it.
    if (auto mmb = cprops.find("message.max.bytes");
        mmb != cprops.end() && !flow.consumer_properties.count("fetch.max.bytes")) {
      try {
        if (std::stoll(mmb->second) > std::stoll(cprops["fetch.max.bytes"]))
          cprops["fetch.max.bytes"] = mmb->second;
      } catch (const std::exception&) {
        // not a number: librdkafka names the bad property when the consumer is made
      }
    }
    make_lanes(cprops, connections);

    auto pprops = base_props(target_cluster, "producer");
    pprops["enable.idempotence"] = "true";
    // The producer learns of target topics before they exist (partitions waiting for them):
    // its metadata requests must not have the broker create them with its defaults.
    pprops["allow.auto.create.topics"] = "false";
    pprops["acks"] = "all";
    // librdkafka 2.0's idempotent producer sends one request per partition at a time, and its
    // broker thread polls with no timeout while a partition's full batch waits for it: with 5
    // requests allowed per connection that spin took most of the process's CPU. Two requests
    // keep sends overlapping without it: half the CPU per GB and faster on the near target
    // (docs/benchmarks.md).
    pprops["max.in.flight.requests.per.connection"] = "2";
    pprops["linger.ms"] = "5";
    pprops["batch.num.messages"] = "10000";
    pprops["batch.size"] = "1000000";
    // Never expire a record: an unreachable target means waiting (with backpressure), not loss.
    pprops["message.timeout.ms"] = "0";
    pprops["message.max.bytes"] = "104857600";
    pprops["queue.buffering.max.kbytes"] =
        std::to_string(std::max<int64_t>(2 * limit / 1024, 16384));
    pprops["queue.buffering.max.messages"] = "2000000";
    exactly_once = flow.delivery == config::Delivery::kExactlyOnce;
    if (exactly_once) {
      // A transaction may not outlive its records: an unreachable target aborts the
      // transaction after a minute and the flow re-reads from its last committed position.
      pprops["transactional.id"] = transactional_id(flow.id);
      pprops["transaction.timeout.ms"] = "60000";
      pprops["message.timeout.ms"] = "60000";
    }
    for (const auto& [k, v] : flow.producer_properties) pprops[k] = v;
    auto pconf = kafka::make_conf(pprops);
    rd_kafka_conf_set_dr_msg_cb(pconf.get(), &Impl::delivery_cb);
    rd_kafka_conf_set_throttle_cb(pconf.get(), &Impl::throttle_cb);
    rd_kafka_conf_set_opaque(pconf.get(), this);
    producer = kafka::make_client(kafka::ClientKind::kProducer, std::move(pconf));
    if (exactly_once) init_transactions(timeout);

    auto posprops = base_props(target_cluster, "positions");
    posprops["group.id"] = flow_group_id(flow);
    posprops["enable.auto.commit"] = "false";
    auto posconf = kafka::make_conf(posprops);
    rd_kafka_conf_set_offset_commit_cb(posconf.get(), &Impl::commit_cb);
    rd_kafka_conf_set_opaque(posconf.get(), this);
    positions = kafka::make_client(kafka::ClientKind::kConsumer, std::move(posconf));
  }

  // Runs on the election's thread: wakes the control thread, which starts or stops the work.
  void on_leadership(bool leader) {
    {
      std::lock_guard lk(status_mu);
      snapshot.control_leader = leader;
    }
    {
      std::lock_guard lk(plans_mu);
      leadership_changed = true;
    }
    plans_cv.notify_all();
  }

  bool is_leader() const { return leadership && leadership->is_leader(); }

  static void throttle_cb(rd_kafka_t* rk, const char* broker, int32_t broker_id, int ms,
                          void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    const bool target = rd_kafka_type(rk) == RD_KAFKA_PRODUCER;
    self->throttle.record(target ? "target" : "source",
                          target ? self->target_cluster.name : self->source_cluster.name,
                          broker != nullptr ? broker : "", broker_id, ms);
  }

  // Registers the flow's transactional id on the target; this fences any older instance of
  // the flow and aborts the transaction it left open.
  void init_transactions(std::chrono::milliseconds timeout) {
    auto outcome = txn_call([&] { return rd_kafka_init_transactions(producer.get(), 10000); },
                            Clock::now() + timeout, nullptr);
    if (outcome.result != TxnResult::kOk) {
      throw std::runtime_error(
          "flow " + flow.id + ": cannot start exactly-once delivery on cluster '" +
          target_cluster.name + "' (transactional id '" + transactional_id(flow.id) +
          "'): " + outcome.error +
          "; the target must allow transactions (transaction.state.log.replication.factor and "
          "min.isr not above its broker count) and kmirror's principal needs WRITE and DESCRIBE "
          "on that transactional id");
    }
    group_metadata = rd_kafka_consumer_group_metadata_new(flow_group_id(flow).c_str());
    spdlog::info("flow {}: exactly-once delivery: transactional id '{}' on '{}'", flow.id,
                 transactional_id(flow.id), target_cluster.name);
  }

  // ---- control plane thread ------------------------------------------------------------

  static bool probe(rd_kafka_t* rk) {
    try {
      kafka::fetch_metadata(rk, 3s, "__consumer_offsets");
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }

  void control_loop() {
    // A stop abandons the request under way: a pass against a lost cluster held shutdown up
    // for its requests' timeouts (91 s in the demo's failover).
    kafka::InterruptScope interruptible(control_stop);
    core::TopicFilter filter(flow.topics_include, flow.topics_exclude);
    sync::TopicSync topic_sync(
        source_admin.get(), target_admin.get(), filter,
        sync::TopicSyncOptions{source_cluster.name, target_cluster.name, naming_of(flow),
                               flow.replication_factor, 30s, flow.pinned_configs});
    sync::GroupSync group_sync(source_admin.get(), target_admin.get(),
                               sync::GroupSyncOptions{source_cluster.name, target_cluster.name,
                                                      flow.groups_include, flow.groups_exclude});
    // New topics must be found within 10 s of their creation whatever the sync interval.
    auto interval = std::min<std::chrono::milliseconds>(flow.sync_interval, 5s);
    sync::AclSync acl_sync(
        source_admin.get(), target_admin.get(),
        sync::AclSyncOptions{source_cluster.name, target_cluster.name, flow.acls.copy_allow_write});
    auto group_synced = sync::group_selector(flow.groups_include, flow.groups_exclude);
    auto next_group_sync = Clock::now();
    std::optional<sync::TopicPlan> hb_plan;
    bool led = false;
    bool first_pass = true;
    while (!control_stop) {
      leadership_changed = false;
      // Groups and ACLs wait for a pass that knew the topics before it: not on the very first
      // one, while the data plane starts (they still follow a new leader's first creation).
      const bool topics_known_before = initial_known;
      // Only the leader changes anything; every instance plans, to know what it may copy.
      const bool lead = is_leader();
      if (lead != led) {
        led = lead;
        if (heartbeats && lead) heartbeats->start();
        if (heartbeats && !lead) heartbeats->stop();
        next_group_sync = Clock::now();  // a new leader syncs at once
      }
      check_flow_state();
      try {
        // A failed check keeps the last plan: the heartbeat topic stays subscribed.
        if (heartbeats) {
          if (auto p = heartbeats->target_plan(target_admin.get(), 10s, lead))
            hb_plan = std::move(p);
        }
        auto result = topic_sync.run_once(lead);
        const bool await_creation =
            std::exchange(first_pass, false) && !lead && lacks_targets(result);
        std::vector<std::string> errors;
        std::unique_lock lk(plans_mu);
        plans.clear();
        for (auto& p : result) {
          if (!p.error.empty()) errors.push_back(p.error);
          if (!initial_known) initial_topics.insert(p.source_topic);
          plans[p.source_topic] = std::move(p);
        }
        initial_known = true;
        const int user_topics = static_cast<int>(plans.size());
        if (hb_plan) plans[hb_plan->source_topic] = *hb_plan;
        ++plans_version;
        plans_made = Clock::now();
        std::unique_lock slk(status_mu);
        for (const auto& e : errors) {
          if (std::find(snapshot.topic_errors.begin(), snapshot.topic_errors.end(), e) ==
              snapshot.topic_errors.end()) {
            spdlog::error("flow {}: {}", flow.id, e);
          }
        }
        snapshot.topic_errors = errors;
        snapshot.source_reachable = snapshot.target_reachable = true;
        snapshot.last_topic_sync_ms = now_ms();
        snapshot.topics = user_topics;
        slk.unlock();
        lk.unlock();
        // The data consumer joins its group with these plans while the election runs;
        // partitions whose target is missing wait for it.
        if (await_creation && await_leadership(kFirstLeadershipWait)) {
          continue;  // plan again as the leader, which creates what the target lacks
        }
      } catch (const std::exception& e) {
        if (control_stop) break;
        spdlog::warn("flow {}: topic sync failed, retrying: {}", flow.id, e.what());
        // Which side failed: a cheap metadata probe of each (outside the status lock).
        bool source_ok = probe(source_admin.get());
        bool target_ok = probe(target_admin.get());
        std::lock_guard slk(status_mu);
        ++snapshot.errors["topic_sync"];
        snapshot.source_reachable = source_ok;
        snapshot.target_reachable = target_ok;
      }
      // After the topics: a new leader's first pass creates the targets before anything else
      // (groups and ACLs took a third of a second over a 40 ms link), and group offsets are
      // translated onto topics that exist.
      if (lead && Clock::now() >= next_group_sync && topics_known_before && !control_stop) {
        sync_groups(group_sync);
        if (flow.acls.enabled) sync_acls(acl_sync, group_synced);
        record_source_ends();
        next_group_sync = Clock::now() + flow.sync_interval;
      }
      std::unique_lock lk(plans_mu);
      plans_cv.wait_for(lk, interval,
                        [&] { return control_stop.load() || leadership_changed.load(); });
    }
    if (heartbeats) heartbeats->stop();
  }

  // A lone instance is elected within moments (a join of the control group). When the target
  // lacks topics at start, the first plans are published at once, so the data consumer joins
  // its group (several round trips to the source) while the election and the creation go on,
  // and the control plane plans again as soon as it leads instead of a sync interval later.
  // Over a 40 ms link the two used to follow each other: about 0.7 s more before the first
  // record.
  static constexpr auto kFirstLeadershipWait = 2s;
  static constexpr auto kCreatedTopicTrusted = 2s;

  static bool lacks_targets(const std::vector<sync::TopicPlan>& plans) {
    return std::any_of(plans.begin(), plans.end(), [](const sync::TopicPlan& p) {
      return p.error.empty() && p.target_partitions < p.source_partitions;
    });
  }

  // True when this instance became leader within `timeout`.
  bool await_leadership(std::chrono::milliseconds timeout) {
    std::unique_lock lk(plans_mu);
    plans_cv.wait_for(lk, timeout, [&] { return control_stop.load() || is_leader(); });
    return is_leader() && !control_stop;
  }

  // The target name of a source topic whose target is ready, for the control plane's syncs.
  std::optional<std::string> target_topic_of(const std::string& topic) {
    std::lock_guard lk(plans_mu);
    auto it = plans.find(topic);
    if (it == plans.end() || !it->second.ready()) return std::nullopt;
    return it->second.target_topic;
  }

  void sync_acls(sync::AclSync& acl_sync,
                 const std::function<bool(const std::string&)>& group_synced) {
    try {
      auto report = acl_sync.run_once(
          [&](const std::string& topic) { return target_topic_of(topic); }, group_synced);
      for (const auto& m : report.messages) spdlog::info("flow {}: {}", flow.id, m);
      for (const auto& f : report.failures) spdlog::warn("flow {}: acl sync: {}", flow.id, f);
      if (!report.failures.empty()) {
        std::lock_guard lk(status_mu);
        snapshot.errors["acl_sync"] += report.failures.size();
      }
    } catch (const std::exception& e) {
      if (control_stop) return;
      spdlog::warn("flow {}: acl sync failed, retrying: {}", flow.id, e.what());
      std::lock_guard lk(status_mu);
      ++snapshot.errors["acl_sync"];
    }
  }

  // A failover declared by another process stops this flow durably.
  void check_flow_state() {
    if (flow.ignore_flow_state) return;
    try {
      auto st = state_store->read(flow.id, 10s);
      if (st && st->state != "running" && !self_stop) {
        spdlog::warn("flow {}: the flow was declared {} ({}): stopping it", flow.id, st->state,
                     st->mode);
        self_stop = true;
      }
    } catch (const std::exception&) {
      // Unreadable state: keep running; the next pass tries again.
    }
  }

  // The source end offsets last seen, so an unplanned failover can report its RPO window. The
  // leader records them for every partition of the flow, copied by whichever instance.
  void record_source_ends() {
    sync::PartitionOffsets ends;
    {
      std::lock_guard lk(status_mu);
      for (const auto& p : snapshot.partitions) {
        if (p.source_end >= 0) ends[p.topic][p.partition] = p.source_end;
      }
    }
    std::vector<std::pair<std::string, int>> topics;
    {
      std::lock_guard lk(plans_mu);
      for (const auto& [name, plan] : plans) {
        if (plan.ready() && !Heartbeats::is_topic(name))
          topics.emplace_back(name, plan.source_partitions);
      }
    }
    std::vector<std::pair<std::string, int32_t>> unknown;
    for (const auto& [topic, count] : topics) {
      for (int32_t p = 0; p < count; ++p) {
        if (!ends.count(topic) || !ends[topic].count(p)) unknown.emplace_back(topic, p);
      }
    }
    // One request per broker (it was two round trips per partition: seconds for 2,000
    // partitions, or over a long link). A partition without a leader fails it all: then
    // each is asked alone, so the others are still recorded.
    auto found = kafka::query_offsets(source_admin.get(), unknown, RD_KAFKA_OFFSET_END, 5s);
    for (const auto& [topic, p] : unknown) {
      if (auto it = found.find({topic, p}); it != found.end()) {
        ends[topic][p] = it->second;
        continue;
      }
      try {
        ends[topic][p] = kafka::query_watermarks(source_admin.get(), topic, p, 5s).high;
      } catch (const std::exception&) {
        // Unknown this pass: the next one records it.
      }
    }
    if (ends.empty()) return;
    try {
      state_store->write_source_ends(flow.id, ends, 10s);
    } catch (const std::exception& e) {
      spdlog::debug("flow {}: cannot record source end offsets: {}", flow.id, e.what());
    }
  }

  // The offset translation of a partition another instance copies: the leader catches its map up
  // from the target (once per group sync pass) and translates with it.
  core::Translation peer_lookup(const std::string& topic, int32_t p, int64_t offset,
                                std::set<OffsetMaps::Key>& caught_up) {
    if (!peer_maps) {
      peer_maps = std::make_unique<OffsetMaps>(base_props(target_cluster, "peer-maps"), flow.id,
                                               source_hash, target_hash);
      peer_maps->load(30s);
    }
    if (caught_up.insert({topic, p}).second) peer_maps->catch_up(topic, p, 30s);
    return peer_maps->lookup(topic, p, offset);
  }

  // Translates every matching source group's offsets to the target (exact, via the maps).
  void sync_groups(sync::GroupSync& group_sync) {
    try {
      std::set<OffsetMaps::Key> caught_up;
      auto report =
          group_sync.run_once([&](const std::string& topic) { return target_topic_of(topic); },
                              [&](const std::string& topic, int32_t p, int64_t offset) {
                                bool own = false;
                                {
                                  std::lock_guard lk(owned_mu);
                                  own = owned.count({topic, p}) > 0;
                                }
                                return own ? offset_maps->lookup(topic, p, offset)
                                           : peer_lookup(topic, p, offset, caught_up);
                              });
      for (const auto& f : report.failures)
        spdlog::warn("flow {}: group offset sync: {}", flow.id, f);
      std::lock_guard lk(status_mu);
      snapshot.groups_synced = report.groups_synced;
      snapshot.last_group_sync_ms = now_ms();
      for (const auto& g : report.skipped_active) {
        if (std::find(snapshot.groups_skipped_active.begin(), snapshot.groups_skipped_active.end(),
                      g) == snapshot.groups_skipped_active.end()) {
          spdlog::info(
              "flow {}: group {} has live consumers on '{}': its offsets are no longer synced "
              "there",
              flow.id, g, target_cluster.name);
        }
      }
      snapshot.groups_skipped_active = report.skipped_active;
      if (!report.failures.empty()) snapshot.errors["offset_sync"] += report.failures.size();
    } catch (const std::exception& e) {
      if (control_stop) return;
      spdlog::warn("flow {}: group offset sync failed, retrying: {}", flow.id, e.what());
      std::lock_guard lk(status_mu);
      ++snapshot.errors["offset_sync"];
    }
  }

  // ---- data plane ----------------------------------------------------------------------

  // The loop rule, plus records another flow of this configuration delivers to the target.
  bool skippable(const std::optional<core::Provenance>& prov) const {
    if (core::must_skip(prov, target_hash)) return true;
    return prov.has_value() && prov->origin() != source_hash &&
           (relay_none || not_relayed.count(prov->origin()) > 0);
  }

  PartitionState* state_of(const std::string& topic, int32_t partition) {
    auto it = parts.find({topic, partition});
    return it == parts.end() ? nullptr : it->second.get();
  }

  // The partition of a consumed record. Records arrive in runs per partition: a one-entry
  // cache saves the by-name lookup that showed in profiles of small records.
  PartitionState* state_of(const rd_kafka_message_t* m) {
    return cached_state(consumed_from, m->rkt, m->partition,
                        [&] { return state_of(rd_kafka_topic_name(m->rkt), m->partition); });
  }

  // The partition a delivery report (a copy on the target topic) belongs to.
  PartitionState* state_of_copy(const rd_kafka_message_t* report) {
    return cached_state(delivered_to, report->rkt, report->partition, [&] {
      auto target = target_topics.find(std::string_view(rd_kafka_topic_name(report->rkt)));
      return target == target_topics.end()
                 ? nullptr
                 : state_of(target->second.source_topic, report->partition);
    });
  }

  struct StateCache {
    const rd_kafka_topic_t* rkt = nullptr;
    int32_t partition = -1;
    PartitionState* state = nullptr;
  };
  StateCache consumed_from, delivered_to;

  template <typename Lookup>
  static PartitionState* cached_state(StateCache& cache, const rd_kafka_topic_t* rkt,
                                      int32_t partition, Lookup lookup) {
    if (rkt != cache.rkt || partition != cache.partition) cache = {rkt, partition, lookup()};
    return cache.state;
  }

  // Called after every change of `parts` (assign, revoke, shutdown).
  void forget_cached_states() { consumed_from = delivered_to = {}; }

  // The wall clock for per-record figures (record age, latency), read once per 256 records
  // (clock_gettime per record showed in profiles). Every poll resets the count, since time
  // may have passed there.
  int64_t record_clock_ms() {
    if (clock_reads_left-- <= 0) {
      clock_ms = now_ms();
      clock_reads_left = 255;
    }
    return clock_ms;
  }
  void clock_may_have_moved() { clock_reads_left = 0; }
  // Serves delivery reports (on_delivery), waiting up to `wait_ms` for the first.
  void serve_reports(int wait_ms) {
    clock_may_have_moved();
    rd_kafka_poll(producer.get(), wait_ms);
    record_copies();
  }
  // Copies acknowledged by the reports just served, for the offset maps: one lock and one
  // lookup per partition's run instead of per record (a tenth of the copy thread's time on
  // 100-byte records). Recorded before any partition state can go.
  std::vector<OffsetMaps::Copy> acknowledged_copies;
  void record_copies() {
    if (acknowledged_copies.empty()) return;
    offset_maps->record_all(acknowledged_copies);
    acknowledged_copies.clear();
  }
  int64_t clock_ms = 0;
  int clock_reads_left = 0;

  rd_kafka_topic_t* target_rkt(const std::string& target, const std::string& source) {
    auto& t = target_topics[target];
    if (t.rkt == nullptr) t.rkt = rd_kafka_topic_new(producer.get(), target.c_str(), nullptr);
    t.source_topic = source;
    return t.rkt;
  }

  // A partition that starts fetching (assigned, resumed, sought) first looks up its offset; the
  // broker thread notices the answer when it next wakes, up to a second later (half a second
  // of start-up on average in the benchmarks).
  void wake_fetchers_for_a_while() { wake_fetch_until = Clock::now() + 2s; }

  // Puts partitions back at kmirror's own position (the record after the last one taken, or
  // where they were assigned), not librdkafka's. librdkafka 2.0 pauses (ours, and its own for
  // the whole assignment during a cooperative rebalance) save its idea of the last record
  // handed out, and its batch call moves that past records it then drops for the pause (fixed
  // in 2.1, librdkafka PR 4208): a resume from there skips them. Its own resume after a
  // rebalance can also restart from an older offset (fixed in 2.4, librdkafka issue 4637),
  // which costs a copy thread the re-reading. Asynchronous: the seek reaches each partition
  // before anything asked after it (a resume), and records fetched before it are dropped.
  void reposition(const std::vector<PartitionState*>& states) {
    if (states.empty()) return;
    for (const auto& lane : lanes) {
      auto positions = kafka::new_partition_list(static_cast<int>(states.size()));
      for (auto* s : states) {
        const int64_t at = s->next_expected >= 0 ? s->next_expected : s->assigned_at;
        // An unresolved end would be resolved again, skipping what arrived meanwhile.
        if (s->consumer != lane.consumer.get() || at == RD_KAFKA_OFFSET_INVALID ||
            at == RD_KAFKA_OFFSET_END) {
          continue;
        }
        rd_kafka_topic_partition_list_add(positions.get(), s->source_topic.c_str(), s->partition)
            ->offset = at;
      }
      if (positions->cnt == 0) continue;
      if (rd_kafka_error_t* err =
              rd_kafka_seek_partitions(lane.consumer.get(), positions.get(), 0)) {
        spdlog::warn("flow {}: repositioning {} partition(s) failed: {}", flow.id, positions->cnt,
                     rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
      }
    }
    wake_fetchers_for_a_while();
  }

  // The partitions the group gives this instance and the group member fetches itself: the ones
  // librdkafka pauses and resumes through a cooperative rebalance.
  void reposition_group_share() {
    std::vector<PartitionState*> share;
    for (auto& [key, st] : parts) {
      if (st->consumer == group_member() && !st->failed && !st->waiting_target)
        share.push_back(st.get());
    }
    reposition(share);
  }
  uint64_t rebalances = 0;  // rebalance callbacks served so far

  // A resumed partition starts from kmirror's own position (reposition).
  void pause(const std::vector<PartitionState*>& states, bool resume) {
    if (states.empty()) return;
    if (resume) reposition(states);
    for (const auto& lane : lanes) {
      auto list = kafka::new_partition_list(static_cast<int>(states.size()));
      for (auto* s : states) {
        if (s->consumer == lane.consumer.get())
          rd_kafka_topic_partition_list_add(list.get(), s->source_topic.c_str(), s->partition);
      }
      if (list->cnt == 0) continue;
      if (resume) {
        rd_kafka_resume_partitions(lane.consumer.get(), list.get());
      } else {
        rd_kafka_pause_partitions(lane.consumer.get(), list.get());
      }
    }
  }

  void fail_partition(PartitionState& s, const std::string& why) {
    if (s.failed) return;
    s.failed = true;
    s.error = why;
    spdlog::error("flow {}: partition {} stopped: {}", flow.id,
                  tp_name(s.source_topic, s.partition), why);
    pause({&s}, false);
  }

  // Subscribes to the topics the control plane planned without error, their targets ready or
  // not; un-pauses partitions whose target partition now exists.
  void apply_plans() {
    std::vector<std::string> topics;
    std::vector<PartitionState*> ready;
    {
      std::lock_guard lk(plans_mu);
      if (plans_version == applied_version) return;
      applied_version = plans_version;
      for (const auto& [name, plan] : plans) {
        if (plan.error.empty()) topics.push_back(name);
      }
      for (auto& [key, s] : parts) {
        auto it = plans.find(key.first);
        if (it == plans.end()) continue;
        s->max_message_bytes = it->second.target_max_message_bytes;
        if (s->waiting_target && key.second < it->second.target_partitions && !s->failed) {
          s->waiting_target = false;
          ready.push_back(s.get());
        }
      }
    }
    if (!ready.empty()) {
      // The producer learnt of a missing topic when the partition was assigned; it would look
      // again only a second or more later, or refuse records as for an unknown topic. One
      // request for every topic it knows; if it fails, the produce path waits again.
      const rd_kafka_metadata_t* md = nullptr;
      if (rd_kafka_metadata(producer.get(), 0, nullptr, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
      // Left to librdkafka, the logical offset of a partition paused since its assignment was
      // resolved only half a second after the resume (over a 40 ms link).
      std::vector<std::pair<std::string, int32_t>> unresolved;
      for (auto* s : ready) {
        if (s->next_expected < 0 && s->first_offset_unresolved)
          unresolved.emplace_back(s->source_topic, s->partition);
      }
      auto firsts =
          kafka::query_offsets(source_admin.get(), unresolved, RD_KAFKA_OFFSET_BEGINNING, 2s);
      for (auto* s : ready) {
        spdlog::info("flow {}: target partition for {} is ready", flow.id,
                     tp_name(s->source_topic, s->partition));
        if (auto first = firsts.find({s->source_topic, s->partition}); first != firsts.end())
          s->assigned_at = first->second;
        s->first_offset_unresolved = false;
      }
      pause(ready, true);  // from next_expected, or from where it was assigned
    }
    if (topics != subscribed) {
      std::vector<std::string> gone;
      {
        std::lock_guard lk(plans_mu);
        for (const auto& t : subscribed) {
          if (plans.count(t) == 0 && deleted_topics.insert(t).second) gone.push_back(t);
        }
      }
      for (const auto& t : topics) deleted_topics.erase(t);
      for (const auto& t : gone) {
        spdlog::warn(
            "flow {}: source topic '{}' was deleted: replication of it stops; its copy on '{}' is "
            "kept, and if the topic is recreated it is copied again from its start, after the "
            "old copies",
            flow.id, t, target_cluster.name);
        // Partitions the consumer already gave up restart now; the others when revoked.
        bool held = std::any_of(parts.begin(), parts.end(),
                                [&](const auto& p) { return p.second->source_topic == t; });
        if (!held) restart_topic(t);
      }
    }
    if (topics != subscribed) {
      subscribed = topics;
      if (topics.empty()) {
        rd_kafka_unsubscribe(group_member());
        return;
      }
      auto list = kafka::new_partition_list(static_cast<int>(topics.size()));
      for (const auto& t : topics)
        rd_kafka_topic_partition_list_add(list.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
      kafka::check(rd_kafka_subscribe(group_member(), list.get()), "subscribe");
      spdlog::info("flow {}: replicating {} topic(s)", flow.id, topics.size());
    }
  }

  void seek(PartitionState& s, int64_t offset) {
    auto list = kafka::new_partition_list(1);
    rd_kafka_topic_partition_list_add(list.get(), s.source_topic.c_str(), s.partition)->offset =
        offset;
    wake_fetchers_for_a_while();
    if (rd_kafka_error_t* err = rd_kafka_seek_partitions(s.consumer, list.get(), 5000)) {
      spdlog::warn("flow {}: seek {} to {} failed: {}", flow.id,
                   tp_name(s.source_topic, s.partition), offset, rd_kafka_error_string(err));
      rd_kafka_error_destroy(err);
    }
  }

  // Caught up with the partition: offsets between the last record and the end are transaction
  // markers (or records of aborted transactions), done without a copy.
  void reached_end(const rd_kafka_message_t* eof, const rd_kafka_t* from) {
    PartitionState* s = state_of(eof);
    if (s == nullptr || s->consumer != from || s->failed || s->waiting_target ||
        s->next_expected < 0 || eof->offset <= s->next_expected) {
      return;
    }
    s->progress.skipped(eof->offset - 1);
    s->next_expected = eof->offset;
  }

  // Reused for every record's provenance header (one allocation less per record).
  core::Provenance hop;
  std::string hop_bytes;

  // A record or event from lane `from`.
  void handle(rd_kafka_message_t* raw, const rd_kafka_t* from) {
    kafka::MessagePtr m(raw);
    if (m->err) {
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        reached_end(m.get(), from);
        return;
      }
      // Just created by the heartbeat thread: the consumer's metadata catches up by itself.
      if ((m->rkt != nullptr && Heartbeats::is_topic(rd_kafka_topic_name(m->rkt))) ||
          std::string_view(rd_kafka_message_errstr(m.get())).find(kHeartbeatTopic) !=
              std::string_view::npos) {
        return;
      }
      for (const auto& lane : lanes) {
        char buf[512];
        if (rd_kafka_fatal_error(lane.consumer.get(), buf, sizeof(buf)) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
          throw std::runtime_error("source consumer failed fatally: " + std::string(buf));
        }
      }
      ++errors["consume"];
      spdlog::warn("flow {}: source: {}", flow.id, rd_kafka_message_errstr(m.get()));
      return;
    }
    PartitionState* s = state_of(m.get());
    // Another lane's partition (the group member holds it paused): that lane fetches it.
    if (s == nullptr || s->failed || s->consumer != from) return;
    if (s->waiting_target) {
      // Fetched before the pause took effect: dropped here, re-read from here on resume.
      if (s->next_expected < 0) s->next_expected = m->offset;
      return;
    }
    if (m->offset < s->next_expected) {
      // Taken already. librdkafka before 2.4 can restart a partition it keeps through a
      // cooperative rebalance (here: the subscription grew) from an earlier offset
      // (librdkafka issue 4686); copying it again would be a duplicate with no failure.
      // Every deliberate rewind sets next_expected to where it seeks first.
      ++redelivered;
      return;
    }
    s->next_expected = m->offset + 1;
    if (s->rewind_to < 0) s->rewind_to = m->offset;
    if (int64_t ts = rd_kafka_message_timestamp(m.get(), nullptr); ts > 0)
      s->record_age_ms = record_clock_ms() - ts;

    // Loop rule first: a record already written to the target is dropped before any copy.
    // Headers are asked for once: librdkafka parses them again on every call until it finds
    // some (an allocation each time, even for a record without headers).
    rd_kafka_headers_t* ro_headers = nullptr;
    const bool has_headers =
        rd_kafka_message_headers(m.get(), &ro_headers) == RD_KAFKA_RESP_ERR_NO_ERROR;
    const std::optional<core::Provenance> prov = kafka::provenance_in(ro_headers);
    if (s->heartbeat &&
        !is_own_heartbeat({static_cast<const char*>(m->key), m->key ? m->key_len : 0}, flow.id,
                          prov, source_hash)) {
      s->progress.skipped(m->offset);  // another flow's heartbeat: never copied (no loops)
      return;
    }
    if (skippable(prov)) {
      s->progress.skipped(m->offset);
      ++s->filtered;
      ++total_filtered;
      return;
    }

    int64_t size =
        static_cast<int64_t>(m->len + m->key_len) + headers_size(ro_headers) + kRecordOverhead;
    if (size > s->max_message_bytes) {
      s->progress.sent(m->offset);  // never acknowledged: the position stays before it
      fail_partition(*s, "record at offset " + std::to_string(m->offset) + " is about " +
                             std::to_string(size) + " bytes but topic '" + s->target_topic +
                             "' on cluster '" + target_cluster.name + "' accepts at most " +
                             std::to_string(s->max_message_bytes) +
                             " (max.message.bytes); raise max.message.bytes on the target topic "
                             "and restart kmirror: the partition resumes at this record");
      return;
    }

    if (flow.provenance_headers) {
      core::next_hop(prov, source_hash, target_hash, m->partition, m->offset, hop);
      try {
        core::encode(hop, hop_bytes);
      } catch (const std::invalid_argument& e) {
        // A header already listing kMaxVisited clusters: no valid next hop can be written.
        s->progress.sent(m->offset);  // never acknowledged: the position stays before it
        fail_partition(*s, "record at offset " + std::to_string(m->offset) +
                               " cannot get a provenance header (" + e.what() +
                               "); its header was written by another tool or a mesh larger "
                               "than kmirror supports");
        return;
      }
    }
    // The record's own headers go with the copy (detached: no copy of them is made).
    rd_kafka_headers_t* headers = nullptr;
    if (has_headers &&
        rd_kafka_message_detach_headers(m.get(), &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      headers = nullptr;
    }
    if (flow.provenance_headers) {
      if (headers == nullptr) {
        headers = rd_kafka_headers_new(1);
      } else {
        rd_kafka_header_remove(headers, core::kProvenanceHeader.data());
      }
      rd_kafka_header_add(headers, core::kProvenanceHeader.data(), -1, hop_bytes.data(),
                          hop_bytes.size());
    }

    rd_kafka_timestamp_type_t ts_type;
    int64_t ts = rd_kafka_message_timestamp(m.get(), &ts_type);
    if (ts_type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE) ts = 0;
    if (exactly_once && !begin_transaction()) {
      if (headers != nullptr) rd_kafka_headers_destroy(headers);
      return;  // the producer is fenced: run() stops the flow
    }

    while (true) {
      // The payload is copied and the consumed record freed right away: a held record pins
      // its whole fetch response (up to fetch.max.bytes), so zero-copy kept several times
      // the in-flight bytes resident, and librdkafka copies payloads under
      // message.copy.max.bytes into the request anyway. The opaque carries the source
      // offset; the delivery report finds the partition through the target topic.
      void* source_offset = reinterpret_cast<void*>(static_cast<intptr_t>(m->offset));
      rd_kafka_resp_err_t err;
      if (headers != nullptr) {
        err = rd_kafka_producev(
            producer.get(), RD_KAFKA_V_RKT(s->target_rkt), RD_KAFKA_V_PARTITION(m->partition),
            RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_KEY(m->key, m->key_len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(ts),
            RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(source_offset), RD_KAFKA_V_END);
      } else {
        err = rd_kafka_producev(
            producer.get(), RD_KAFKA_V_RKT(s->target_rkt), RD_KAFKA_V_PARTITION(m->partition),
            RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_KEY(m->key, m->key_len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(ts),
            RD_KAFKA_V_OPAQUE(source_offset), RD_KAFKA_V_END);
      }
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        serve_reports(50);
        continue;
      }
      if (err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION || err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
        // The producer's metadata predates a partition increase or the topic's creation:
        // refresh it, and retry this record once the control plane reports the partition again.
        if (headers != nullptr) rd_kafka_headers_destroy(headers);
        s->waiting_target = true;
        s->next_expected = m->offset;
        pause({s}, false);
        try {
          kafka::fetch_metadata(producer.get(), 5s, s->target_topic);
        } catch (const std::exception&) {
        }
        std::lock_guard lk(plans_mu);
        applied_version = 0;  // re-apply the current plans on the next loop
        return;
      }
      if (headers != nullptr) rd_kafka_headers_destroy(headers);
      ++errors["produce"];
      s->progress.sent(m->offset);
      fail_partition(*s, "cannot produce the record at offset " + std::to_string(m->offset) +
                             " to '" + s->target_topic + "' on cluster '" + target_cluster.name +
                             "': " + rd_kafka_err2str(err));
      return;
    }
    s->progress.sent(m->offset);
    inflight_bytes += static_cast<int64_t>(m->len + m->key_len);
    ++inflight_records;
    txn_bytes += size;
  }

  static void delivery_cb(rd_kafka_t*, const rd_kafka_message_t* report, void* opaque) {
    static_cast<Impl*>(opaque)->on_delivery(report);
  }

  void on_delivery(const rd_kafka_message_t* report) {
    // The report is the copy: same key, value, partition and timestamp as the source record.
    const int64_t source_offset =
        static_cast<int64_t>(reinterpret_cast<intptr_t>(report->_private));
    const int64_t record_bytes = static_cast<int64_t>(report->len + report->key_len);
    inflight_bytes -= record_bytes;
    --inflight_records;
    PartitionState* s = state_of_copy(report);
    if (s == nullptr) return;  // partition revoked meanwhile; its position was not advanced
    if (report->err == RD_KAFKA_RESP_ERR_NO_ERROR && s->heartbeat) {
      s->progress.acked(source_offset);
      heartbeats->replicated(report);  // not a user record: no throughput, no offset map
      return;
    }
    if (report->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (exactly_once) {
        txn_copies.push_back({s->target_topic, s->partition, source_offset, report->offset});
      } else {
        acknowledged_copies.push_back(
            {&s->target_topic, s->partition, source_offset, report->offset});
      }
      s->progress.acked(source_offset);
      ++s->replicated;
      s->bytes += record_bytes;
      ++total_replicated;
      total_bytes += record_bytes;
      if (int64_t ts = rd_kafka_message_timestamp(report, nullptr); ts > 0) {
        s->last_latency_ms = record_clock_ms() - ts;
        latency.observe(s->last_latency_ms);
      }
      return;
    }
    if (exactly_once) {
      // The whole transaction aborts and is re-read; only a refusal that would repeat stops
      // the partition.
      txn_failed = true;
      if (report->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
          report->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
        return;  // aborted by us
      }
      if (!refusal_repeats(report->err)) {
        ++errors["delivery"];
        spdlog::warn(
            "flow {}: the target did not take the record at offset {} of {} ({}): "
            "aborting the transaction and re-reading",
            flow.id, source_offset, tp_name(s->source_topic, s->partition),
            rd_kafka_err2str(report->err));
        return;
      }
    }
    std::string fix =
        report->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE
            ? "; raise max.message.bytes on the target topic (and message.max.bytes "
              "on its brokers) and restart kmirror"
            : "; fix the cause and restart kmirror: the partition resumes at this record";
    ++errors["delivery"];
    fail_partition(*s, "the target refused the record at offset " + std::to_string(source_offset) +
                           " (topic '" + s->target_topic + "' on cluster '" + target_cluster.name +
                           "'): " + rd_kafka_err2str(report->err) + fix);
  }

  static void commit_cb(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t*,
                        void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
      ++self->errors["position_store"];
      spdlog::warn("flow {}: storing positions on the target failed (retried): {}", self->flow.id,
                   rd_kafka_err2str(err));
    }
  }

  using Advanced = std::vector<std::pair<PartitionState*, int64_t>>;

  // The list frees the metadata with the element.
  static void set_metadata(rd_kafka_topic_partition_t* e, const std::string& metadata) {
    if (metadata.empty()) return;
    e->metadata = malloc(metadata.size());
    memcpy(e->metadata, metadata.data(), metadata.size());
    e->metadata_size = metadata.size();
  }

  // A source topic was deleted (or is found recreated): its stored positions restart at 0 and
  // the target copies made so far are marked as the old incarnation's, so the new incarnation
  // is copied from its first record.
  void restart_topic(const std::string& source_topic) {
    const std::string target =
        core::target_topic_name(naming_of(flow), source_cluster.name, source_topic);
    try {
      auto md = kafka::fetch_metadata(target_admin.get(), 10s, target);
      for (const auto& t : md.topics) {
        for (const auto& p : t.partitions) restart_incarnation(target, p.id);
      }
    } catch (const std::exception& e) {
      spdlog::warn("flow {}: cannot restart the positions of deleted topic '{}': {}", flow.id,
                   source_topic, e.what());
    }
  }

  // Returns the floor, nullopt when the restart could not be stored.
  std::optional<int64_t> restart_incarnation(const std::string& target_topic, int32_t partition) {
    int64_t floor = 0;
    try {
      floor = kafka::query_watermarks(target_admin.get(), target_topic, partition, 10s).high;
    } catch (const std::exception& e) {
      spdlog::warn(
          "flow {}: cannot read the end of {} on '{}' ({}): the next incarnation of the "
          "topic resumes where the last stopped",
          flow.id, tp_name(target_topic, partition), target_cluster.name, e.what());
      return std::nullopt;
    }
    offset_maps->restart(target_topic, partition);
    auto list = kafka::new_partition_list(1);
    auto* e = rd_kafka_topic_partition_list_add(list.get(), target_topic.c_str(), partition);
    e->offset = 0;
    set_metadata(e, core::encode_position_metadata(floor));
    if (rd_kafka_resp_err_t err = kafka::commit_within(positions.get(), list.get(), 30s)) {
      ++errors["position_store"];
      spdlog::warn("flow {}: cannot restart the position of {}: {}", flow.id,
                   tp_name(target_topic, partition), rd_kafka_err2str(err));
      return std::nullopt;
    }
    spdlog::info(
        "flow {}: {} restarts at source offset 0; copies of the new incarnation begin "
        "after target offset {}",
        flow.id, tp_name(target_topic, partition), floor);
    return floor;
  }

  // The positions that moved since they were last stored, keyed by target topic/partition.
  Advanced advanced_positions(rd_kafka_topic_partition_list_t* list) {
    Advanced advanced;
    for (auto& [key, s] : parts) {
      auto c = s->progress.committable();
      if (!c || *c == s->stored) continue;
      auto* e = rd_kafka_topic_partition_list_add(list, s->target_topic.c_str(), s->partition);
      e->offset = *c;
      set_metadata(e, core::encode_position_metadata(s->target_floor));
      advanced.emplace_back(s.get(), *c);
    }
    return advanced;
  }

  // Stores every advanced position as the flow group's offset on the target cluster (exactly
  // once: by committing the open transaction).
  bool store_positions(bool synchronous) {
    if (exactly_once) return commit_transaction(30s);
    auto list = kafka::new_partition_list(static_cast<int>(parts.size()));
    Advanced advanced = advanced_positions(list.get());
    if (advanced.empty()) return true;
    // Synchronous (a stop, a revocation): bounded, since a coordinator lost with a target broker
    // held librdkafka's own synchronous commit past a minute; a position not stored only means
    // a restart resumes from the one before, after the copies the target already holds.
    rd_kafka_resp_err_t err = synchronous ? kafka::commit_within(positions.get(), list.get(), 15s)
                                          : rd_kafka_commit(positions.get(), list.get(), 1);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++errors["position_store"];
      spdlog::warn("flow {}: storing positions on the target failed: {}", flow.id,
                   rd_kafka_err2str(err));
      return false;
    }
    for (auto& [s, c] : advanced) s->stored = c;
    last_position_store_ms = now_ms();
    return true;
  }

  // A delivery error that the same record would meet again after an abort.
  static bool refusal_repeats(rd_kafka_resp_err_t err) {
    switch (err) {
      case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
      case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
      case RD_KAFKA_RESP_ERR_INVALID_RECORD:
      case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
      case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        return true;
      default:
        return false;
    }
  }

  bool begin_transaction() {
    if (txn_open) return true;
    if (!txn_fatal.empty()) return false;
    if (rd_kafka_error_t* error = rd_kafka_begin_transaction(producer.get())) {
      on_fatal(classify(error), "begin a transaction");
      return false;
    }
    txn_open = true;
    return true;
  }

  void on_fatal(const TxnOutcome& outcome, const std::string& what) {
    txn_fatal = outcome.fenced
                    ? "fenced: another kmirror instance took over exactly-once flow " + flow.id +
                          " (transactional id '" + transactional_id(flow.id) + "' on cluster '" +
                          target_cluster.name +
                          "'); this instance stops and writes nothing more. Run one instance per "
                          "exactly-once flow"
                    : "the transactional producer failed fatally while trying to " + what + ": " +
                          outcome.error +
                          "; restart kmirror: the flow resumes at its last committed "
                          "position";
  }

  // Commits the open transaction together with the positions its records reached (and, when
  // no records are open, positions moved by skipped records). False when it aborted instead:
  // then every partition re-reads from its last committed position.
  bool commit_transaction(std::chrono::milliseconds timeout) {
    if (!txn_fatal.empty()) return false;
    auto deadline = Clock::now() + timeout;
    // The positions are known once every record of the transaction is acknowledged.
    while (inflight_records > 0 && !txn_failed && Clock::now() < deadline) {
      clock_may_have_moved();
      rd_kafka_flush(producer.get(), 10);
    }
    if (txn_failed || inflight_records > 0) {
      abort_transaction();
      return false;
    }
    auto list = kafka::new_partition_list(static_cast<int>(parts.size()));
    Advanced advanced = advanced_positions(list.get());
    if (!txn_open && advanced.empty()) return true;
    if (!begin_transaction()) return false;
    auto remaining_ms = [&] {
      return static_cast<int>(std::max<int64_t>(
          1000,
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count()));
    };
    TxnOutcome outcome;
    if (!advanced.empty()) {
      outcome = txn_call(
          [&] {
            return rd_kafka_send_offsets_to_transaction(producer.get(), list.get(), group_metadata,
                                                        remaining_ms());
          },
          deadline, nullptr);
    }
    if (outcome.result == TxnResult::kOk) {
      outcome =
          txn_call([&] { return rd_kafka_commit_transaction(producer.get(), remaining_ms()); },
                   deadline, nullptr);
    }
    if (outcome.result == TxnResult::kFatal) {
      on_fatal(outcome, "commit a transaction");
      return false;
    }
    if (outcome.result == TxnResult::kAbort) {
      spdlog::warn("flow {}: transaction failed ({}): aborting it and re-reading", flow.id,
                   outcome.error);
      abort_transaction();
      return false;
    }
    for (const auto& c : txn_copies)
      offset_maps->record(c.target_topic, c.partition, c.source_offset, c.target_offset);
    txn_copies.clear();
    for (auto& [s, c] : advanced) s->stored = s->rewind_to = c;
    txn_open = false;
    txn_bytes = 0;
    last_position_store_ms = now_ms();
    return true;
  }

  // Aborts the open transaction: none of its records becomes visible, so every partition goes
  // back to its last committed position and reads them again.
  void abort_transaction() {
    ++errors["transaction_abort"];
    if (txn_open) {
      clock_may_have_moved();  // the abort flushes: reports of records already sent arrive
      auto outcome = txn_call([&] { return rd_kafka_abort_transaction(producer.get(), 30000); },
                              Clock::now() + 60s, nullptr);
      if (outcome.result != TxnResult::kOk) {
        on_fatal(outcome, "abort a transaction");
        return;
      }
    }
    // Purged records come back as delivery reports that free them.
    auto deadline = Clock::now() + 10s;
    while (inflight_records > 0 && Clock::now() < deadline) serve_reports(10);
    txn_open = txn_failed = false;
    txn_bytes = 0;
    txn_copies.clear();
    for (auto& [key, s] : parts) {
      if (s->rewind_to < 0) continue;
      s->progress = core::PartitionProgress(s->rewind_to);
      s->next_expected = s->rewind_to;
      if (!s->failed && !s->waiting_target) seek(*s, s->rewind_to);
    }
  }

  // Persists changed offset maps, trimmed to what the source still retains.
  void persist_maps() {
    std::map<OffsetMaps::Key, int64_t> lows;
    for (auto& [key, s] : parts) {
      int64_t low = -1, high = -1;
      if (rd_kafka_get_watermark_offsets(s->consumer, s->source_topic.c_str(), s->partition, &low,
                                         &high) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          low > 0) {
        lows[{s->target_topic, s->partition}] = low;
      }
    }
    offset_maps->persist(lows);
  }

  // Waits for every in-flight record (or the timeout), serving delivery reports.
  void drain(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (inflight_records > 0 && Clock::now() < deadline) serve_reports(50);
  }

  static void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* list, void* opaque) {
    static_cast<Impl*>(opaque)->on_rebalance(rk, err, list);
  }

  void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                    rd_kafka_topic_partition_list_t* list) {
    clock_may_have_moved();  // served inside a poll; working out positions can take seconds
    bool cooperative = std::string(rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE";
    ++rebalances;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      // Partitions kept through a cooperative rebalance: librdkafka paused and resumes them
      // itself, from its own idea of their position (see reposition).
      reposition_group_share();
      assign(list);
      // The other lanes' partitions: fetched by them from the same offsets; the group
      // member holds them paused (from their end, so nothing is fetched before the pause).
      std::vector<kafka::PartitionListPtr> by_lane = split_by_lane(list);
      for (int i = 0; i < list->cnt; ++i) {
        auto* s = state_of(list->elems[i].topic, list->elems[i].partition);
        if (s != nullptr && s->consumer != rk) list->elems[i].offset = RD_KAFKA_OFFSET_END;
      }
      for_each_lane_share(list, by_lane, [&](size_t i, rd_kafka_t* lane, auto* part) {
        if (cooperative) {
          kafka::check(rd_kafka_incremental_assign(lane, part), "incremental assign");
        } else {
          kafka::check(rd_kafka_assign(lane, part), "assign");
        }
        if (i > 0) rd_kafka_pause_partitions(rk, part);
        if (lanes[i].fetch_waker) lanes[i].fetch_waker->assignment_changed();
      });
      wake_fetchers_for_a_while();
      std::vector<PartitionState*> waiting;
      for (int i = 0; i < list->cnt; ++i) {
        auto* s = state_of(list->elems[i].topic, list->elems[i].partition);
        if (s != nullptr && s->waiting_target) waiting.push_back(s);
      }
      pause(waiting, false);
    } else {
      bool lost = rd_kafka_assignment_lost(rk) != 0;
      // Before their states go: which lane fetches each.
      std::vector<kafka::PartitionListPtr> by_lane = split_by_lane(list);
      if (lost && exactly_once && txn_open) abort_transaction();
      if (!lost) {
        // Hand the partitions over with their positions stored: the next owner resumes there.
        // When stopping, shutdown() drained already: waiting again (here inside
        // consumer_close) would double the stop time under a slow or throttled target.
        if (!stopping) drain(30s);
        store_positions(true);
      }
      for (int i = 0; i < list->cnt; ++i) {
        auto* s = state_of(list->elems[i].topic, list->elems[i].partition);
        if (s != nullptr && deleted_topics.count(s->source_topic))
          restart_incarnation(s->target_topic, s->partition);
        if (s != nullptr) {
          std::lock_guard lk(owned_mu);
          owned.erase({s->target_topic, s->partition});
        }
        parts.erase({list->elems[i].topic, list->elems[i].partition});
        forget_cached_states();
      }
      reposition_group_share();  // the partitions kept, as after an assignment
      for_each_lane_share(list, by_lane, [&](size_t, rd_kafka_t* lane, auto* part) {
        // librdkafka keeps a partition's pause through an unassignment: one paused here
        // (another lane's, waiting for its target, failed, backpressure) would never be
        // fetched if assigned again later.
        rd_kafka_resume_partitions(lane, part);
        if (cooperative) {
          kafka::check(rd_kafka_incremental_unassign(lane, part), "incremental unassign");
        } else {
          rd_kafka_assign(lane, nullptr);
        }
      });
      spdlog::info("flow {}: {} partition(s) {}", flow.id, list->cnt, lost ? "lost" : "revoked");
    }
  }

  // The partitions of `list` each lane other than the group member fetches, with their
  // offsets (index 0 stays empty).
  std::vector<kafka::PartitionListPtr> split_by_lane(const rd_kafka_topic_partition_list_t* list) {
    std::vector<kafka::PartitionListPtr> by_lane;
    for (size_t i = 0; i < lanes.size(); ++i)
      by_lane.push_back(kafka::new_partition_list(list->cnt));
    for (int i = 0; i < list->cnt; ++i) {
      const auto& tp = list->elems[i];
      auto* s = state_of(tp.topic, tp.partition);
      if (s == nullptr || s->consumer == group_member()) continue;
      if (size_t n = lane_number(s->consumer); n > 0)
        rd_kafka_topic_partition_list_add(by_lane[n - 1].get(), tp.topic, tp.partition)->offset =
            tp.offset;
    }
    return by_lane;
  }

  // Calls `apply(lane index, lane, partitions)` for each lane with a share of `list`: the group
  // member with all of it (it holds every partition the group assigns), the others with theirs.
  template <typename Apply>
  void for_each_lane_share(rd_kafka_topic_partition_list_t* list,
                           const std::vector<kafka::PartitionListPtr>& by_lane, Apply apply) {
    for (size_t i = 0; i < lanes.size(); ++i) {
      rd_kafka_topic_partition_list_t* part = i == 0 ? list : by_lane[i].get();
      if (i > 0 && part->cnt == 0) continue;
      apply(i, lanes[i].consumer.get(), part);
    }
  }

  // 1 for the group member, 2 for the next lane...
  size_t lane_number(const rd_kafka_t* consumer) const {
    for (size_t i = 0; i < lanes.size(); ++i) {
      if (lanes[i].consumer.get() == consumer) return i + 1;
    }
    return 0;
  }

  // Partitions each lane fetches, by lane index.
  std::vector<size_t> lane_loads() const {
    std::vector<size_t> held(lanes.size(), 0);
    for (const auto& [key, s] : parts) {
      if (size_t n = lane_number(s->consumer); n > 0) ++held[n - 1];
    }
    return held;
  }

  // The lane with the fewest partitions (`held`, updated): it fetches the next one assigned.
  rd_kafka_t* least_busy_lane(std::vector<size_t>& held) const {
    size_t best = 0;
    for (size_t i = 1; i < held.size(); ++i) {
      if (held[i] < held[best]) best = i;
    }
    ++held[best];
    return lanes[best].consumer.get();
  }

  // Sets each newly assigned partition's start offset from the position stored in the target
  // cluster, or from the flow's start policy when none is stored.
  void assign(rd_kafka_topic_partition_list_t* list) {
    const auto began = Clock::now();
    std::map<std::string, sync::TopicPlan> plan_copy;
    std::set<std::string> initial;
    {
      std::lock_guard lk(plans_mu);
      plan_copy = plans;
      initial = initial_topics;
      // A target created moments ago holds no copies of this flow; later, another instance
      // may have copied into it and left (a failed pass keeps the last plans, flag included).
      // Two seconds: less than the group's session timeout, which a crashed instance's
      // partitions wait out before they move here.
      if (Clock::now() - plans_made > kCreatedTopicTrusted) {
        for (auto& [name, plan] : plan_copy) plan.created = false;
      }
    }
    auto stored = kafka::new_partition_list(list->cnt);
    for (int i = 0; i < list->cnt; ++i) {
      const auto& tp = list->elems[i];
      auto it = plan_copy.find(tp.topic);
      std::string target =
          it != plan_copy.end()
              ? it->second.target_topic
              : core::target_topic_name(naming_of(flow), source_cluster.name, tp.topic);
      rd_kafka_topic_partition_list_add(stored.get(), target.c_str(), tp.partition);
    }
    // Positions must be known: starting anywhere else would skip or repeat records.
    while (true) {
      rd_kafka_resp_err_t err = rd_kafka_committed(positions.get(), stored.get(), 10000);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      spdlog::warn("flow {}: cannot read stored positions from cluster '{}' ({}), retrying",
                   flow.id, target_cluster.name, rd_kafka_err2str(err));
      if (stop_flag != nullptr && stop_flag->load())
        throw std::runtime_error("stopped while assigning");
      std::this_thread::sleep_for(1s);
    }
    const size_t n = static_cast<size_t>(list->cnt);
    std::vector<std::unique_ptr<PartitionState>> states(n);
    for (size_t i = 0; i < n; ++i) {
      const auto& tp = list->elems[i];
      auto st = std::make_unique<PartitionState>();
      st->source_topic = tp.topic;
      st->partition = tp.partition;
      st->target_topic = stored->elems[i].topic;
      st->target_rkt = target_rkt(st->target_topic, st->source_topic);
      auto it = plan_copy.find(tp.topic);
      if (it != plan_copy.end()) st->max_message_bytes = it->second.target_max_message_bytes;
      st->waiting_target = it == plan_copy.end() || tp.partition >= it->second.target_partitions;
      st->heartbeat = Heartbeats::is_topic(tp.topic);
      const auto& pos = stored->elems[i];
      st->target_floor = core::decode_position_metadata(
          pos.metadata == nullptr
              ? std::string_view{}
              : std::string_view(static_cast<const char*>(pos.metadata), pos.metadata_size));
      states[i] = std::move(st);
    }
    // Each check below is a round trip or two per partition, to the source or the target:
    // side by side, thousands of partitions (or a long link) take seconds, not minutes.
    std::vector<char> recreated(n, 0);
    core::parallel_for(n, kAssignParallelism, [&](size_t i) {
      const auto& pos = stored->elems[i];
      recreated[i] = pos.offset > 0 &&
                     beyond_source_end(list->elems[i].topic, list->elems[i].partition, pos.offset);
    });
    for (size_t i = 0; i < n; ++i) {
      if (!recreated[i]) continue;
      auto& pos = stored->elems[i];
      // A position past the source's end: the topic was recreated while kmirror was away.
      spdlog::warn(
          "flow {}: stored position {} of {} is beyond the source's end: the topic was "
          "recreated; copying its new incarnation from its start",
          flow.id, pos.offset, tp_name(list->elems[i].topic, list->elems[i].partition));
      if (auto floor = restart_incarnation(states[i]->target_topic, list->elems[i].partition)) {
        states[i]->target_floor = *floor;
        pos.offset = 0;
      }
    }
    // A partition the target lacks yet holds no copies: nothing to catch up from.
    // Heartbeats need no exact resume: a repeated one only measures one more latency. Nor
    // does a topic this instance has just created hold copies of this flow's source.
    std::map<std::pair<std::string, int32_t>, kafka::Watermarks> target_ends;
    std::vector<std::pair<std::string, int32_t>> to_resume;
    for (const auto& st : states) {
      if (st->waiting_target || st->heartbeat) continue;
      auto plan = plan_copy.find(st->source_topic);
      if (plan != plan_copy.end() && plan->second.created) {
        target_ends[{st->target_topic, st->partition}] = kafka::Watermarks{0, 0};
      } else {
        to_resume.emplace_back(st->target_topic, st->partition);
      }
    }
    // One request per broker for all: new topics' partitions are mostly empty, and asking
    // each alone cost a round trip apiece (2,000 partitions: 25 s). A topic created a moment
    // ago (by another instance) fails that request until every partition has its leader (a
    // quarter of a second for 120 partitions on one broker), so it is asked again for about a
    // second; what still fails is asked one partition at a time in resume_point.
    auto missing_ends = [&] {
      std::vector<std::pair<std::string, int32_t>> missing;
      for (const auto& tp : to_resume) {
        if (!target_ends.count(tp)) missing.push_back(tp);
      }
      return missing;
    };
    target_ends.merge(kafka::query_watermarks(target_admin.get(), to_resume, 10s));
    kafka::wait_until(
        [&] {
          auto missing = missing_ends();
          if (missing.empty()) return true;
          target_ends.merge(kafka::query_watermarks(target_admin.get(), missing, 1s));
          return missing_ends().empty();
        },
        1s, 20ms);
    std::vector<int64_t> resumes(n);
    core::parallel_for(n, kAssignParallelism, [&](size_t i) {
      const auto& st = *states[i];
      if (st.waiting_target || st.heartbeat) {
        resumes[i] = stored->elems[i].offset;
        return;
      }
      auto known = target_ends.find({st.target_topic, st.partition});
      resumes[i] = resume_point(st, stored->elems[i].offset, initial.count(st.source_topic) > 0,
                                known == target_ends.end()
                                    ? std::nullopt
                                    : std::optional<kafka::Watermarks>(known->second));
    });
    // Positions decided: resolve "from the beginning" to the partition's first offset and
    // `latest` to its end here, in one request per broker each. Given the logical offset,
    // librdkafka may look it up before the partition has joined its leader's thread and then
    // retries only after 500 ms; and an end it resolves later skips what arrived meanwhile.
    // An explicit end is also a position from the start: the lag is 0, not the whole log.
    std::vector<std::pair<std::string, int32_t>> from_start, from_end;
    for (size_t i = 0; i < n; ++i) {
      const std::string& topic = list->elems[i].topic;
      bool from_policy = !configured_start(topic, list->elems[i].partition);
      if (resumes[i] < 0 && !states[i]->heartbeat && from_policy) {
        // The first offset not for partitions waiting for their target: they are paused at
        // once, and it could be gone by the time they resume. Their end is taken now, as the
        // others': `latest` means what arrives from the start on.
        if (!starts_at_beginning(initial.count(topic) > 0)) {
          if (flow.start.kind == config::StartKind::kLatest)
            from_end.emplace_back(topic, list->elems[i].partition);
        } else if (!states[i]->waiting_target) {
          from_start.emplace_back(topic, list->elems[i].partition);
        }
      }
    }
    // Short: a partition without a leader fails the whole request, and the logical offset
    // then still works, 500 ms later.
    auto source_starts =
        kafka::query_offsets(source_admin.get(), from_start, RD_KAFKA_OFFSET_BEGINNING, 2s);
    auto source_ends = kafka::query_offsets(source_admin.get(), from_end, RD_KAFKA_OFFSET_END, 2s);
    std::vector<size_t> held = lane_loads();
    for (size_t i = 0; i < n; ++i) {
      auto& tp = list->elems[i];
      auto st = std::move(states[i]);
      int64_t resume = resumes[i];
      const bool from_copies = resume >= 0 && stored->elems[i].offset < 0;
      if (resume >= 0) {
        tp.offset = resume;
        st->progress = core::PartitionProgress(resume);
        // Resumed from the copies on the target: nothing stored yet, so the next pass does.
        st->stored = from_copies ? -1 : resume;
        st->next_expected = resume;
        st->rewind_to = resume;
      } else if (auto configured = configured_start(tp.topic, tp.partition)) {
        tp.offset = *configured;
        st->progress = core::PartitionProgress(tp.offset);
        st->next_expected = tp.offset;
        st->rewind_to = tp.offset;
      } else if (st->heartbeat) {
        tp.offset = RD_KAFKA_OFFSET_END;  // heartbeats older than this run measure nothing
      } else {
        tp.offset = start_offset(tp.topic, tp.partition, initial.count(tp.topic) > 0);
        if (auto low = source_starts.find({tp.topic, tp.partition});
            tp.offset == RD_KAFKA_OFFSET_BEGINNING && low != source_starts.end()) {
          tp.offset = low->second;
        }
        if (auto end = source_ends.find({tp.topic, tp.partition});
            tp.offset == RD_KAFKA_OFFSET_END && end != source_ends.end()) {
          tp.offset = end->second;
          st->progress = core::PartitionProgress(tp.offset);
          st->next_expected = tp.offset;
          st->rewind_to = tp.offset;
        }
        st->first_offset_unresolved = tp.offset == RD_KAFKA_OFFSET_BEGINNING && st->waiting_target;
      }
      st->assigned_at = tp.offset;
      st->consumer = least_busy_lane(held);
      spdlog::info("flow {}: assigned {} from {}{}", flow.id, tp_name(tp.topic, tp.partition),
                   resume < 0    ? std::string("start policy")
                   : from_copies ? "the copies on the target, at " + std::to_string(resume)
                                 : "stored position " + std::to_string(resume),
                   lanes.size() == 1
                       ? ""
                       : ", source connection " + std::to_string(lane_number(st->consumer)));
      {
        std::lock_guard lk(owned_mu);
        owned.insert({st->target_topic, tp.partition});
      }
      parts[{tp.topic, tp.partition}] = std::move(st);
      forget_cached_states();
    }
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - began);
    if (took > 1s) {
      spdlog::info("flow {}: positions of {} assigned partition(s) worked out in {} ms", flow.id,
                   list->cnt, took.count());
    }
  }

  // Where a partition resumes: after its stored position, and after whatever the target holds
  // beyond it (copied before a crash, position not yet stored), so a restart re-sends nothing
  // it does not have to. Every source record in between must be on the target or be one the
  // loop rule skips; the first that is neither is where copying resumes. -1: no position, the
  // start policy applies.
  int64_t resume_point(const PartitionState& s, int64_t stored, bool initial,
                       std::optional<kafka::Watermarks> target_end) {
    std::optional<int64_t> frontier;
    while (true) {
      try {
        frontier =
            offset_maps->catch_up(s.target_topic, s.partition, 60s, s.target_floor, target_end);
        break;
      } catch (const std::exception& e) {
        spdlog::warn("flow {}: {} (retrying)", flow.id, e.what());
        if (stop_flag != nullptr && stop_flag->load()) throw;
        target_end.reset();  // ask again, alone
        std::this_thread::sleep_for(1s);
      }
    }
    if (!frontier) return stored;
    // No position stored yet, yet the target holds copies: a restart within the first commit
    // interval. The start policy alone would copy them again (earliest) or skip what arrived
    // meanwhile (latest), so the copies count as the position, from where the policy starts.
    const bool first_life = stored < 0;
    if (first_life) {
      // Copies of offsets the source does not have yet belong to an earlier incarnation of
      // the source topic: the policy applies.
      kafka::Watermarks source;
      try {
        source = kafka::query_watermarks(source_admin.get(), s.source_topic, s.partition, 10s);
      } catch (const std::exception&) {
        return -1;
      }
      if (*frontier >= source.high) return -1;
      stored = policy_start(s, initial, source.low);
      if (stored < 0) return -1;
    }
    if (*frontier < stored) return first_life ? -1 : stored;
    int64_t resume = *frontier + 1;
    bool complete =
        kafka::read_range(base_props(source_cluster, "verify"), s.source_topic, s.partition, stored,
                          *frontier + 1, 60s, [&](const rd_kafka_message_t* m) {
                            if (m->offset >= resume) return;
                            if (offset_maps->recorded(s.target_topic, s.partition, m->offset))
                              return;
                            if (!skippable(kafka::provenance_of(m))) resume = m->offset;
                          });
    if (!complete) return first_life ? -1 : stored;
    if (first_life) {
      spdlog::info(
          "flow {}: {} has no stored position yet but the target holds its copies up to source "
          "offset {}: resuming at {} (checked from {})",
          flow.id, tp_name(s.source_topic, s.partition), *frontier, resume, stored);
    } else if (resume > stored) {
      spdlog::info(
          "flow {}: {} already holds source offsets up to {} on the target: resuming at {} instead "
          "of {}",
          flow.id, tp_name(s.source_topic, s.partition), *frontier, resume, stored);
    }
    return resume;
  }

  // The first source offset the start policy copies, for a partition whose target already
  // holds copies of it: the configured offset, the partition's first (earliest), or the first
  // copy on the target (latest and a timestamp: the first start read nothing older). -1 when
  // unknown.
  int64_t policy_start(const PartitionState& s, bool initial, int64_t source_low) {
    if (auto configured = configured_start(s.source_topic, s.partition)) return *configured;
    if (starts_at_beginning(initial)) return source_low;
    return offset_maps->first_recorded(s.target_topic, s.partition).value_or(-1);
  }

  // The partition's offset from the flow's `start_offsets`, when configured.
  std::optional<int64_t> configured_start(const std::string& topic, int32_t partition) const {
    auto so = flow.start_offsets.find(topic);
    if (so == flow.start_offsets.end()) return std::nullopt;
    auto at = so->second.find(partition);
    return at == so->second.end() ? std::nullopt : std::optional<int64_t>(at->second);
  }

  bool beyond_source_end(const std::string& topic, int32_t partition, int64_t position) {
    try {
      return position > kafka::query_watermarks(source_admin.get(), topic, partition, 10s).high;
    } catch (const std::exception&) {
      return false;  // unknown: trust the stored position
    }
  }

  // Topics found after start-up are copied from their beginning, so records written before
  // kmirror noticed the topic are not lost.
  bool starts_at_beginning(bool initial) const {
    return !initial || flow.start.kind == config::StartKind::kEarliest;
  }

  int64_t start_offset(const std::string& topic, int32_t partition, bool initial) {
    if (starts_at_beginning(initial)) return RD_KAFKA_OFFSET_BEGINNING;
    if (flow.start.kind == config::StartKind::kLatest) return RD_KAFKA_OFFSET_END;
    auto q = kafka::new_partition_list(1);
    rd_kafka_topic_partition_list_add(q.get(), topic.c_str(), partition)->offset =
        flow.start.timestamp_ms;
    if (rd_kafka_offsets_for_times(group_member(), q.get(), 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        q->elems[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return RD_KAFKA_OFFSET_BEGINNING;
    }
    if (q->elems[0].offset >= 0) return q->elems[0].offset;
    // No record at or after the timestamp: from the end, resolved now (what arrives from here
    // on is copied, and a later resume does not look the end up again).
    auto end =
        kafka::query_offsets(source_admin.get(), {{topic, partition}}, RD_KAFKA_OFFSET_END, 2s);
    auto it = end.find({topic, partition});
    return it == end.end() ? RD_KAFKA_OFFSET_END : it->second;
  }

  void apply_backpressure() {
    const int64_t limit = flow.max_inflight_bytes;
    const int64_t records = flow.max_inflight_records;
    bool over = inflight_bytes > limit || inflight_records > records;
    bool under = inflight_bytes < limit / 2 && inflight_records < records / 2;
    if (!backpressure && over) {
      backpressure = true;
      backpressure_since = Clock::now();
    } else if (backpressure && under) {
      backpressure = false;
      if (backpressure_paused) {
        backpressure_paused = false;
        std::vector<PartitionState*> ready;
        for (auto& [k, s] : parts) {
          if (!s->failed && !s->waiting_target) ready.push_back(s.get());
        }
        pause(ready, true);
      }
    } else if (backpressure && !backpressure_paused &&
               Clock::now() - backpressure_since > flow.pause_after) {
      backpressure_paused = true;
      std::vector<PartitionState*> all;
      for (auto& [k, s] : parts) all.push_back(s.get());
      pause(all, false);
      ++backpressure_pauses;
      spdlog::debug("flow {}: target slow, partitions paused ({} bytes in flight)", flow.id,
                    inflight_bytes);
    }
  }

  void publish_status(const std::string& state) {
    FlowStatus st;
    st.state = state;
    st.inflight_bytes = inflight_bytes;
    st.backpressure = backpressure;
    st.backpressure_pauses = backpressure_pauses;
    st.replicated = total_replicated;
    st.filtered = total_filtered;
    st.bytes = total_bytes;
    st.latency = latency;
    st.errors = errors;
    st.last_position_store_ms = last_position_store_ms;
    if (heartbeats) st.heartbeat = heartbeats->status();
    st.throttle = throttle.snapshot();
    for (auto& [key, s] : parts) {
      PartitionStatus p;
      p.topic = s->source_topic;
      p.partition = s->partition;
      p.position = s->progress.committable().value_or(-1);
      int64_t low = 0, high = -1;
      if (rd_kafka_get_watermark_offsets(s->consumer, s->source_topic.c_str(), s->partition, &low,
                                         &high) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          high >= 0) {
        p.source_end = high;
        p.lag = std::max<int64_t>(0, high - std::max<int64_t>(p.position, low));
      }
      p.replicated = s->replicated;
      p.filtered = s->filtered;
      p.bytes = s->bytes;
      p.last_latency_ms = s->last_latency_ms;
      p.record_age_ms = s->record_age_ms;
      p.error = s->error;
      if (s->heartbeat) {
        st.heartbeat.lag = p.lag;
        continue;
      }
      st.lag += p.lag;
      st.partitions.push_back(std::move(p));
    }
    std::lock_guard lk(status_mu);
    st.id = snapshot.id;
    st.source = snapshot.source;
    st.target = snapshot.target;
    st.source_cluster_id = snapshot.source_cluster_id;
    st.target_cluster_id = snapshot.target_cluster_id;
    st.topic_errors = snapshot.topic_errors;
    st.control_leader = snapshot.control_leader;
    st.source_reachable = snapshot.source_reachable;
    st.target_reachable = snapshot.target_reachable;
    st.last_topic_sync_ms = snapshot.last_topic_sync_ms;
    st.topics = snapshot.topics;
    st.groups_synced = snapshot.groups_synced;
    st.last_group_sync_ms = snapshot.last_group_sync_ms;
    st.groups_skipped_active = snapshot.groups_skipped_active;
    for (const auto& [kind, n] : snapshot.errors) {
      if (kind == "topic_sync" || kind == "offset_sync" || kind == "acl_sync") st.errors[kind] = n;
    }
    snapshot = std::move(st);
  }

  // Takes up to 2,000 records from the lanes (until the in-flight limit), waiting up to
  // `wait_ms` for the first. Returns how many were taken.
  int take_records(int wait_ms) {
    constexpr int kMaxTaken = 2000;
    // Records are taken in batches: one call (one queue lock, one poll-interval update) for up
    // to 64 records instead of one each; 100-byte records copy a tenth faster. A batch is
    // sized to the room left under the in-flight limit, at the last record's size: every
    // record taken is copied. librdkafka 2.0's batch call can lose its place when a partition
    // is paused meanwhile; pause() makes up for it (see there).
    constexpr int64_t kBatch = 64;
    int taken = 0;
    auto take_from = [&](const Lane& lane, int wait, int quota) {
      rd_kafka_t* consumer = lane.consumer.get();
      if (wait > 0) {
        // Only a lone record is waited for: a batch call waits until its batch is full.
        rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer, wait);
        if (m == nullptr) return;
        handle(m, consumer);
        ++taken;
        --quota;
      }
      std::array<rd_kafka_message_t*, kBatch> batch;
      while (quota > 0 && inflight_bytes <= flow.max_inflight_bytes) {
        const int64_t room = (flow.max_inflight_bytes - inflight_bytes) / last_record_bytes + 1;
        const auto want = static_cast<size_t>(std::min<int64_t>({kBatch, quota, room}));
        const uint64_t rebalances_before = rebalances;
        const ssize_t got = rd_kafka_consume_batch_queue(lane.queue.get(), 0, batch.data(), want);
        if (got <= 0) return;
        if (rebalances != rebalances_before) {
          // A rebalance served inside the call: records taken before it may predate a rewind
          // or a reposition done by the callback. None is copied; the partitions go back to
          // the record after the last one copied and are read again from there.
          for (ssize_t i = 0; i < got; ++i) rd_kafka_message_destroy(batch[i]);
          reposition_group_share();
          return;
        }
        for (ssize_t i = 0; i < got; ++i) {
          last_record_bytes = std::max<int64_t>(1, batch[i]->len + batch[i]->key_len);
          try {
            handle(batch[i], consumer);
          } catch (...) {
            for (ssize_t j = i + 1; j < got; ++j) rd_kafka_message_destroy(batch[j]);
            throw;
          }
        }
        taken += static_cast<int>(got);
        quota -= static_cast<int>(got);
        if (static_cast<size_t>(got) < want) return;
      }
    };
    if (lanes.size() == 1) {
      take_from(lanes.front(), wait_ms, kMaxTaken);
      return taken;
    }
    // Lanes take turns with an equal share, starting from a different one each time.
    const int share = kMaxTaken / static_cast<int>(lanes.size());
    for (int pass = 0; pass < 2 && taken == 0; ++pass) {
      if (pass == 1) {
        if (wait_ms == 0) break;
        pollfd pfd{lanes_ready[0], POLLIN, 0};
        if (poll(&pfd, 1, wait_ms) <= 0) break;
      }
      char drained[256];
      while (read(lanes_ready[0], drained, sizeof(drained)) > 0) {
      }
      for (size_t i = 0; i < lanes.size(); ++i) {
        next_lane = (next_lane + 1) % lanes.size();
        take_from(lanes[next_lane], 0, share);
        if (inflight_bytes > flow.max_inflight_bytes) break;
      }
    }
    return taken;
  }
  size_t next_lane = 0;
  int64_t last_record_bytes = 1024;  // key and value of the last record taken

  void run(const std::atomic<bool>& stop) {
    stop_flag = &stop;
    if (!disabled_reason.empty()) {
      spdlog::warn("{}", disabled_reason);
      publish_status("failed-over");
      return;
    }
    auto next_commit =
        Clock::now() + (exactly_once ? flow.transaction_interval : flow.commit_interval);
    auto next_map_persist = Clock::now() + flow.sync_interval;
    auto next_status = Clock::now();
    auto next_log = Clock::now() + 10s;
    uint64_t last_logged = 0;
    publish_status("replicating");
    try {
      while (!stop && !self_stop) {
        clock_may_have_moved();
        apply_plans();
        int taken = 0;
        if (!backpressure) {
          taken = take_records(inflight_records > 0 ? 0 : 50);
        } else if (backpressure_paused) {
          // Keep serving group protocol callbacks while paused.
          for (const auto& lane : lanes) {
            if (rd_kafka_message_t* m = rd_kafka_consumer_poll(lane.consumer.get(), 0))
              handle(m, lane.consumer.get());
          }
        }
        // Records taken leave room in the prefetch queue, which librdkafka 2.0 fills again only
        // once the broker thread wakes (the waker spaces its rounds).
        if (taken > 0 || Clock::now() < wake_fetch_until) {
          for (const auto& lane : lanes) {
            if (lane.fetch_waker) lane.fetch_waker->wake();
          }
        }
        serve_reports((taken == 0 && inflight_records > 0) ? 5 : 0);
        rd_kafka_poll(positions.get(), 0);
        apply_backpressure();
        auto now = Clock::now();
        if (exactly_once) {
          if (now >= next_commit || txn_failed || txn_bytes >= flow.transaction_max_bytes) {
            commit_transaction(60s);
            next_commit = Clock::now() + flow.transaction_interval;
          }
          if (!txn_fatal.empty()) throw std::runtime_error(txn_fatal);
        } else if (now >= next_commit) {
          store_positions(false);
          next_commit = now + flow.commit_interval;
        }
        if (now >= next_map_persist) {
          persist_maps();
          next_map_persist = now + flow.sync_interval;
        }
        if (now >= next_status) {
          publish_status("replicating");
          next_status = now + 1s;
        }
        if (now >= next_log) {
          FlowStatus st;
          {
            std::lock_guard lk(status_mu);
            st = snapshot;
          }
          spdlog::info("flow {}: {} replicated (+{}), {} filtered, lag {}, {} KiB in flight{}",
                       flow.id, st.replicated, st.replicated - last_logged, st.filtered, st.lag,
                       inflight_bytes / 1024, backpressure ? ", backpressure" : "");
          last_logged = st.replicated;
          next_log = now + 10s;
          if (redelivered != redelivered_logged) {
            spdlog::info(
                "flow {}: the source consumer handed over {} record(s) a second time; "
                "they were not copied again",
                flow.id, redelivered - redelivered_logged);
            redelivered_logged = redelivered;
          }
        }
      }
    } catch (...) {
      shutdown(false);
      throw;
    }
    shutdown(true);
  }

  void shutdown(bool clean) {
    stopping = true;
    publish_status("stopping");
    // Leaving the election first lets another instance take the control plane over at once.
    if (leadership) leadership->stop();
    spdlog::info("flow {}: stopping: flushing {} in-flight record(s)", flow.id, inflight_records);
    std::vector<PartitionState*> all;
    for (auto& [k, s] : parts) all.push_back(s.get());
    pause(all, false);
    if (txn_fatal.empty()) {
      drain(clean ? 30s : 10s);
      store_positions(true);
    }
    persist_maps();
    offset_maps->flush(10s);
    stop_control();
    for (auto& lane : lanes) lane.fetch_waker.reset();
    // The group member first: it leaves the group (partitions move to other instances at
    // once) and its revocation takes the other lanes' partitions from them.
    for (auto& lane : lanes) rd_kafka_consumer_close(lane.consumer.get());
    publish_status(!clean ? "failed" : self_stop ? "failed-over" : "stopped");
    if (inflight_records > 0) {
      spdlog::warn(
          "flow {}: {} record(s) still in flight at exit; they are copied again on restart",
          flow.id, inflight_records);
    }
  }

  ~Impl() {
    for (auto& lane : lanes) lane.fetch_waker.reset();
    if (leadership) leadership->stop();
    stop_control();
    // Records still in flight hold consumed messages: purge so their reports free them.
    if (producer) {
      rd_kafka_purge(producer.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      rd_kafka_poll(producer.get(), 0);
      record_copies();
      parts.clear();
      forget_cached_states();
      rd_kafka_flush(producer.get(), 1000);
    }
    for (auto& [name, t] : target_topics) rd_kafka_topic_destroy(t.rkt);
    target_topics.clear();
    if (group_metadata != nullptr) rd_kafka_consumer_group_metadata_destroy(group_metadata);
    lanes.clear();  // before the pipe their queues write to
    for (int fd : lanes_ready) {
      if (fd >= 0) close(fd);
    }
  }
};

Flow::Flow(const config::Config& config, const config::FlowConfig& flow)
    : impl_(std::make_unique<Impl>(config, flow)) {}
Flow::~Flow() = default;

void Flow::connect(std::chrono::milliseconds timeout) {
  impl_->connect(timeout);
}
void Flow::run(const std::atomic<bool>& stop) {
  impl_->run(stop);
}

FlowStatus Flow::status() const {
  std::lock_guard lk(impl_->status_mu);
  return impl_->snapshot;
}

}  // namespace kmirror::replicate
