// The target side of an exactly-once flow: librdkafka's transactional producer API, with its
// three kinds of failure told apart once, so the flow only decides what each means for it.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <string>

namespace kmirror::replicate {

enum class TxnResult {
  kOk,
  kAbort,  // the transaction failed and must be aborted; its records are never visible
  kFatal,  // the producer is unusable (fenced by a newer instance, or worse): stop writing
};

struct TxnOutcome {
  TxnResult result = TxnResult::kOk;
  std::string error;    // librdkafka's message when not kOk
  bool fenced = false;  // kFatal because another producer with our transactional id took over
};

// Runs one transactional call (`call` returns librdkafka's error object or nullptr), retrying
// errors librdkafka marks retriable until `deadline` or `stop`, and classifies the rest.
template <typename Call>
TxnOutcome txn_call(Call&& call, std::chrono::steady_clock::time_point deadline,
                    const std::atomic<bool>* stop);

// The transactional id of a flow: one per flow, so a second instance fences the first.
std::string transactional_id(const std::string& flow_id);

// Classifies an error object (and destroys it).
TxnOutcome classify(rd_kafka_error_t* error);

template <typename Call>
TxnOutcome txn_call(Call&& call, std::chrono::steady_clock::time_point deadline,
                    const std::atomic<bool>* stop) {
  while (true) {
    rd_kafka_error_t* error = call();
    if (error == nullptr) return {};
    bool retry = rd_kafka_error_is_retriable(error) && !rd_kafka_error_is_fatal(error) &&
                 !rd_kafka_error_txn_requires_abort(error) &&
                 std::chrono::steady_clock::now() < deadline && (stop == nullptr || !stop->load());
    if (!retry) return classify(error);
    rd_kafka_error_destroy(error);
  }
}

}  // namespace kmirror::replicate
