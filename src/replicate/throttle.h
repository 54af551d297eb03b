// Broker throttling of a flow's clients: librdkafka reports the throttle time of every broker
// response (client quotas) through its throttle callback, and once more with 0 when throttling
// stops. Kept per cluster role and broker for /metrics and /status.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace kmirror::replicate {

struct BrokerThrottle {
  std::string role;     // "source" (consumer) or "target" (producer)
  std::string cluster;  // cluster name from the configuration
  std::string broker;   // "host:port/id" as librdkafka names it
  int32_t broker_id = -1;
  int64_t last_ms = 0;     // throttle time of the last report (0: no longer throttled)
  int64_t max_ms = 0;      // largest reported since kmirror started
  uint64_t throttled = 0;  // responses reporting a throttle time > 0
  int64_t total_ms = 0;    // sum of reported throttle times
};

class ThrottleTracker {
 public:
  // Safe from any thread (librdkafka calls it from whichever thread polls the client).
  void record(const std::string& role, const std::string& cluster, const std::string& broker,
              int32_t broker_id, int throttle_ms);
  // Sorted by role, then broker id.
  std::vector<BrokerThrottle> snapshot() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int32_t>, BrokerThrottle> brokers_;
};

}  // namespace kmirror::replicate
