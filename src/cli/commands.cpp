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

#include "config/config.h"
#include "harness/kafka_cluster.h"
#include "kafka/admin.h"
#include "kafka/client.h"
#include "observe/http_server.h"
#include "replicate/flow.h"

namespace kmirror::cli {

using namespace std::chrono_literals;

namespace {

// Runs flows, each on its own thread, until `stop` or until one fails.
class FlowSet {
 public:
  explicit FlowSet(const config::Config& cfg) {
    for (const auto& f : cfg.flows) flows_.push_back(std::make_unique<replicate::Flow>(cfg, f));
  }

  // Throws when a cluster cannot be reached.
  void connect() {
    for (auto& f : flows_) f->connect();
  }

  void start() {
    for (auto& f : flows_) {
      threads_.emplace_back([this, flow = f.get()] {
        try {
          flow->run(stop_flows_);
        } catch (const std::exception& e) {
          spdlog::error("flow {}: failed: {}", flow->status().id, e.what());
          failed_ = true;
          stop_flows_ = true;
        }
      });
    }
  }

  // Blocks until `stop` is set or a flow fails; then stops the rest cleanly.
  bool wait(const std::atomic<bool>& stop) {
    while (!stop && !failed_) std::this_thread::sleep_for(100ms);
    stop_flows_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
    return !failed_;
  }

  std::vector<replicate::FlowStatus> status() const {
    std::vector<replicate::FlowStatus> out;
    for (const auto& f : flows_) out.push_back(f->status());
    return out;
  }

 private:
  std::vector<std::unique_ptr<replicate::Flow>> flows_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_flows_{false};
  std::atomic<bool> failed_{false};
};

// Positions, maps and state are stored once the flows stopped; what remains is freeing
// librdkafka's handles, which in 2.0 can hang for good after a subscribed topic was deleted
// (librdkafka issue 4362). A watchdog bounds it so a stop request always ends the process.
void exit_if_teardown_hangs(int exit_code, std::chrono::seconds bound) {
  std::thread([exit_code, bound] {
    std::this_thread::sleep_for(bound);
    spdlog::warn("librdkafka did not release its clients within {} s of stopping (a known "
                 "librdkafka 2.0 hang after a topic deletion); exiting anyway: everything is "
                 "stored",
                 bound.count());
    spdlog::default_logger()->flush();
    std::fflush(nullptr);
    std::_Exit(exit_code);
  }).detach();
}

int connect_or_explain(FlowSet& flows) {
  try {
    flows.connect();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "kmirror: " << e.what() << std::endl;
    return 3;
  }
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

namespace {

// The demo's sample application: writes `orders` records at a steady rate.
class SampleProducer {
 public:
  // Stops producing and waits until every record is acknowledged.
  void finish() {
    if (stop_.exchange(true)) return;
    thread_.join();
    rd_kafka_flush(producer_.get(), 10000);
  }
  SampleProducer(const std::string& bootstrap, int rate) : rate_(rate) {
    producer_ = kafka::make_client(
        kafka::ClientKind::kProducer,
        {{"bootstrap.servers", bootstrap}, {"linger.ms", "5"}, {"enable.idempotence", "true"}});
    thread_ = std::thread([this] { loop(); });
  }
  ~SampleProducer() { finish(); }
  uint64_t produced() const { return produced_; }

 private:
  void loop() {
    auto start = std::chrono::steady_clock::now();
    uint64_t n = 0;
    while (!stop_) {
      auto due = static_cast<uint64_t>(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() * rate_);
      while (n < due && !stop_) {
        std::string key = "customer-" + std::to_string(n % 97);
        std::string value = R"({"order":)" + std::to_string(n) + R"(,"amount":)" +
                            std::to_string((n * 37) % 1000) + "}";
        auto err = rd_kafka_producev(
            producer_.get(), RD_KAFKA_V_TOPIC("orders"), RD_KAFKA_V_KEY(key.data(), key.size()),
            RD_KAFKA_V_VALUE(value.data(), value.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADER("app", "demo", 4), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) break;
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
          ++n;
          ++produced_;
        }
      }
      rd_kafka_poll(producer_.get(), 10);
    }
  }

  kafka::KafkaPtr producer_;
  int rate_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> produced_{0};
  std::thread thread_;
};

uint64_t count_topic(const std::string& bootstrap, const std::string& topic) {
  auto client =
      kafka::make_client(kafka::ClientKind::kProducer, {{"bootstrap.servers", bootstrap}});
  auto md = kafka::fetch_metadata(client.get(), 10s, topic);
  uint64_t total = 0;
  for (const auto& t : md.topics) {
    for (const auto& p : t.partitions) {
      auto w = kafka::query_watermarks(client.get(), topic, p.id, 10s);
      total += static_cast<uint64_t>(w.high - w.low);
    }
  }
  return total;
}

}  // namespace

int demo_command(const DemoOptions& options, const std::atomic<bool>& stop) {
  std::cout
      << "kmirror demo: starting two local Apache Kafka clusters (regions us-east and eu-west)..."
      << std::endl;
  harness::ClusterOptions cluster_options;
  cluster_options.jvm_heap = "512m";
  harness::Regions regions(2, cluster_options, {"us-east", "eu-west"});
  const std::string primary = regions[0].bootstrap();
  const std::string secondary = regions[1].bootstrap();
  std::cout << "  us-east (primary)   " << primary << "\n  eu-west (secondary) " << secondary
            << std::endl;

  {
    auto admin_client =
        kafka::make_client(kafka::ClientKind::kProducer, {{"bootstrap.servers", primary}});
    kafka::Admin admin(admin_client.get());
    auto res =
        admin.create_topics({kafka::NewTopic{"orders", 6, 1, {{"retention.ms", "86400000"}}}});
    if (!res.empty() && res[0].code != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("cannot create the demo topic: " + res[0].error);
    }
  }

  config::Config cfg = config::load_string(
      "clusters:\n"
      "  - name: us-east\n    bootstrap_servers: \"" +
          primary +
          "\"\n"
          "  - name: eu-west\n    bootstrap_servers: \"" +
          secondary +
          "\"\n"
          "flows:\n"
          "  - source: us-east\n    target: eu-west\n    sync_interval: 5s\n",
      "<demo>");
  SampleProducer producer(primary, options.rate);
  FlowSet flows(cfg);
  if (int rc = connect_or_explain(flows); rc != 0) return rc;
  flows.start();
  std::cout
      << "replicating us-east -> eu-west with identical topic names (Ctrl-C stops and cleans up)"
      << std::endl;
  // The dashboard on the usual port, or any free one when something else holds it.
  std::unique_ptr<observe::HttpServer> http;
  for (const char* bind : {"127.0.0.1:9644", "127.0.0.1:0"}) {
    try {
      config::HttpConfig http_config;
      http_config.bind = bind;
      http = std::make_unique<observe::HttpServer>(
          http_config, [&flows] { return flows.status(); }, KMIRROR_VERSION);
      http->start();
      std::cout << "dashboard: " << http->url() << "  (metrics: " << http->url() << "metrics)"
                << std::endl;
      break;
    } catch (const std::exception& e) {
      spdlog::warn("demo: no dashboard on {}: {}", bind, e.what());
    }
  }

  std::atomic<bool> demo_stop{false};
  auto started = std::chrono::steady_clock::now();
  std::thread ticker([&] {
    while (!stop && !demo_stop) {
      std::this_thread::sleep_for(1s);
      auto st = flows.status().front();
      auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::steady_clock::now() - started);
      std::cout << "[" << elapsed.count() << "s] state=" << st.state
                << " produced=" << producer.produced() << " replicated=" << st.replicated
                << " lag=" << st.lag << std::endl;
      if (options.duration_s > 0 && elapsed.count() >= options.duration_s) demo_stop = true;
    }
  });
  while (!stop && !demo_stop) std::this_thread::sleep_for(100ms);
  demo_stop = true;
  ticker.join();
  // Let replication catch up with the last records before stopping the flow.
  producer.finish();
  kafka::wait_until([&] { return flows.status().front().lag == 0; }, 15s, 200ms);
  std::atomic<bool> now{true};
  bool ok = flows.wait(now);
  if (http) http->stop();
  auto st = flows.status().front();
  uint64_t on_primary = count_topic(primary, "orders");
  uint64_t on_secondary = count_topic(secondary, "orders");
  nlohmann::json summary = {{"produced", producer.produced()},
                            {"replicated", st.replicated},
                            {"primary_records", on_primary},
                            {"secondary_records", on_secondary},
                            {"ok", ok}};
  std::cout << "summary: " << summary.dump() << std::endl;
  if (!options.summary_file.empty()) std::ofstream(options.summary_file) << summary.dump(2) << "\n";
  return ok ? 0 : 1;
}

}  // namespace kmirror::cli
