// A TCP proxy that injects network faults between Kafka clients and a broker: cut the link
// (every connection closed, new ones refused) and restore it, or delay every byte each way.
// Tests use it where netem is unavailable. It listens on 127.0.0.1 and forwards on a thread of
// its own (poll); a delay holds each chunk read until its time has come (timestamped
// buffering), so the pipe keeps streaming at the same throughput, only later.
//
// Kafka clients connect to the addresses brokers advertise in metadata, not only to the
// bootstrap address: a broker behind the proxy must advertise the proxy's port
// (ClusterOptions::advertised_port), so every connection goes through it:
//
//   FaultProxy proxy;                                  // picks its port, no upstream yet
//   ClusterOptions opts;
//   opts.advertised_port = proxy.port();
//   KafkaCluster cluster(runtime, opts, dir);          // single broker
//   cluster.start();                                   // readiness checked on the real port
//   proxy.set_upstream("127.0.0.1", real broker port); // from cluster.bootstrap()
//   ... clients use proxy.address() ...
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace kmirror::harness {

class FaultProxy {
 public:
  // Listens on a free loopback port. Until set_upstream(), connections are accepted and reset.
  FaultProxy();
  FaultProxy(std::string upstream_host, int upstream_port);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Where new connections go (existing ones keep their upstream). "host:port" also accepted
  // as `host` with `port` 0, e.g. the first entry of KafkaCluster::bootstrap().
  void set_upstream(std::string host, int port);

  // Resets every open connection and refuses new ones (accepted, then reset at once: the port
  // stays ours) until restore(). Returns once every connection is closed.
  void cut();
  void restore();
  bool is_cut() const;

  // Delay added to every byte in each direction, for data read from now on.
  void set_delay(std::chrono::milliseconds each_way);

  // Statistics: connections accepted and forwarded, connections refused or reset, bytes
  // forwarded in both directions.
  uint64_t connections_accepted() const { return accepted_.load(); }
  uint64_t connections_refused() const { return refused_.load(); }
  uint64_t bytes_forwarded() const { return bytes_.load(); }
  size_t open_connections() const { return open_.load(); }

 private:
  struct Loop;
  void wake() const;
  void run();

  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};
  int port_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string upstream_host_;
  int upstream_port_ = 0;
  uint64_t upstream_version_ = 0;
  bool cut_ = false;
  uint64_t cut_requests_ = 0;  // cut() calls; the loop acknowledges each in cut_done_
  uint64_t cut_done_ = 0;
  std::chrono::milliseconds delay_{0};
  bool stop_ = false;

  std::atomic<uint64_t> accepted_{0}, refused_{0}, bytes_{0};
  std::atomic<size_t> open_{0};
  std::thread thread_;
};

}  // namespace kmirror::harness
