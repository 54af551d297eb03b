// kmirror's HTTP endpoints inside `kmirror run`: /metrics (Prometheus), /status (JSON),
// /healthz, /readyz and the dashboard at /. Bound beyond loopback, every endpoint but /healthz
// and the dashboard's static files requires a bearer token.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "config/config.h"
#include "observe/metrics.h"

namespace kmirror::observe {

// Environment variable holding the bearer token when http.token_file is not set.
inline constexpr const char* kTokenEnv = "KMIRROR_HTTP_TOKEN";

// True for 127.0.0.0/8, ::1 and localhost: only local processes can connect.
bool is_loopback_bind(const std::string& bind);

// The bearer token from http.token_file, else from KMIRROR_HTTP_TOKEN; nullopt when neither is
// set. Throws config::ConfigError when the file is unusable, or when the bind is not loopback
// and there is no token.
std::optional<std::string> resolve_token(const config::HttpConfig& http);

class HttpServer {
 public:
  // Resolves the token and binds the socket now, so a refused configuration or a taken port
  // fails before any cluster is contacted (config::ConfigError, exit code 2).
  HttpServer(const config::HttpConfig& http, StatusSource source, const std::string& version);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Serves on background threads until stop().
  void start();
  void stop();

  int port() const;
  // "http://<host>:<port>/" as bound (a wildcard host is shown as 127.0.0.1).
  std::string url() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kmirror::observe
