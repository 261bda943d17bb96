// Test-only "outside" hosts for the network tests (tests/security/net_*):
// the akt-* namespaces and addresses they share (MakeTestInternet), and
// servers inside them that count what reaches them (a denial is "nothing
// arrived", not only "the guest saw an error"). Root only.
//   akt-inet  198.18.0.1 (a public-range test address), also 198.18.0.3,
//             198.18.0.4, 198.18.0.53 and 198.18.0.129 (the operator's
//             --deny-cidr range 198.18.0.128/25); the host's end 198.18.0.2
//   akt-clus  10.213.0.1 (a private "cluster" address); the host's 10.213.0.2
//   aktdum0   a veth on the host with 198.51.100.7 (a public-looking host
//             address) and 169.254.213.7 (link-local, metadata-like)
#pragma once

#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "tests/testing/netns.h"

namespace aktest {

// Removes what MakeTestInternet makes (also a crashed run's leftovers).
void RemoveTestInternet();

// Makes the namespaces, links and addresses above and turns IPv4
// forwarding on, after RemoveTestInternet. *ret_forward gets the old
// ip_forward for RestoreForwarding. False with *error set when a step fails.
bool MakeTestInternet(std::string *ret_forward, std::string *error);

// Sets net.ipv4.ip_forward back (no-op for "").
void RestoreForwarding(const std::string &forward);

// One TCP+UDP echo server on addr:port inside netns (empty: ours).
class Echo {
 public:
  Echo(const std::string& netns, const std::string& addr, int port) : addr_(addr), port_(port) {
    tcp_ = SocketInNetns(netns, addr_, port_, SOCK_STREAM);
    udp_ = SocketInNetns(netns, addr_, port_, SOCK_DGRAM);
    if (tcp_ < 0 || udp_ < 0) {
      if (tcp_ >= 0) close(tcp_);
      if (udp_ >= 0) close(udp_);
      tcp_ = udp_ = -1;
    }
    if (ok()) serve_ = std::thread([this] { Serve(); });
  }
  ~Echo() {
    stop_ = true;
    if (serve_.joinable()) serve_.join();
    if (tcp_ >= 0) close(tcp_);
    if (udp_ >= 0) close(udp_);
  }
  bool ok() const { return tcp_ >= 0 && udp_ >= 0; }
  int tcp_hits() const { return tcp_hits_; }
  int udp_hits() const { return udp_hits_; }
  std::string where() const { return addr_ + ":" + std::to_string(port_); }

 private:
  void Serve() {
    while (!stop_) {
      struct pollfd p[2] = {{tcp_, POLLIN, 0}, {udp_, POLLIN, 0}};
      if (poll(p, 2, 100) <= 0) continue;
      char buf[512];
      if (p[0].revents & POLLIN) {
        int a = accept4(tcp_, nullptr, nullptr, SOCK_CLOEXEC);
        if (a < 0) continue;
        tcp_hits_++;
        struct pollfd q = {a, POLLIN, 0};
        ssize_t n = poll(&q, 1, 5000) == 1 ? read(a, buf, sizeof(buf)) : -1;
        if (n > 0) {
          (void)!write(a, "echo:", 5);
          (void)!write(a, buf, n);
        }
        close(a);
      }
      if (p[1].revents & POLLIN) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(udp_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &fl);
        if (n > 0) udp_hits_++;
      }
    }
  }
  std::string addr_;
  int port_;
  int tcp_ = -1, udp_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> tcp_hits_{0}, udp_hits_{0};
  std::thread serve_;
};

// A DNS server (UDP) on addr:53 inside netns: A records from a fixed table,
// NOERROR without records for other types of a known name, NXDOMAIN for the
// rest; counts the queries per name. Written here from RFC 1035, apart from
// the resolver's parser, so a bug in one is not hidden by the other.
class DnsServer {
 public:
  using Table = std::multimap<std::string, std::string>;  // name -> IPv4 address
  // The akt-* names of MakeTestInternet's hosts.
  static Table TestInternetTable() {
    return {{"allowed.test", "198.18.0.1"},
            {"other.test", "198.18.0.4"},
            {"rebind.test", "10.213.0.1"},
            {"rebind.test", "198.18.0.1"},
            {"direct.test", "198.18.0.1"}};
  }
  DnsServer(const std::string& netns, const std::string& addr, Table table = TestInternetTable())
      : table_(std::move(table)) {
    udp_ = std::max(-1, SocketInNetns(netns, addr, 53, SOCK_DGRAM));
    if (udp_ >= 0) serve_ = std::thread([this] { Serve(); });
  }
  ~DnsServer() {
    stop_ = true;
    if (serve_.joinable()) serve_.join();
    if (udp_ >= 0) close(udp_);
  }
  bool ok() const { return udp_ >= 0; }
  int queries(const std::string& name) {
    std::lock_guard<std::mutex> g(mu_);
    return counts_[name];
  }

 private:
  void Serve() {
    while (!stop_) {
      struct pollfd p = {udp_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      unsigned char q[512], out[1024];
      struct sockaddr_storage from;
      socklen_t fl = sizeof(from);
      ssize_t n = recvfrom(udp_, q, sizeof(q), 0, reinterpret_cast<sockaddr*>(&from), &fl);
      if (n < 12 + 5 || q[4] != 0 || q[5] != 1) continue;
      std::string name;
      size_t off = 12;
      while (off < (size_t)n && q[off] != 0 && q[off] < 64 && off + 1 + q[off] < (size_t)n) {
        if (!name.empty()) name += '.';
        name.append(reinterpret_cast<char*>(q + off + 1), q[off]);
        off += 1 + q[off];
      }
      if (off + 5 > (size_t)n || q[off] != 0) continue;
      unsigned qtype = q[off + 1] << 8 | q[off + 2];
      size_t end = off + 5;
      {
        std::lock_guard<std::mutex> g(mu_);
        counts_[name]++;
      }
      memcpy(out, q, end);
      out[2] = 0x80 | (q[2] & 0x01);  // QR, RD copied
      out[3] = 0x80;                  // RA, NOERROR
      out[6] = out[7] = out[8] = out[9] = out[10] = out[11] = 0;
      size_t o = end;
      auto range = table_.equal_range(name);
      if (range.first == range.second) out[3] |= 3;  // NXDOMAIN
      unsigned an = 0;
      for (auto it = range.first; qtype == 1 && it != range.second; ++it, an++) {
        unsigned char rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 0, 0, 0, 0};
        inet_pton(AF_INET, it->second.c_str(), rr + 12);
        memcpy(out + o, rr, sizeof(rr));
        o += sizeof(rr);
      }
      out[7] = an;
      sendto(udp_, out, o, 0, reinterpret_cast<sockaddr*>(&from), fl);
    }
  }
  const Table table_;
  int udp_ = -1;
  std::atomic<bool> stop_{false};
  std::thread serve_;
  std::mutex mu_;
  std::map<std::string, int> counts_;
};

// An HTTP/1.0 server on addr:port inside netns: every connection gets
// kBody, and a request line counts as a hit.
inline constexpr char kBody[] = "hello from the internet namespace\n";
class Http {
 public:
  Http(const std::string& netns, const std::string& addr, int port) {
    tcp_ = std::max(-1, SocketInNetns(netns, addr, port, SOCK_STREAM));
    if (ok()) serve_ = std::thread([this] { Serve(); });
  }
  ~Http() {
    stop_ = true;
    if (serve_.joinable()) serve_.join();
    if (tcp_ >= 0) close(tcp_);
  }
  bool ok() const { return tcp_ >= 0; }
  int hits() const { return hits_; }

 private:
  void Serve() {
    while (!stop_) {
      struct pollfd p = {tcp_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      int a = accept4(tcp_, nullptr, nullptr, SOCK_CLOEXEC);
      if (a < 0) continue;
      char buf[1024];
      struct pollfd q = {a, POLLIN, 0};
      if (poll(&q, 1, 5000) == 1 && read(a, buf, sizeof(buf)) > 0) {
        hits_++;
        std::string resp = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                           std::to_string(sizeof(kBody) - 1) + "\r\n\r\n" + kBody;
        (void)!write(a, resp.data(), resp.size());
      }
      close(a);
    }
  }
  int tcp_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> hits_{0};
  std::thread serve_;
};

}  // namespace aktest
