#include "dr/drill.h"

#include <kmirror/dedup.h>

#include <chrono>
#include <map>
#include <set>
#include <tuple>

#include "core/provenance.h"
#include "kafka/admin.h"
#include "kafka/client.h"

namespace kmirror::dr {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

using Identity = std::tuple<uint64_t, int32_t, int64_t>;  // origin cluster, partition, offset

// The drill's application: a consumer group that reads, dedups and commits like a real one.
struct TestConsumer {
  std::string group;
  Deduplicator dedup;
  std::multiset<Identity> seen;  // every record delivered, duplicates included
  int64_t dropped_by_dedup = 0;

  // Reads up to `count` records on `bootstrap`; returns how many arrived.
  int64_t read(const std::string& bootstrap, const std::string& topic, int64_t count,
               std::chrono::seconds timeout) {
    auto rk = kafka::make_client(kafka::ClientKind::kConsumer, {{"bootstrap.servers", bootstrap},
                                                                {"group.id", group},
                                                                {"enable.auto.commit", "false"},
                                                                {"auto.offset.reset", "earliest"},
                                                                {"log_level", "3"}});
    uint64_t self = cluster_hash(kafka::fetch_cluster_id(rk.get(), 10s));
    rd_kafka_poll_set_consumer(rk.get());
    auto list = kafka::new_partition_list(1);
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
    kafka::check(rd_kafka_subscribe(rk.get(), list.get()), "subscribe");
    int64_t got = 0;
    auto deadline = Clock::now() + timeout;
    while (got < count && Clock::now() < deadline) {
      kafka::MessagePtr m(rd_kafka_consumer_poll(rk.get(), 200));
      if (!m || m->err) continue;
      ++got;
      const void* v = nullptr;
      size_t n = 0;
      rd_kafka_headers_t* hdrs = nullptr;
      Identity id{self, m->partition, m->offset};
      if (rd_kafka_message_headers(m.get(), &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          rd_kafka_header_get_last(hdrs, core::kProvenanceHeader.data(), &v, &n) ==
              RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (auto p = core::decode({static_cast<const uint8_t*>(v), n})) {
          id = Identity{p->origin(), p->origin_partition, p->origin_offset};
        }
      } else {
        v = nullptr;
        n = 0;
      }
      seen.insert(id);
      if (dedup.check(topic, v, n, self, m->partition, m->offset) ==
          Deduplicator::Verdict::kDuplicate) {
        ++dropped_by_dedup;
      }
      kafka::check(rd_kafka_commit_message(rk.get(), m.get(), 0), "commit");
    }
    rd_kafka_consumer_close(rk.get());
    return got;
  }
};

// Produces `count` records to `topic` and returns their identities on that cluster.
std::set<Identity> produce(const std::string& bootstrap, const std::string& topic, int count,
                           const std::string& tag) {
  std::map<std::string, std::string> props = {{"bootstrap.servers", bootstrap},
                                              {"enable.idempotence", "true"}};
  auto rk = kafka::make_client(kafka::ClientKind::kProducer, props);
  uint64_t self = cluster_hash(kafka::fetch_cluster_id(rk.get(), 10s));
  struct Sink {
    std::set<Identity>* ids;
    uint64_t self;
    int failed = 0;
  } sink{nullptr, self};
  std::set<Identity> ids;
  sink.ids = &ids;
  rd_kafka_conf_t* conf = kafka::make_conf(props).release();
  rd_kafka_conf_set_opaque(conf, &sink);
  rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* s = static_cast<Sink*>(opaque);
    if (m->err) {
      ++s->failed;
    } else {
      s->ids->insert(Identity{s->self, m->partition, m->offset});
    }
  });
  auto producer = kafka::make_client(kafka::ClientKind::kProducer, kafka::ConfPtr(conf));
  for (int i = 0; i < count; ++i) {
    std::string key = tag + "-" + std::to_string(i);
    std::string value = "drill record " + key;
    kafka::check(rd_kafka_producev(producer.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
                                   RD_KAFKA_V_KEY(key.data(), key.size()),
                                   RD_KAFKA_V_VALUE(value.data(), value.size()),
                                   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                 "drill produce");
    rd_kafka_poll(producer.get(), 0);
  }
  rd_kafka_flush(producer.get(), 60000);
  if (sink.failed > 0)
    throw std::runtime_error("drill producer: " + std::to_string(sink.failed) +
                             " record(s) failed");
  return ids;
}

int64_t count_records(const std::string& bootstrap, const std::string& topic) {
  auto rk = kafka::make_client(kafka::ClientKind::kProducer, {{"bootstrap.servers", bootstrap}});
  int64_t n = 0;
  for (const auto& t : kafka::fetch_metadata(rk.get(), 10s, topic).topics) {
    for (const auto& p : t.partitions) {
      auto w = kafka::query_watermarks(rk.get(), topic, p.id, 10s);
      n += w.high - w.low;
    }
  }
  return n;
}

}  // namespace

DrillReport drill(const config::Config& cfg, const config::FlowConfig& flow,
                  const DrillOptions& options) {
  DrillReport r;
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  r.topic = "kmirror-drill-" + std::to_string(now);
  const auto& a = cfg.cluster(flow.source);
  const auto& b = cfg.cluster(flow.target);
  config::Config drill_cfg = cfg;
  config::FlowConfig f = flow;
  f.id = flow.id + ".drill-" + std::to_string(now);
  f.topics_include = {r.topic};
  f.topics_exclude.clear();
  f.groups_include = {"kmirror-drill-app-.*"};
  f.groups_exclude.clear();
  f.naming = config::NamingPolicy::kIdentity;
  f.sync_interval = std::min<std::chrono::milliseconds>(f.sync_interval, 2s);
  drill_cfg.flows = {f};
  auto step_start = Clock::now();
  auto step = [&](const std::string& name) {
    auto t = Clock::now();
    r.steps.emplace_back(name, std::chrono::duration<double>(t - step_start).count());
    step_start = t;
    if (options.progress) options.progress("drill: " + name + " done");
  };

  {
    auto rk = kafka::make_client(kafka::ClientKind::kProducer, a.client_properties());
    kafka::Admin admin(rk.get());
    auto res = admin.create_topics({kafka::NewTopic{r.topic, 3, -1, {}}});
    if (!res.empty() && res[0].code != RD_KAFKA_RESP_ERR_NO_ERROR) {
      r.message = "cannot create the drill topic on " + a.name + ": " + res[0].error;
      return r;
    }
  }
  auto produced = produce(a.bootstrap_servers, r.topic, options.records, "a");
  r.produced_on_source = static_cast<int64_t>(produced.size());
  TestConsumer app{"kmirror-drill-app-" + std::to_string(now), {}, {}, 0};
  int64_t first_part = r.produced_on_source * 2 / 5;
  app.read(a.bootstrap_servers, r.topic, first_part, 60s);
  step("produce and consume on " + a.name);

  FailoverOptions fo;
  fo.planned = true;
  fo.producers_timeout = 60s;
  fo.drain_timeout = 300s;
  fo.progress = options.progress;
  auto over = failover(drill_cfg, f, fo);
  step("planned failover");
  if (!over.ok) {
    r.message = "failover failed: " + over.message;
    return r;
  }
  r.copied = count_records(b.bootstrap_servers, r.topic);
  auto before = app.seen.size();
  app.read(b.bootstrap_servers, r.topic, r.produced_on_source - first_part, 60s);
  std::set<Identity> distinct_after_failover(app.seen.begin(), app.seen.end());
  bool exact_failover =
      app.seen.size() - before == static_cast<size_t>(r.produced_on_source - first_part) &&
      distinct_after_failover.size() == static_cast<size_t>(r.produced_on_source);
  step("consume on " + b.name);

  auto on_b = produce(b.bootstrap_servers, r.topic, options.records / 5, "b");
  r.produced_on_target = static_cast<int64_t>(on_b.size());
  produced.insert(on_b.begin(), on_b.end());
  app.read(b.bootstrap_servers, r.topic, r.produced_on_target / 2, 60s);
  step("produce and consume on " + b.name);

  FailbackOptions bo;
  bo.producers_timeout = 60s;
  bo.drain_timeout = 300s;
  bo.progress = options.progress;
  auto back = failback(drill_cfg, f, bo);
  step("failback");
  if (!back.ok) {
    r.message = "failback failed: " + back.message;
    return r;
  }
  r.copied_back = static_cast<int64_t>(back.copied_back);
  before = app.seen.size();
  int64_t rest = r.produced_on_target - r.produced_on_target / 2;
  app.read(a.bootstrap_servers, r.topic, rest, 60s);
  // Drain anything else the group would still get (a re-delivery would show up here).
  app.read(a.bootstrap_servers, r.topic, 1000000, 5s);
  step("consume on " + a.name);

  std::set<Identity> distinct(app.seen.begin(), app.seen.end());
  r.consumed = static_cast<int64_t>(app.seen.size());
  for (const auto& id : produced) r.lost += distinct.count(id) ? 0 : 1;
  r.duplicates_before_dedup = r.consumed - static_cast<int64_t>(distinct.size());
  r.duplicates_after_dedup = r.duplicates_before_dedup - app.dropped_by_dedup;
  r.offsets_exact = exact_failover && r.duplicates_before_dedup == 0 && r.lost == 0;
  r.rpo_records = 0;
  for (const auto& p : over.rpo) r.rpo_records += std::max<int64_t>(0, p.at_risk);
  r.ok = r.lost == 0 && r.duplicates_after_dedup == 0;
  r.message = r.ok ? "drill passed: nothing lost, no duplicate after dedup" : "drill FAILED";
  return r;
}

}  // namespace kmirror::dr
