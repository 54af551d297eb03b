#include "observe/events.h"

#include <algorithm>

namespace kmirror::observe {

namespace {

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

void EventLog::add(Event e) {
  events_.push_back(std::move(e));
  while (events_.size() > capacity_) events_.pop_front();
}

void EventLog::observe(const std::vector<replicate::FlowStatus>& flows, int64_t now_ms) {
  std::lock_guard lk(mu_);
  for (const auto& f : flows) {
    auto [it, first] = seen_.try_emplace(f.id);
    Seen& seen = it->second;
    auto event = [&](std::string level, std::string kind, std::string message) {
      add(Event{now_ms, f.id, std::move(level), std::move(kind), std::move(message)});
    };

    if (f.state != seen.state) {
      std::string level = f.state == "failed"     ? "error"
                          : f.state == "stopping" ? "warning"
                                                  : "info";
      event(level, "state",
            first ? "flow " + f.state : "flow state " + seen.state + " -> " + f.state);
      seen.state = f.state;
    }

    // Reachability means something only once the control plane has made a pass.
    if (f.last_topic_sync_ms > 0 || f.errors.contains("topic_sync")) {
      for (auto [role, now, was] :
           {std::tuple{"source", f.source_reachable, &seen.source_reachable},
            std::tuple{"target", f.target_reachable, &seen.target_reachable}}) {
        if (now == *was) continue;
        const std::string& cluster = std::string_view(role) == "source" ? f.source : f.target;
        event(now ? "info" : "error", "reachability",
              std::string(role) + " cluster " + cluster +
                  (now ? " reachable again" : " unreachable"));
        *was = now;
      }
    }

    for (const auto& [kind, count] : f.errors) {
      uint64_t& before = seen.errors[kind];
      if (count > before) {
        event("error", kind,
              std::to_string(count - before) + " new " + kind + " error(s), " +
                  std::to_string(count) + " in total");
      }
      before = count;
    }

    for (const auto& e : f.topic_errors) {
      if (!contains(seen.topic_errors, e)) event("error", "topic", e);
    }
    for (const auto& e : seen.topic_errors) {
      if (!contains(f.topic_errors, e)) event("info", "topic", "resolved: " + e);
    }
    seen.topic_errors = f.topic_errors;

    for (const auto& p : f.partitions) {
      auto key = std::pair{p.topic, p.partition};
      auto pit = seen.partition_errors.find(key);
      std::string before = pit == seen.partition_errors.end() ? "" : pit->second;
      if (p.error == before) continue;
      std::string name = p.topic + "-" + std::to_string(p.partition);
      if (!p.error.empty()) {
        event("error", "partition", "partition " + name + " stopped: " + p.error);
      } else {
        event("info", "partition", "partition " + name + " replicating again");
      }
      seen.partition_errors[key] = p.error;
    }
  }
}

std::vector<Event> EventLog::recent() const {
  std::lock_guard lk(mu_);
  return {events_.begin(), events_.end()};
}

}  // namespace kmirror::observe
