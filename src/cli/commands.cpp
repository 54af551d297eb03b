#include "cli/commands.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
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

namespace {

// Positions, maps and state are stored once the flows stopped; what remains is freeing
// librdkafka's handles, which in 2.0 can hang for good after a subscribed topic was deleted
// (librdkafka issue 4362). A watchdog bounds it so a stop request always ends the process.
void exit_if_teardown_hangs(int exit_code, std::chrono::seconds bound) {
  std::thread([exit_code, bound] {
    std::this_thread::sleep_for(bound);
    spdlog::warn(
        "librdkafka did not release its clients within {} s of stopping (a known "
        "librdkafka 2.0 hang after a topic deletion); exiting anyway: everything is "
        "stored",
        bound.count());
    spdlog::default_logger()->flush();
    std::fflush(nullptr);
    std::_Exit(exit_code);
  }).detach();
}

}  // namespace

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
  exit_if_teardown_hangs(ok ? 0 : 1, 20s);
  return ok ? 0 : 1;
}

}  // namespace kmirror::cli
