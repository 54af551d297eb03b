#include "kafka/client.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <mutex>
#include <thread>

namespace kmirror::kafka {

using namespace std::chrono_literals;

bool is_secret_property(const std::string& name) {
  static constexpr std::array kMarkers = {"password",     "secret",    "ssl.key.pem", "token",
                                          "ssl.keystore", "sasl.jaas", "ssl_key"};
  return std::any_of(kMarkers.begin(), kMarkers.end(),
                     [&](const char* m) { return name.find(m) != std::string::npos; });
}

namespace {

// librdkafka's own log lines go to kmirror's log, with its syslog levels mapped.
void log_to_spdlog(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  auto lvl = level <= 3   ? spdlog::level::err
             : level == 4 ? spdlog::level::warn
             : level <= 6 ? spdlog::level::info
                          : spdlog::level::debug;
  spdlog::log(lvl, "librdkafka {} {}: {}", rd_kafka_name(rk), facility, message);
}

}  // namespace

ConfPtr make_conf(const Properties& props) {
  ConfPtr conf(rd_kafka_conf_new());
  rd_kafka_conf_set_log_cb(conf.get(), &log_to_spdlog);
  char errstr[512];
  for (const auto& [name, value] : props) {
    if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
      std::string shown = is_secret_property(name) ? "(secret, not shown)" : "'" + value + "'";
      throw KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG,
                       "invalid Kafka client property " + name + "=" + shown + ": " + errstr);
    }
  }
  return conf;
}

KafkaPtr make_client(ClientKind kind, ConfPtr conf) {
  char errstr[512];
  rd_kafka_t* rk =
      rd_kafka_new(kind == ClientKind::kProducer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER,
                   conf.get(), errstr, sizeof(errstr));
  if (rk == nullptr) {
    throw KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG,
                     std::string("cannot create Kafka client: ") + errstr);
  }
  conf.release();  // rd_kafka_new took ownership
  return KafkaPtr(rk);
}

KafkaPtr make_client(ClientKind kind, const Properties& props) {
  return make_client(kind, make_conf(props));
}

ClusterMetadata fetch_metadata(rd_kafka_t* rk, std::chrono::milliseconds timeout,
                               const std::string& topic) {
  const rd_kafka_metadata_t* raw = nullptr;
  rd_kafka_topic_t* rkt = nullptr;
  if (!topic.empty()) rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  rd_kafka_resp_err_t err = call_interruptibly(timeout, [&](int slice_ms) {
    return rd_kafka_metadata(rk, rkt == nullptr ? 1 : 0, rkt, &raw, slice_ms);
  });
  if (rkt != nullptr) rd_kafka_topic_destroy(rkt);
  check(err, "metadata request");
  MetadataPtr md(raw);

  ClusterMetadata out;
  out.broker_count = md->broker_cnt;
  if (char* id = rd_kafka_clusterid(rk, 0); id != nullptr) {
    out.cluster_id = id;
    rd_kafka_mem_free(rk, id);
  }
  for (int i = 0; i < md->topic_cnt; ++i) {
    const auto& t = md->topics[i];
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;  // e.g. unknown or being deleted
    TopicInfo info{t.topic, {}};
    for (int p = 0; p < t.partition_cnt; ++p) {
      const auto& part = t.partitions[p];
      info.partitions.push_back(
          PartitionInfo{part.id, part.leader,
                        std::vector<int32_t>(part.replicas, part.replicas + part.replica_cnt)});
    }
    std::sort(info.partitions.begin(), info.partitions.end(),
              [](const auto& a, const auto& b) { return a.id < b.id; });
    out.topics.push_back(std::move(info));
  }
  std::sort(out.topics.begin(), out.topics.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

std::string fetch_cluster_id(rd_kafka_t* rk, std::chrono::milliseconds timeout) {
  char* id = rd_kafka_clusterid(rk, static_cast<int>(timeout.count()));
  if (id == nullptr) {
    throw KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, "cluster did not report its id within " +
                                                       std::to_string(timeout.count()) +
                                                       " ms (unreachable bootstrap servers?)");
  }
  std::string out(id);
  rd_kafka_mem_free(rk, id);
  return out;
}

namespace {

// What the probe client's error callback saw last among errors that retries cannot fix.
struct ProbeErrors {
  std::mutex mu;
  rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::string reason;
  std::string last_reason;  // of any error, for the timeout's message
};

void probe_error_cb(rd_kafka_t*, int err, const char* reason, void* opaque) {
  auto code = static_cast<rd_kafka_resp_err_t>(err);
  auto* errors = static_cast<ProbeErrors*>(opaque);
  std::lock_guard lk(errors->mu);
  // "1/1 brokers are down" says less than the connection error before it.
  if (code != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) errors->last_reason = reason;
  if (code != RD_KAFKA_RESP_ERR__AUTHENTICATION && code != RD_KAFKA_RESP_ERR__SSL) return;
  errors->code = code;
  errors->reason = reason;
}

}  // namespace

std::string probe_cluster_id(const Properties& props, std::chrono::milliseconds timeout) {
  ProbeErrors errors;
  auto conf = make_conf(props);
  rd_kafka_conf_set_error_cb(conf.get(), &probe_error_cb);
  rd_kafka_conf_set_opaque(conf.get(), &errors);
  auto rk = make_client(ClientKind::kProducer, std::move(conf));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left <= std::chrono::milliseconds(0)) break;
    if (char* id =
            rd_kafka_clusterid(rk.get(), static_cast<int>(std::min<int64_t>(left.count(), 500)));
        id != nullptr) {
      std::string out(id);
      rd_kafka_mem_free(rk.get(), id);
      return out;
    }
    rd_kafka_poll(rk.get(), 0);  // runs probe_error_cb
    std::lock_guard lk(errors.mu);
    if (errors.code != RD_KAFKA_RESP_ERR_NO_ERROR) throw KafkaError(errors.code, errors.reason);
  }
  throw KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, "cluster did not report its id within " +
                                                     std::to_string(timeout.count()) +
                                                     " ms (unreachable bootstrap servers?)");
}

Watermarks query_watermarks(rd_kafka_t* rk, const std::string& topic, int32_t partition,
                            std::chrono::milliseconds timeout) {
  Watermarks w;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Short at first: a new partition usually has its leader within a few tens of ms.
  std::chrono::milliseconds backoff(20);
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    // Not rd_kafka_query_watermark_offsets: before librdkafka 2.3 it can wait forever, past
    // its timeout, for a partition whose leader's broker is down (a shutdown hung on it with
    // a target broker killed). offsets_for_times keeps its timeout.
    rd_kafka_resp_err_t err = call_interruptibly(left, [&](int slice_ms) {
      // One partition's BEGINNING or END offset into `out`; the request's or the partition's
      // error otherwise.
      auto ask = [&](int64_t which, int64_t& out) {
        auto list = new_partition_list(1);
        auto* e = rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition);
        e->offset = which;
        if (auto err = rd_kafka_offsets_for_times(rk, list.get(), slice_ms)) return err;
        out = e->offset;
        return e->err;
      };
      auto low = ask(RD_KAFKA_OFFSET_BEGINNING, w.low);
      return low ? low : ask(RD_KAFKA_OFFSET_END, w.high);
    });
    // A partition just created, or whose leader just moved, answers these until metadata
    // catches up: worth waiting for within the caller's timeout.
    bool transient = err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
                     err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
                     err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                     err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
    if (!transient || std::chrono::steady_clock::now() + backoff >= deadline) {
      check(err, "watermarks of " + topic + "[" + std::to_string(partition) + "]");
      return w;
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, 400ms);
  }
}

std::map<std::pair<std::string, int32_t>, Watermarks> query_watermarks(
    rd_kafka_t* rk, const std::vector<std::pair<std::string, int32_t>>& partitions,
    std::chrono::milliseconds timeout) {
  std::map<std::pair<std::string, int32_t>, Watermarks> out;
  auto low = query_offsets(rk, partitions, RD_KAFKA_OFFSET_BEGINNING, timeout);
  if (low.empty()) return out;
  for (const auto& [tp, high] : query_offsets(rk, partitions, RD_KAFKA_OFFSET_END, timeout)) {
    if (auto it = low.find(tp); it != low.end()) out[tp] = Watermarks{it->second, high};
  }
  return out;
}

std::map<std::pair<std::string, int32_t>, int64_t> query_offsets(
    rd_kafka_t* rk, const std::vector<std::pair<std::string, int32_t>>& partitions, int64_t which,
    std::chrono::milliseconds timeout) {
  std::map<std::pair<std::string, int32_t>, int64_t> out;
  if (partitions.empty()) return out;
  // ListOffsets with the special timestamp BEGINNING or END. One partition without a leader
  // yet (just created) fails the whole request; retrying would wait for the slowest
  // partition, so the caller handles the missing ones on its own (asks them one by one, or
  // falls back).
  auto list = new_partition_list(static_cast<int>(partitions.size()));
  for (const auto& [topic, partition] : partitions)
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset = which;
  // Each attempt asks anew: offsets_for_times overwrites the list's offsets with its answers.
  auto err = call_interruptibly(timeout, [&](int slice_ms) {
    for (int i = 0; i < list->cnt; ++i) list->elems[i].offset = which;
    return rd_kafka_offsets_for_times(rk, list.get(), slice_ms);
  });
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return out;
  }
  for (int i = 0; i < list->cnt; ++i) {
    const auto& e = list->elems[i];
    if (e.err == RD_KAFKA_RESP_ERR_NO_ERROR && e.offset >= 0)
      out[{e.topic, e.partition}] = e.offset;
  }
  return out;
}

std::optional<std::chrono::milliseconds> round_trip(rd_kafka_t* rk,
                                                    std::chrono::milliseconds timeout) {
  auto ask = [&] {
    const rd_kafka_metadata_t* md = nullptr;
    // Locally known topics only: on a fresh handle none, the smallest metadata answer.
    if (rd_kafka_metadata(rk, 0, nullptr, &md, static_cast<int>(timeout.count())) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      return false;
    }
    rd_kafka_metadata_destroy(md);
    return true;
  };
  if (!ask()) return std::nullopt;
  // The shorter of two: one stall of a near broker must not pass for distance.
  std::optional<std::chrono::milliseconds> best;
  for (int i = 0; i < 2; ++i) {
    auto start = std::chrono::steady_clock::now();
    if (!ask()) return best;
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    if (!best || took < *best) best = took;
  }
  return best;
}

rd_kafka_resp_err_t commit_within(rd_kafka_t* rk, const rd_kafka_topic_partition_list_t* offsets,
                                  std::chrono::milliseconds timeout) {
  QueuePtr queue(rd_kafka_queue_new(rk));
  if (auto err = rd_kafka_commit_queue(rk, offsets, queue.get(), nullptr, nullptr)) return err;
  EventPtr event(rd_kafka_queue_poll(queue.get(), static_cast<int>(timeout.count())));
  if (!event) return RD_KAFKA_RESP_ERR__TIMED_OUT;
  if (auto err = rd_kafka_event_error(event.get())) return err;
  // Per partition: the first refusal is the answer.
  if (const auto* list = rd_kafka_event_topic_partition_list(event.get())) {
    for (int i = 0; i < list->cnt; ++i) {
      if (list->elems[i].err) return list->elems[i].err;
    }
  }
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

namespace {
thread_local const std::atomic<bool>* interrupt_flag = nullptr;
}  // namespace

InterruptScope::InterruptScope(const std::atomic<bool>& stop) : outer_(interrupt_flag) {
  interrupt_flag = &stop;
}
InterruptScope::~InterruptScope() {
  interrupt_flag = outer_;
}

bool interrupted() {
  return interrupt_flag != nullptr && interrupt_flag->load();
}

rd_kafka_resp_err_t call_interruptibly(std::chrono::milliseconds timeout,
                                       const std::function<rd_kafka_resp_err_t(int)>& attempt) {
  using std::chrono::milliseconds;
  if (interrupt_flag == nullptr)
    return attempt(static_cast<int>(std::max<int64_t>(timeout.count(), 1)));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  milliseconds slice(1000);
  while (true) {
    if (interrupted()) return RD_KAFKA_RESP_ERR__INTR;
    auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    const bool last = left <= slice;
    auto err = attempt(static_cast<int>(std::max<int64_t>(std::min(left, slice).count(), 1)));
    if (err != RD_KAFKA_RESP_ERR__TIMED_OUT || last) return err;
    slice = std::min(slice * 2, milliseconds(4000));
  }
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

}  // namespace kmirror::kafka
