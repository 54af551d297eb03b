#include "replicate/transaction.h"

namespace kmirror::replicate {

std::string transactional_id(const std::string& flow_id) {
  return "kmirror." + flow_id;
}

TxnOutcome classify(rd_kafka_error_t* error) {
  TxnOutcome out;
  out.error = rd_kafka_error_string(error);
  out.result = rd_kafka_error_is_fatal(error) ? TxnResult::kFatal : TxnResult::kAbort;
  rd_kafka_resp_err_t code = rd_kafka_error_code(error);
  out.fenced = code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
               code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
  rd_kafka_error_destroy(error);
  return out;
}

}  // namespace kmirror::replicate
