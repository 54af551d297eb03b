#include "harness/fault_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <list>
#include <stdexcept>
#include <vector>

namespace kmirror::harness {
namespace {

using Clock = std::chrono::steady_clock;

// Bytes read but not yet written, per direction: reading stops above it (backpressure).
constexpr size_t kMaxBuffered = 8 << 20;
constexpr size_t kReadSize = 64 << 10;

void set_nonblocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
}

// Closes with a TCP reset rather than a FIN: the peer sees a broken link, not an orderly end.
void reset_close(int fd) {
  if (fd < 0) return;
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  close(fd);
}

struct Chunk {
  Clock::time_point due;
  std::string data;
  size_t sent = 0;
};

// One direction of a connection: bytes read from one socket, waiting to be written to the other.
struct Direction {
  std::deque<Chunk> queue;
  size_t buffered = 0;
  bool eof = false;       // the reading side ended (orderly)
  bool shut = false;      // EOF passed on: shutdown(SHUT_WR) done on the writing side
  bool read_hup = false;  // POLLHUP seen on the reading socket

  bool want_read() const { return !eof && buffered < kMaxBuffered; }
  bool due(Clock::time_point now) const { return !queue.empty() && queue.front().due <= now; }
};

struct Conn {
  int client = -1;
  int upstream = -1;
  bool connecting = true;
  bool dead = false;
  Direction up;    // client -> upstream
  Direction down;  // upstream -> client
};

// Resolves host:port to an IPv4/IPv6 socket address; false when it does not resolve.
bool resolve(const std::string& host, int port, sockaddr_storage& out, socklen_t& len) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 ||
      res == nullptr) {
    return false;
  }
  std::memcpy(&out, res->ai_addr, res->ai_addrlen);
  len = res->ai_addrlen;
  freeaddrinfo(res);
  return true;
}

}  // namespace

// The state only the loop thread touches.
struct FaultProxy::Loop {
  std::list<Conn> conns;
  sockaddr_storage upstream{};
  socklen_t upstream_len = 0;
  bool have_upstream = false;
  uint64_t upstream_version = 0;
};

FaultProxy::FaultProxy() {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("fault proxy: socket() failed");
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, 256) != 0) {
    close(listen_fd_);
    throw std::runtime_error(std::string("fault proxy: cannot listen on 127.0.0.1: ") +
                             std::strerror(errno));
  }
  socklen_t len = sizeof(addr);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  set_nonblocking(listen_fd_);
  if (pipe2(wake_fds_, O_NONBLOCK | O_CLOEXEC) != 0) {
    close(listen_fd_);
    throw std::runtime_error("fault proxy: pipe2() failed");
  }
  thread_ = std::thread([this] { run(); });
}

FaultProxy::FaultProxy(std::string upstream_host, int upstream_port) : FaultProxy() {
  set_upstream(std::move(upstream_host), upstream_port);
}

FaultProxy::~FaultProxy() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  wake();
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
  close(wake_fds_[0]);
  close(wake_fds_[1]);
}

void FaultProxy::wake() const {
  char c = 1;
  [[maybe_unused]] ssize_t n = write(wake_fds_[1], &c, 1);
}

void FaultProxy::set_upstream(std::string host, int port) {
  if (port == 0) {
    // "host:port[,more]": the first address.
    host = host.substr(0, host.find(','));
    auto colon = host.rfind(':');
    if (colon == std::string::npos) throw std::invalid_argument("fault proxy: no port in " + host);
    port = std::stoi(host.substr(colon + 1));
    host = host.substr(0, colon);
  }
  {
    std::lock_guard lk(mu_);
    upstream_host_ = std::move(host);
    upstream_port_ = port;
    ++upstream_version_;
  }
  wake();
}

void FaultProxy::cut() {
  std::unique_lock lk(mu_);
  cut_ = true;
  uint64_t request = ++cut_requests_;
  wake();
  cv_.wait(lk, [&] { return cut_done_ >= request || stop_; });
}

void FaultProxy::restore() {
  {
    std::lock_guard lk(mu_);
    cut_ = false;
  }
  wake();
}

bool FaultProxy::is_cut() const {
  std::lock_guard lk(mu_);
  return cut_;
}

void FaultProxy::set_delay(std::chrono::milliseconds each_way) {
  {
    std::lock_guard lk(mu_);
    delay_ = each_way;
  }
  wake();
}

void FaultProxy::run() {
  Loop loop;
  std::vector<pollfd> fds;
  std::vector<char> buf(kReadSize);

  auto close_conn = [&](Conn& c) {
    reset_close(c.client);
    reset_close(c.upstream);
    c.client = c.upstream = -1;
    c.dead = true;
  };

  // Reads what `from` offers into `dir` (all of it when the socket hung up, so nothing sent
  // before the hang-up is lost). Marks the connection dead on a read error.
  auto read_side = [&](Conn& c, int from, Direction& dir, Clock::time_point due) {
    while (dir.want_read() || (dir.read_hup && !dir.eof)) {
      ssize_t n = recv(from, buf.data(), buf.size(), 0);
      if (n > 0) {
        dir.queue.push_back(Chunk{due, std::string(buf.data(), static_cast<size_t>(n))});
        dir.buffered += static_cast<size_t>(n);
        if (static_cast<size_t>(n) < buf.size()) return;
        continue;
      }
      if (n == 0) {
        dir.eof = true;
        return;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) c.dead = true;
      return;
    }
  };

  // Writes the chunks of `dir` that are due to `to`; passes an EOF on once everything before
  // it was written.
  auto write_side = [&](Conn& c, int to, Direction& dir, Clock::time_point now) {
    while (dir.due(now)) {
      Chunk& chunk = dir.queue.front();
      ssize_t n =
          send(to, chunk.data.data() + chunk.sent, chunk.data.size() - chunk.sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) c.dead = true;
        return;
      }
      chunk.sent += static_cast<size_t>(n);
      dir.buffered -= static_cast<size_t>(n);
      bytes_ += static_cast<uint64_t>(n);
      if (chunk.sent < chunk.data.size()) return;
      dir.queue.pop_front();
    }
    if (dir.eof && dir.queue.empty() && !dir.shut) {
      shutdown(to, SHUT_WR);
      dir.shut = true;
    }
  };

  auto accept_all = [&](bool refuse) {
    while (true) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR) continue;
        return;  // EAGAIN, or a transient error (EMFILE...): retried on the next wake-up
      }
      if (refuse || !loop.have_upstream) {
        reset_close(fd);
        ++refused_;
        continue;
      }
      int up = socket(loop.upstream.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (up < 0) {
        reset_close(fd);
        ++refused_;
        continue;
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      setsockopt(up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      int rc = connect(up, reinterpret_cast<sockaddr*>(&loop.upstream), loop.upstream_len);
      if (rc != 0 && errno != EINPROGRESS) {
        // The broker is down: the client sees its connection reset, as with a dead broker.
        reset_close(up);
        reset_close(fd);
        ++refused_;
        continue;
      }
      Conn c;
      c.client = fd;
      c.upstream = up;
      c.connecting = rc != 0;
      loop.conns.push_back(std::move(c));
      ++accepted_;
    }
  };

  while (true) {
    bool refuse = false;
    bool cut_now = false;
    std::chrono::milliseconds delay{0};
    {
      std::unique_lock lk(mu_);
      if (stop_) break;
      refuse = cut_;
      delay = delay_;
      cut_now = cut_done_ < cut_requests_;
      if (upstream_version_ != loop.upstream_version) {
        loop.upstream_version = upstream_version_;
        loop.have_upstream =
            resolve(upstream_host_, upstream_port_, loop.upstream, loop.upstream_len);
      }
    }
    if (cut_now) {
      for (auto& c : loop.conns) close_conn(c);
      loop.conns.clear();
      open_ = 0;
      accept_all(true);  // refuse whatever waits in the backlog too
      {
        std::lock_guard lk(mu_);
        cut_done_ = cut_requests_;
      }
      cv_.notify_all();
    }

    // Poll set: the wake pipe, the listener, then client and upstream of each connection.
    auto now = Clock::now();
    Clock::time_point next_due = Clock::time_point::max();
    fds.clear();
    fds.push_back({wake_fds_[0], POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    auto add = [&](int fd, short events, bool hup) {
      // A hung-up socket we want nothing from would report POLLHUP forever: leave it out.
      fds.push_back({(events == 0 && hup) ? -1 : fd, events, 0});
    };
    for (auto& c : loop.conns) {
      for (Direction* d : {&c.up, &c.down}) {
        if (!d->queue.empty() && d->queue.front().due > now)
          next_due = std::min(next_due, d->queue.front().due);
      }
      short ce = 0, ue = 0;
      if (c.connecting) {
        ue = POLLOUT;
        ce = c.up.want_read() ? POLLIN : 0;
      } else {
        if (c.up.want_read()) ce |= POLLIN;
        if (c.down.due(now)) ce |= POLLOUT;
        if (c.down.want_read()) ue |= POLLIN;
        if (c.up.due(now)) ue |= POLLOUT;
      }
      add(c.client, ce, c.up.read_hup);
      add(c.upstream, ue, c.down.read_hup);
    }
    int timeout = -1;
    if (next_due != Clock::time_point::max()) {
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_due - now) +
                  std::chrono::milliseconds(1);
      timeout = static_cast<int>(std::max<int64_t>(0, wait.count()));
    }
    int n = poll(fds.data(), fds.size(), timeout);
    if (n < 0 && errno != EINTR) break;
    if (n < 0) continue;

    if (fds[0].revents & POLLIN) {
      char drain[64];
      while (read(wake_fds_[0], drain, sizeof(drain)) > 0) {
      }
    }
    if (fds[1].revents & POLLIN) accept_all(refuse);

    now = Clock::now();
    Clock::time_point due = now + delay;
    size_t i = 2;
    for (auto it = loop.conns.begin(); it != loop.conns.end(); i += 2) {
      Conn& c = *it;
      // Connections accepted in this pass have no poll entry yet.
      if (i >= fds.size()) {
        ++it;
        continue;
      }
      short cr = fds[i].revents, ur = fds[i + 1].revents;
      if ((cr & POLLERR) || (ur & POLLERR && !c.connecting)) c.dead = true;
      if (!c.dead && c.connecting && ur != 0) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c.upstream, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          c.dead = true;
        } else {
          c.connecting = false;
          ur = 0;
        }
      }
      if (!c.dead) {
        if (cr & POLLHUP) c.up.read_hup = true;
        if (!c.connecting && (ur & POLLHUP)) c.down.read_hup = true;
        if (cr & (POLLIN | POLLHUP)) read_side(c, c.client, c.up, due);
        if (!c.connecting && (ur & (POLLIN | POLLHUP))) read_side(c, c.upstream, c.down, due);
      }
      if (!c.dead && !c.connecting) {
        write_side(c, c.upstream, c.up, now);
        write_side(c, c.client, c.down, now);
      }
      // A socket that hung up without an orderly end (EOF) was reset.
      if (c.down.read_hup && !c.down.eof) c.dead = true;
      if (c.up.read_hup && !c.up.eof) c.dead = true;
      bool finished = c.up.shut && c.down.shut;
      if (c.dead) {
        close_conn(c);
      } else if (finished) {
        close(c.client);
        close(c.upstream);
        c.client = c.upstream = -1;
      }
      if (c.client < 0) {
        it = loop.conns.erase(it);
      } else {
        ++it;
      }
    }
    open_ = loop.conns.size();
  }
  for (auto& c : loop.conns) close_conn(c);
  open_ = 0;
  {
    std::lock_guard lk(mu_);
    cut_done_ = cut_requests_;
  }
  cv_.notify_all();
}

}  // namespace kmirror::harness
