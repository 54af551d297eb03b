// kmirror-harness: starts local Kafka clusters for manual runs, benchmarks and scripts, prints
// their bootstrap servers, and stops them (removing their data) on Ctrl-C or SIGTERM.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <sstream>

#include "harness/kafka_cluster.h"

int main(int argc, char** argv) {
  CLI::App app{"Start local Apache Kafka clusters (KRaft, jars from Maven Central)"};
  int count = 2;
  int brokers = 1;
  std::string names = "primary,secondary";
  std::string env_file;
  bool resolve_only = false;
  app.add_option("--clusters", count, "How many independent clusters")->check(CLI::Range(1, 8));
  app.add_option("--brokers", brokers, "Brokers per cluster")->check(CLI::Range(1, 5));
  app.add_option("--names", names, "Comma-separated cluster names");
  app.add_option("--env-file", env_file, "Write NAME_BOOTSTRAP=host:port lines here when ready");
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
    kmirror::harness::Regions regions(count, opts, list);
    std::ofstream env;
    if (!env_file.empty()) env.open(env_file + ".tmp");
    for (size_t i = 0; i < regions.size(); ++i) {
      std::cout << regions[i].name() << " " << regions[i].bootstrap() << std::endl;
      if (env.is_open()) {
        std::string key = regions[i].name();
        for (auto& c : key) c = std::isalnum(static_cast<unsigned char>(c)) ? std::toupper(c) : '_';
        env << key << "_BOOTSTRAP=" << regions[i].bootstrap() << "\n";
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
