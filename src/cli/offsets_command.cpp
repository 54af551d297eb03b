// `kmirror offsets translate`: shows, per partition, where a consumer group would resume on
// the target of a flow, computed the same way the running flow syncs it.
#include "cli/offsets_command.h"

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "config/config.h"
#include "core/provenance.h"
#include "core/topic_filter.h"
#include "kafka/admin.h"
#include "kafka/client.h"
#include "replicate/offset_maps.h"

namespace kmirror::cli {

using namespace std::chrono_literals;

namespace {

const config::FlowConfig& find_flow(const config::Config& cfg, const std::string& id) {
  std::string known;
  for (const auto& f : cfg.flows) {
    if (f.id == id) return f;
    known += (known.empty() ? "" : ", ") + f.id;
  }
  throw config::ConfigError("no flow '" + id + "' in the configuration; known flows: " + known);
}

const char* kind_name(core::Translation::Kind k) {
  switch (k) {
    case core::Translation::Kind::kExact:
      return "exact";
    case core::Translation::Kind::kCaughtUp:
      return "caught-up";
    default:
      return "unknown";
  }
}

}  // namespace

int offsets_translate_command(const OffsetsOptions& options) {
  config::Config cfg = config::load_file(options.config_path);
  const auto& flow = find_flow(cfg, options.flow);
  const auto& source = cfg.cluster(flow.source);
  const auto& target = cfg.cluster(flow.target);
  // They list the group's offsets: clients that carry it (see make_admin_client).
  auto source_rk = kafka::make_admin_client(source.client_properties(), options.group);
  auto target_rk = kafka::make_admin_client(target.client_properties(), options.group);
  std::string source_id, target_id;
  try {
    source_id = kafka::fetch_cluster_id(source_rk.get(), 30s);
    target_id = kafka::fetch_cluster_id(target_rk.get(), 30s);
  } catch (const std::exception& e) {
    std::cerr << "kmirror: cannot reach the flow's clusters: " << e.what() << std::endl;
    return 3;
  }
  replicate::OffsetMaps maps(target.client_properties(), flow.id, core::hash_cluster_id(source_id),
                             core::hash_cluster_id(target_id));
  maps.load(30s);
  core::TopicFilter filter(flow.topics_include, flow.topics_exclude);
  auto naming = flow.naming == config::NamingPolicy::kPrefix ? core::NamingPolicy::kPrefix
                                                             : core::NamingPolicy::kIdentity;
  kafka::Admin source_admin(source_rk.get());
  kafka::Admin target_admin(target_rk.get());
  auto committed = source_admin.list_group_offsets(options.group);
  auto on_target = target_admin.list_group_offsets(options.group);

  nlohmann::json rows = nlohmann::json::array();
  for (const auto& [tp, offset] : committed) {
    if (!filter.accepts(tp.first)) continue;
    std::string target_topic = core::target_topic_name(naming, source.name, tp.first);
    maps.catch_up(target_topic, tp.second, 60s);
    auto t = maps.lookup(target_topic, tp.second, offset);
    auto current = on_target.find({target_topic, tp.second});
    rows.push_back({{"topic", tp.first},
                    {"partition", tp.second},
                    {"source_offset", offset},
                    {"target_topic", target_topic},
                    {"target_offset", t.known() ? t.target.value : -1},
                    {"translation", kind_name(t.kind)},
                    {"target_committed", current == on_target.end() ? -1 : current->second}});
  }
  if (options.json) {
    std::cout
        << nlohmann::json{{"flow", flow.id}, {"group", options.group}, {"partitions", rows}}.dump(2)
        << std::endl;
    return 0;
  }
  if (rows.empty()) {
    std::cout << "group '" << options.group << "' has no committed offsets on replicated topics of "
              << flow.source << std::endl;
    return 0;
  }
  std::printf("%-32s %5s %14s %14s %-10s %16s\n", "topic", "part", "source offset", "target offset",
              "exact?", "target committed");
  for (const auto& r : rows) {
    std::printf("%-32s %5d %14lld %14lld %-10s %16lld\n", r["topic"].get<std::string>().c_str(),
                r["partition"].get<int>(),
                static_cast<long long>(r["source_offset"].get<int64_t>()),
                static_cast<long long>(r["target_offset"].get<int64_t>()),
                r["translation"].get<std::string>().c_str(),
                static_cast<long long>(r["target_committed"].get<int64_t>()));
  }
  std::cout
      << "exact: the copy of the next record the group would read; caught-up: the group has read "
         "everything copied so far; unknown: older than the offset map covers."
      << std::endl;
  return 0;
}

}  // namespace kmirror::cli
