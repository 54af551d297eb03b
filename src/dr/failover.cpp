#include "dr/failover.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <regex>
#include <set>
#include <thread>

#include "core/provenance.h"
#include "core/topic_filter.h"
#include "kafka/client.h"
#include "kafka/reader.h"
#include "replicate/flow.h"
#include "replicate/offset_maps.h"
#include "sync/group_sync.h"

namespace kmirror::dr {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void say(const Progress& progress, const std::string& line) {
  if (progress) progress(line);
  spdlog::debug("{}", line);
}

struct Cluster {
  const config::ClusterConfig* cfg = nullptr;
  kafka::KafkaPtr rk;
  std::string id;
};

// Connects; returns false (no throw) when the cluster does not answer within `timeout`.
// `group`: the flow's own, which the principal may use on both clusters; the client lists group
// offsets (see make_admin_client).
bool connect(Cluster& c, const config::ClusterConfig& cfg, const std::string& group,
             std::chrono::milliseconds timeout) {
  c.cfg = &cfg;
  auto props = cfg.client_properties();
  props["log_level"] = "3";
  c.rk = kafka::make_admin_client(props, group);
  try {
    c.id = kafka::fetch_cluster_id(c.rk.get(), timeout);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

struct ReplicatedPartition {
  std::string source_topic;
  std::string target_topic;
  int32_t partition;
};

// The partitions a flow replicates, as seen on `side` (source names, or target names when
// `target_side`, for an unreachable source).
std::vector<ReplicatedPartition> replicated(rd_kafka_t* rk, const config::FlowConfig& flow,
                                            const std::string& source_name, bool target_side) {
  core::TopicFilter filter(flow.topics_include, flow.topics_exclude);
  auto naming = flow.naming == config::NamingPolicy::kPrefix ? core::NamingPolicy::kPrefix
                                                             : core::NamingPolicy::kIdentity;
  std::vector<ReplicatedPartition> out;
  for (const auto& t : kafka::fetch_metadata(rk, 30s).topics) {
    std::string source_topic = t.name;
    if (target_side && naming == core::NamingPolicy::kPrefix) {
      std::string prefix = source_name + ".";
      if (t.name.rfind(prefix, 0) != 0) continue;
      source_topic = t.name.substr(prefix.size());
    }
    if (!filter.accepts(source_topic)) continue;
    for (const auto& p : t.partitions) {
      out.push_back(
          {source_topic, core::target_topic_name(naming, source_name, source_topic), p.id});
    }
  }
  return out;
}

int64_t high_watermark(rd_kafka_t* rk, const std::string& topic, int32_t p) {
  return kafka::query_watermarks(rk, topic, p, 10s).high;
}

// True once every source partition of `parts` answers a watermark query (has a leader).
bool partitions_led(rd_kafka_t* rk, const std::vector<ReplicatedPartition>& parts,
                    std::chrono::seconds timeout) {
  return kafka::wait_until(
      [&] {
        for (const auto& p : parts) {
          try {
            kafka::query_watermarks(rk, p.source_topic, p.partition, 10s);
          } catch (const std::exception&) {
            return false;
          }
        }
        return true;
      },
      timeout, 500ms);
}

// Waits until the cluster's end offsets of `parts` stop moving for 3 s: its producers stopped.
bool wait_for_quiet(rd_kafka_t* rk, const std::vector<std::pair<std::string, int32_t>>& parts,
                    std::chrono::seconds timeout, const Progress& progress,
                    const std::string& cluster) {
  auto sum = [&] {
    int64_t s = 0;
    for (const auto& [t, p] : parts) s += high_watermark(rk, t, p);
    return s;
  };
  int64_t last = sum();
  auto quiet_since = Clock::now();
  auto deadline = Clock::now() + timeout;
  bool told = false;
  while (Clock::now() < deadline) {
    std::this_thread::sleep_for(500ms);
    int64_t now = sum();
    if (now != last) {
      if (!told)
        say(progress,
            "waiting for producers on " + cluster + " to stop (its topics are still growing)...");
      told = true;
      last = now;
      quiet_since = Clock::now();
    } else if (Clock::now() - quiet_since >= 3s) {
      return true;
    }
  }
  return false;
}

std::string bar(int64_t remaining, int64_t total) {
  int width = 30;
  int done = total <= 0 ? width : static_cast<int>(width * (total - remaining) / total);
  return "[" + std::string(done, '#') + std::string(width - done, '.') + "]";
}

// Runs a flow in this process while the command needs it.
class InProcessFlow {
 public:
  InProcessFlow(const config::Config& cfg, config::FlowConfig flow) : flow_(std::move(flow)) {
    flow_.ignore_flow_state = true;
    impl_ = std::make_unique<replicate::Flow>(cfg, flow_);
    impl_->connect();
    thread_ = std::thread([this] {
      try {
        impl_->run(stop_);
      } catch (const std::exception& e) {
        spdlog::error("flow {}: {}", flow_.id, e.what());
      }
    });
  }
  ~InProcessFlow() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  replicate::FlowStatus status() const { return impl_->status(); }

 private:
  config::FlowConfig flow_;
  std::unique_ptr<replicate::Flow> impl_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

bool flow_runs_elsewhere(rd_kafka_t* source, const config::FlowConfig& flow) {
  kafka::Admin admin(source, 15s);
  for (const auto& d : admin.describe_groups({replicate::flow_group_id(flow)})) {
    if (d.members > 0) return true;
  }
  return false;
}

// Records in [from, to) of a source partition that the flow would copy to `target`.
int64_t records_to_copy(const config::ClusterConfig& source, const std::string& topic, int32_t p,
                        int64_t from, int64_t to, core::ClusterHash target) {
  int64_t n = 0;
  kafka::read_range(source.client_properties(), topic, p, from, to, 30s,
                    [&](const rd_kafka_message_t* m) {
                      if (core::must_skip(kafka::provenance_of(m), target)) return;
                      ++n;
                    });
  return n;
}

std::map<std::string, kafka::GroupOffsets> group_positions(rd_kafka_t* rk,
                                                           const config::FlowConfig& flow,
                                                           const std::set<std::string>& topics) {
  std::map<std::string, kafka::GroupOffsets> out;
  kafka::Admin admin(rk, 30s);
  std::vector<std::regex> inc, exc;
  for (const auto& r : flow.groups_include) inc.emplace_back(r);
  for (const auto& r : flow.groups_exclude) exc.emplace_back(r);
  for (const auto& g : admin.list_groups()) {
    if (sync::is_internal_group(g.id)) continue;
    bool in = false;
    for (const auto& r : inc) in = in || std::regex_match(g.id, r);
    for (const auto& r : exc) in = in && !std::regex_match(g.id, r);
    if (!in) continue;
    for (const auto& [tp, off] : admin.list_group_offsets(g.id)) {
      if (topics.count(tp.first)) out[g.id][tp] = off;
    }
  }
  return out;
}

// Without the source, its cluster hash is read from the copies' provenance on the target: the
// hop before the target of the last copied records.
core::ClusterHash infer_source(const config::ClusterConfig& target,
                               const std::vector<ReplicatedPartition>& parts,
                               core::ClusterHash target_hash) {
  auto props = target.client_properties();
  auto rk = kafka::make_client(kafka::ClientKind::kProducer, props);
  for (const auto& p : parts) {
    auto hw = high_watermark(rk.get(), p.target_topic, p.partition);
    core::ClusterHash found = 0;
    kafka::read_range(
        props, p.target_topic, p.partition, std::max<int64_t>(0, hw - 200), hw, 20s,
        [&](const rd_kafka_message_t* m) {
          auto prov = kafka::provenance_of(m);
          if (prov && prov->visited.size() >= 2 && prov->visited.back() == target_hash) {
            found = prov->visited[prov->visited.size() - 2];
          }
        });
    if (found != 0) return found;
  }
  return 0;
}

}  // namespace

FailoverReport failover(const config::Config& cfg, const config::FlowConfig& flow,
                        const FailoverOptions& options) {
  auto started = Clock::now();
  FailoverReport report;
  report.flow = flow.id;
  report.mode = options.planned ? "planned" : "unplanned";
  const auto& source_cfg = cfg.cluster(flow.source);
  const auto& target_cfg = cfg.cluster(flow.target);
  Cluster source, target;
  if (!connect(target, target_cfg, replicate::flow_group_id(flow), 30s)) {
    report.message = "the target cluster '" + target_cfg.name + "' (" +
                     target_cfg.bootstrap_servers + ") does not answer: a failover needs it";
    return report;
  }
  say(options.progress, "target " + target_cfg.name + " reachable (cluster id " + target.id + ")");
  bool source_up =
      connect(source, source_cfg, replicate::flow_group_id(flow), options.planned ? 30s : 5s);
  sync::FlowStateStore store(target_cfg.client_properties());
  auto state = store.read(flow.id, 30s).value_or(sync::FlowState{});
  if (state.state == "failed-over") {
    report.message =
        "flow " + flow.id + " is already failed over (" + state.mode + "); run `kmirror failback`";
    return report;
  }

  if (options.planned) {
    if (!source_up) {
      report.message = "the source cluster '" + source_cfg.name + "' (" +
                       source_cfg.bootstrap_servers +
                       ") does not answer: a planned failover needs it; use --unplanned";
      return report;
    }
    auto parts = replicated(source.rk.get(), flow, source_cfg.name, false);
    std::vector<std::pair<std::string, int32_t>> source_parts;
    for (const auto& p : parts) source_parts.emplace_back(p.source_topic, p.partition);
    say(options.progress, "source " + source_cfg.name + " reachable; " +
                              std::to_string(parts.size()) + " replicated partition(s)");
    if (!wait_for_quiet(source.rk.get(), source_parts, options.producers_timeout, options.progress,
                        source_cfg.name)) {
      report.message = "producers on " + source_cfg.name + " did not stop within " +
                       std::to_string(options.producers_timeout.count()) +
                       " s; stop them and run the command again";
      return report;
    }
    say(options.progress, "producers on " + source_cfg.name + " have stopped");
    std::unique_ptr<InProcessFlow> local;
    if (!flow_runs_elsewhere(source.rk.get(), flow)) {
      say(options.progress, "no kmirror runs flow " + flow.id + ": replicating from this command");
      local = std::make_unique<InProcessFlow>(cfg, flow);
    }
    replicate::OffsetMaps maps(target_cfg.client_properties(), flow.id,
                               core::hash_cluster_id(source.id), core::hash_cluster_id(target.id));
    maps.load(30s);
    auto target_hash = core::hash_cluster_id(target.id);
    // Drain: every record of every replicated partition must be on the target.
    int64_t first_total = -1;
    auto deadline = Clock::now() + options.drain_timeout;
    while (true) {
      int64_t remaining = 0;
      for (const auto& p : parts) {
        int64_t hw = high_watermark(source.rk.get(), p.source_topic, p.partition);
        int64_t copied = -1;
        if (kafka::fetch_metadata(target.rk.get(), 10s, p.target_topic).topics.empty()) {
          remaining += hw;
          continue;
        }
        if (auto f = maps.catch_up(p.target_topic, p.partition, 60s)) copied = *f;
        if (copied + 1 < hw) {
          remaining +=
              records_to_copy(source_cfg, p.source_topic, p.partition, copied + 1, hw, target_hash);
        }
      }
      if (first_total < 0) first_total = remaining;
      say(options.progress, "replication lag " + bar(remaining, first_total) + " " +
                                std::to_string(remaining) + " record(s) to copy");
      if (remaining == 0) break;
      if (Clock::now() > deadline) {
        report.message = "replication lag did not reach 0 within " +
                         std::to_string(options.drain_timeout.count()) +
                         " s; is kmirror running for flow " + flow.id + "?";
        return report;
      }
      std::this_thread::sleep_for(500ms);
    }
    // Final, exact consumer-group offset sync.
    std::set<std::string> source_topics;
    std::map<std::string, std::string> target_name;
    for (const auto& p : parts) {
      source_topics.insert(p.source_topic);
      target_name[p.source_topic] = p.target_topic;
    }
    sync::GroupSync groups(source.rk.get(), target.rk.get(),
                           sync::GroupSyncOptions{source_cfg.name, target_cfg.name,
                                                  flow.groups_include, flow.groups_exclude});
    auto sync_report = groups.run_once(
        [&](const std::string& t) -> std::optional<std::string> {
          auto it = target_name.find(t);
          return it == target_name.end() ? std::nullopt : std::optional<std::string>(it->second);
        },
        [&](const std::string& t, int32_t p, int64_t off) { return maps.lookup(t, p, off); });
    say(options.progress,
        "consumer-group offsets synced exactly: " + std::to_string(sync_report.groups_synced) +
            " group(s), " + std::to_string(sync_report.partitions_committed) + " partition(s)");
    for (const auto& g : sync_report.skipped_active) {
      say(options.progress,
          "group " + g + " already has live consumers on " + target_cfg.name + ": not moved");
    }
    for (const auto& f : sync_report.failures) say(options.progress, "offset sync failure: " + f);
    for (const auto& p : parts) {
      state.target_ends[p.target_topic][p.partition] =
          high_watermark(target.rk.get(), p.target_topic, p.partition);
    }
    std::set<std::string> target_topics;
    for (const auto& p : parts) target_topics.insert(p.target_topic);
    state.state = "failed-over";
    state.mode = "planned";
    state.since_ms = now_ms();
    store.write(flow.id, state, 30s);
    if (local) local->stop();
    // A kmirror elsewhere reads the state within a sync pass and stops the flow.
    kafka::wait_until([&] { return !flow_runs_elsewhere(source.rk.get(), flow); }, 60s, 500ms);
    report.groups_on_target = group_positions(target.rk.get(), flow, target_topics);
    report.target_ends = state.target_ends;
    report.ok = sync_report.failures.empty();
    report.message = "flow " + flow.id +
                     " stopped with replication lag 0 (RPO 0); applications may now use " +
                     target_cfg.name;
  } else {
    if (source_up) {
      say(options.progress, "warning: the source " + source_cfg.name +
                                " still answers; a planned failover (RPO 0) is possible");
    } else {
      say(options.progress, "source " + source_cfg.name + " unreachable: unplanned failover");
    }
    // Stop the flow first: every kmirror reads this state.
    auto parts = replicated(target.rk.get(), flow, source_cfg.name, true);
    for (const auto& p : parts) {
      state.target_ends[p.target_topic][p.partition] =
          high_watermark(target.rk.get(), p.target_topic, p.partition);
    }
    state.state = "failed-over";
    state.mode = "unplanned";
    state.since_ms = now_ms();
    store.write(flow.id, state, 30s);
    say(options.progress,
        "flow " + flow.id + " declared failed over; running kmirror instances stop it");
    // The RPO window: what the target holds against what the source last reported.
    auto target_hash = core::hash_cluster_id(target.id);
    core::ClusterHash source_hash =
        source_up ? core::hash_cluster_id(source.id) : infer_source(target_cfg, parts, target_hash);
    replicate::OffsetMaps maps(target_cfg.client_properties(), flow.id, source_hash, target_hash);
    maps.load(30s);
    for (const auto& p : parts) maps.catch_up(p.target_topic, p.partition, 60s);
    std::set<std::string> target_topics;
    for (const auto& p : parts) {
      target_topics.insert(p.target_topic);
      PartitionRpo r;
      r.topic = p.source_topic;
      r.partition = p.partition;
      auto last = maps.last_recorded(p.target_topic, p.partition);
      if (last) {
        r.last_copied = last->first;
        kafka::read_range(target_cfg.client_properties(), p.target_topic, p.partition, last->second,
                          last->second + 1, 10s, [&](const rd_kafka_message_t* m) {
                            r.last_copied_ts_ms = rd_kafka_message_timestamp(m, nullptr);
                          });
      }
      if (auto t = state.source_ends.find(p.source_topic); t != state.source_ends.end()) {
        if (auto e = t->second.find(p.partition); e != t->second.end())
          r.source_end_known = e->second;
      }
      r.at_risk = r.source_end_known < 0
                      ? -1
                      : std::max<int64_t>(0, r.source_end_known - (r.last_copied + 1));
      report.rpo.push_back(r);
    }
    report.groups_on_target = group_positions(target.rk.get(), flow, target_topics);
    report.target_ends = state.target_ends;
    report.ok = true;
    report.message = "flow " + flow.id +
                     " failed over without its source; applications may now use " +
                     target_cfg.name + " (groups resume at their last synced offsets)";
  }
  report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return report;
}

FailbackReport failback(const config::Config& cfg, const config::FlowConfig& flow,
                        const FailbackOptions& options) {
  auto started = Clock::now();
  FailbackReport report;
  report.flow = flow.id;
  const auto& a_cfg = cfg.cluster(flow.source);
  const auto& b_cfg = cfg.cluster(flow.target);
  if (flow.naming != config::NamingPolicy::kIdentity) {
    report.message =
        "failback needs identity naming (the applications use the same topic names on both sides)";
    return report;
  }
  Cluster a, b;
  if (!connect(b, b_cfg, replicate::flow_group_id(flow), 30s)) {
    report.message = "cluster '" + b_cfg.name + "' does not answer";
    return report;
  }
  if (!connect(a, a_cfg, replicate::flow_group_id(flow), 30s)) {
    report.message = "cluster '" + a_cfg.name + "' (" + a_cfg.bootstrap_servers +
                     ") does not answer yet: bring it back before failing back";
    return report;
  }
  sync::FlowStateStore store(b_cfg.client_properties());
  auto state = store.read(flow.id, 30s);
  if (!state || state->state != "failed-over") {
    report.message = "flow " + flow.id + " is not failed over: nothing to fail back";
    return report;
  }
  say(options.progress,
      "both clusters reachable; flow " + flow.id + " failed over (" + state->mode + ")");
  auto parts = replicated(a.rk.get(), flow, a_cfg.name, false);
  // A cluster just back from an outage answers before it has elected every partition leader.
  if (!partitions_led(a.rk.get(), parts, 120s)) {
    report.message = "cluster '" + a_cfg.name +
                     "' answers but some replicated partitions have no leader after 120 s; "
                     "run the command again once it has recovered";
    return report;
  }

  // Records that only A has: produced there but never copied before the failover.
  replicate::OffsetMaps forward_maps(b_cfg.client_properties(), flow.id,
                                     core::hash_cluster_id(a.id), core::hash_cluster_id(b.id));
  forward_maps.load(30s);
  for (const auto& p : parts) {
    auto copied = forward_maps.catch_up(p.target_topic, p.partition, 60s);
    int64_t hw = high_watermark(a.rk.get(), p.source_topic, p.partition);
    int64_t from = copied ? *copied + 1 : 0;
    if (from < hw) {
      int64_t n = records_to_copy(a_cfg, p.source_topic, p.partition, from, hw,
                                  core::hash_cluster_id(b.id));
      if (n > 0) report.only_on_source[p.source_topic][p.partition] = n;
    }
  }
  for (const auto& [t, ps] : report.only_on_source) {
    for (const auto& [p, n] : ps) {
      say(options.progress,
          "only on " + a_cfg.name + ": " + std::to_string(n) + " record(s) of " + t + "[" +
              std::to_string(p) + "] never copied before the failover; they stay on " + a_cfg.name +
              " and are copied to " + b_cfg.name + " when " + flow.id + " resumes");
    }
  }

  // Reverse flow B->A from where B stood at the failover: only what B received since travels.
  config::FlowConfig reverse = flow;
  reverse.source = flow.target;
  reverse.target = flow.source;
  reverse.id = flow.id + ".failback";
  reverse.forward = config::Forward::kOriginOnly;
  reverse.start_offsets = state->target_ends;
  std::vector<std::pair<std::string, int32_t>> b_parts;
  for (const auto& p : parts) b_parts.emplace_back(p.target_topic, p.partition);
  if (!wait_for_quiet(b.rk.get(), b_parts, options.producers_timeout, options.progress,
                      b_cfg.name)) {
    report.message = "producers on " + b_cfg.name + " did not stop within " +
                     std::to_string(options.producers_timeout.count()) +
                     " s; stop them and run the command again";
    return report;
  }
  state->state = "failing-back";
  store.write(flow.id, *state, 30s);
  say(options.progress,
      "copying what " + b_cfg.name + " received since the failover back to " + a_cfg.name);
  InProcessFlow back(cfg, reverse);
  auto deadline = Clock::now() + options.drain_timeout;
  int64_t first = -1;
  bool drained = false;
  while (Clock::now() < deadline) {
    std::this_thread::sleep_for(1s);
    auto st = back.status();
    if (st.state != "replicating" || st.partitions.empty()) continue;
    if (first < 0) first = st.lag;
    say(options.progress, "failback lag " + bar(st.lag, first) + " " + std::to_string(st.lag) +
                              " record(s), " + std::to_string(st.replicated) + " copied back, " +
                              std::to_string(st.filtered) + " skipped (came from " + a_cfg.name +
                              ")");
    // A partition not fetched yet shows lag 0 (its end is unknown): not drained yet.
    bool ends_known = std::all_of(st.partitions.begin(), st.partitions.end(),
                                  [](const auto& p) { return p.source_end >= 0; });
    if (st.lag == 0 && st.inflight_bytes == 0 && ends_known &&
        static_cast<int>(st.partitions.size()) >= static_cast<int>(parts.size())) {
      drained = true;
      report.copied_back = st.replicated;
      break;
    }
  }
  back.stop();
  if (!drained) {
    report.message = "the copy back to " + a_cfg.name + " did not finish within " +
                     std::to_string(options.drain_timeout.count()) + " s";
    return report;
  }

  // Consumer groups back to A, exactly: positions in what B received after the failover go
  // through the reverse flow's map, positions before it through the forward map in reverse.
  replicate::OffsetMaps back_maps(a_cfg.client_properties(), reverse.id,
                                  core::hash_cluster_id(b.id), core::hash_cluster_id(a.id));
  back_maps.load(30s);
  std::set<std::string> topics;
  for (const auto& p : parts) {
    topics.insert(p.target_topic);
    back_maps.catch_up(p.source_topic, p.partition, 60s);
  }
  kafka::Admin a_admin(a.rk.get(), 30s);
  std::map<std::string, size_t> members;
  auto b_groups = group_positions(b.rk.get(), flow, topics);
  std::vector<std::string> names;
  for (const auto& [g, offs] : b_groups) names.push_back(g);
  for (const auto& d : a_admin.describe_groups(names)) members[d.id] = d.members;
  for (const auto& [g, offs] : b_groups) {
    if (members[g] > 0) {
      say(options.progress, "group " + g + " has live consumers on " + a_cfg.name + ": not moved");
      continue;
    }
    kafka::GroupOffsets on_a;
    for (const auto& [tp, c] : offs) {
      int64_t failover_end = state->target_ends[tp.first][tp.second];
      std::optional<int64_t> a_offset;
      if (c >= failover_end) {
        auto t = back_maps.lookup(tp.first, tp.second, c);
        if (t.known()) {
          a_offset = t.target.value;
        } else if (c == failover_end) {
          // B received nothing here since the failover: the group stands where A's copies end.
          a_offset = forward_maps.reverse_lookup(tp.first, tp.second, c);
        }
      } else if (auto s = forward_maps.reverse_lookup(tp.first, tp.second, c)) {
        a_offset = *s;
      }
      if (a_offset) on_a[tp] = *a_offset;
    }
    auto failed = a_admin.alter_group_offsets(g, on_a);
    for (const auto& [tp, why] : failed)
      say(options.progress, "group " + g + " " + tp.first + ": " + why);
    report.groups_on_source[g] = on_a;
  }
  state->state = "running";
  state->mode.clear();
  state->since_ms = now_ms();
  state->target_ends.clear();
  store.write(flow.id, *state, 30s);
  report.ok = true;
  report.message = "applications may now use " + a_cfg.name + " again; flow " + flow.id +
                   " resumes where kmirror runs it (restart `kmirror run` if it stopped)";
  report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return report;
}

}  // namespace kmirror::dr
