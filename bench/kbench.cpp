// kbench: the small librdkafka helper behind bench/run.
//
//   kbench produce  -b BOOTSTRAP -t TOPIC -n RECORDS -s SIZE -p PARTITIONS [--seed S]
//       Writes the benchmark data set: record i goes to partition i % PARTITIONS, key = the
//       8-digit decimal index, value = SIZE pseudo-random (incompressible) bytes from a seeded
//       xorshift generator, so every run and every scenario sees the same bytes.
//       Uses librdkafka's fastest settings (acks=1, large batches, no compression).
//   kbench consume  -b BOOTSTRAP -t TOPIC -p PARTITIONS
//       Reads every partition from the beginning to its end offset (no group) as fast as it can.
//   kbench create   -b BOOTSTRAP -t TOPIC -p PARTITIONS [--log-append-time 1]
//       Creates the topic (replication factor 1) and waits until every partition has a leader.
//   kbench delete   -b BOOTSTRAP -t TOPIC
//       Deletes the topic (bench/run frees each copy's disk space once it is checked).
//   kbench wait     -b BOOTSTRAP -t TOPIC -p PARTITIONS -n RECORDS [--interval-ms 100]
//       Polls the sum of the end offsets every interval until it reaches RECORDS; prints
//       "first_ms=<epoch ms when the sum was first > 0> done_ms=<epoch ms when it reached N>
//       sum=<records counted>". With -T, a consumer following TOPIC-* counts instead.
//
//   kbench latency  -b BOOTSTRAP -t TOPIC -p PARTITIONS -n RECORDS [--skip W]
//       Reads the topic from the beginning until RECORDS records arrived; for every record
//       after the first W, latency = arrival time - record timestamp (the source broker's
//       append time when the source topic was created with --log-append-time 1; replicators
//       keep the source timestamp), so source producer queueing does not count. Prints "ready"
//       once the first W arrived, then p50_ms, p99_ms, max_ms.
//
// Options of every mode: -T COUNT makes TOPIC a prefix of COUNT topics TOPIC-0000, ... (record
// i goes to pair i % (COUNT * PARTITIONS)); produce also takes --compression CODEC,
// --compressible 1 (values drawn from 64 eight-byte words: about 2:1 with lz4), --rate R
// (records/s, paced; 0 = as fast as possible) and --linger MS.
//
// Every mode prints one line of key=value pairs on stdout; errors go to stderr, exit code 1.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

struct Args {
  std::string mode, bootstrap, topic;
  long records = 0;
  int size = 1024;
  int partitions = 1;
  uint64_t seed = 42;
  int interval_ms = 100;
  int timeout_s = 600;
  int topics = 1;  // -T: TOPIC is a prefix when > 1
  std::string compression = "none";
  bool compressible = false;
  double rate = 0;
  int linger_ms = 5;
  long skip = 0;
  bool log_append_time = false;

  std::string topic_name(int i) const {
    if (topics == 1) return topic;
    char buf[16];
    std::snprintf(buf, sizeof buf, "-%04d", i);
    return topic + buf;
  }
};

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "kbench: %s\n", msg.c_str());
  std::exit(1);
}

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

double mono_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

void set(rd_kafka_conf_t* conf, const char* k, const std::string& v) {
  char err[512];
  if (rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
    die(std::string("config ") + k + ": " + err);
}

rd_kafka_t* make(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (!rk) die(err);
  return rk;
}

long g_delivered = 0, g_failed = 0;
double g_first_ack = 0, g_last_ack = 0;  // mono_s() of the first and last acknowledged record

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  if (m->err) {
    if (g_failed++ < 5) std::fprintf(stderr, "kbench: delivery: %s\n", rd_kafka_err2str(m->err));
  } else {
    if (g_delivered++ == 0) g_first_ack = mono_s();
    g_last_ack = mono_s();
  }
}

int produce(const Args& a) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", a.bootstrap);
  set(conf, "acks", "1");
  set(conf, "linger.ms", std::to_string(a.linger_ms));
  set(conf, "batch.num.messages", "10000");
  set(conf, "batch.size", "1000000");
  set(conf, "queue.buffering.max.messages", "1000000");
  set(conf, "queue.buffering.max.kbytes", "1048576");
  set(conf, "compression.type", a.compression);
  set(conf, "enable.idempotence", "false");
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_t* rk = make(RD_KAFKA_PRODUCER, conf);
  std::vector<rd_kafka_topic_t*> rkts;
  for (int t = 0; t < a.topics; ++t)
    rkts.push_back(rd_kafka_topic_new(rk, a.topic_name(t).c_str(), nullptr));

  std::vector<char> value(static_cast<size_t>(a.size));
  uint64_t x = a.seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  uint64_t words[64];
  for (auto& w : words) w = next();
  const long pairs = static_cast<long>(a.topics) * a.partitions;
  double t0 = mono_s();
  for (long i = 0; i < a.records; ++i) {
    for (size_t j = 0; j < value.size(); j += 8) {
      uint64_t w = next();
      if (a.compressible) w = words[w % 64];
      std::memcpy(value.data() + j, &w, std::min<size_t>(8, value.size() - j));
    }
    if (a.rate > 0) {
      double due = t0 + static_cast<double>(i) / a.rate;
      while (mono_s() < due) rd_kafka_poll(rk, 1);
    }
    char key[16];
    int klen = std::snprintf(key, sizeof key, "%08ld", i);
    long pair = i % pairs;
    rd_kafka_topic_t* rkt = rkts[static_cast<size_t>(pair / a.partitions)];
    int part = static_cast<int>(pair % a.partitions);
    while (rd_kafka_produce(rkt, part, RD_KAFKA_MSG_F_COPY, value.data(), value.size(), key,
                            static_cast<size_t>(klen), nullptr) == -1) {
      if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL)
        die(std::string("produce: ") + rd_kafka_err2str(rd_kafka_last_error()));
      rd_kafka_poll(rk, 10);
    }
    rd_kafka_poll(rk, 0);
  }
  while (rd_kafka_outq_len(rk) > 0) rd_kafka_poll(rk, 50);
  double secs = mono_s() - t0;
  for (auto* rkt : rkts) rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  // ack_span: first to last acknowledged record, the window the replicators' steady rate uses.
  std::printf("mode=produce records=%ld delivered=%ld failed=%ld seconds=%.3f ack_span=%.3f\n",
              a.records, g_delivered, g_failed, secs, g_last_ack - g_first_ack);
  return g_failed == 0 && g_delivered == a.records ? 0 : 1;
}

struct Pair {
  std::string topic;
  int partition;
};

std::vector<Pair> pairs_of(const Args& a) {
  std::vector<Pair> v;
  for (int t = 0; t < a.topics; ++t)
    for (int p = 0; p < a.partitions; ++p) v.push_back({a.topic_name(t), p});
  return v;
}

void end_offsets(rd_kafka_t* rk, const std::vector<Pair>& pairs, std::vector<int64_t>& hi,
                 bool tolerate) {
  hi.assign(pairs.size(), 0);
  for (size_t i = 0; i < pairs.size(); ++i) {
    int64_t lo = 0, h = 0;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, pairs[i].topic.c_str(),
                                                               pairs[i].partition, &lo, &h, 5000);
    if (err) {
      if (tolerate) continue;
      die("watermarks " + pairs[i].topic + "/" + std::to_string(pairs[i].partition) + ": " +
          rd_kafka_err2str(err));
    }
    hi[i] = h;
  }
}

// A consumer reading `pairs` from the beginning (no group offsets are ever committed).
rd_kafka_t* reader(const Args& a, const std::vector<Pair>& pairs, bool low_latency) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", a.bootstrap);
  set(conf, "group.id", "kbench-reader");  // required by librdkafka; never committed
  set(conf, "enable.auto.commit", "false");
  set(conf, "fetch.max.bytes", "52428800");
  set(conf, "max.partition.fetch.bytes", "10485760");
  // Bounded by bytes only: librdkafka's 100,000-record bound held 100-byte records back
  // (it fetches again only when its broker thread wakes, up to a second later).
  set(conf, "queued.min.messages", "10000000");
  set(conf, "queued.max.messages.kbytes", "262144");
  set(conf, "enable.partition.eof", "true");  // ends partitions that end in a marker
  set(conf, "log_level", "3");
  if (low_latency) set(conf, "fetch.wait.max.ms", "10");
  rd_kafka_t* rk = make(RD_KAFKA_CONSUMER, conf);
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* parts =
      rd_kafka_topic_partition_list_new(static_cast<int>(pairs.size()));
  for (const auto& p : pairs)
    rd_kafka_topic_partition_list_add(parts, p.topic.c_str(), p.partition)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  // Absolute first offsets, as kmirror assigns: librdkafka 2.0 may look the logical one up
  // before the partition joined its broker thread, and then retries only after 500 ms.
  rd_kafka_topic_partition_list_t* firsts = rd_kafka_topic_partition_list_copy(parts);
  if (rd_kafka_offsets_for_times(rk, firsts, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < firsts->cnt; ++i) {
      if (firsts->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR && firsts->elems[i].offset >= 0)
        parts->elems[i].offset = firsts->elems[i].offset;
    }
  }
  rd_kafka_topic_partition_list_destroy(firsts);
  rd_kafka_assign(rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  return rk;
}

int consume(const Args& a) {
  auto pairs = pairs_of(a);
  double t0 = mono_s();
  rd_kafka_conf_t* mconf = rd_kafka_conf_new();
  set(mconf, "bootstrap.servers", a.bootstrap);
  rd_kafka_t* meta = make(RD_KAFKA_PRODUCER, mconf);
  std::vector<int64_t> hi;
  end_offsets(meta, pairs, hi, false);
  rd_kafka_destroy(meta);
  std::map<std::pair<std::string, int>, size_t> index;
  int remaining = 0;
  for (size_t i = 0; i < pairs.size(); ++i) {
    index[{pairs[i].topic, pairs[i].partition}] = i;
    if (hi[i] > 0) ++remaining;
  }
  rd_kafka_t* rk = reader(a, pairs, false);
  long count = 0, bytes = 0;
  std::vector<bool> done(pairs.size(), false);
  while (remaining > 0) {
    if (mono_s() - t0 > a.timeout_s) die("consume timed out");
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (!m) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      // A transactionally written partition ends with a commit marker no record reaches.
      size_t i = index[{rd_kafka_topic_name(m->rkt), m->partition}];
      if (!done[i] && m->offset >= hi[i]) {
        done[i] = true;
        --remaining;
      }
    } else if (m->err) {
      std::fprintf(stderr, "kbench: consume: %s\n", rd_kafka_message_errstr(m));
    } else {
      ++count;
      bytes += static_cast<long>(m->len + m->key_len);
      size_t i = index[{rd_kafka_topic_name(m->rkt), m->partition}];
      if (!done[i] && m->offset + 1 >= hi[i]) {
        done[i] = true;
        --remaining;
      }
    }
    rd_kafka_message_destroy(m);
  }
  double secs = mono_s() - t0;
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  std::printf("mode=consume records=%ld bytes=%ld seconds=%.3f\n", count, bytes, secs);
  return 0;
}

// True once every topic of `a` is in the metadata with a leader for each partition.
bool all_led(rd_kafka_t* rk, const Args& a) {
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(rk, 1, nullptr, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  int led = 0;
  std::string prefix = a.topics == 1 ? a.topic : a.topic + "-";
  for (int i = 0; i < md->topic_cnt; ++i) {
    const auto& t = md->topics[i];
    std::string name = t.topic;
    if (t.err || (a.topics == 1 ? name != a.topic : name.rfind(prefix, 0) != 0)) continue;
    bool ok = t.partition_cnt == a.partitions;
    for (int p = 0; p < t.partition_cnt && ok; ++p) ok = t.partitions[p].leader >= 0;
    if (ok) ++led;
  }
  rd_kafka_metadata_destroy(md);
  return led >= a.topics;
}

// Deletes the topic(s); a missing topic is not an error (the run may have stopped before it).
int remove(const Args& a) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", a.bootstrap);
  set(conf, "log_level", "3");
  rd_kafka_t* rk = make(RD_KAFKA_PRODUCER, conf);
  std::vector<rd_kafka_DeleteTopic_t*> dts;
  for (int t = 0; t < a.topics; ++t)
    dts.push_back(rd_kafka_DeleteTopic_new(a.topic_name(t).c_str()));
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_DeleteTopics(rk, dts.data(), dts.size(), nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 60000);
  if (!ev) die("DeleteTopics timed out");
  if (rd_kafka_event_error(ev))
    die(std::string("DeleteTopics: ") + rd_kafka_event_error_string(ev));
  size_t n = 0;
  const rd_kafka_topic_result_t** tr =
      rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
  int deleted = 0;
  for (size_t i = 0; i < n; ++i) {
    rd_kafka_resp_err_t err = rd_kafka_topic_result_error(tr[i]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
      ++deleted;
    else if (err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
      die(std::string("DeleteTopics: ") + rd_kafka_topic_result_error_string(tr[i]));
  }
  rd_kafka_event_destroy(ev);
  for (auto* dt : dts) rd_kafka_DeleteTopic_destroy(dt);
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(rk);
  std::printf("mode=delete topic=%s deleted=%d\n", a.topic.c_str(), deleted);
  return 0;
}

int create(const Args& a) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", a.bootstrap);
  rd_kafka_t* rk = make(RD_KAFKA_PRODUCER, conf);
  char err[512];
  std::vector<rd_kafka_NewTopic_t*> nts;
  for (int t = 0; t < a.topics; ++t) {
    rd_kafka_NewTopic_t* nt =
        rd_kafka_NewTopic_new(a.topic_name(t).c_str(), a.partitions, 1, err, sizeof err);
    if (!nt) die(err);
    if (a.log_append_time)
      rd_kafka_NewTopic_set_config(nt, "message.timestamp.type", "LogAppendTime");
    nts.push_back(nt);
  }
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(opts, 120000, err, sizeof err);
  rd_kafka_CreateTopics(rk, nts.data(), nts.size(), opts, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 150000);
  if (!ev) die("CreateTopics timed out");
  const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
  size_t n = 0;
  const rd_kafka_topic_result_t** tr = rd_kafka_CreateTopics_result_topics(res, &n);
  if (rd_kafka_event_error(ev))
    die(std::string("CreateTopics: ") + rd_kafka_event_error_string(ev));
  for (size_t i = 0; i < n; ++i)
    if (rd_kafka_topic_result_error(tr[i]))
      die(std::string("CreateTopics: ") + rd_kafka_topic_result_error_string(tr[i]));
  rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(opts);
  for (auto* nt : nts) rd_kafka_NewTopic_destroy(nt);
  // Wait until every partition has a leader.
  double t0 = mono_s();
  while (!all_led(rk, a)) {
    if (mono_s() - t0 > 120) die("created topics have no leaders after 120 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(rk);
  std::printf("mode=create topic=%s topics=%d partitions=%d\n", a.topic.c_str(), a.topics,
              a.partitions);
  return 0;
}

int wait_for(const Args& a) {
  double t0 = mono_s();
  int64_t first = 0, sum = 0;
  if (a.topics == 1) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", a.bootstrap);
    set(conf, "log_level", "3");
    rd_kafka_t* rk = make(RD_KAFKA_PRODUCER, conf);  // only used for metadata requests
    auto pairs = pairs_of(a);
    std::vector<int64_t> hi;
    // The replicator creates the topic: ask the brokers directly until it is there, so its
    // first record is seen when it lands, not after the client's metadata retry back-off.
    while (!all_led(rk, a)) {
      if (mono_s() - t0 > a.timeout_s) {
        std::printf("mode=wait timeout=1 sum=0\n");
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    for (;;) {
      end_offsets(rk, pairs, hi, true);
      sum = 0;
      for (auto h : hi) sum += h;
      if (sum > 0 && first == 0) first = now_ms();
      if (sum >= a.records) break;
      if (mono_s() - t0 > a.timeout_s) {
        std::printf("mode=wait timeout=1 sum=%lld\n", static_cast<long long>(sum));
        return 1;
      }
      // Until the first record, look often: the steady rate starts there.
      std::this_thread::sleep_for(std::chrono::milliseconds(first == 0 ? 10 : a.interval_ms));
    }
    rd_kafka_destroy(rk);
  } else {
    // Thousands of partitions: querying each end offset per poll is too slow; a consumer that
    // follows TOPIC-* as the replicator creates them counts the highest offset per partition
    // (re-reads after a rebalance count once).
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", a.bootstrap);
    set(conf, "group.id", "kbench-wait-" + std::to_string(now_ms()));
    set(conf, "enable.auto.commit", "false");
    set(conf, "auto.offset.reset", "earliest");
    set(conf, "topic.metadata.refresh.interval.ms", "500");
    set(conf, "log_level", "3");
    rd_kafka_t* rk = make(RD_KAFKA_CONSUMER, conf);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t* sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, ("^" + a.topic + "-.*").c_str(), RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    std::map<std::pair<std::string, int>, int64_t> next;
    while (sum < a.records) {
      if (mono_s() - t0 > a.timeout_s) {
        std::printf("mode=wait timeout=1 sum=%lld\n", static_cast<long long>(sum));
        return 1;
      }
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
      if (!m) continue;
      if (!m->err) {
        if (first == 0) first = now_ms();
        int64_t& n = next[{rd_kafka_topic_name(m->rkt), m->partition}];
        if (m->offset + 1 > n) {
          sum += m->offset + 1 - n;
          n = m->offset + 1;
        }
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  }
  int64_t done = now_ms();
  std::printf("mode=wait first_ms=%lld done_ms=%lld sum=%lld\n", static_cast<long long>(first),
              static_cast<long long>(done), static_cast<long long>(sum));
  return 0;
}

int latency(const Args& a) {
  auto pairs = pairs_of(a);
  rd_kafka_t* rk = reader(a, pairs, true);
  std::vector<int64_t> lat;
  long seen = 0;
  double t0 = mono_s();
  while (seen < a.records) {
    if (mono_s() - t0 > a.timeout_s) die("latency: timed out after " + std::to_string(seen));
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (!m) continue;
    if (!m->err) {
      int64_t ts = rd_kafka_message_timestamp(m, nullptr);
      if (seen >= a.skip && ts > 0) lat.push_back(now_ms() - ts);
      if (++seen == a.skip) {
        // Warm-up read: the caller starts the timed load only now, so connecting and the
        // first fetches do not count as latency.
        std::printf("ready\n");
        std::fflush(stdout);
      }
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  if (lat.empty()) die("latency: no records after the warm-up");
  std::sort(lat.begin(), lat.end());
  auto pct = [&lat](double q) {
    return lat[std::min(lat.size() - 1, static_cast<size_t>(q * static_cast<double>(lat.size())))];
  };
  std::printf("mode=latency records=%zu p50_ms=%lld p99_ms=%lld max_ms=%lld\n", lat.size(),
              static_cast<long long>(pct(0.5)), static_cast<long long>(pct(0.99)),
              static_cast<long long>(lat.back()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2)
    die("usage: kbench create|produce|consume|wait|latency -b B -t T [-n N] [-s S] [-p P]");
  Args a;
  a.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "-b")
      a.bootstrap = v;
    else if (k == "-t")
      a.topic = v;
    else if (k == "-n")
      a.records = std::stol(v);
    else if (k == "-s")
      a.size = std::stoi(v);
    else if (k == "-p")
      a.partitions = std::stoi(v);
    else if (k == "--seed")
      a.seed = std::stoull(v);
    else if (k == "--interval-ms")
      a.interval_ms = std::stoi(v);
    else if (k == "--timeout")
      a.timeout_s = std::stoi(v);
    else if (k == "-T")
      a.topics = std::stoi(v);
    else if (k == "--compression")
      a.compression = v;
    else if (k == "--compressible")
      a.compressible = v == "1";
    else if (k == "--rate")
      a.rate = std::stod(v);
    else if (k == "--linger")
      a.linger_ms = std::stoi(v);
    else if (k == "--skip")
      a.skip = std::stol(v);
    else if (k == "--log-append-time")
      a.log_append_time = v == "1";
    else
      die("unknown option " + k);
  }
  if (a.bootstrap.empty() || a.topic.empty()) die("-b and -t are required");
  if (a.mode == "produce") return produce(a);
  if (a.mode == "consume") return consume(a);
  if (a.mode == "wait") return wait_for(a);
  if (a.mode == "create") return create(a);
  if (a.mode == "delete") return remove(a);
  if (a.mode == "latency") return latency(a);
  die("unknown mode " + a.mode);
}
