// kbench: the small librdkafka helper behind bench/run.
//
//   kbench produce  -b BOOTSTRAP -t TOPIC -n RECORDS -s SIZE -p PARTITIONS [--seed S]
//       Writes the benchmark data set: record i goes to partition i % PARTITIONS, key = the
//       8-digit decimal index, value = SIZE pseudo-random (incompressible) bytes from a seeded
//       xorshift generator, so every run and every scenario sees the same bytes.
//       Uses librdkafka's fastest settings (acks=1, large batches, no compression).
//   kbench consume  -b BOOTSTRAP -t TOPIC -p PARTITIONS
//       Reads every partition from the beginning to its end offset (no group) as fast as it can.
//   kbench create   -b BOOTSTRAP -t TOPIC -p PARTITIONS
//       Creates the topic (replication factor 1) and waits until its metadata shows it.
//   kbench wait     -b BOOTSTRAP -t TOPIC -p PARTITIONS -n RECORDS [--interval-ms 100]
//       Polls the sum of the end offsets every interval until it reaches RECORDS; prints
//       "first_ms=<epoch ms when the sum was first > 0> done_ms=<epoch ms when it reached N>".
//
// Every mode prints one line of key=value pairs on stdout; errors go to stderr, exit code 1.
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
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

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  if (m->err) {
    if (g_failed++ < 5) std::fprintf(stderr, "kbench: delivery: %s\n", rd_kafka_err2str(m->err));
  } else {
    ++g_delivered;
  }
}

int produce(const Args& a) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", a.bootstrap);
  set(conf, "acks", "1");
  set(conf, "linger.ms", "5");
  set(conf, "batch.num.messages", "10000");
  set(conf, "batch.size", "1000000");
  set(conf, "queue.buffering.max.messages", "1000000");
  set(conf, "queue.buffering.max.kbytes", "1048576");
  set(conf, "compression.type", "none");
  set(conf, "enable.idempotence", "false");
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_t* rk = make(RD_KAFKA_PRODUCER, conf);
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, a.topic.c_str(), nullptr);

  std::vector<char> value(static_cast<size_t>(a.size));
  uint64_t x = a.seed * 0x9E3779B97F4A7C15ull + 1;
  double t0 = mono_s();
  for (long i = 0; i < a.records; ++i) {
    for (size_t j = 0; j < value.size(); j += 8) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      std::memcpy(value.data() + j, &x, std::min<size_t>(8, value.size() - j));
    }
    char key[16];
    int klen = std::snprintf(key, sizeof key, "%08ld", i);
    int part = static_cast<int>(i % a.partitions);
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
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  std::printf("mode=produce records=%ld delivered=%ld failed=%ld seconds=%.3f\n", a.records,
              g_delivered, g_failed, secs);
  return g_failed == 0 && g_delivered == a.records ? 0 : 1;
}

void end_offsets(rd_kafka_t* rk, const Args& a, std::vector<int64_t>& hi, bool tolerate) {
  hi.assign(static_cast<size_t>(a.partitions), 0);
  for (int p = 0; p < a.partitions; ++p) {
    int64_t lo = 0, h = 0;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, a.topic.c_str(), p, &lo, &h, 5000);
    if (err) {
      if (tolerate) continue;
      die("watermarks " + a.topic + "/" + std::to_string(p) + ": " + rd_kafka_err2str(err));
    }
    hi[static_cast<size_t>(p)] = h;
  }
}

int consume(const Args& a) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", a.bootstrap);
  set(conf, "group.id", "kbench-reader");  // required by librdkafka; never committed
  set(conf, "enable.auto.commit", "false");
  set(conf, "enable.partition.eof", "true");
  set(conf, "fetch.max.bytes", "52428800");
  set(conf, "max.partition.fetch.bytes", "10485760");
  set(conf, "queued.max.messages.kbytes", "262144");
  rd_kafka_t* rk = make(RD_KAFKA_CONSUMER, conf);
  rd_kafka_poll_set_consumer(rk);
  double t0 = mono_s();
  std::vector<int64_t> hi;
  end_offsets(rk, a, hi, false);
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(a.partitions);
  int remaining = 0;
  for (int p = 0; p < a.partitions; ++p) {
    rd_kafka_topic_partition_list_add(parts, a.topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    if (hi[static_cast<size_t>(p)] > 0) ++remaining;
  }
  rd_kafka_assign(rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  long count = 0, bytes = 0;
  std::vector<bool> done(static_cast<size_t>(a.partitions), false);
  while (remaining > 0) {
    if (mono_s() - t0 > a.timeout_s) die("consume timed out");
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (!m) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      // EOF only counts once the partition's end offset (taken at the start) is reached.
    } else if (m->err) {
      std::fprintf(stderr, "kbench: consume: %s\n", rd_kafka_message_errstr(m));
    } else {
      ++count;
      bytes += static_cast<long>(m->len + m->key_len);
      size_t p = static_cast<size_t>(m->partition);
      if (!done[p] && m->offset + 1 >= hi[p]) {
        done[p] = true;
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

int create(const Args& a) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", a.bootstrap);
  rd_kafka_t* rk = make(RD_KAFKA_PRODUCER, conf);
  char err[512];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(a.topic.c_str(), a.partitions, 1, err, sizeof err);
  if (!nt) die(err);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
  if (!ev) die("CreateTopics timed out");
  const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
  size_t n = 0;
  const rd_kafka_topic_result_t** tr = rd_kafka_CreateTopics_result_topics(res, &n);
  if (rd_kafka_event_error(ev)) die(std::string("CreateTopics: ") + rd_kafka_event_error_string(ev));
  for (size_t i = 0; i < n; ++i)
    if (rd_kafka_topic_result_error(tr[i]))
      die(std::string("CreateTopics: ") + rd_kafka_topic_result_error_string(tr[i]));
  rd_kafka_event_destroy(ev);
  rd_kafka_NewTopic_destroy(nt);
  // Wait until every partition has a leader that answers.
  std::vector<int64_t> hi;
  for (int i = 0; i < 300; ++i) {
    bool ok = true;
    for (int p = 0; p < a.partitions && ok; ++p) {
      int64_t lo = 0, h = 0;
      ok = rd_kafka_query_watermark_offsets(rk, a.topic.c_str(), p, &lo, &h, 2000) == 0;
    }
    if (ok) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(rk);
  std::printf("mode=create topic=%s partitions=%d\n", a.topic.c_str(), a.partitions);
  return 0;
}

int wait_for(const Args& a) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", a.bootstrap);
  set(conf, "log_level", "3");
  rd_kafka_t* rk = make(RD_KAFKA_PRODUCER, conf);  // only used for metadata requests
  double t0 = mono_s();
  int64_t first = 0;
  std::vector<int64_t> hi;
  for (;;) {
    end_offsets(rk, a, hi, true);
    int64_t sum = 0;
    for (auto h : hi) sum += h;
    if (sum > 0 && first == 0) first = now_ms();
    if (sum >= a.records) break;
    if (mono_s() - t0 > a.timeout_s) {
      std::printf("mode=wait timeout=1 sum=%lld\n", static_cast<long long>(sum));
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(a.interval_ms));
  }
  int64_t done = now_ms();
  rd_kafka_destroy(rk);
  std::printf("mode=wait first_ms=%lld done_ms=%lld\n", static_cast<long long>(first),
              static_cast<long long>(done));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) die("usage: kbench create|produce|consume|wait -b B -t T [-n N] [-s S] [-p P]");
  Args a;
  a.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "-b") a.bootstrap = v;
    else if (k == "-t") a.topic = v;
    else if (k == "-n") a.records = std::stol(v);
    else if (k == "-s") a.size = std::stoi(v);
    else if (k == "-p") a.partitions = std::stoi(v);
    else if (k == "--seed") a.seed = std::stoull(v);
    else if (k == "--interval-ms") a.interval_ms = std::stoi(v);
    else if (k == "--timeout") a.timeout_s = std::stoi(v);
    else die("unknown option " + k);
  }
  if (a.bootstrap.empty() || a.topic.empty()) die("-b and -t are required");
  if (a.mode == "produce") return produce(a);
  if (a.mode == "consume") return consume(a);
  if (a.mode == "wait") return wait_for(a);
  if (a.mode == "create") return create(a);
  die("unknown mode " + a.mode);
}
