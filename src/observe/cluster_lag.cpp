#include "observe/cluster_lag.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/topic_filter.h"
#include "kafka/admin.h"
#include "kafka/client.h"
#include "replicate/flow.h"

namespace kmirror::observe {

using nlohmann::json;

namespace {

kafka::Properties status_props(const config::ClusterConfig& cluster) {
  kafka::Properties p = cluster.client_properties();
  p["client.id"] = "kmirror-status";
  return p;
}

json flow_lag(const config::Config& config, const config::FlowConfig& f,
              std::chrono::milliseconds timeout) {
  json out = {{"id", f.id},
              {"source", {{"name", f.source}}},
              {"target", {{"name", f.target}}},
              {"lag", 0},
              {"error", nullptr},
              {"partitions", json::array()}};
  const auto& source_cfg = config.cluster(f.source);
  const auto& target_cfg = config.cluster(f.target);
  const std::string group = replicate::flow_group_id(f);
  kafka::GroupOffsets stored;
  try {
    // Listing group offsets with a plain producer crashed `kmirror status` while the target's
    // coordinator was still loading (see make_admin_client).
    auto target = kafka::make_admin_client(status_props(target_cfg), group);
    stored = kafka::Admin(target.get(), timeout).list_group_offsets(group);
  } catch (const std::exception& e) {
    out["error"] = "cannot read the positions (group " + group + ") on target cluster '" +
                   target_cfg.name + "' at " + target_cfg.bootstrap_servers + ": " + e.what();
    return out;
  }
  core::TopicFilter filter(f.topics_include, f.topics_exclude);
  const auto naming = f.naming == config::NamingPolicy::kPrefix ? core::NamingPolicy::kPrefix
                                                                : core::NamingPolicy::kIdentity;
  int64_t total = 0;
  try {
    auto source = kafka::make_client(kafka::ClientKind::kProducer, status_props(source_cfg));
    for (const auto& t : kafka::fetch_metadata(source.get(), timeout).topics) {
      if (!filter.accepts(t.name)) continue;
      const std::string target_topic = core::target_topic_name(naming, f.source, t.name);
      for (const auto& p : t.partitions) {
        auto w = kafka::query_watermarks(source.get(), t.name, p.id, timeout);
        auto it = stored.find({target_topic, p.id});
        const int64_t position = it != stored.end() ? it->second : -1;
        // Records below the low watermark are gone from the source: not lag any more.
        const int64_t lag = std::max<int64_t>(0, w.high - std::max(position, w.low));
        total += lag;
        out["partitions"].push_back({{"topic", t.name},
                                     {"target_topic", target_topic},
                                     {"partition", p.id},
                                     {"position", position},
                                     {"source_end", w.high},
                                     {"lag", lag}});
      }
    }
  } catch (const std::exception& e) {
    out["error"] = "cannot read the end offsets on source cluster '" + source_cfg.name + "' at " +
                   source_cfg.bootstrap_servers + ": " + e.what();
  }
  out["lag"] = total;
  return out;
}

}  // namespace

json cluster_status(const config::Config& config, const std::string& flow_id,
                    std::chrono::milliseconds timeout) {
  json flows = json::array();
  for (const auto& f : config.flows) {
    if (!flow_id.empty() && f.id != flow_id) continue;
    flows.push_back(flow_lag(config, f, timeout));
  }
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  return {{"source", "clusters"}, {"time_ms", now}, {"flows", std::move(flows)}};
}

std::string render_cluster_status(const json& doc) {
  std::string out;
  for (const auto& f : doc["flows"]) {
    out +=
        fmt::format("flow {}: {} -> {}, lag {}\n", f.value("id", ""), f["source"].value("name", ""),
                    f["target"].value("name", ""), f.value("lag", int64_t{0}));
    if (f["error"].is_string()) out += "  ERROR: " + f["error"].get<std::string>() + "\n";
    if (f["partitions"].empty()) continue;
    std::vector<std::array<std::string, 5>> rows = {
        {"TOPIC", "PARTITION", "POSITION", "END", "LAG"}};
    for (const auto& p : f["partitions"]) {
      const int64_t pos = p.value("position", int64_t{-1});
      rows.push_back({p.value("topic", ""), std::to_string(p.value("partition", 0)),
                      pos < 0 ? "-" : std::to_string(pos),
                      std::to_string(p.value("source_end", int64_t{0})),
                      std::to_string(p.value("lag", int64_t{0}))});
    }
    std::array<size_t, 5> width{};
    for (const auto& r : rows) {
      for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
    }
    for (const auto& r : rows) {
      out += fmt::format("  {:<{}}  {:>{}}  {:>{}}  {:>{}}  {:>{}}\n", r[0], width[0], r[1],
                         width[1], r[2], width[2], r[3], width[3], r[4], width[4]);
    }
  }
  out += "(POSITION: offsets stored in group kmirror.<flow id> on the target; -: none yet)\n";
  return out;
}

}  // namespace kmirror::observe
