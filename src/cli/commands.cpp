#include "cli/commands.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "cli/flow_set.h"
#include "config/config.h"
#include "harness/kafka_cluster.h"
#include "kafka/admin.h"
#include "kafka/client.h"
#include "observe/http_server.h"
#include "replicate/flow.h"

namespace kmirror::cli {

using namespace std::chrono_literals;

int run_command(const RunOptions& options, const std::atomic<bool>& stop) {
  config::Config cfg = config::load_file(options.config_path);
  spdlog::info("kmirror starting: {} cluster(s), {} flow(s) from {}", cfg.clusters.size(),
               cfg.flows.size(), options.config_path);
  FlowSet flows(cfg);
  // Bound before connecting, so a missing token or a taken port fails at once (exit 2).
  std::unique_ptr<observe::HttpServer> http;
  if (cfg.http.enabled) {
    http = std::make_unique<observe::HttpServer>(
        cfg.http, [&flows] { return flows.status(); }, KMIRROR_VERSION);
  }
  if (int rc = connect_or_explain(flows); rc != 0) return rc;
  flows.start();
  if (http) http->start();
  bool ok = flows.wait(stop);
  if (http) http->stop();
  spdlog::info("kmirror stopped{}", ok ? "" : " after a failure");
  return ok ? 0 : 1;
}

}  // namespace kmirror::cli
