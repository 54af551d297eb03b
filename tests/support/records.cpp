#include "support/records.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>

#include "kafka/admin.h"
#include "kafka/client.h"

namespace kmirror::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kMetadataTimeout = 10s;
constexpr auto kProduceTimeout = 120s;
constexpr auto kReadTimeout = 120s;
constexpr const char* kProvenanceHeader = "kmirror.prov";

kafka::Properties merged(kafka::Properties base, const std::map<std::string, std::string>& extra) {
  for (const auto& [k, v] : extra) base[k] = v;
  return base;
}

std::string random_hex(int digits) {
  static std::mt19937_64 rng{std::random_device{}()};
  std::string out;
  for (int i = 0; i < digits; ++i) out += "0123456789abcdef"[rng() % 16];
  return out;
}

std::optional<std::string> bytes_or_null(const void* data, size_t size) {
  if (data == nullptr) return std::nullopt;
  return std::string(static_cast<const char*>(data), size);
}

// Partition ids of the topic; throws when the cluster does not know it.
std::vector<int32_t> partitions_of(rd_kafka_t* rk, const std::string& bootstrap,
                                   const std::string& topic) {
  auto md = kafka::fetch_metadata(rk, kMetadataTimeout, topic);
  for (const auto& t : md.topics) {
    if (t.name != topic) continue;
    std::vector<int32_t> ids;
    for (const auto& p : t.partitions) ids.push_back(p.id);
    return ids;
  }
  throw std::runtime_error("topic " + topic + " does not exist on " + bootstrap);
}

std::vector<std::pair<std::string, std::optional<std::string>>> without_provenance(
    const TestRecord& r) {
  auto out = r.headers;
  std::erase_if(out, [](const auto& h) { return h.first == kProvenanceHeader; });
  return out;
}

std::string printable(const std::optional<std::string>& s) {
  if (!s) return "null";
  std::string out = "\"";
  size_t shown = std::min<size_t>(s->size(), 40);
  for (size_t i = 0; i < shown; ++i) {
    auto c = static_cast<unsigned char>((*s)[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  if (shown < s->size()) out += "...(" + std::to_string(s->size()) + " bytes)";
  return out + "\"";
}

// Delivery-report bookkeeping for one produce() call.
struct DeliveryState {
  std::vector<TestRecord>* records = nullptr;
  size_t delivered = 0;
  std::vector<std::string> errors;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* state = static_cast<DeliveryState*>(opaque);
  auto index = reinterpret_cast<uintptr_t>(m->_private);
  ++state->delivered;
  TestRecord& r = (*state->records)[index];
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (state->errors.size() < 5) {
      state->errors.push_back("record " + std::to_string(index) + " to partition " +
                              std::to_string(r.partition) + ": " + rd_kafka_err2str(m->err));
    }
    return;
  }
  r.offset = m->offset;
  if (r.timestamp < 0) r.timestamp = rd_kafka_message_timestamp(m, nullptr);
}

kafka::HeadersPtr make_headers(const TestRecord& r) {
  kafka::HeadersPtr h(rd_kafka_headers_new(r.headers.size()));
  for (const auto& [name, value] : r.headers) {
    // A null value is NULL with size 0; an empty one a non-NULL pointer with size 0.
    kafka::check(rd_kafka_header_add(h.get(), name.data(), static_cast<ssize_t>(name.size()),
                                     value ? value->data() : nullptr,
                                     value ? static_cast<ssize_t>(value->size()) : 0),
                 "header " + name);
  }
  return h;
}

}  // namespace

bool same_content(const TestRecord& a, const TestRecord& b) {
  return a.key == b.key && a.value == b.value && a.timestamp == b.timestamp &&
         a.partition == b.partition && without_provenance(a) == without_provenance(b);
}

std::string describe(const TestRecord& r) {
  std::string out = "{p" + std::to_string(r.partition) + "@" + std::to_string(r.offset) +
                    " ts=" + std::to_string(r.timestamp) + " key=" + printable(r.key) +
                    " value=" + printable(r.value) + " headers=[";
  for (size_t i = 0; i < r.headers.size(); ++i) {
    if (i > 0) out += ", ";
    out += r.headers[i].first + "=" + printable(r.headers[i].second);
  }
  return out + "]}";
}

void PrintTo(const TestRecord& r, std::ostream* os) {
  *os << describe(r);
}

void create_topic(const std::string& bootstrap, const std::string& topic, int partitions,
                  const std::map<std::string, std::string>& configs, int replication_factor) {
  auto client = kafka::make_client(kafka::ClientKind::kProducer,
                                   {{"bootstrap.servers", bootstrap}, {"log_level", "3"}});
  kafka::Admin admin(client.get());
  auto results =
      admin.create_topics({kafka::NewTopic{topic, partitions, replication_factor, configs}});
  for (const auto& r : results) {
    kafka::check(r.code, "create topic " + r.topic + " on " + bootstrap +
                             (r.error.empty() ? "" : " (" + r.error + ")"));
  }
  // The controller has it; wait until the brokers serve it with a leader everywhere.
  bool ready = kafka::wait_until(
      [&] {
        try {
          auto md = kafka::fetch_metadata(client.get(), 5s, topic);
          for (const auto& t : md.topics) {
            if (t.name != topic || static_cast<int>(t.partitions.size()) != partitions) continue;
            return std::all_of(t.partitions.begin(), t.partitions.end(),
                               [](const auto& p) { return p.leader >= 0; });
          }
        } catch (const kafka::KafkaError&) {
          // not yet known to the broker answering
        }
        return false;
      },
      30s);
  if (!ready) {
    throw std::runtime_error("topic " + topic + " was created on " + bootstrap +
                             " but its partitions got no leaders within 30 s");
  }
}

bool topic_exists(const std::string& bootstrap, const std::string& topic) {
  auto client = kafka::make_client(kafka::ClientKind::kProducer,
                                   {{"bootstrap.servers", bootstrap}, {"log_level", "3"}});
  auto md = kafka::fetch_metadata(client.get(), kMetadataTimeout);
  return std::any_of(md.topics.begin(), md.topics.end(),
                     [&](const auto& t) { return t.name == topic; });
}

void produce(const std::string& bootstrap, const std::string& topic,
             std::vector<TestRecord>& records, const std::map<std::string, std::string>& extra) {
  DeliveryState state;
  state.records = &records;
  auto conf = kafka::make_conf(merged({{"bootstrap.servers", bootstrap},
                                       {"enable.idempotence", "true"},
                                       {"acks", "all"},
                                       {"linger.ms", "5"},
                                       {"message.timeout.ms", "90000"},
                                       {"log_level", "3"}},
                                      extra));
  rd_kafka_conf_set_dr_msg_cb(conf.get(), on_delivery);
  rd_kafka_conf_set_opaque(conf.get(), &state);
  auto producer = kafka::make_client(kafka::ClientKind::kProducer, std::move(conf));

  auto deadline = Clock::now() + kProduceTimeout;
  for (size_t i = 0; i < records.size(); ++i) {
    TestRecord& r = records[i];
    r.offset = -1;
    kafka::HeadersPtr headers = r.headers.empty() ? nullptr : make_headers(r);
    while (true) {
      rd_kafka_resp_err_t err;
      const void* key = r.key ? r.key->data() : nullptr;
      size_t key_len = r.key ? r.key->size() : 0;
      // A non-NULL pointer with length 0 is an empty value, NULL a tombstone.
      void* value = r.value ? const_cast<char*>(r.value->data()) : nullptr;
      size_t value_len = r.value ? r.value->size() : 0;
      int64_t ts = r.timestamp >= 0 ? r.timestamp : 0;  // 0: librdkafka uses the current time
      if (headers) {
        err = rd_kafka_producev(producer.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
                                RD_KAFKA_V_PARTITION(r.partition), RD_KAFKA_V_KEY(key, key_len),
                                RD_KAFKA_V_VALUE(value, value_len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(ts),
                                RD_KAFKA_V_HEADERS(headers.get()),
                                RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(i)), RD_KAFKA_V_END);
      } else {
        err = rd_kafka_producev(producer.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
                                RD_KAFKA_V_PARTITION(r.partition), RD_KAFKA_V_KEY(key, key_len),
                                RD_KAFKA_V_VALUE(value, value_len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(ts),
                                RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(i)), RD_KAFKA_V_END);
      }
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        (void)headers.release();  // the message owns them now
        break;
      }
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        kafka::check(err, "produce record " + std::to_string(i) + " to " + topic + "[" +
                              std::to_string(r.partition) + "] on " + bootstrap);
      }
      if (Clock::now() > deadline) {
        throw std::runtime_error("produce to " + topic + " on " + bootstrap +
                                 ": local queue stayed full (brokers unreachable?)");
      }
      rd_kafka_poll(producer.get(), 100);
    }
    rd_kafka_poll(producer.get(), 0);
  }

  auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  rd_kafka_flush(producer.get(), static_cast<int>(std::max<int64_t>(remaining.count(), 1000)));
  char fatal[512];
  if (auto err = rd_kafka_fatal_error(producer.get(), fatal, sizeof(fatal)); err) {
    throw std::runtime_error("producer to " + bootstrap + " hit a fatal error: " + fatal);
  }
  if (state.delivered != records.size()) {
    throw std::runtime_error("produce to " + topic + " on " + bootstrap + ": only " +
                             std::to_string(state.delivered) + " of " +
                             std::to_string(records.size()) + " delivery reports within " +
                             std::to_string(kProduceTimeout.count()) + " s");
  }
  if (!state.errors.empty()) {
    std::string msg = "produce to " + topic + " on " + bootstrap + " failed:";
    for (const auto& e : state.errors) msg += "\n  " + e;
    throw std::runtime_error(msg);
  }
}

std::map<int32_t, std::vector<TestRecord>> read_all(
    const std::string& bootstrap, const std::string& topic,
    const std::map<std::string, std::string>& extra) {
  // assign() needs a group id in librdkafka; a random one that never joins or commits.
  auto consumer = kafka::make_client(kafka::ClientKind::kConsumer,
                                     merged({{"bootstrap.servers", bootstrap},
                                             {"group.id", "kmirror-test-reader-" + random_hex(12)},
                                             {"enable.auto.commit", "false"},
                                             {"enable.auto.offset.store", "false"},
                                             {"enable.partition.eof", "true"},
                                             {"auto.offset.reset", "earliest"},
                                             {"isolation.level", "read_committed"},
                                             {"log_level", "3"}},
                                            extra));

  std::map<int32_t, std::vector<TestRecord>> out;
  std::map<int32_t, int64_t> end;  // partition -> offset to read up to (exclusive)
  auto assignment = kafka::new_partition_list();
  for (int32_t p : partitions_of(consumer.get(), bootstrap, topic)) {
    out[p];
    // Asked through the consumer, the high mark follows its isolation.level: under
    // read_committed it is the last stable offset, which the reader can actually reach.
    auto w = kafka::query_watermarks(consumer.get(), topic, p, kMetadataTimeout);
    if (w.high <= w.low) continue;
    end[p] = w.high;
    rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), p)->offset = w.low;
  }
  if (end.empty()) return out;
  kafka::check(rd_kafka_assign(consumer.get(), assignment.get()), "assign " + topic);

  std::set<int32_t> pending;
  for (const auto& [p, e] : end) pending.insert(p);
  std::string last_error;
  auto deadline = Clock::now() + kReadTimeout;
  while (!pending.empty()) {
    if (Clock::now() > deadline) {
      std::string msg = "read_all(" + topic + " on " + bootstrap + "): partitions";
      for (int32_t p : pending) {
        msg += " " + std::to_string(p) + " (read " + std::to_string(out[p].size()) +
               " records, end " + std::to_string(end[p]) + ")";
      }
      msg += " not read to the end within " + std::to_string(kReadTimeout.count()) + " s";
      if (!last_error.empty()) msg += "; last error: " + last_error;
      throw std::runtime_error(msg);
    }
    kafka::MessagePtr m(rd_kafka_consumer_poll(consumer.get(), 100));
    if (!m) continue;
    int32_t p = m->partition;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      // EOF carries the fetch position, which already skipped markers and compacted gaps.
      if (end.contains(p) && m->offset >= end[p]) pending.erase(p);
      continue;
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      last_error = rd_kafka_message_errstr(m.get());
      if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
          m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
          m->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) {
        throw std::runtime_error("read_all(" + topic + " on " + bootstrap + "): " + last_error);
      }
      continue;  // transient (broker restarting, leader moving)
    }
    if (!end.contains(p) || m->offset >= end[p]) continue;  // written after the call began

    TestRecord r;
    r.partition = p;
    r.offset = m->offset;
    r.key = bytes_or_null(m->key, m->key_len);
    r.value = bytes_or_null(m->payload, m->len);
    r.timestamp = rd_kafka_message_timestamp(m.get(), nullptr);
    rd_kafka_headers_t* hdrs = nullptr;
    if (rd_kafka_message_headers(m.get(), &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name = nullptr;
      const void* value = nullptr;
      size_t size = 0;
      for (size_t i = 0;
           rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i) {
        r.headers.emplace_back(name, bytes_or_null(value, size));
      }
    }
    out[p].push_back(std::move(r));
    if (m->offset >= end[p] - 1) pending.erase(p);
  }
  rd_kafka_consumer_close(consumer.get());
  return out;
}

std::vector<TestRecord> make_records(uint32_t seed, int count, int partitions) {
  std::mt19937 rng(seed);
  auto chance = [&](int percent) { return static_cast<int>(rng() % 100) < percent; };
  auto text = [&](size_t max_len) {
    std::string s(rng() % (max_len + 1), ' ');
    for (auto& c : s) c = "abcdefghijklmnopqrstuvwxyz0123456789 -_"[rng() % 39];
    return s;
  };
  auto binary = [&](size_t max_len) {
    std::string s(1 + rng() % max_len, '\0');
    for (auto& c : s) c = static_cast<char>(rng() % 4 == 0 ? 0 : rng() % 256);
    s[0] = '\0';  // always at least one NUL byte
    return s;
  };
  static const char* kHeaderNames[] = {"trace-id", "source", "tag", "bin", "ünïcode"};

  // Recent timestamps: older ones could be deleted by time-based retention mid-test.
  int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  int64_t base = now_ms - 3'600'000;
  std::vector<TestRecord> out;
  out.reserve(count);
  for (int i = 0; i < count; ++i) {
    TestRecord r;
    r.partition = partitions <= 1 ? 0
                  : chance(80)    ? i % partitions
                                  : static_cast<int32_t>(rng() % partitions);
    if (chance(10)) {
      r.key = std::nullopt;
    } else if (chance(3)) {
      r.key = "";
    } else if (chance(10)) {
      r.key = binary(16);
    } else {
      r.key = "key-" + std::to_string(rng() % 1000);
    }
    if (chance(5)) {
      r.value = std::nullopt;
    } else if (chance(5)) {
      r.value = "";
    } else if (chance(15)) {
      r.value = binary(300);
    } else {
      r.value = "value-" + std::to_string(i) + "-" + text(200);
    }
    int nheaders = static_cast<int>(rng() % 4);
    for (int h = 0; h < nheaders; ++h) {
      std::string name = kHeaderNames[rng() % 5];
      std::optional<std::string> value;
      int kind = static_cast<int>(rng() % 10);
      if (kind == 0) {
        value = std::nullopt;
      } else if (kind == 1) {
        value = "";
      } else if (kind <= 3) {
        value = binary(32);
      } else {
        value = text(24);
      }
      r.headers.emplace_back(std::move(name), std::move(value));
    }
    if (nheaders > 0 && chance(15)) r.headers.push_back(r.headers.front());  // duplicate name
    r.timestamp = base + i + static_cast<int64_t>(rng() % 1000);
    out.push_back(std::move(r));
  }
  return out;
}

size_t count_records(const std::string& bootstrap, const std::string& topic) {
  size_t n = 0;
  for (const auto& [p, records] : read_all(bootstrap, topic)) n += records.size();
  return n;
}

}  // namespace kmirror::testing
