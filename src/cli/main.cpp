// kmirror: the command line. Exit codes: 0 done, 1 runtime failure, 2 bad configuration or
// usage, 3 a cluster (for `status`: the instance) could not be reached.
#include <librdkafka/rdkafka.h>
#include <mimalloc.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "cli/dr_commands.h"
#include "cli/logging.h"
#include "cli/offsets_command.h"
#include "config/config.h"
#include "observe/status_cli.h"

namespace {

// The allocator serving malloc: mimalloc when the binary links it ahead of libc, as built.
// `kmirror version` prints it, so a build that lost it (slower, not wrong) is visible.
std::string allocator_in_use() {
  void* probe = std::malloc(64);
  const bool mimalloc = mi_check_owned(probe);
  std::free(probe);
  if (!mimalloc) return "glibc malloc (mimalloc is linked but does not serve malloc)";
  const int v = mi_version();  // e.g. 209 for 2.0.9
  return "mimalloc " + std::to_string(v / 100) + "." + std::to_string(v / 10 % 10) + "." +
         std::to_string(v % 10);
}

}  // namespace

int main(int argc, char** argv) {
  // Signals are blocked first of all, so that a stop asked for while kmirror starts is
  // still clean: one thread waits for them and asks the work to stop (below).
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  CLI::App app{"kmirror: native replication for Apache Kafka between regions"};
  app.require_subcommand(1);
  std::string log_format = "text";
  std::string log_level = "info";
  app.add_option("--log-format", log_format, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", log_level, "debug, info, warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));

  kmirror::cli::RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "Replicate the flows of a configuration file");
  run_cmd->add_option("-c,--config", run.config_path, "YAML configuration file")->required();

  kmirror::cli::DemoOptions demo;
  auto* demo_cmd = app.add_subcommand(
      "demo", "Start two local Kafka clusters, a sample producer and consumer, and replicate");
  demo_cmd->add_option("--duration", demo.duration_s,
                       "Stop after this many seconds (0: until Ctrl-C)");
  demo_cmd->add_option("--rate", demo.rate, "Records per second of the sample producer");
  demo_cmd->add_option("--summary-file", demo.summary_file, "Write the final summary as JSON here");
  demo_cmd->add_flag("--failover", demo.failover,
                     "Walk through a region outage: unplanned failover, failback, report "
                     "(--duration: seconds of traffic per phase, default 15)");
  demo_cmd->add_option("--hold-until-file", demo.hold_file,
                       "After the summary, keep the clusters running until this file exists "
                       "(lets a test check the summary against them)");

  kmirror::observe::StatusOptions status;
  auto* status_cmd = app.add_subcommand(
      "status", "Show the flows and partitions of a running kmirror (from its /status)");
  status_cmd->add_option("--url", status.url, "Where the instance serves HTTP (its http.bind)")
      ->capture_default_str();
  status_cmd->add_flag("-w,--watch", status.watch, "Refresh every second until Ctrl-C");
  status_cmd->add_flag("--json", status.json, "Print the /status JSON instead of tables");
  status_cmd->add_option("--token-file", status.token_file,
                         "File holding the bearer token (default: $KMIRROR_HTTP_TOKEN)");
  status_cmd->add_option("-c,--config", status.config_path,
                         "YAML configuration: show each flow's state stored in its target "
                         "cluster (running, failed-over, failing-back), and compute the lag from "
                         "the clusters when nothing answers at --url");
  status_cmd->add_option("--flow", status.flow, "Only this flow (lag from the clusters)");
  status_cmd->add_flag("--from-clusters", status.from_clusters,
                       "Compute the lag from the clusters even if an instance answers");
  status_cmd
      ->add_option("--max-partitions", status.max_partitions,
                   "Partition rows shown, most lagging first (0: all)")
      ->capture_default_str();

  kmirror::cli::OffsetsOptions offsets;
  auto* offsets_cmd = app.add_subcommand("offsets", "Consumer-group offsets across a flow");
  offsets_cmd->require_subcommand(1);
  auto* translate_cmd = offsets_cmd->add_subcommand(
      "translate", "Print where a group resumes on the flow's target, per partition");
  translate_cmd->add_option("-c,--config", offsets.config_path, "YAML configuration file")
      ->required();
  translate_cmd->add_option("--flow", offsets.flow, "Flow id (default ids look like a->b)")
      ->required();
  translate_cmd->add_option("--group", offsets.group, "Consumer group id")->required();
  translate_cmd->add_flag("--json", offsets.json, "Print JSON");

  kmirror::cli::DrOptions dr;
  auto* failover_cmd =
      app.add_subcommand("failover", "Move a flow's consumers to its target cluster");
  auto* failback_cmd =
      app.add_subcommand("failback", "Bring a failed-over flow back to its source cluster");
  for (auto* cmd : {failover_cmd, failback_cmd}) {
    cmd->add_option("-c,--config", dr.config_path, "YAML configuration file")->required();
    cmd->add_option("--flow", dr.flow, "Flow id, e.g. a->b")->required();
    cmd->add_flag("--json", dr.json, "Print the report as JSON (progress goes to stderr)");
    cmd->add_option("--producers-timeout", dr.producers_timeout_s,
                    "Seconds to wait for producers to stop")
        ->capture_default_str();
    cmd->add_option("--drain-timeout", dr.drain_timeout_s,
                    "Seconds to wait for replication lag to reach 0")
        ->capture_default_str();
  }
  failover_cmd->add_flag("--planned", dr.planned, "The source is reachable: drain to RPO 0 first");
  failover_cmd->add_flag("--unplanned", dr.unplanned,
                         "The source is lost: fail over now, report the RPO window");

  int drill_records = 3000;
  auto* drill_cmd = app.add_subcommand(
      "drill", "Test failover and failback end to end (on two embedded clusters without --config)");
  drill_cmd->add_option("-c,--config", dr.config_path, "YAML configuration file (optional)");
  drill_cmd->add_option("--flow", dr.flow, "Flow id whose clusters are drilled");
  drill_cmd->add_option("--records", drill_records, "Test records produced on the source")
      ->capture_default_str();
  drill_cmd->add_flag("--json", dr.json, "Print the report as JSON");

  app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  kmirror::cli::setup_logging(log_format, log_level);

  // Signals go to one waiting thread, which asks the work to stop cleanly.
  static std::atomic<bool> stop{false};
  std::thread([set] {
    int sig = 0;
    sigwait(&set, &sig);
    stop = true;
  }).detach();

  try {
    if (run_cmd->parsed()) return kmirror::cli::run_command(run, stop);
    if (demo_cmd->parsed()) return kmirror::cli::demo_command(demo, stop);
    if (failover_cmd->parsed()) return kmirror::cli::failover_command(dr);
    if (failback_cmd->parsed()) return kmirror::cli::failback_command(dr);
    if (drill_cmd->parsed()) return kmirror::cli::drill_command(dr, drill_records);
    if (translate_cmd->parsed()) return kmirror::cli::offsets_translate_command(offsets);
    if (status_cmd->parsed()) return kmirror::observe::status_command(status, stop);
    std::cout << "kmirror " << KMIRROR_VERSION << "\nlibrdkafka " << rd_kafka_version_str()
              << "\nallocator " << allocator_in_use() << std::endl;
    return 0;
  } catch (const kmirror::config::ConfigError& e) {
    std::cerr << "kmirror: " << e.what() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "kmirror: " << e.what() << std::endl;
    return 1;
  }
}
