#include "observe/http_server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <thread>

#include "observe/events.h"
#include "observe/status_json.h"
#include "observe/web_assets.h"

namespace kmirror::observe {

namespace {

constexpr size_t kMaxTokenBytes = 4096;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Splits "host:port" / "[v6]:port" (validated by the config loader) into a host getaddrinfo
// takes and the port.
std::pair<std::string, int> split_bind(const std::string& bind) {
  size_t colon = bind.rfind(':');
  if (colon == std::string::npos) return {bind, 0};
  std::string host = bind.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return {host, std::atoi(bind.c_str() + colon + 1)};
}

std::string trim(std::string s) {
  auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!s.empty() && space(s.back())) s.pop_back();
  size_t start = 0;
  while (start < s.size() && space(s[start])) ++start;
  return s.substr(start);
}

// A token goes into an HTTP header: one line of printable characters.
void check_token(const std::string& token, const std::string& origin) {
  if (token.empty()) {
    throw config::ConfigError(origin + " is empty; put the bearer token in it");
  }
  if (token.size() > kMaxTokenBytes) {
    throw config::ConfigError(origin + " is longer than 4096 bytes; use a shorter token");
  }
  for (unsigned char c : token) {
    if (c <= 0x20 || c >= 0x7f) {
      throw config::ConfigError(origin +
                                " holds spaces, line breaks or non-ASCII characters; a token "
                                "must be one word of printable ASCII");
    }
  }
}

// Same time whatever the content, so a wrong guess learns nothing from how long it took.
bool equal_constant_time(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

bool starts_with_ci(const std::string& s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

}  // namespace

bool is_loopback_bind(const std::string& bind) {
  auto [host, port] = split_bind(bind);
  (void)port;
  if (host == "localhost") return true;
  // Numeric addresses only: a name such as "127.example.com" may resolve anywhere.
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

std::optional<std::string> resolve_token(const config::HttpConfig& http) {
  std::optional<std::string> token;
  if (!http.token_file.empty()) {
    const std::string origin = "http.token_file '" + http.token_file + "'";
    std::ifstream in(http.token_file, std::ios::binary);
    if (!in) {
      throw config::ConfigError("cannot read " + origin +
                                "; check the path and that kmirror may read it");
    }
    std::string text(kMaxTokenBytes + 2, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(in.gcount()));
    token = trim(text);
    check_token(*token, origin);
    struct stat st {};
    if (::stat(http.token_file.c_str(), &st) == 0 && (st.st_mode & S_IROTH) != 0) {
      spdlog::warn("http: token file {} is readable by every user; chmod 600 it", http.token_file);
    }
  } else if (const char* env = std::getenv(kTokenEnv); env != nullptr && *env != '\0') {
    token = trim(env);
    check_token(*token, std::string("the ") + kTokenEnv + " environment variable");
  }
  if (!token && !is_loopback_bind(http.bind)) {
    throw config::ConfigError(
        "http.bind " + http.bind +
        " accepts connections from other machines, so the HTTP endpoints need a bearer token, "
        "and none is set; put one in a file named by http.token_file or in the " +
        kTokenEnv + " environment variable, or bind to 127.0.0.1");
  }
  return token;
}

struct HttpServer::Impl {
  Impl(const config::HttpConfig& http, StatusSource src, const std::string& ver)
      : source(std::move(src)), version(ver), metrics(source, ver), bind(http.bind) {
    token = resolve_token(http);
    std::tie(host, port) = split_bind(http.bind);
    // httplib's default sets SO_REUSEPORT, which would let a second kmirror share the port.
    server.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    server.set_read_timeout(5, 0);
    server.set_write_timeout(5, 0);
    server.set_payload_max_length(64 * 1024);
    routes();
    bool bound = false;
    if (port == 0) {
      port = server.bind_to_any_port(host);
      bound = port > 0;
    } else {
      bound = server.bind_to_port(host, port);
    }
    if (!bound) {
      throw config::ConfigError("cannot listen on http.bind " + http.bind +
                                " (is another process using the port, or is the address not "
                                "one of this machine's?); change http.bind, or set "
                                "http.enabled: false");
    }
  }

  // Public: liveness, and the dashboard's static files (they hold no data).
  bool needs_token(const std::string& path) const {
    if (!token || path == "/healthz" || path == "/") return false;
    for (const auto& a : web_assets()) {
      if (a.path == path) return false;
    }
    return true;
  }

  bool authorized(const httplib::Request& req) const {
    const std::string header = req.get_header_value("Authorization");
    if (!starts_with_ci(header, "bearer ")) return false;
    return equal_constant_time(trim(header.substr(7)), *token);
  }

  static void json_reply(httplib::Response& res, int code, const nlohmann::json& body) {
    res.status = code;
    res.set_header("Cache-Control", "no-store");
    res.set_content(body.dump(), "application/json");
  }

  void routes() {
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      res.set_header("X-Content-Type-Options", "nosniff");
      if (!needs_token(req.path) || authorized(req))
        return httplib::Server::HandlerResponse::Unhandled;
      res.set_header("WWW-Authenticate", "Bearer realm=\"kmirror\"");
      json_reply(res, 401,
                 {{"error",
                   "a bearer token is required: send 'Authorization: Bearer <token>' "
                   "with the token of http.token_file or " +
                       std::string(kTokenEnv)}});
      return httplib::Server::HandlerResponse::Handled;
    });

    for (const auto& asset : web_assets()) {
      auto serve = [&asset](const httplib::Request&, httplib::Response& res) {
        res.set_header("Cache-Control", "no-cache");
        if (asset.content_type.starts_with("text/html")) {
          res.set_header("Content-Security-Policy",
                         "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                         "base-uri 'none'; frame-ancestors 'none'");
          res.set_header("Referrer-Policy", "no-referrer");
        }
        res.set_content(asset.body.data(), asset.body.size(), std::string(asset.content_type));
      };
      server.Get(std::string(asset.path), serve);
      if (asset.path == "/index.html") server.Get("/", serve);
    }

    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-store");
      res.set_content(metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
    });
    server.Get("/status", [this](const httplib::Request&, httplib::Response& res) {
      json_reply(res, 200, status_json(source(), events.recent(), version, now_ms()));
    });
    server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      json_reply(res, 200, {{"alive", true}});
    });
    server.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
      Readiness r = readiness(source());
      json_reply(res, r.ready ? 200 : 503, {{"ready", r.ready}, {"reasons", r.reasons}});
    });
    server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (res.status == 404) {
        json_reply(res, 404,
                   {{"error", "no such endpoint: " + req.path +
                                  "; try /, /status, /metrics, /healthz or /readyz"}});
      }
    });
    server.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      spdlog::debug("http: {} {} -> {}", req.method, req.path, res.status);
    });
  }

  // Derives events every second, whether or not anyone is polling.
  void sample_loop() {
    std::unique_lock lk(mu);
    while (!stopping) {
      lk.unlock();
      events.observe(source(), now_ms());
      lk.lock();
      cv.wait_for(lk, std::chrono::seconds(1), [this] { return stopping; });
    }
  }

  StatusSource source;
  std::string version;
  Metrics metrics;
  EventLog events;
  std::string bind;
  std::optional<std::string> token;
  std::string host;
  int port = 0;
  httplib::Server server;
  std::thread listener;
  std::atomic<bool> listen_done{false};
  std::thread sampler;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
};

HttpServer::HttpServer(const config::HttpConfig& http, StatusSource source,
                       const std::string& version)
    : impl_(std::make_unique<Impl>(http, std::move(source), version)) {}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::start() {
  if (impl_->listener.joinable()) return;
  impl_->sampler = std::thread([this] { impl_->sample_loop(); });
  impl_->listener = std::thread([this] {
    if (!impl_->server.listen_after_bind()) spdlog::error("http: the server stopped unexpectedly");
    impl_->listen_done = true;
  });
  spdlog::info("http: dashboard at {}, metrics at {}metrics{}", url(), url(),
               impl_->token ? " (bearer token required)" : "");
}

void HttpServer::stop() {
  {
    std::lock_guard lk(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->sampler.joinable()) impl_->sampler.join();
  if (impl_->listener.joinable()) {
    // httplib's stop() is a no-op until listen_after_bind() has marked the server running.
    while (!impl_->server.is_running() && !impl_->listen_done) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    impl_->server.stop();
    impl_->listener.join();
  }
}

int HttpServer::port() const {
  return impl_->port;
}

std::string HttpServer::url() const {
  std::string host = impl_->host;
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(impl_->port) + "/";
}

}  // namespace kmirror::observe
