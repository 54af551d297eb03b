// Recent events (errors, reachability and state changes) derived from successive status
// snapshots: flows keep cumulative counters only, so a change between two snapshots is the
// event. Kept in a bounded ring for /status and the dashboard.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "replicate/flow.h"

namespace kmirror::observe {

struct Event {
  int64_t time_ms = 0;
  std::string flow;
  std::string level;  // error | warning | info
  std::string kind;   // state, reachability, produce, delivery, consume, partition, topic, ...
  std::string message;
};

class EventLog {
 public:
  explicit EventLog(size_t capacity = 200) : capacity_(capacity) {}

  // Compares with the previous snapshot of each flow and records what changed.
  void observe(const std::vector<replicate::FlowStatus>& flows, int64_t now_ms);
  // Oldest first.
  std::vector<Event> recent() const;

 private:
  struct Seen {
    std::string state;
    bool source_reachable = true;
    bool target_reachable = true;
    std::map<std::string, uint64_t> errors;
    std::vector<std::string> topic_errors;
    std::map<std::pair<std::string, int32_t>, std::string> partition_errors;
  };

  void add(Event e);

  size_t capacity_;
  mutable std::mutex mu_;
  std::deque<Event> events_;
  std::map<std::string, Seen> seen_;  // by flow id
};

}  // namespace kmirror::observe
