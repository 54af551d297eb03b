// Monitoring end to end: kmirror's /metrics, /status, /readyz and `kmirror status` against real
// brokers, through a target outage; the bearer-token rule; the dashboard in headless Chromium.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "harness/kafka_cluster.h"
#include "kafka/client.h"
#include "observe/status_cli.h"
#include "support/http.h"
#include "support/kmirror_process.h"
#include "support/records.h"
#include "support/regions_fixture.h"

using namespace std::chrono_literals;
using kmirror::testing::Http;
using kmirror::testing::KmirrorProcess;
using kmirror::testing::wait_for_port;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Metric names docs/metrics.md documents; every one must be exported.
const char* const kMetricNames[] = {"kmirror_replication_latency_ms_bucket",
                                    "kmirror_replication_latency_ms_count",
                                    "kmirror_message_lag",
                                    "kmirror_flow_lag",
                                    "kmirror_record_age_ms",
                                    "kmirror_replicated_position",
                                    "kmirror_source_end_offset",
                                    "kmirror_records_replicated_total",
                                    "kmirror_bytes_replicated_total",
                                    "kmirror_records_filtered_total",
                                    "kmirror_errors_total",
                                    "kmirror_inflight_bytes",
                                    "kmirror_backpressure",
                                    "kmirror_cluster_reachable",
                                    "kmirror_topics_replicated",
                                    "kmirror_control_leader",
                                    "kmirror_last_topic_sync_timestamp_ms",
                                    "kmirror_last_position_store_timestamp_ms",
                                    "kmirror_partition_stopped",
                                    "kmirror_consumer_groups_synced",
                                    "kmirror_last_group_sync_timestamp_ms",
                                    "kmirror_flow_state",
                                    "kmirror_heartbeat_latency_ms_count",
                                    "kmirror_last_heartbeat_timestamp_ms",
                                    "kmirror_heartbeats_sent_total",
                                    "kmirror_heartbeats_replicated_total",
                                    "kmirror_build_info"};

// A configuration like two_cluster_config's but with the HTTP server on `bind`.
std::string config(const std::string& a, const std::string& b, const std::string& flow_id,
                   const std::string& topic, const std::string& http) {
  return "clusters:\n"
         "  - name: a\n"
         "    bootstrap_servers: \"" +
         a +
         "\"\n"
         "  - name: b\n"
         "    bootstrap_servers: \"" +
         b +
         "\"\n"
         "flows:\n"
         "  - source: a\n"
         "    target: b\n"
         "    id: " +
         flow_id +
         "\n"
         "    sync_interval: 2s\n"
         "    commit_interval: 500ms\n"
         "    topics:\n"
         "      include: [\"" +
         topic + "\"]\nhttp:\n" + http;
}

// Sum of the samples of `name` whose labels include every `key="value"` of `labels`; nullopt
// when there is no such sample.
std::optional<double> metric(const std::string& text, const std::string& name,
                             const std::map<std::string, std::string>& labels = {}) {
  std::optional<double> sum;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    size_t end = line.find_first_of("{ ");
    if (end == std::string::npos || line.substr(0, end) != name) continue;
    std::string label_text;
    if (line[end] == '{') label_text = line.substr(end, line.find('}', end) - end + 1);
    bool match = true;
    for (const auto& [k, v] : labels) {
      if (label_text.find(k + "=\"" + v + "\"") == std::string::npos) match = false;
    }
    if (!match) continue;
    sum = sum.value_or(0) + std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

// The flow's entry of /status, or null.
json flow_of(const json& status, const std::string& id) {
  if (!status.is_object()) return json();
  for (const auto& f : status["flows"]) {
    if (f["id"] == id) return f;
  }
  return json();
}

// Offsets stored in the flow's position group on the target cluster, by partition.
std::map<int32_t, int64_t> stored_positions(const std::string& target_bootstrap,
                                            const std::string& flow_id, const std::string& topic,
                                            int partitions) {
  auto consumer = kmirror::kafka::make_client(kmirror::kafka::ClientKind::kConsumer,
                                              {{"bootstrap.servers", target_bootstrap},
                                               {"group.id", "kmirror." + flow_id},
                                               {"enable.auto.commit", "false"},
                                               {"log_level", "0"}});
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
  std::map<int32_t, int64_t> out;
  if (rd_kafka_committed(consumer.get(), list, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < list->cnt; ++i) {
      if (list->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        out[list->elems[i].partition] = list->elems[i].offset;
      }
    }
  }
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_consumer_close(consumer.get());
  return out;
}

std::map<int32_t, int64_t> status_positions(const json& flow) {
  std::map<int32_t, int64_t> out;
  if (flow.is_null()) return out;
  for (const auto& p : flow["partitions"]) out[p["partition"]] = p["position"];
  return out;
}

std::map<int32_t, int64_t> end_offsets(const std::string& bootstrap, const std::string& topic,
                                       int partitions) {
  auto client = kmirror::kafka::make_client(kmirror::kafka::ClientKind::kProducer,
                                            {{"bootstrap.servers", bootstrap}, {"log_level", "0"}});
  std::map<int32_t, int64_t> out;
  for (int p = 0; p < partitions; ++p) {
    out[p] = kmirror::kafka::query_watermarks(client.get(), topic, p, 10s).high;
  }
  return out;
}

class ObserveTest : public kmirror::testing::RegionsTest {
 protected:
  std::string a() { return regions(2)[0].bootstrap(); }
  std::string b() { return regions(2)[1].bootstrap(); }
};

TEST_F(ObserveTest, MetricsAndStatusFollowReplicationThroughATargetOutage) {
  const std::string topic = kmirror::testing::unique_topic_name("observe");
  const std::string id = "observe";
  constexpr int kPartitions = 3;
  kmirror::testing::create_topic(a(), topic, kPartitions);
  auto first = kmirror::testing::make_records(7, 300, kPartitions);
  kmirror::testing::produce(a(), topic, first);

  KmirrorProcess km(config(a(), b(), id, topic, "  bind: 127.0.0.1:0\n"));
  int port = wait_for_port(km);
  ASSERT_NE(port, 0) << km.output();
  Http http(port);

  // Caught up: everything produced is replicated and positions are stored.
  ASSERT_TRUE(kmirror::kafka::wait_until(
      [&] {
        json f = flow_of(http.status(), id);
        return !f.is_null() && f["records_replicated"] == 300 && f["lag"] == 0 &&
               f["partitions"].size() == kPartitions && f["last_position_store_ms"] > 0;
      },
      90s, 250ms))
      << http.status().dump(2) << km.output();

  std::string text = http.metrics();
  for (const char* name : kMetricNames) {
    EXPECT_TRUE(metric(text, name).has_value()) << name << " missing from /metrics:\n" << text;
  }
  const std::map<std::string, std::string> flow{{"flow", id}};
  const std::map<std::string, std::string> flow_topic{{"flow", id}, {"topic", topic}};
  EXPECT_EQ(metric(text, "kmirror_records_replicated_total", flow_topic), 300);
  EXPECT_EQ(metric(text, "kmirror_replication_latency_ms_count", flow), 300);
  EXPECT_EQ(metric(text, "kmirror_replication_latency_ms_bucket", {{"flow", id}, {"le", "+Inf"}}),
            300);
  EXPECT_EQ(metric(text, "kmirror_message_lag", flow_topic), 0);
  EXPECT_EQ(metric(text, "kmirror_flow_lag", flow), 0);
  EXPECT_EQ(metric(text, "kmirror_records_filtered_total", flow_topic), 0);
  EXPECT_EQ(metric(text, "kmirror_partition_stopped", flow_topic), 0);
  EXPECT_EQ(metric(text, "kmirror_backpressure", flow), 0);
  EXPECT_EQ(metric(text, "kmirror_topics_replicated", flow), 1);
  EXPECT_EQ(metric(text, "kmirror_control_leader", flow), 1) << "a single instance leads";
  EXPECT_EQ(metric(text, "kmirror_cluster_reachable", {{"flow", id}, {"role", "target"}}), 1);
  EXPECT_EQ(metric(text, "kmirror_cluster_reachable", {{"flow", id}, {"role", "source"}}), 1);
  EXPECT_EQ(metric(text, "kmirror_flow_state", {{"flow", id}, {"state", "replicating"}}), 1);
  EXPECT_GT(metric(text, "kmirror_bytes_replicated_total", flow_topic).value_or(0), 0);
  EXPECT_GT(metric(text, "kmirror_last_topic_sync_timestamp_ms", flow).value_or(0), 1.6e12);
  EXPECT_GT(metric(text, "kmirror_last_position_store_timestamp_ms", flow).value_or(0), 1.6e12)
      << "positions are stored (checked below) but the flow never reports when";
  EXPECT_EQ(metric(text, "kmirror_errors_total", flow), 0);

  // /status positions are what the target's position group holds, and the source's ends.
  std::map<int32_t, int64_t> stored;
  ASSERT_TRUE(kmirror::kafka::wait_until(
      [&] {
        stored = stored_positions(b(), id, topic, kPartitions);
        return stored == status_positions(flow_of(http.status(), id));
      },
      30s, 500ms))
      << "stored on target: " << testing::PrintToString(stored) << "\n"
      << http.status().dump(2);
  EXPECT_EQ(stored, end_offsets(a(), topic, kPartitions));
  json f = flow_of(http.status(), id);
  for (const auto& p : f["partitions"]) {
    EXPECT_EQ(p["topic"], topic);
    EXPECT_EQ(p["lag"], 0);
    EXPECT_EQ(p["position"], p["source_end"]);
    EXPECT_FALSE(p["stopped"].get<bool>());
  }
  EXPECT_EQ(f["latency_ms"]["count"], 300);
  EXPECT_GE(f["latency_ms"]["p99"].get<int64_t>(), f["latency_ms"]["p50"].get<int64_t>());
  EXPECT_TRUE(f["source"]["reachable"].get<bool>());
  EXPECT_FALSE(f["target"]["cluster_id"].get<std::string>().empty());
  EXPECT_TRUE(f["control_leader"].get<bool>()) << "a single instance leads its flow";

  EXPECT_EQ(http.get("/readyz").first, 200);
  EXPECT_EQ(http.get("/healthz").first, 200);
  auto [page_code, page] = http.get("/");
  EXPECT_EQ(page_code, 200);
  EXPECT_NE(page.find("app.js"), std::string::npos);
  EXPECT_EQ(http.get("/vendor/uPlot.iife.min.js").first, 200);
  EXPECT_EQ(http.get("/no-such-page").first, 404);

  // `kmirror status` reads the same document.
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  std::string out;
  EXPECT_EQ(KmirrorProcess::run_to_end({"status", "--url", url}, out, 30s), 0) << out;
  EXPECT_NE(out.find("ready"), std::string::npos) << out;
  EXPECT_NE(out.find(topic), std::string::npos) << out;
  EXPECT_NE(out.find("replicating"), std::string::npos) << out;
  EXPECT_NE(out.find("leader"), std::string::npos) << "a single instance leads: " << out;
  EXPECT_EQ(KmirrorProcess::run_to_end({"status", "--url", url, "--json"}, out, 30s), 0) << out;
  json doc = json::parse(out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << out;
  EXPECT_EQ(flow_of(doc, id)["records_replicated"], 300);

  // Target outage: lag builds up and the target is reported unreachable.
  regions(2)[1].stop();
  auto second = kmirror::testing::make_records(8, 50, kPartitions);
  kmirror::testing::produce(a(), topic, second);
  EXPECT_TRUE(kmirror::kafka::wait_until(
      [&] { return metric(http.metrics(), "kmirror_message_lag", flow_topic).value_or(0) > 0; },
      30s, 500ms))
      << http.metrics();
  EXPECT_TRUE(kmirror::kafka::wait_until(
      [&] {
        return metric(http.metrics(), "kmirror_cluster_reachable",
                      {{"flow", id}, {"role", "target"}}) == 0;
      },
      90s, 1s))
      << http.status().dump(2);
  auto [ready_code, ready_body] = http.get("/readyz");
  EXPECT_EQ(ready_code, 503);
  EXPECT_NE(ready_body.find("target cluster b"), std::string::npos) << ready_body;
  json during = http.status();
  EXPECT_GT(flow_of(during, id)["lag"].get<int64_t>(), 0);
  // `kmirror status` shows it and says so in its exit code, with --json too.
  EXPECT_EQ(KmirrorProcess::run_to_end({"status", "--url", url}, out, 30s),
            kmirror::observe::kNotReady)
      << out;
  EXPECT_NE(out.find("NOT READY"), std::string::npos) << out;
  EXPECT_NE(out.find("b (unreachable)"), std::string::npos) << out;
  EXPECT_EQ(KmirrorProcess::run_to_end({"status", "--url", url, "--json"}, out, 30s),
            kmirror::observe::kNotReady)
      << out;
  EXPECT_EQ(json::parse(out, nullptr, false).value("ready", true), false) << out;
  // Events are derived by a sampler every second: the one for this outage may trail the metric.
  bool event_seen = kmirror::kafka::wait_until(
      [&] {
        during = http.status();
        for (const auto& e : during["events"]) {
          if (e["kind"] == "reachability" && e["level"] == "error") return true;
        }
        return false;
      },
      30s, 500ms);
  EXPECT_TRUE(event_seen) << during["events"].dump(2);

  // Back: the lag drains to 0 and every record is counted.
  regions(2)[1].start();
  EXPECT_TRUE(kmirror::kafka::wait_until(
      [&] {
        json fl = flow_of(http.status(), id);
        return !fl.is_null() && fl["lag"] == 0 && fl["records_replicated"] >= 350 &&
               fl["target"]["reachable"] == true;
      },
      120s, 500ms))
      << http.status().dump(2) << km.output();
  text = http.metrics();
  EXPECT_EQ(metric(text, "kmirror_message_lag", flow_topic), 0);
  EXPECT_GE(metric(text, "kmirror_records_replicated_total", flow_topic).value_or(0), 350);
  EXPECT_TRUE(
      kmirror::kafka::wait_until([&] { return http.get("/readyz").first == 200; }, 30s, 500ms));
  EXPECT_EQ(km.terminate(), 0) << km.output();

  // Nothing answers any more: `kmirror status` says so.
  EXPECT_EQ(KmirrorProcess::run_to_end({"status", "--url", url}, out, 30s), 3) << out;
  EXPECT_NE(out.find("nothing answers at " + url), std::string::npos) << out;
}

TEST_F(ObserveTest, BeyondLoopbackABearerTokenIsRequired) {
  const std::string topic = kmirror::testing::unique_topic_name("token");
  ::unsetenv("KMIRROR_HTTP_TOKEN");
  {
    KmirrorProcess km(config(a(), b(), "token", topic, "  bind: 0.0.0.0:0\n"));
    EXPECT_EQ(km.wait_exit(60s), 2) << km.output();
    EXPECT_NE(km.output().find("need a bearer token"), std::string::npos) << km.output();
    EXPECT_NE(km.output().find("http.token_file"), std::string::npos) << km.output();
  }

  const std::string token = "s3cret-token-for-observe-test";
  fs::path dir = kmirror::harness::make_temp_dir("observe-token");
  std::ofstream(dir / "token") << token << "\n";
  fs::permissions(dir / "token", fs::perms::owner_read | fs::perms::owner_write);
  KmirrorProcess km(config(a(), b(), "token", topic,
                           "  bind: 0.0.0.0:0\n  token_file: " + (dir / "token").string() + "\n"));
  int port = wait_for_port(km);
  ASSERT_NE(port, 0) << km.output();
  Http http(port);
  EXPECT_EQ(http.get("/status").first, 401);
  EXPECT_EQ(http.get("/metrics").first, 401);
  EXPECT_EQ(http.get("/readyz").first, 401);
  EXPECT_EQ(http.get("/status", "wrong").first, 401);
  EXPECT_EQ(http.get("/status", token).first, 200);
  EXPECT_EQ(http.get("/metrics", token).first, 200);
  EXPECT_EQ(http.get("/healthz").first, 200);
  EXPECT_EQ(http.get("/").first, 200);  // the page itself holds no data

  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  std::string out;
  EXPECT_EQ(KmirrorProcess::run_to_end({"status", "--url", url}, out, 30s), 1) << out;
  EXPECT_NE(out.find("requires a bearer token"), std::string::npos) << out;
  EXPECT_EQ(KmirrorProcess::run_to_end(
                {"status", "--url", url, "--token-file", (dir / "token").string()}, out, 30s),
            0)
      << out;
  EXPECT_EQ(km.terminate(), 0);
  EXPECT_EQ(km.output().find(token), std::string::npos) << "the token was logged";
  fs::remove_all(dir);
}

// The dashboard in Debian's headless Chromium (tests/browser/dashboard.mjs): charts get data,
// the lag shown is /status's, and a screenshot lands in <build>/test-artifacts/dashboard.png.
TEST_F(ObserveTest, DashboardShowsLiveDataInABrowser) {
  const std::string topic = kmirror::testing::unique_topic_name("dashboard");
  kmirror::testing::create_topic(a(), topic, 4);
  KmirrorProcess km(config(a(), b(), "us-east->eu-west", topic, "  bind: 127.0.0.1:0\n"));
  int port = wait_for_port(km);
  ASSERT_NE(port, 0) << km.output();

  // Bursts of records while the page is open, so every chart has something to draw.
  std::atomic<bool> stop{false};
  std::thread producer([&] {
    for (uint32_t seed = 100; !stop; ++seed) {
      auto records = kmirror::testing::make_records(seed, 400, 4);
      for (auto& r : records) r.timestamp = -1;  // now: latencies are kmirror's, not the data's
      try {
        kmirror::testing::produce(a(), topic, records);
      } catch (const std::exception& e) {
        std::cerr << "[dashboard] produce failed: " << e.what() << std::endl;
      }
      for (int i = 0; i < 5 && !stop; ++i) std::this_thread::sleep_for(100ms);
    }
  });

  const fs::path source = fs::path(__FILE__).parent_path().parent_path().parent_path();
  const fs::path build = fs::path(KMIRROR_BINARY).parent_path().parent_path();
  fs::create_directories(build / "test-artifacts");
  const fs::path shot = build / "test-artifacts" / "dashboard.png";
  fs::remove(shot);
  const std::string cmd = "\"" + (source / "tests" / "browser" / "run.sh").string() +
                          "\" http://127.0.0.1:" + std::to_string(port) + "/ \"" + shot.string() +
                          "\" 2>&1";
  std::string out;
  int status = -1;
  if (FILE* pipe = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
    status = ::pclose(pipe);
  }
  stop = true;
  producer.join();
  std::cout << out << std::endl;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_TRUE(fs::exists(shot) && fs::file_size(shot) > 10000) << shot;
  EXPECT_EQ(km.terminate(), 0) << km.output();
}

// Heartbeats of the flow the target acknowledged, per /status (0 until the flow reports them).
int64_t heartbeats_replicated(const json& flow) {
  if (!flow.is_object() || !flow.contains("heartbeat")) return 0;
  return flow["heartbeat"].value("replicated", int64_t{0});
}

// Records of kmirror's heartbeat topic on a cluster written under `key` (a flow id), and how many
// of them carry a provenance header (are copies made by a flow).
std::pair<size_t, size_t> heartbeats_on(const std::string& bootstrap, const std::string& key) {
  size_t n = 0, copies = 0;
  for (const auto& [p, records] : kmirror::testing::read_all(bootstrap, "kmirror.heartbeats")) {
    for (const auto& r : records) {
      if (r.key != key) continue;
      ++n;
      for (const auto& [name, value] : r.headers) {
        if (name == "kmirror.prov") {
          ++copies;
          break;
        }
      }
    }
  }
  return {n, copies};
}

TEST_F(ObserveTest, HeartbeatLatencyIsKnownWhileNoRecordFlows) {
  const std::string topic = kmirror::testing::unique_topic_name("idle");
  const std::string id = "hb-idle";
  kmirror::testing::create_topic(a(), topic, 2);
  // Records from before the start, which `start: latest` leaves alone: nothing to copy and
  // nothing behind, so the lag is 0 from the first status on (not the whole log).
  auto old_records = kmirror::testing::make_records(31, 600, 2);
  kmirror::testing::produce(a(), topic, old_records);
  std::string cfg = config(a(), b(), id, topic, "  bind: 127.0.0.1:0\n");
  cfg.insert(cfg.find("    topics:\n"), "    start: latest\n");
  KmirrorProcess km(cfg);
  int port = wait_for_port(km);
  ASSERT_NE(port, 0) << km.output();
  Http http(port);
  ASSERT_TRUE(kmirror::kafka::wait_until(
      [&] { return flow_of(http.status(), id)["partitions"].size() == 2; }, 60s, 100ms))
      << http.status().dump(2) << km.output();
  const auto ends = end_offsets(a(), topic, 2);
  {
    json f = flow_of(http.status(), id);
    EXPECT_EQ(f["lag"], 0) << f.dump(2);
    EXPECT_EQ(status_positions(f), ends) << f.dump(2);
  }

  // No user record is produced from here on: only heartbeats can tell the latency.
  ASSERT_TRUE(kmirror::kafka::wait_until(
      [&] {
        json f = flow_of(http.status(), id);
        return heartbeats_replicated(f) >= 3;
      },
      60s, 250ms))
      << http.status().dump(2) << km.output();
  json st = http.status();
  json f = flow_of(st, id);
  const json& hb = f["heartbeat"];
  EXPECT_TRUE(hb["enabled"].get<bool>());
  EXPECT_EQ(hb["interval_ms"], 1000);
  EXPECT_GT(hb["last_latency_ms"].get<int64_t>(), 0);
  EXPECT_LT(hb["last_latency_ms"].get<int64_t>(), 5000);
  EXPECT_LT(hb["latency_ms"]["max"].get<int64_t>(), 5000);
  EXPECT_GE(hb["latency_ms"]["count"].get<int64_t>(), 3);
  const int64_t age = st["time_ms"].get<int64_t>() - hb["last_replicated_ms"].get<int64_t>();
  EXPECT_GE(age, 0);
  EXPECT_LT(age, 5000);
  EXPECT_GE(hb["sent"].get<int64_t>(), hb["replicated"].get<int64_t>());
  std::cout << "[observe] idle flow heartbeat: last " << hb["last_latency_ms"] << " ms, p50 "
            << hb["latency_ms"]["p50"] << " ms, max " << hb["latency_ms"]["max"] << " ms over "
            << hb["replicated"] << " heartbeat(s)" << std::endl;
  EXPECT_TRUE(hb["error"].is_null()) << hb.dump(2);
  // Heartbeats are not user records: no throughput, no partition rows, no lag of their own.
  EXPECT_EQ(f["records_replicated"], 0);
  EXPECT_EQ(f["bytes_replicated"], 0);
  EXPECT_EQ(f["records_filtered"], 0);
  EXPECT_EQ(f["latency_ms"]["count"], 0);
  EXPECT_EQ(f["topics"], 1);
  EXPECT_EQ(f["lag"], 0);
  ASSERT_EQ(f["partitions"].size(), 2u) << f.dump(2);
  for (const auto& p : f["partitions"]) EXPECT_EQ(p["topic"], topic);
  EXPECT_EQ(f["errors_total"], 0) << f.dump(2);

  std::string text = http.metrics();
  const std::map<std::string, std::string> flow{{"flow", id}};
  EXPECT_GE(metric(text, "kmirror_heartbeat_latency_ms_count", flow).value_or(0), 3) << text;
  EXPECT_EQ(metric(text, "kmirror_heartbeat_latency_ms_bucket", {{"flow", id}, {"le", "5000"}}),
            metric(text, "kmirror_heartbeat_latency_ms_count", flow))
      << "a heartbeat took 5 s or more:\n"
      << text;
  const double last = metric(text, "kmirror_last_heartbeat_latency_ms", flow).value_or(-1);
  EXPECT_GT(last, 0) << text;
  EXPECT_LT(last, 5000) << text;
  EXPECT_GT(metric(text, "kmirror_last_heartbeat_timestamp_ms", flow).value_or(0), 1.6e12);
  EXPECT_GE(metric(text, "kmirror_heartbeats_sent_total", flow).value_or(0), 3);
  EXPECT_GE(metric(text, "kmirror_heartbeats_replicated_total", flow).value_or(0), 3);
  EXPECT_EQ(metric(text, "kmirror_replication_latency_ms_count", flow), 0);
  EXPECT_EQ(metric(text, "kmirror_records_replicated_total", flow), 0);

  // They keep coming while idle, about one a second.
  const int64_t before = hb["replicated"].get<int64_t>();
  EXPECT_TRUE(kmirror::kafka::wait_until(
      [&] { return heartbeats_replicated(flow_of(http.status(), id)) >= before + 3; }, 10s, 250ms))
      << http.status().dump(2);

  // The target holds them as copies made by this flow.
  auto [on_target, copies] = heartbeats_on(b(), id);
  EXPECT_GE(on_target, 3u);
  EXPECT_EQ(copies, on_target);
  auto [on_source, source_copies] = heartbeats_on(a(), id);
  EXPECT_GE(on_source, on_target);
  EXPECT_EQ(source_copies, 0u);
  EXPECT_EQ(km.terminate(), 0) << km.output();
}

TEST_F(ObserveTest, HeartbeatsOfTwoOppositeFlowsDoNotLoop) {
  const std::string topic = kmirror::testing::unique_topic_name("hbloop");
  const std::string cfg = "clusters:\n  - name: a\n    bootstrap_servers: \"" + a() +
                          "\"\n  - name: b\n    bootstrap_servers: \"" + b() +
                          "\"\n"
                          "flows:\n"
                          "  - {source: a, target: b, id: hb-ab, sync_interval: 2s, "
                          "heartbeat_interval: 500ms, topics: {include: [\"" +
                          topic +
                          "\"]}}\n"
                          "  - {source: b, target: a, id: hb-ba, sync_interval: 2s, "
                          "heartbeat_interval: 500ms, topics: {include: [\"" +
                          topic + "\"]}}\nhttp:\n  bind: 127.0.0.1:0\n";
  KmirrorProcess km(cfg);
  int port = wait_for_port(km);
  ASSERT_NE(port, 0) << km.output();
  Http http(port);
  ASSERT_TRUE(kmirror::kafka::wait_until(
      [&] {
        json st = http.status();
        return heartbeats_replicated(flow_of(st, "hb-ab")) >= 5 &&
               heartbeats_replicated(flow_of(st, "hb-ba")) >= 5;
      },
      60s, 250ms))
      << http.status().dump(2) << km.output();
  json st = http.status();
  for (const char* id : {"hb-ab", "hb-ba"}) {
    json f = flow_of(st, id);
    EXPECT_EQ(f["heartbeat"]["interval_ms"], 500);
    EXPECT_LT(f["heartbeat"]["last_latency_ms"].get<int64_t>(), 5000);
    // Each flow skips the other's heartbeats without counting them as filtered user records.
    EXPECT_EQ(f["records_filtered"], 0) << f.dump(2);
    EXPECT_EQ(f["records_replicated"], 0) << f.dump(2);
  }
  EXPECT_EQ(km.terminate(), 0) << km.output();

  // Each cluster holds its own flow's heartbeats as originals and the opposite flow's as copies;
  // a heartbeat that came back home would be a copy under the home flow's id.
  auto [ab_on_a, ab_copies_on_a] = heartbeats_on(a(), "hb-ab");
  auto [ab_on_b, ab_copies_on_b] = heartbeats_on(b(), "hb-ab");
  auto [ba_on_b, ba_copies_on_b] = heartbeats_on(b(), "hb-ba");
  auto [ba_on_a, ba_copies_on_a] = heartbeats_on(a(), "hb-ba");
  EXPECT_EQ(ab_copies_on_a, 0u);
  EXPECT_EQ(ba_copies_on_b, 0u);
  EXPECT_GE(ab_on_b, 5u);
  EXPECT_GE(ba_on_a, 5u);
  EXPECT_EQ(ab_copies_on_b, ab_on_b);
  EXPECT_EQ(ba_copies_on_a, ba_on_a);
  EXPECT_LE(ab_on_b, ab_on_a);  // one copy at most of each heartbeat
  EXPECT_LE(ba_on_a, ba_on_b);
}

// Runs Kafka's own kafka-configs tool (kafka.admin.ConfigCommand from the broker classpath):
// librdkafka 2.0.2 has no AlterClientQuotas. Returns its exit code; `out` gets its output.
int kafka_configs(const std::vector<std::string>& args, std::string& out) {
  auto runtime = kmirror::harness::KafkaRuntime::resolve();
  std::string cmd =
      "'" + runtime.java + "' -cp '" + runtime.classpath + "' kafka.admin.ConfigCommand";
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
  int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(ObserveTest, BrokerThrottlingOfTheTargetIsExported) {
  const std::string topic = kmirror::testing::unique_topic_name("throttle");
  const std::string id = "throttled";
  // A produce quota on the flow's producer only (client.id kmirror-<flow>-producer), so the
  // other tests sharing the clusters are not slowed down.
  std::string out;
  ASSERT_EQ(kafka_configs(
                {"--bootstrap-server", b(), "--alter", "--add-config", "producer_byte_rate=10240",
                 "--entity-type", "clients", "--entity-name", "kmirror-" + id + "-producer"},
                out),
            0)
      << out;
  kmirror::testing::create_topic(a(), topic, 1);
  std::vector<kmirror::testing::TestRecord> records(400);
  for (size_t i = 0; i < records.size(); ++i) {
    records[i].key = "k" + std::to_string(i);
    records[i].value = std::string(2048, static_cast<char>('a' + i % 26));
  }
  kmirror::testing::produce(a(), topic, records);

  KmirrorProcess km(config(a(), b(), id, topic, "  bind: 127.0.0.1:0\n"));
  int port = wait_for_port(km);
  ASSERT_NE(port, 0) << km.output();
  Http http(port);
  const std::map<std::string, std::string> target{{"flow", id}, {"role", "target"}};
  // About 800 KiB at 10 KiB/s (the broker averages over its ~10 s quota window): the broker
  // throttles the producer while it catches up.
  ASSERT_TRUE(kmirror::kafka::wait_until(
      [&] {
        std::string text = http.metrics();
        return metric(text, "kmirror_throttle_time_ms_total", target).value_or(0) > 0 &&
               metric(text, "kmirror_throttled_responses_total", target).value_or(0) > 0;
      },
      90s, 500ms))
      << http.metrics() << km.output();
  json f = flow_of(http.status(), id);
  bool seen = false;
  for (const auto& t : f["throttle"]) {
    if (t["role"] == "target" && t["cluster"] == "b" && t["max_ms"].get<int64_t>() > 0 &&
        t["total_ms"].get<int64_t>() > 0 && t["broker_id"].get<int>() >= 0) {
      seen = true;
    }
  }
  EXPECT_TRUE(seen) << f.dump(2);
  std::cout << "[observe] throttle reported: " << f["throttle"].dump() << std::endl;
  // Throttled, not failed: every record still arrives.
  EXPECT_TRUE(kmirror::kafka::wait_until(
      [&] { return flow_of(http.status(), id)["records_replicated"] == 400; }, 90s, 500ms))
      << http.status().dump(2);
  EXPECT_EQ(kmirror::testing::count_records(b(), topic), 400u);
  EXPECT_EQ(km.terminate(), 0) << km.output();
  out.clear();
  EXPECT_EQ(
      kafka_configs({"--bootstrap-server", b(), "--alter", "--delete-config", "producer_byte_rate",
                     "--entity-type", "clients", "--entity-name", "kmirror-" + id + "-producer"},
                    out),
      0)
      << out;
}

TEST_F(ObserveTest, StatusComputesLagFromTheClustersWhenNoneRuns) {
  const std::string topic = kmirror::testing::unique_topic_name("offline");
  const std::string id = "offline";
  constexpr int kPartitions = 2;
  kmirror::testing::create_topic(a(), topic, kPartitions);
  auto first = kmirror::testing::make_records(11, 100, kPartitions);
  kmirror::testing::produce(a(), topic, first);
  const std::string yaml = config(a(), b(), id, topic, "  bind: 127.0.0.1:0\n");
  {
    KmirrorProcess km(yaml);
    ASSERT_TRUE(kmirror::kafka::wait_until(
        [&] {
          return stored_positions(b(), id, topic, kPartitions) ==
                 end_offsets(a(), topic, kPartitions);
        },
        90s, 500ms))
        << km.output();
    ASSERT_EQ(km.terminate(), 0) << km.output();
  }
  // Records produced while no kmirror runs are the lag.
  auto second = kmirror::testing::make_records(12, 30, kPartitions);
  kmirror::testing::produce(a(), topic, second);
  const auto stored = stored_positions(b(), id, topic, kPartitions);
  const auto ends = end_offsets(a(), topic, kPartitions);

  const fs::path dir = kmirror::harness::make_temp_dir("status-offline");
  const std::string path = (dir / "kmirror.yaml").string();
  std::ofstream(path) << yaml;
  const std::string nobody = "http://127.0.0.1:1";  // nothing listens on port 1
  std::string out;
  ASSERT_EQ(
      KmirrorProcess::run_to_end({"status", "--url", nobody, "--config", path, "--json"}, out, 60s),
      0)
      << out;
  json doc = json::parse(out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << out;
  EXPECT_EQ(doc["source"], "clusters");
  json f = flow_of(doc, id);
  ASSERT_FALSE(f.is_null()) << doc.dump(2);
  EXPECT_TRUE(f["error"].is_null()) << f.dump(2);
  EXPECT_EQ(f["lag"], 30);
  ASSERT_EQ(f["partitions"].size(), static_cast<size_t>(kPartitions)) << f.dump(2);
  for (const auto& p : f["partitions"]) {
    const int32_t part = p["partition"];
    EXPECT_EQ(p["topic"], topic);
    EXPECT_EQ(p["position"], stored.at(part));
    EXPECT_EQ(p["source_end"], ends.at(part));
    EXPECT_EQ(p["lag"], ends.at(part) - stored.at(part));
  }

  EXPECT_EQ(KmirrorProcess::run_to_end({"status", "--url", nobody, "--config", path}, out, 60s), 0)
      << out;
  EXPECT_NE(out.find("no kmirror answers at " + nobody), std::string::npos) << out;
  EXPECT_NE(out.find("flow " + id + ": a -> b, lag 30"), std::string::npos) << out;
  EXPECT_NE(out.find(topic), std::string::npos) << out;
  EXPECT_EQ(KmirrorProcess::run_to_end(
                {"status", "--from-clusters", "--config", path, "--flow", "nope"}, out, 60s),
            2)
      << out;
  fs::remove_all(dir);
}

}  // namespace
