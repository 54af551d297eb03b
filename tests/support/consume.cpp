#include "support/consume.h"

#include <kmirror/dedup.h>

#include "core/provenance.h"
#include "kafka/client.h"

namespace kmirror::testing {

namespace {

std::multiset<RecordIdentity> consume(const std::string& bootstrap, const std::string& topic,
                                      const std::string& group, size_t count,
                                      std::chrono::seconds timeout, Deduplicator* dedup,
                                      size_t* dropped) {
  auto rk = kafka::make_client(kafka::ClientKind::kConsumer, {{"bootstrap.servers", bootstrap},
                                                              {"group.id", group},
                                                              {"enable.auto.commit", "false"},
                                                              {"auto.offset.reset", "earliest"},
                                                              {"log_level", "0"}});
  uint64_t self =
      core::hash_cluster_id(kafka::fetch_cluster_id(rk.get(), std::chrono::seconds(10)));
  rd_kafka_poll_set_consumer(rk.get());
  auto list = kafka::new_partition_list(1);
  rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  kafka::check(rd_kafka_subscribe(rk.get(), list.get()), "subscribe");
  std::multiset<RecordIdentity> seen;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (seen.size() < count && std::chrono::steady_clock::now() < deadline) {
    kafka::MessagePtr m(rd_kafka_consumer_poll(rk.get(), 200));
    if (!m || m->err) continue;
    RecordIdentity id{self, m->partition, m->offset};
    rd_kafka_headers_t* hdrs = nullptr;
    const void* v = nullptr;
    size_t n = 0;
    if (rd_kafka_message_headers(m.get(), &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(hdrs, core::kProvenanceHeader.data(), &v, &n) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (auto p = core::decode({static_cast<const uint8_t*>(v), n})) {
        id = RecordIdentity{p->origin(), p->origin_partition, p->origin_offset};
      }
    } else {
      v = nullptr;
      n = 0;
    }
    seen.insert(id);
    if (dedup && dedup->check(topic, v, n, self, m->partition, m->offset) ==
                     Deduplicator::Verdict::kDuplicate) {
      ++*dropped;
    }
    kafka::check(rd_kafka_commit_message(rk.get(), m.get(), 0), "commit");
  }
  rd_kafka_consumer_close(rk.get());
  return seen;
}

}  // namespace

std::multiset<RecordIdentity> consume_with_group(const std::string& bootstrap,
                                                 const std::string& topic, const std::string& group,
                                                 size_t count, std::chrono::seconds timeout) {
  return consume(bootstrap, topic, group, count, timeout, nullptr, nullptr);
}

std::multiset<RecordIdentity> consume_with_group(const std::string& bootstrap,
                                                 const std::string& topic, const std::string& group,
                                                 size_t count, std::chrono::seconds timeout,
                                                 Deduplicator& dedup, size_t& dropped) {
  return consume(bootstrap, topic, group, count, timeout, &dedup, &dropped);
}

}  // namespace kmirror::testing
