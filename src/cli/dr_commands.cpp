#include "cli/dr_commands.h"

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "config/config.h"
#include "dr/drill.h"
#include "dr/failover.h"
#include "harness/kafka_cluster.h"

namespace kmirror::cli {

namespace {

const config::FlowConfig& flow_by_id(const config::Config& cfg, const std::string& id) {
  std::string known;
  for (const auto& f : cfg.flows) {
    if (f.id == id) return f;
    known += (known.empty() ? "" : ", ") + f.id;
  }
  throw config::ConfigError("no flow '" + id + "' in the configuration; known flows: " + known);
}

nlohmann::json groups_json(const std::map<std::string, kafka::GroupOffsets>& groups) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [g, offs] : groups) {
    for (const auto& [tp, off] : offs) j[g][tp.first][std::to_string(tp.second)] = off;
  }
  return j;
}

void print_groups(const std::string& title,
                  const std::map<std::string, kafka::GroupOffsets>& groups) {
  if (groups.empty()) {
    std::cout << title << ": no consumer group to move" << std::endl;
    return;
  }
  std::cout << title << ":" << std::endl;
  for (const auto& [g, offs] : groups) {
    std::cout << "  group " << g << std::endl;
    for (const auto& [tp, off] : offs)
      std::cout << "    " << tp.first << "[" << tp.second << "] -> offset " << off << std::endl;
  }
}

dr::Progress printer(bool json) {
  if (json) return [](const std::string& line) { std::cerr << line << std::endl; };
  return [](const std::string& line) { std::cout << line << std::endl; };
}

}  // namespace

void print_failover_report(const dr::FailoverReport& report) {
  if (!report.rpo.empty()) {
    std::cout << "RPO window (per partition: last offset known copied, its time, the source end "
                 "last seen):"
              << std::endl;
    for (const auto& r : report.rpo) {
      std::cout << "  " << r.topic << "[" << r.partition << "] copied up to " << r.last_copied
                << " (ts " << r.last_copied_ts_ms << "), source end last seen "
                << r.source_end_known << ": "
                << (r.at_risk < 0 ? std::string("unknown") : std::to_string(r.at_risk))
                << " record(s) at risk" << std::endl;
    }
  }
  if (report.ok) print_groups("consumer groups on the target", report.groups_on_target);
  std::cout << (report.ok ? "" : "failover failed: ") << report.message << " (" << report.seconds
            << " s)" << std::endl;
}

void print_failback_report(const dr::FailbackReport& report) {
  if (report.ok) {
    std::cout << report.copied_back << " record(s) copied back" << std::endl;
    print_groups("consumer groups back on the source", report.groups_on_source);
  }
  std::cout << (report.ok ? "" : "failback failed: ") << report.message << " (" << report.seconds
            << " s)" << std::endl;
}

nlohmann::json drill_report_json(const dr::DrillReport& r) {
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& [name, s] : r.steps) steps.push_back({{"step", name}, {"seconds", s}});
  return {{"topic", r.topic},
          {"ok", r.ok},
          {"message", r.message},
          {"produced_on_source", r.produced_on_source},
          {"produced_on_target", r.produced_on_target},
          {"copied", r.copied},
          {"copied_back", r.copied_back},
          {"consumed", r.consumed},
          {"lost", r.lost},
          {"duplicates_before_dedup", r.duplicates_before_dedup},
          {"duplicates_after_dedup", r.duplicates_after_dedup},
          {"rpo_records", r.rpo_records},
          {"offsets_exact", r.offsets_exact},
          {"steps", steps}};
}

void print_drill_report(const dr::DrillReport& r, const std::string& source,
                        const std::string& target) {
  std::cout << "\ndrill report (topic " << r.topic << ")\n"
            << "  produced on " << source << ": " << r.produced_on_source << ", on " << target
            << " during the failover: " << r.produced_on_target << "\n"
            << "  copied to " << target << ": " << r.copied << ", copied back: " << r.copied_back
            << "\n"
            << "  consumed by the test group: " << r.consumed << "\n"
            << "  lost: " << r.lost << ", duplicates before dedup: " << r.duplicates_before_dedup
            << ", after dedup: " << r.duplicates_after_dedup << "\n"
            << "  RPO (records at risk): " << r.rpo_records << "\n"
            << "  consumer offsets translated exactly: " << (r.offsets_exact ? "yes" : "no")
            << "\n";
  for (const auto& [name, s] : r.steps) std::cout << "  " << name << ": " << s << " s\n";
  std::cout << r.message << std::endl;
}

int failover_command(const DrOptions& options) {
  if (options.planned == options.unplanned) {
    throw config::ConfigError(
        "say --planned (source reachable, RPO 0) or --unplanned (source lost)");
  }
  auto cfg = config::load_file(options.config_path);
  const auto& flow = flow_by_id(cfg, options.flow);
  dr::FailoverOptions fo;
  fo.planned = options.planned;
  fo.producers_timeout = std::chrono::seconds(options.producers_timeout_s);
  fo.drain_timeout = std::chrono::seconds(options.drain_timeout_s);
  fo.progress = printer(options.json);
  auto report = dr::failover(cfg, flow, fo);
  if (options.json) {
    nlohmann::json rpo = nlohmann::json::array();
    for (const auto& r : report.rpo) {
      rpo.push_back({{"topic", r.topic},
                     {"partition", r.partition},
                     {"last_copied_offset", r.last_copied},
                     {"last_copied_timestamp_ms", r.last_copied_ts_ms},
                     {"source_end_known", r.source_end_known},
                     {"records_at_risk", r.at_risk}});
    }
    std::cout << nlohmann::json{{"flow", report.flow},
                                {"mode", report.mode},
                                {"ok", report.ok},
                                {"message", report.message},
                                {"seconds", report.seconds},
                                {"groups_on_target", groups_json(report.groups_on_target)},
                                {"rpo", rpo}}
                     .dump(2)
              << std::endl;
  } else {
    print_failover_report(report);
  }
  return report.ok ? 0 : 1;
}

int failback_command(const DrOptions& options) {
  auto cfg = config::load_file(options.config_path);
  const auto& flow = flow_by_id(cfg, options.flow);
  dr::FailbackOptions fo;
  fo.producers_timeout = std::chrono::seconds(options.producers_timeout_s);
  fo.drain_timeout = std::chrono::seconds(options.drain_timeout_s);
  fo.progress = printer(options.json);
  auto report = dr::failback(cfg, flow, fo);
  if (options.json) {
    nlohmann::json only = nlohmann::json::object();
    for (const auto& [t, ps] : report.only_on_source) {
      for (const auto& [p, n] : ps) only[t][std::to_string(p)] = n;
    }
    std::cout << nlohmann::json{{"flow", report.flow},
                                {"ok", report.ok},
                                {"message", report.message},
                                {"seconds", report.seconds},
                                {"copied_back", report.copied_back},
                                {"only_on_source", only},
                                {"groups_on_source", groups_json(report.groups_on_source)}}
                     .dump(2)
              << std::endl;
  } else {
    print_failback_report(report);
  }
  return report.ok ? 0 : 1;
}

int drill_command(const DrOptions& options, int records) {
  std::unique_ptr<harness::Regions> embedded;
  config::Config cfg;
  std::string flow_id = options.flow;
  if (options.config_path.empty()) {
    std::cout << "drill: no --config given: starting two embedded local Kafka clusters..."
              << std::endl;
    embedded = std::make_unique<harness::Regions>(2, harness::ClusterOptions{},
                                                  std::vector<std::string>{"primary", "secondary"});
    cfg = config::load_string(
        "clusters:\n  - name: primary\n    bootstrap_servers: \"" + (*embedded)[0].bootstrap() +
            "\"\n  - name: secondary\n    bootstrap_servers: \"" + (*embedded)[1].bootstrap() +
            "\"\nflows:\n  - source: primary\n    target: secondary\n",
        "<drill>");
    flow_id = cfg.flows.front().id;
  } else {
    cfg = config::load_file(options.config_path);
    if (flow_id.empty()) throw config::ConfigError("drill with --config needs --flow");
  }
  const auto& flow = flow_by_id(cfg, flow_id);
  dr::DrillOptions o;
  o.records = records;
  o.progress = printer(options.json);
  auto r = dr::drill(cfg, flow, o);
  nlohmann::json j = drill_report_json(r);
  if (options.json) {
    std::cout << j.dump(2) << std::endl;
  } else {
    print_drill_report(r, flow.source, flow.target);
  }
  return r.ok ? 0 : 1;
}

}  // namespace kmirror::cli
