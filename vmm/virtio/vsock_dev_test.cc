// The virtio-vsock device model against a fake guest driver (rings in a
// memfd, packets built as Linux builds them) and host socketpairs: the
// connection state machine, credit both ways, and hostile packets.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "vmm/virtio/testing/fake_guest.h"

extern "C" {
#include "vmm/virtio/vsock_dev.h"
}

namespace {

using fakeguest::Memory;
using fakeguest::Packet;
using fakeguest::VsockDriver;

constexpr uint64_t kCid = 3;

class VsockDevTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(guest_mem_new(&gm_), 0);
    struct guest_mem_region r = mem_.Region();
    int fd = mem_.fd();
    ASSERT_EQ(guest_mem_set_table(gm_, &r, &fd, 1), 0);
    MapRing(drv_.rx(), &rx_);
    MapRing(drv_.tx(), &tx_);
    ops_.connect = [](void* ud, uint32_t port, int* ret_fd) -> int {
      auto* t = static_cast<VsockDevTest*>(ud);
      auto it = t->listeners_.find(port);
      if (it == t->listeners_.end()) return -ECONNREFUSED;
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) return -errno;
      fcntl(sv[1], F_SETFL, 0);
      it->second.push_back(sv[1]);
      *ret_fd = sv[0];
      return 0;
    };
    ops_.notify = [](void* ud, unsigned q) { static_cast<VsockDevTest*>(ud)->notified_[q]++; };
    struct vsock_dev_config cfg = {};
    cfg.guest_cid = kCid;
    cfg.buf_alloc = kBufAlloc;
    cfg.connect_timeout_ms = 300;
    ASSERT_EQ(vsock_dev_new(&cfg, &ops_, this, &dev_), 0);
    vsock_dev_set_queues(dev_, &rx_, &tx_);
    drv_.PostRx(16);
  }
  void TearDown() override {
    vsock_dev_free(dev_);
    guest_mem_free(gm_);
    for (auto& l : listeners_)
      for (int fd : l.second) close(fd);
    for (int fd : host_fds_) close(fd);
  }
  void MapRing(fakeguest::Ring& ring, struct vq* q) {
    ASSERT_EQ(vq_map_uva(q, gm_, ring.num(), mem_.Uva(ring.desc_gpa()), mem_.Uva(ring.avail_gpa()),
                         mem_.Uva(ring.used_gpa()), 0, false, false),
              0);
  }
  // What the bridge's loop does after any event.
  void Pump() {
    for (int i = 0; i < 4; i++) {
      vsock_dev_process_tx(dev_);
      vsock_dev_host_events(dev_);
      vsock_dev_process_rx(dev_);
    }
    drv_.ReclaimTx();
  }
  std::vector<Packet> Take() {
    Pump();
    return drv_.Receive();
  }
  // A host-initiated connection to guest port `port`, accepted by the
  // guest; returns the host's end and the local (host) port.
  int HostConnect(uint32_t port, uint32_t* local, uint32_t guest_buf_alloc = 1 << 18) {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    EXPECT_EQ(vsock_dev_host_connect(dev_, sv[0], port), 0);
    host_fds_.push_back(sv[1]);
    auto pk = Take();
    EXPECT_EQ(pk.size(), 1u);
    if (pk.empty()) return -1;
    EXPECT_EQ(pk[0].hdr.op, VSOCK_OP_REQUEST);
    EXPECT_EQ(pk[0].hdr.src_cid, VSOCK_HOST_CID);
    EXPECT_EQ(pk[0].hdr.dst_cid, kCid);
    EXPECT_EQ(pk[0].hdr.dst_port, port);
    EXPECT_EQ(pk[0].hdr.buf_alloc, kBufAlloc);
    *local = pk[0].hdr.src_port;
    drv_.Send(drv_.Hdr(VSOCK_OP_RESPONSE, port, *local, guest_buf_alloc));
    Pump();
    EXPECT_EQ(ReadSome(sv[1]), "OK " + std::to_string(*local) + "\n");
    return sv[1];
  }
  std::string ReadSome(int fd, int timeout_ms = 1000) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) return "";
    char buf[65536];
    ssize_t n = read(fd, buf, sizeof(buf));
    return n > 0 ? std::string(buf, n) : "";
  }
  bool AtEof(int fd) {
    struct pollfd p = {fd, POLLIN, 0};
    char c;
    return poll(&p, 1, 1000) == 1 && read(fd, &c, 1) == 0;
  }
  struct vsock_dev_stats Stats() {
    struct vsock_dev_stats s;
    vsock_dev_get_stats(dev_, &s);
    return s;
  }

  static constexpr uint32_t kBufAlloc = 64 * 1024;
  Memory mem_;
  VsockDriver drv_{&mem_, kCid};
  struct guest_mem* gm_ = nullptr;
  struct vq rx_, tx_;
  struct vsock_dev_ops ops_ = {};
  struct vsock_dev* dev_ = nullptr;
  std::map<uint32_t, std::vector<int>> listeners_;  // host ports "listening"
  std::vector<int> host_fds_;
  int notified_[2] = {0, 0};
};

TEST_F(VsockDevTest, ConfigCarriesTheGuestCid) {
  uint8_t cfg[VSOCK_DEV_CONFIG_SIZE];
  vsock_dev_get_config(dev_, cfg);
  uint64_t cid;
  memcpy(&cid, cfg, 8);
  EXPECT_EQ(cid, kCid);
}

TEST_F(VsockDevTest, HostConnectAndDataBothWays) {
  uint32_t local;
  int h = HostConnect(52000, &local);
  ASSERT_GE(h, 0);
  ASSERT_EQ(write(h, "ping", 4), 4);
  auto pk = Take();
  ASSERT_EQ(pk.size(), 1u);
  EXPECT_EQ(pk[0].hdr.op, VSOCK_OP_RW);
  EXPECT_EQ(pk[0].payload, "ping");
  EXPECT_EQ(pk[0].hdr.src_port, local);
  EXPECT_EQ(pk[0].hdr.dst_port, 52000u);
  drv_.Send(drv_.Hdr(VSOCK_OP_RW, 52000, local), "pong");
  Pump();
  EXPECT_EQ(ReadSome(h), "pong");
  EXPECT_GT(notified_[0], 0);
  EXPECT_GT(notified_[1], 0);
}

TEST_F(VsockDevTest, GuestRefusesWithRst) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  fcntl(sv[0], F_SETFL, O_NONBLOCK);
  ASSERT_EQ(vsock_dev_host_connect(dev_, sv[0], 4444), 0);
  auto pk = Take();
  ASSERT_EQ(pk.size(), 1u);
  drv_.Send(drv_.Hdr(VSOCK_OP_RST, 4444, pk[0].hdr.src_port));
  Pump();
  EXPECT_TRUE(AtEof(sv[1]));
  EXPECT_EQ(Stats().conns, 0u);
  close(sv[1]);
}

TEST_F(VsockDevTest, ConnectTimesOutWithoutAnswer) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  fcntl(sv[0], F_SETFL, O_NONBLOCK);
  ASSERT_EQ(vsock_dev_host_connect(dev_, sv[0], 52000), 0);
  auto pk = Take();
  ASSERT_EQ(pk.size(), 1u);
  EXPECT_GE(vsock_dev_timeout_ms(dev_), 0);
  usleep(350 * 1000);
  vsock_dev_tick(dev_);
  EXPECT_TRUE(AtEof(sv[1]));
  pk = Take();
  ASSERT_EQ(pk.size(), 1u);  // the guest is told to forget it too
  EXPECT_EQ(pk[0].hdr.op, VSOCK_OP_RST);
  close(sv[1]);
}

// The device never sends more than the guest's buf_alloc allows, and
// resumes when the guest reports progress.
TEST_F(VsockDevTest, CreditTowardsTheGuestIsRespected) {
  uint32_t local;
  int h = HostConnect(52000, &local, /*guest_buf_alloc=*/1000);
  ASSERT_GE(h, 0);
  std::string big(5000, 'x');
  ASSERT_EQ(write(h, big.data(), big.size()), (ssize_t)big.size());
  size_t got = 0;
  for (auto& p : Take()) got += p.payload.size();
  EXPECT_EQ(got, 1000u);
  for (auto& p : Take()) got += p.payload.size();
  EXPECT_EQ(got, 1000u) << "sent beyond the guest's credit";
  drv_.Send(drv_.Hdr(VSOCK_OP_CREDIT_UPDATE, 52000, local, 1000, 1000));
  for (auto& p : Take()) got += p.payload.size();
  EXPECT_EQ(got, 2000u);
}

// A guest that sends more than the credit we gave it is reset.
TEST_F(VsockDevTest, GuestOverrunningOurCreditIsReset) {
  uint32_t local;
  int h = HostConnect(52000, &local);
  ASSERT_GE(h, 0);
  // Fill the host socket so nothing drains, then overrun kBufAlloc.
  std::string chunk(60000, 'y');
  uint32_t sent = 0;
  bool reset = false;
  for (int i = 0; i < 200 && !reset; i++) {
    drv_.Send(drv_.Hdr(VSOCK_OP_RW, 52000, local), chunk);
    sent += chunk.size();
    for (auto& p : Take())
      if (p.hdr.op == VSOCK_OP_RST) reset = true;
  }
  EXPECT_TRUE(reset);
  // The socket buffer plus kBufAlloc is all it ever took.
  EXPECT_GT(sent, kBufAlloc);
  EXPECT_EQ(Stats().conns, 0u);
}

// Our credit grows back as the host reads: the guest hears about it.
TEST_F(VsockDevTest, CreditUpdatesFlowToTheGuest) {
  uint32_t local;
  int h = HostConnect(52000, &local);
  ASSERT_GE(h, 0);
  std::string chunk(30000, 'z');
  uint32_t fwd_seen = 0;
  for (int i = 0; i < 20; i++) {
    drv_.Send(drv_.Hdr(VSOCK_OP_RW, 52000, local), chunk);
    Pump();
    while (!ReadSome(h, 10).empty()) {
    }
    for (auto& p : Take())
      if (p.hdr.op == VSOCK_OP_CREDIT_UPDATE) fwd_seen = p.hdr.fwd_cnt;
  }
  EXPECT_GT(fwd_seen, 0u);
  EXPECT_LE(fwd_seen, 20u * 30000);
  // A CREDIT_REQUEST is answered at once.
  drv_.Send(drv_.Hdr(VSOCK_OP_CREDIT_REQUEST, 52000, local));
  auto pk = Take();
  ASSERT_EQ(pk.size(), 1u);
  EXPECT_EQ(pk[0].hdr.op, VSOCK_OP_CREDIT_UPDATE);
  EXPECT_EQ(pk[0].hdr.buf_alloc, kBufAlloc);
}

// The guest closes (SHUTDOWN both): the host sees EOF after the data, the
// guest gets the RST that completes its close.
TEST_F(VsockDevTest, GuestCloseIsOrderly) {
  uint32_t local;
  int h = HostConnect(52000, &local);
  ASSERT_GE(h, 0);
  drv_.Send(drv_.Hdr(VSOCK_OP_RW, 52000, local), "last words");
  drv_.Send(drv_.Hdr(VSOCK_OP_SHUTDOWN, 52000, local) /* flags below */);
  // (flags set on a second header to keep Hdr simple)
  auto sh = drv_.Hdr(VSOCK_OP_SHUTDOWN, 52000, local);
  sh.flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
  drv_.Send(sh);
  auto pk = Take();
  EXPECT_EQ(ReadSome(h), "last words");
  EXPECT_TRUE(AtEof(h));
  ASSERT_FALSE(pk.empty());
  EXPECT_EQ(pk.back().hdr.op, VSOCK_OP_RST);
  EXPECT_EQ(Stats().conns, 0u);
}

// The host half-closes: the guest gets SHUTDOWN(SEND) and can still answer.
TEST_F(VsockDevTest, HostHalfCloseKeepsTheReplyPath) {
  uint32_t local;
  int h = HostConnect(52000, &local);
  ASSERT_GE(h, 0);
  ASSERT_EQ(write(h, "req", 3), 3);
  ASSERT_EQ(shutdown(h, SHUT_WR), 0);
  auto pk = Take();
  ASSERT_EQ(pk.size(), 2u);
  EXPECT_EQ(pk[0].payload, "req");
  EXPECT_EQ(pk[1].hdr.op, VSOCK_OP_SHUTDOWN);
  EXPECT_EQ(pk[1].hdr.flags, VSOCK_SHUTDOWN_SEND);
  drv_.Send(drv_.Hdr(VSOCK_OP_RW, 52000, local), "answer");
  Pump();
  EXPECT_EQ(ReadSome(h), "answer");
  auto sh = drv_.Hdr(VSOCK_OP_SHUTDOWN, 52000, local);
  sh.flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
  drv_.Send(sh);
  pk = Take();
  ASSERT_EQ(pk.size(), 1u);
  EXPECT_EQ(pk[0].hdr.op, VSOCK_OP_RST);
  EXPECT_TRUE(AtEof(h));
}

// The host closes entirely: the guest sees a full shutdown, as a Linux
// peer's close() gives it (SHUTDOWN with RCV|SEND, then RST), not the
// half-close that means "no more input" (a guest agent must be able to tell
// a cancelled call from a finished request). Data the host wrote first
// still arrives before it.
TEST_F(VsockDevTest, HostCloseIsAFullShutdown) {
  uint32_t local;
  int h = HostConnect(52000, &local);
  ASSERT_GE(h, 0);
  ASSERT_EQ(write(h, "last", 4), 4);
  close(h);
  host_fds_.erase(std::find(host_fds_.begin(), host_fds_.end(), h));
  auto pk = Take();
  ASSERT_EQ(pk.size(), 3u);
  EXPECT_EQ(pk[0].hdr.op, VSOCK_OP_RW);
  EXPECT_EQ(pk[0].payload, "last");
  EXPECT_EQ(pk[1].hdr.op, VSOCK_OP_SHUTDOWN);
  EXPECT_EQ(pk[1].hdr.flags, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
  EXPECT_EQ(pk[2].hdr.op, VSOCK_OP_RST);
  EXPECT_EQ(Stats().conns, 0u);
  // The guest, still sending, is reset: nobody reads on the host.
  drv_.Send(drv_.Hdr(VSOCK_OP_RW, 52000, local), "anyone?");
  pk = Take();
  ASSERT_EQ(pk.size(), 1u);
  EXPECT_EQ(pk[0].hdr.op, VSOCK_OP_RST);
}

// shutdown(SHUT_RDWR), what the executor does to a cancelled call's
// socket (another thread may still be reading it), is a close too.
TEST_F(VsockDevTest, HostShutdownBothWaysIsAFullShutdown) {
  uint32_t local;
  int h = HostConnect(52000, &local);
  ASSERT_GE(h, 0);
  ASSERT_EQ(shutdown(h, SHUT_RDWR), 0);
  auto pk = Take();
  ASSERT_EQ(pk.size(), 2u);
  EXPECT_EQ(pk[0].hdr.op, VSOCK_OP_SHUTDOWN);
  EXPECT_EQ(pk[0].hdr.flags, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
  EXPECT_EQ(pk[1].hdr.op, VSOCK_OP_RST);
  EXPECT_EQ(Stats().conns, 0u);
}

// A half-close first (the request is complete), the close later (the
// client cancelled while the guest works): the guest hears both.
TEST_F(VsockDevTest, HostCloseAfterHalfCloseIsHeard) {
  uint32_t local;
  int h = HostConnect(52000, &local);
  ASSERT_GE(h, 0);
  ASSERT_EQ(shutdown(h, SHUT_WR), 0);
  auto pk = Take();
  ASSERT_EQ(pk.size(), 1u);
  EXPECT_EQ(pk[0].hdr.op, VSOCK_OP_SHUTDOWN);
  EXPECT_EQ(pk[0].hdr.flags, VSOCK_SHUTDOWN_SEND);
  drv_.Send(drv_.Hdr(VSOCK_OP_RW, 52000, local), "chunk");
  Pump();
  EXPECT_EQ(ReadSome(h), "chunk");
  close(h);
  host_fds_.erase(std::find(host_fds_.begin(), host_fds_.end(), h));
  pk = Take();
  ASSERT_EQ(pk.size(), 2u);
  EXPECT_EQ(pk[0].hdr.op, VSOCK_OP_SHUTDOWN);
  EXPECT_EQ(pk[0].hdr.flags, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
  EXPECT_EQ(pk[1].hdr.op, VSOCK_OP_RST);
  EXPECT_EQ(Stats().conns, 0u);
}

// Guest-initiated connections go to the host "listener" for their port.
TEST_F(VsockDevTest, GuestConnectsToTheHost) {
  listeners_[9000];
  drv_.Send(drv_.Hdr(VSOCK_OP_REQUEST, 1234, 9000));
  auto pk = Take();
  ASSERT_EQ(pk.size(), 1u);
  EXPECT_EQ(pk[0].hdr.op, VSOCK_OP_RESPONSE);
  EXPECT_EQ(pk[0].hdr.src_port, 9000u);
  EXPECT_EQ(pk[0].hdr.dst_port, 1234u);
  ASSERT_EQ(listeners_[9000].size(), 1u);
  int h = listeners_[9000][0];
  drv_.Send(drv_.Hdr(VSOCK_OP_RW, 1234, 9000), "from the guest");
  Pump();
  EXPECT_EQ(ReadSome(h), "from the guest");
  ASSERT_EQ(write(h, "from the host", 13), 13);
  pk = Take();
  ASSERT_EQ(pk.size(), 1u);
  EXPECT_EQ(pk[0].payload, "from the host");
  // Nobody on 9001: RST.
  drv_.Send(drv_.Hdr(VSOCK_OP_REQUEST, 1235, 9001));
  pk = Take();
  ASSERT_EQ(pk.size(), 1u);
  EXPECT_EQ(pk[0].hdr.op, VSOCK_OP_RST);
  EXPECT_EQ(pk[0].hdr.dst_port, 1235u);
}

// Packets that do not belong: dropped or answered with RST, never trusted.
TEST_F(VsockDevTest, HostilePackets) {
  // Not from this guest's CID: dropped silently.
  auto h = drv_.Hdr(VSOCK_OP_REQUEST, 1, 9000);
  h.src_cid = 99;
  drv_.Send(h);
  EXPECT_TRUE(Take().empty());
  // Data for a connection that does not exist: RST.
  drv_.Send(drv_.Hdr(VSOCK_OP_RW, 5, 6), "stray");
  auto pk = Take();
  ASSERT_EQ(pk.size(), 1u);
  EXPECT_EQ(pk[0].hdr.op, VSOCK_OP_RST);
  // SEQPACKET, an unknown op, a length beyond the buffer: refused.
  h = drv_.Hdr(VSOCK_OP_REQUEST, 7, 9000);
  h.type = VSOCK_TYPE_SEQPACKET;
  drv_.Send(h);
  h = drv_.Hdr(99, 8, 9000);
  drv_.Send(h);
  h = drv_.Hdr(VSOCK_OP_RW, 9, 9000);
  h.len = 1000;  // no payload follows
  drv_.Send(h);
  pk = Take();
  EXPECT_EQ(pk.size(), 3u);
  for (auto& p : pk) EXPECT_EQ(p.hdr.op, VSOCK_OP_RST);
  EXPECT_GE(Stats().bad_packets, 4u);
  // A RST for nothing is not answered.
  drv_.Send(drv_.Hdr(VSOCK_OP_RST, 1, 2));
  EXPECT_TRUE(Take().empty());
  // A RESPONSE nobody asked for on a live connection resets it.
  uint32_t local;
  int fd = HostConnect(52000, &local);
  ASSERT_GE(fd, 0);
  drv_.Send(drv_.Hdr(VSOCK_OP_RESPONSE, 52000, local));
  pk = Take();
  ASSERT_EQ(pk.size(), 1u);
  EXPECT_EQ(pk[0].hdr.op, VSOCK_OP_RST);
  EXPECT_TRUE(AtEof(fd));
}

TEST_F(VsockDevTest, MalformedChainsAreReturnedEmpty) {
  // A tx chain shorter than a header.
  uint64_t a = mem_.Alloc(10);
  drv_.tx().Add({{a, 10, false}});
  Pump();
  EXPECT_EQ(Stats().bad_chains, 1u);
  EXPECT_EQ(drv_.ReclaimTx(), 0);  // Pump reclaimed it already: returned
  // Use up the good rx buffers (16 RSTs, not reposted), then offer a
  // readable chain and a too-short one: both come back empty.
  for (int i = 0; i < 16; i++) drv_.Send(drv_.Hdr(VSOCK_OP_RW, 100 + i, 200));
  Pump();
  EXPECT_EQ(drv_.Receive(/*repost=*/false).size(), 16u);
  uint64_t b = mem_.Alloc(100), c = mem_.Alloc(10);
  drv_.rx().Add({{b, 100, false}});
  drv_.rx().Add({{c, 10, true}});
  drv_.PostRx(1);
  drv_.Send(drv_.Hdr(VSOCK_OP_RW, 300, 200));
  Pump();
  uint32_t id, len;
  std::vector<uint32_t> lens;
  while (drv_.rx().PopUsed(&id, &len)) lens.push_back(len);
  ASSERT_EQ(lens.size(), 3u);
  EXPECT_EQ(lens[0], 0u);
  EXPECT_EQ(lens[1], 0u);
  EXPECT_EQ(lens[2], VSOCK_HDR_SIZE);  // the RST, in the good buffer
  EXPECT_EQ(Stats().bad_chains, 3u);
}

TEST_F(VsockDevTest, ManyConnectionsAtOnce) {
  std::vector<std::pair<int, uint32_t>> conns;
  for (int i = 0; i < 200; i++) {
    uint32_t local;
    int h = HostConnect(52000, &local);
    ASSERT_GE(h, 0);
    conns.push_back({h, local});
  }
  EXPECT_EQ(Stats().conns, 200u);
  for (size_t i = 0; i < conns.size(); i++) {
    drv_.Send(drv_.Hdr(VSOCK_OP_RW, 52000, conns[i].second), "n" + std::to_string(i));
    if (i % 16 == 15) Pump();  // the tx ring holds 32 such packets
  }
  Pump();
  for (size_t i = 0; i < conns.size(); i++) EXPECT_EQ(ReadSome(conns[i].first), "n" + std::to_string(i));
}

TEST_F(VsockDevTest, DriverResetDropsEverything) {
  uint32_t local;
  int h = HostConnect(52000, &local);
  ASSERT_GE(h, 0);
  vsock_dev_set_queues(dev_, nullptr, nullptr);
  EXPECT_TRUE(AtEof(h));
  EXPECT_EQ(Stats().conns, 0u);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  EXPECT_EQ(vsock_dev_host_connect(dev_, sv[0], 52000), -ENOTCONN);
  close(sv[0]);
  close(sv[1]);
}

}  // namespace
