#include "cli/dr_commands.h"

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "config/config.h"
#include "dr/failover.h"

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
    if (report.ok) {
      std::cout << report.copied_back << " record(s) copied back" << std::endl;
      print_groups("consumer groups back on the source", report.groups_on_source);
    }
    std::cout << (report.ok ? "" : "failback failed: ") << report.message << " (" << report.seconds
              << " s)" << std::endl;
  }
  return report.ok ? 0 : 1;
}

}  // namespace kmirror::cli
