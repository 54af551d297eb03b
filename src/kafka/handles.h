// RAII ownership for librdkafka's C objects, so no path forgets a destroy call.
#pragma once

#include <librdkafka/rdkafka.h>

#include <memory>
#include <stdexcept>
#include <string>

namespace kmirror::kafka {

struct HandleDeleter {
  void operator()(rd_kafka_t* p) const { rd_kafka_destroy(p); }
  void operator()(rd_kafka_conf_t* p) const { rd_kafka_conf_destroy(p); }
  void operator()(rd_kafka_topic_partition_list_t* p) const {
    rd_kafka_topic_partition_list_destroy(p);
  }
  void operator()(rd_kafka_message_t* p) const { rd_kafka_message_destroy(p); }
  void operator()(rd_kafka_headers_t* p) const { rd_kafka_headers_destroy(p); }
  void operator()(rd_kafka_queue_t* p) const { rd_kafka_queue_destroy(p); }
  void operator()(rd_kafka_event_t* p) const { rd_kafka_event_destroy(p); }
  void operator()(const rd_kafka_metadata_t* p) const { rd_kafka_metadata_destroy(p); }
  void operator()(rd_kafka_AdminOptions_t* p) const { rd_kafka_AdminOptions_destroy(p); }
  void operator()(rd_kafka_error_t* p) const { rd_kafka_error_destroy(p); }
  void operator()(rd_kafka_consumer_group_metadata_t* p) const {
    rd_kafka_consumer_group_metadata_destroy(p);
  }
};

using KafkaPtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, HandleDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, HandleDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, HandleDeleter>;
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, HandleDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, HandleDeleter>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, HandleDeleter>;
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, HandleDeleter>;
using AdminOptionsPtr = std::unique_ptr<rd_kafka_AdminOptions_t, HandleDeleter>;
using ErrorPtr = std::unique_ptr<rd_kafka_error_t, HandleDeleter>;
using GroupMetadataPtr = std::unique_ptr<rd_kafka_consumer_group_metadata_t, HandleDeleter>;

// An error from Kafka or librdkafka, with the librdkafka code kept for branching.
class KafkaError : public std::runtime_error {
 public:
  KafkaError(rd_kafka_resp_err_t code, const std::string& what)
      : std::runtime_error(what), code_(code) {}
  rd_kafka_resp_err_t code() const { return code_; }

 private:
  rd_kafka_resp_err_t code_;
};

inline PartitionListPtr new_partition_list(int capacity = 0) {
  return PartitionListPtr(rd_kafka_topic_partition_list_new(capacity));
}

// Throws KafkaError with `context` and librdkafka's description when err is set.
inline void check(rd_kafka_resp_err_t err, const std::string& context) {
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw KafkaError(err, context + ": " + rd_kafka_err2str(err));
  }
}

// Takes ownership of an rd_kafka_error_t and throws it, if any.
inline void check(rd_kafka_error_t* error, const std::string& context) {
  if (error == nullptr) return;
  ErrorPtr owned(error);
  throw KafkaError(rd_kafka_error_code(error), context + ": " + rd_kafka_error_string(error));
}

}  // namespace kmirror::kafka
