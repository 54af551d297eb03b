// Prometheus exposition of the flows. Flows keep cumulative counters and a histogram
// themselves, so a custom Collectable renders each scrape from fresh FlowStatus snapshots
// instead of mirroring them into prometheus-cpp's own metric objects.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "replicate/flow.h"

namespace kmirror::observe {

using StatusSource = std::function<std::vector<replicate::FlowStatus>()>;

class FlowCollector : public prometheus::Collectable {
 public:
  explicit FlowCollector(StatusSource source) : source_(std::move(source)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

  // The families for given snapshots (what Collect() returns for them).
  static std::vector<prometheus::MetricFamily> families(
      const std::vector<replicate::FlowStatus>& flows);

 private:
  StatusSource source_;
};

// Process-wide metrics (kmirror_build_info) in a prometheus::Registry plus the flows.
class Metrics {
 public:
  Metrics(StatusSource source, const std::string& version);
  // The text exposition format (version 0.0.4).
  std::string render() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  FlowCollector flows_;
};

}  // namespace kmirror::observe
