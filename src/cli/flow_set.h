// Flows of one configuration run on threads of this process (`kmirror run`, `kmirror demo`).
#pragma once

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include "config/config.h"
#include "replicate/flow.h"

namespace kmirror::cli {

// Runs flows, each on its own thread, until `stop` or until one fails.
class FlowSet {
 public:
  explicit FlowSet(const config::Config& cfg) {
    for (const auto& f : cfg.flows) flows_.push_back(std::make_unique<replicate::Flow>(cfg, f));
  }
  ~FlowSet() {
    stop_flows_ = true;
    for (auto& t : threads_) t.join();
  }

  // Throws when a cluster cannot be reached.
  void connect() {
    for (auto& f : flows_) f->connect();
  }

  void start() {
    for (auto& f : flows_) {
      threads_.emplace_back([this, flow = f.get()] {
        try {
          flow->run(stop_flows_);
        } catch (const std::exception& e) {
          spdlog::error("flow {}: failed: {}", flow->status().id, e.what());
          failed_ = true;
          stop_flows_ = true;
        }
      });
    }
  }

  // Blocks until `stop` is set or a flow fails; then stops the rest cleanly.
  bool wait(const std::atomic<bool>& stop) {
    while (!stop && !failed_) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop_flows_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
    return !failed_;
  }

  std::vector<replicate::FlowStatus> status() const {
    std::vector<replicate::FlowStatus> out;
    for (const auto& f : flows_) out.push_back(f->status());
    return out;
  }

 private:
  std::vector<std::unique_ptr<replicate::Flow>> flows_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_flows_{false};
  std::atomic<bool> failed_{false};
};

// Connects every flow; prints why and returns 3 when a cluster cannot be reached.
inline int connect_or_explain(FlowSet& flows) {
  try {
    flows.connect();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "kmirror: " << e.what() << std::endl;
    return 3;
  }
}

}  // namespace kmirror::cli
