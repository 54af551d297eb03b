#include "replicate/fetch_waker.h"

#include <map>

#include "kafka/client.h"
#include "kafka/handles.h"

namespace kmirror::replicate {

FetchWaker::FetchWaker(rd_kafka_t* consumer) : consumer_(consumer) {
  thread_ = std::thread([this] { loop(); });
}

FetchWaker::~FetchWaker() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void FetchWaker::wake() {
  {
    std::lock_guard lk(mu_);
    if (requested_) return;
    requested_ = true;
  }
  cv_.notify_one();
}

void FetchWaker::assignment_changed() {
  std::lock_guard lk(mu_);
  targets_stale_ = true;
}

uint64_t FetchWaker::rounds() const {
  std::lock_guard lk(mu_);
  return rounds_;
}

std::vector<std::pair<std::string, int32_t>> FetchWaker::targets() {
  auto now = std::chrono::steady_clock::now();
  bool stale = false;
  {
    std::lock_guard lk(mu_);
    std::swap(stale, targets_stale_);
  }
  if (!stale && !targets_.empty() && now - targets_at_ < std::chrono::seconds(10)) return targets_;
  rd_kafka_topic_partition_list_t* assigned = nullptr;
  if (rd_kafka_assignment(consumer_, &assigned) != RD_KAFKA_RESP_ERR_NO_ERROR) return targets_;
  kafka::PartitionListPtr list(assigned);
  const rd_kafka_metadata_t* md = nullptr;
  // Locally known topics only (those assigned, subscribed or looked up), not the whole cluster.
  if (list->cnt == 0 ||
      rd_kafka_metadata(consumer_, 0, nullptr, &md, 2000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return targets_;
  }
  std::map<std::pair<std::string, int32_t>, int32_t> leader_of;
  for (int t = 0; t < md->topic_cnt; ++t) {
    for (int p = 0; p < md->topics[t].partition_cnt; ++p) {
      leader_of[{md->topics[t].topic, md->topics[t].partitions[p].id}] =
          md->topics[t].partitions[p].leader;
    }
  }
  rd_kafka_metadata_destroy(md);
  std::map<int32_t, std::pair<std::string, int32_t>> by_leader;
  for (int i = 0; i < list->cnt; ++i) {
    std::pair<std::string, int32_t> tp{list->elems[i].topic, list->elems[i].partition};
    auto it = leader_of.find(tp);
    if (it != leader_of.end() && it->second >= 0) by_leader.emplace(it->second, tp);
  }
  targets_.clear();
  for (auto& [leader, tp] : by_leader) targets_.push_back(tp);
  targets_at_ = now;
  return targets_;
}

void FetchWaker::loop() {
  std::unique_lock lk(mu_);
  while (true) {
    cv_.wait(lk, [&] { return stop_ || requested_; });
    if (stop_) return;
    requested_ = false;  // a request made during this round or the pause after it runs another
    lk.unlock();
    // One request: librdkafka sends each leader its ListOffsets at once and waits for all, so
    // a round takes one round trip however many brokers there are.
    kafka::query_offsets(consumer_, targets(), RD_KAFKA_OFFSET_END, std::chrono::seconds(1));
    lk.lock();
    ++rounds_;
    cv_.wait_for(lk, kInterval, [&] { return stop_; });
  }
}

}  // namespace kmirror::replicate
