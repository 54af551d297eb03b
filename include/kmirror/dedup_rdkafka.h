// Deduplicator::check for a message consumed with librdkafka's C API. Kept out of dedup.h so
// that applications on other clients need no librdkafka headers.
#pragma once

#include <librdkafka/rdkafka.h>

#include <utility>

#include "kmirror/dedup.h"

namespace kmirror {
namespace detail {

// The value of the message's last `kmirror.prov` header, or {nullptr, 0} without one.
inline std::pair<const void*, size_t> provenance_header(const rd_kafka_message_t* msg) {
  const void* value = nullptr;
  size_t size = 0;
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(msg, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_header_get_last(headers, kProvenanceHeaderName.data(), &value, &size) !=
          RD_KAFKA_RESP_ERR_NO_ERROR) {
    return {nullptr, 0};
  }
  return {value, size};
}

inline bool is_record(const rd_kafka_message_t* msg) {
  return msg != nullptr && msg->err == RD_KAFKA_RESP_ERR_NO_ERROR && msg->rkt != nullptr;
}

}  // namespace detail

// Judges a consumed message by its `kmirror.prov` header. Error events (msg->err set) are not
// records: they get kNoProvenance and leave the state unchanged.
inline Deduplicator::Verdict check(Deduplicator& dedup, const rd_kafka_message_t* msg) {
  if (!detail::is_record(msg)) return Deduplicator::Verdict::kNoProvenance;
  auto [value, size] = detail::provenance_header(msg);
  return dedup.check(rd_kafka_topic_name(msg->rkt), value, size);
}

// Same, judging records without a header as originals of `local_cluster`: the cluster_hash() of
// rd_kafka_clusterid() for the cluster the consumer reads (see Deduplicator::check).
inline Deduplicator::Verdict check(Deduplicator& dedup, const rd_kafka_message_t* msg,
                                   uint64_t local_cluster) {
  if (!detail::is_record(msg)) return Deduplicator::Verdict::kNoProvenance;
  auto [value, size] = detail::provenance_header(msg);
  return dedup.check(rd_kafka_topic_name(msg->rkt), value, size, local_cluster, msg->partition,
                     msg->offset);
}

}  // namespace kmirror
