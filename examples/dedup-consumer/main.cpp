// dedup-consumer: reads a topic with librdkafka's C API and drops the duplicates kmirror's
// at-least-once copying can create, using the kmirror dedup library (docs/dedup.md).
//
//   dedup-consumer <bootstrap.servers> <topic> [options]
//     --group ID          consumer group (default kmirror-dedup-example)
//     --state FILE        dedup state restored at start and saved before each offset commit
//     --idle-exit SEC     exit after SEC seconds without a record (default: run until Ctrl-C)
//     --track-local       also track records without a kmirror header, as originals of this
//                         cluster: a consumer moved between clusters with its --state file then
//                         drops what it already saw on the other cluster too
//     -X key=value        any librdkafka property (security settings, ...), repeatable
//
// Prints one line per record ("new", "dup", or "local" for one without a kmirror header when
// --track-local is not given)
// and a summary with the duplicate count on exit.
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "kmirror/dedup.h"
#include "kmirror/dedup_rdkafka.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;

void on_signal(int) {
  g_stop = 1;
}

struct Options {
  std::string brokers;
  std::string topic;
  std::string group = "kmirror-dedup-example";
  std::string state_file;
  int idle_exit_sec = 0;
  bool track_local = false;
  std::vector<std::pair<std::string, std::string>> properties;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "%s\nusage: dedup-consumer <bootstrap.servers> <topic> [--group ID] [--state FILE] "
               "[--idle-exit SEC] [--track-local] [-X key=value]...\n",
               why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage((arg + " needs a value").c_str());
      return argv[++i];
    };
    if (arg == "--group") {
      o.group = value();
    } else if (arg == "--state") {
      o.state_file = value();
    } else if (arg == "--idle-exit") {
      o.idle_exit_sec = std::atoi(value().c_str());
    } else if (arg == "--track-local") {
      o.track_local = true;
    } else if (arg == "-X") {
      std::string kv = value();
      auto eq = kv.find('=');
      if (eq == std::string::npos) usage("-X takes key=value");
      o.properties.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    } else if (arg == "-h" || arg == "--help") {
      usage("reads a topic and drops duplicates created by kmirror");
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 2) usage("expected <bootstrap.servers> and <topic>");
  o.brokers = positional[0];
  o.topic = positional[1];
  return o;
}

// The payload for a terminal: printable ASCII kept, the rest escaped, long values cut.
std::string printable(const void* data, size_t size) {
  if (data == nullptr) return "(null)";
  constexpr size_t kMax = 60;
  const auto* p = static_cast<const unsigned char*>(data);
  std::string out;
  for (size_t i = 0; i < size && i < kMax; ++i) {
    if (p[i] >= 0x20 && p[i] < 0x7f) {
      out.push_back(static_cast<char>(p[i]));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", p[i]);
      out += buf;
    }
  }
  if (size > kMax) out += "...";
  return out;
}

kmirror::Deduplicator load_state(const std::string& path) {
  if (path.empty()) return {};
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};  // first run
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return kmirror::Deduplicator::restore(bytes);
}

// Written to a temporary file and renamed, so a crash leaves the old or the new state, whole.
bool save_state(const std::string& path, const kmirror::Deduplicator& dedup) {
  if (path.empty()) return true;
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    std::string bytes = dedup.save();
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

// Saves the dedup state, then commits offsets. In this order a crash in between re-reads records
// the state already marks as seen (dropped, correctly); the reverse order could let a later
// duplicate through.
void checkpoint(rd_kafka_t* rk, const Options& o, const kmirror::Deduplicator& dedup) {
  if (!save_state(o.state_file, dedup)) {
    std::fprintf(stderr, "cannot write %s; offsets not committed\n", o.state_file.c_str());
    return;
  }
  rd_kafka_resp_err_t err = rd_kafka_commit(rk, nullptr, 0);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    std::fprintf(stderr, "offset commit failed: %s\n", rd_kafka_err2str(err));
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);

  kmirror::Deduplicator dedup;
  try {
    dedup = load_state(o.state_file);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "%s: %s\n", o.state_file.c_str(), e.what());
    return 1;
  }

  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::vector<std::pair<std::string, std::string>> props = {
      {"bootstrap.servers", o.brokers},
      {"group.id", o.group},
      {"auto.offset.reset", "earliest"},
      // Committed only after the dedup state is saved (see checkpoint()).
      {"enable.auto.commit", "false"},
  };
  props.insert(props.end(), o.properties.begin(), o.properties.end());
  for (const auto& [key, value] : props) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      std::fprintf(stderr, "%s\n", err);
      rd_kafka_conf_destroy(conf);
      return 2;
    }
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (rk == nullptr) {
    std::fprintf(stderr, "cannot create consumer: %s\n", err);
    rd_kafka_conf_destroy(conf);
    return 1;
  }
  rd_kafka_poll_set_consumer(rk);

  std::unique_ptr<rd_kafka_topic_partition_list_t, decltype(&rd_kafka_topic_partition_list_destroy)>
      topics(rd_kafka_topic_partition_list_new(1), &rd_kafka_topic_partition_list_destroy);
  rd_kafka_topic_partition_list_add(topics.get(), o.topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, topics.get());
      e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::fprintf(stderr, "cannot subscribe to %s: %s\n", o.topic.c_str(), rd_kafka_err2str(e));
    rd_kafka_destroy(rk);
    return 1;
  }

  uint64_t local_cluster = 0;
  if (o.track_local) {
    // The id names this cluster in provenance headers; it needs a broker connection.
    char* id = rd_kafka_clusterid(rk, 10000);
    if (id == nullptr) {
      std::fprintf(stderr, "cannot get the cluster id of %s (needed by --track-local)\n",
                   o.brokers.c_str());
      rd_kafka_destroy(rk);
      return 1;
    }
    local_cluster = kmirror::cluster_hash(id);
    rd_kafka_mem_free(rk, id);
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  uint64_t records = 0, fresh = 0, local = 0;
  auto last_record = std::chrono::steady_clock::now();
  auto last_checkpoint = last_record;
  while (!g_stop) {
    // Before polling: every record returned so far has been handled, so its offset may be
    // committed (the consumer stores offsets as it returns records).
    if (std::chrono::steady_clock::now() - last_checkpoint > std::chrono::seconds(5)) {
      checkpoint(rk, o, dedup);
      last_checkpoint = std::chrono::steady_clock::now();
    }
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk, 200);
    auto now = std::chrono::steady_clock::now();
    if (msg == nullptr) {
      if (o.idle_exit_sec > 0 && now - last_record > std::chrono::seconds(o.idle_exit_sec)) break;
      continue;
    }
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        std::fprintf(stderr, "consumer: %s\n", rd_kafka_message_errstr(msg));
      }
      rd_kafka_message_destroy(msg);
      continue;
    }
    last_record = now;
    ++records;
    const char* label = "new";
    auto verdict =
        o.track_local ? kmirror::check(dedup, msg, local_cluster) : kmirror::check(dedup, msg);
    switch (verdict) {
      case kmirror::Deduplicator::Verdict::kNew:
        ++fresh;
        break;
      case kmirror::Deduplicator::Verdict::kDuplicate:
        label = "dup";  // an application would skip it; shown here to make the effect visible
        break;
      case kmirror::Deduplicator::Verdict::kNoProvenance:
        ++local;
        label = "local";
        break;
    }
    std::printf("%-5s %s/%d@%lld key=%s value=%s\n", label, rd_kafka_topic_name(msg->rkt),
                static_cast<int>(msg->partition), static_cast<long long>(msg->offset),
                printable(msg->key, msg->key_len).c_str(),
                printable(msg->payload, msg->len).c_str());
    rd_kafka_message_destroy(msg);
  }

  checkpoint(rk, o, dedup);
  std::printf(
      "records %llu: new %llu, duplicates %llu, without kmirror header %llu (%zu keys, "
      "duplicates over all runs %llu)\n",
      static_cast<unsigned long long>(records), static_cast<unsigned long long>(fresh),
      static_cast<unsigned long long>(records - fresh - local),
      static_cast<unsigned long long>(local), dedup.keys(),
      static_cast<unsigned long long>(dedup.duplicates()));
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return 0;
}
