#include "kafka/reader.h"

namespace kmirror::kafka {

bool read_range(const Properties& props, const std::string& topic, int32_t partition, int64_t from,
                int64_t to, std::chrono::milliseconds timeout,
                const std::function<void(const rd_kafka_message_t*)>& visit) {
  if (from >= to) return true;
  auto p = props;
  p["group.id"] = "kmirror.reader";
  p["enable.auto.commit"] = "false";
  p["enable.partition.eof"] = "true";
  p["isolation.level"] = "read_committed";
  // The end is known only from an empty fetch (a transaction marker ends a partition written
  // transactionally); a broker holding that fetch for the default 500 ms slows every restart.
  p["fetch.wait.max.ms"] = "20";
  auto rk = make_client(ClientKind::kConsumer, p);
  auto list = new_partition_list(1);
  rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset = from;
  check(rd_kafka_assign(rk.get(), list.get()), "assign " + topic);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    MessagePtr m(rd_kafka_consumer_poll(rk.get(), 200));
    if (!m) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (m->offset >= to) return true;
      continue;
    }
    if (m->err) continue;
    visit(m.get());
    if (m->offset + 1 >= to) return true;
  }
  return false;
}

std::optional<core::Provenance> provenance_in(const rd_kafka_headers_t* hdrs) {
  const void* value = nullptr;
  size_t size = 0;
  if (hdrs == nullptr ||
      rd_kafka_header_get_last(hdrs, core::kProvenanceHeader.data(), &value, &size) !=
          RD_KAFKA_RESP_ERR_NO_ERROR ||
      value == nullptr) {
    return std::nullopt;
  }
  return core::decode({static_cast<const uint8_t*>(value), size});
}

std::optional<core::Provenance> provenance_of(const rd_kafka_message_t* m) {
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  return provenance_in(hdrs);
}

}  // namespace kmirror::kafka
