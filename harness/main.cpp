// kmirror-harness: starts local Kafka clusters for manual runs, benchmarks and scripts, prints
// their bootstrap servers, and stops them (removing their data) on Ctrl-C or SIGTERM.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <utility>
#include <vector>

#include "harness/fault_proxy.h"
#include "harness/kafka_cluster.h"

int main(int argc, char** argv) {
  CLI::App app{"Start local Apache Kafka clusters (KRaft, jars from Maven Central)"};
  int count = 2;
  int brokers = 1;
  std::string names = "primary,secondary";
  std::string env_file;
  bool resolve_only = false;
  std::string delayed;
  int delay_ms = 40;
  std::vector<std::string> broker_properties;
  app.add_option("--clusters", count, "How many independent clusters")->check(CLI::Range(1, 8));
  app.add_option("--brokers", brokers, "Brokers per cluster")->check(CLI::Range(1, 5));
  app.add_option("--names", names, "Comma-separated cluster names");
  app.add_option("--env-file", env_file, "Write NAME_BOOTSTRAP=host:port lines here when ready");
  app.add_option("--delayed", delayed,
                 "Also start this single-broker cluster behind a delaying TCP proxy (a long link)");
  app.add_option("--delay-ms", delay_ms, "Delay each way of --delayed, in ms")
      ->check(CLI::Range(0, 10000));
  app.add_option("--broker-property", broker_properties,
                 "KEY=VALUE added to every broker's server.properties (repeatable)")
      ->check([](const std::string& kv) {
        const auto eq = kv.find('=');
        return eq != std::string::npos && eq > 0
                   ? std::string()
                   : "expected KEY=VALUE, e.g. file.delete.delay.ms=0";
      });
  app.add_flag("--resolve-only", resolve_only, "Only download the Kafka jars into the cache");
  CLI11_PARSE(app, argc, argv);

  try {
    if (resolve_only) {
      auto rt = kmirror::harness::KafkaRuntime::resolve();
      std::cout << "Apache Kafka " << rt.version << " jars ready" << std::endl;
      return 0;
    }
    std::vector<std::string> list;
    std::stringstream ss(names);
    for (std::string n; std::getline(ss, n, ',');) list.push_back(n);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    kmirror::harness::ClusterOptions opts;
    opts.brokers = brokers;
    for (const auto& kv : broker_properties) {
      const auto eq = kv.find('=');
      opts.broker_properties[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    kmirror::harness::Regions regions(count, opts, list);
    // The delayed cluster advertises the proxy's port, so every client connection (bootstrap
    // and the broker's own address from metadata) goes through the delay.
    std::unique_ptr<kmirror::harness::FaultProxy> proxy;
    std::unique_ptr<kmirror::harness::KafkaCluster> far;
    if (!delayed.empty()) {
      proxy = std::make_unique<kmirror::harness::FaultProxy>();
      kmirror::harness::ClusterOptions fo;
      fo.name = delayed;
      fo.advertised_port = proxy->port();
      fo.broker_properties = opts.broker_properties;
      far = std::make_unique<kmirror::harness::KafkaCluster>(
          kmirror::harness::KafkaRuntime::resolve(), fo, regions.dir() / delayed);
      far->start();
      proxy->set_upstream(far->bootstrap(), 0);
      proxy->set_delay(std::chrono::milliseconds(delay_ms));
    }
    std::vector<std::pair<std::string, std::string>> bootstraps;
    for (size_t i = 0; i < regions.size(); ++i)
      bootstraps.emplace_back(regions[i].name(), regions[i].bootstrap());
    if (far) bootstraps.emplace_back(far->name(), proxy->address());
    std::ofstream env;
    if (!env_file.empty()) env.open(env_file + ".tmp");
    for (const auto& [name, bootstrap] : bootstraps) {
      std::cout << name << " " << bootstrap << std::endl;
      if (env.is_open()) {
        std::string key = name;
        for (auto& c : key) c = std::isalnum(static_cast<unsigned char>(c)) ? std::toupper(c) : '_';
        env << key << "_BOOTSTRAP=" << bootstrap << "\n";
      }
    }
    if (env.is_open()) {
      env.close();
      std::rename((env_file + ".tmp").c_str(), env_file.c_str());
    }
    std::cout << "ready (data in " << regions.dir().string() << "); Ctrl-C stops" << std::endl;
    int sig = 0;
    sigwait(&set, &sig);
    std::cout << "stopping" << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "kmirror-harness: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
