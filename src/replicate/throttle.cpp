#include "replicate/throttle.h"

#include <algorithm>

namespace kmirror::replicate {

void ThrottleTracker::record(const std::string& role, const std::string& cluster,
                             const std::string& broker, int32_t broker_id, int throttle_ms) {
  const int64_t ms = std::max(0, throttle_ms);
  std::lock_guard lk(mu_);
  auto& b = brokers_[{role, broker_id}];
  b.role = role;
  b.cluster = cluster;
  b.broker = broker;
  b.broker_id = broker_id;
  b.last_ms = ms;
  b.max_ms = std::max(b.max_ms, ms);
  if (ms > 0) {
    ++b.throttled;
    b.total_ms += ms;
  }
}

std::vector<BrokerThrottle> ThrottleTracker::snapshot() const {
  std::lock_guard lk(mu_);
  std::vector<BrokerThrottle> out;
  out.reserve(brokers_.size());
  for (const auto& [key, b] : brokers_) out.push_back(b);
  return out;
}

}  // namespace kmirror::replicate
