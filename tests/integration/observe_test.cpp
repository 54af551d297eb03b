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
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "harness/kafka_cluster.h"
#include "kafka/client.h"
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
                                    "kmirror_last_topic_sync_timestamp_ms",
                                    "kmirror_last_position_store_timestamp_ms",
                                    "kmirror_partition_stopped",
                                    "kmirror_consumer_groups_synced",
                                    "kmirror_last_group_sync_timestamp_ms",
                                    "kmirror_flow_state",
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
               f["partitions"].size() == kPartitions;
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
  bool event_seen = false;
  for (const auto& e : during["events"]) {
    if (e["kind"] == "reachability" && e["level"] == "error") event_seen = true;
  }
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

}  // namespace
