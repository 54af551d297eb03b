// Wakes the source consumer's fetchers while records are being taken, and after partitions
// start fetching.
//
// librdkafka 2.0 stops fetching a partition whose prefetch queue is full and looks at it again
// only when the broker thread serving it wakes up, which an idle thread does once a second
// (librdkafka 2.2 added fetch.queue.backoff.ms for this). Behind a slower target the queue
// fills again and again, so the copy stood still for up to a second each time; a partition
// just assigned or resumed waits the same way. Any request for a broker wakes its thread: a
// ListOffsets request for one assigned partition per leader broker is the smallest there is.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace kmirror::replicate {

class FetchWaker {
 public:
  explicit FetchWaker(rd_kafka_t* consumer);
  ~FetchWaker();
  FetchWaker(const FetchWaker&) = delete;
  FetchWaker& operator=(const FetchWaker&) = delete;

  // Asks for a wake-up round; never blocks. Rounds are at least kInterval apart.
  void wake();
  // The assignment changed: the next round looks up the partitions and leaders again.
  void assignment_changed();
  uint64_t rounds() const;

  static constexpr auto kInterval = std::chrono::milliseconds(50);

 private:
  void loop();
  // One assigned partition per leader broker, looked up again every 10 s (leaders move) and
  // after assignment_changed().
  std::vector<std::pair<std::string, int32_t>> targets();

  rd_kafka_t* consumer_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool requested_ = false;
  bool stop_ = false;
  uint64_t rounds_ = 0;
  std::vector<std::pair<std::string, int32_t>> targets_;
  std::chrono::steady_clock::time_point targets_at_{};
  bool targets_stale_ = false;  // under mu_
  std::thread thread_;
};

}  // namespace kmirror::replicate
