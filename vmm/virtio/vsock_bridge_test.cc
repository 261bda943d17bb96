// The bridge thread end to end without a VM: a fake QEMU front-end and
// guest driver on the vhost-user socket, real host clients on the hybrid
// vsock socket (Firecracker's "CONNECT <port>\n" / "OK <port>\n").
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "vmm/testing/vm_fixture.h"
#include "vmm/virtio/testing/fake_guest.h"

extern "C" {
#include "lib/guest/guest_client.h"
#include "vmm/virtio/vsock_bridge.h"
}

namespace {

using fakeguest::Frontend;
using fakeguest::Memory;
using fakeguest::Packet;
using fakeguest::VsockDriver;

int ConnectUnix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {};
  sa.sun_family = AF_UNIX;
  strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
  if (connect(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof(sa)) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

std::string ReadLine(int fd, int timeout_ms = 3000) {
  std::string s;
  char c;
  struct pollfd p = {fd, POLLIN, 0};
  while (poll(&p, 1, timeout_ms) == 1 && read(fd, &c, 1) == 1) {
    s += c;
    if (c == '\n') break;
  }
  return s;
}

bool ClosedByPeer(int fd) {
  struct pollfd p = {fd, POLLIN, 0};
  char c;
  return poll(&p, 1, 3000) == 1 && read(fd, &c, 1) <= 0;
}

class BridgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = akvm::MakeTempDir("akbr");
    ASSERT_FALSE(dir_.empty());
    vhost_ = dir_ + "/vhost.sock";
    uds_ = dir_ + "/vsock.sock";
    struct vsock_bridge_config cfg = {};
    cfg.vhost_path = vhost_.c_str();
    cfg.uds_path = uds_.c_str();
    cfg.guest_cid = 7;
    cfg.connect_timeout_ms = 2000;
    struct ak_error err = {};
    ASSERT_EQ(vsock_bridge_new(&cfg, &bridge_, &err), 0) << err.msg;
    ASSERT_EQ(vsock_bridge_start(bridge_, &err), 0) << err.msg;
  }
  void TearDown() override {
    delete fe_;
    vsock_bridge_free(bridge_);
    struct stat st;
    EXPECT_NE(stat(uds_.c_str(), &st), 0) << "socket left behind";
    akvm::RemoveDir(dir_);
  }
  void Attach() {
    fe_ = new Frontend();
    std::string err;
    int fd = ConnectUnix(vhost_);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(fe_->Attach(fd, &mem_, &drv_, &err)) << err;
    EXPECT_EQ(fe_->guest_cid(), 7u);
    drv_.PostRx(16);
    fe_->KickRx();
    for (int i = 0; i < 100 && !vsock_bridge_device_running(bridge_); i++) usleep(10000);
    ASSERT_TRUE(vsock_bridge_device_running(bridge_));
  }
  // Packets the device delivered within timeout_ms.
  std::vector<Packet> Receive(size_t want = 1, int timeout_ms = 3000) {
    std::vector<Packet> all;
    for (int waited = 0; all.size() < want && waited < timeout_ms; waited += 10) {
      fe_->WaitCall(0, 10);
      for (auto& p : drv_.Receive()) all.push_back(p);
      fe_->KickRx();
    }
    return all;
  }
  void Send(const struct vsock_hdr& h, const std::string& payload = "") {
    drv_.ReclaimTx();
    drv_.Send(h, payload);
    fe_->KickTx();
  }
  // A host CONNECT accepted by the fake guest: the host fd and local port.
  int Connect(uint32_t port, uint32_t* local, const std::string& early = "") {
    int fd = ConnectUnix(uds_);
    EXPECT_GE(fd, 0);
    std::string line = "CONNECT " + std::to_string(port) + "\n" + early;
    EXPECT_EQ(write(fd, line.data(), line.size()), (ssize_t)line.size());
    auto pk = Receive();
    EXPECT_EQ(pk.size(), 1u);
    if (pk.empty()) return -1;
    EXPECT_EQ(pk[0].hdr.op, VSOCK_OP_REQUEST);
    EXPECT_EQ(pk[0].hdr.dst_cid, 7u);
    *local = pk[0].hdr.src_port;
    Send(drv_.Hdr(VSOCK_OP_RESPONSE, port, *local));
    EXPECT_EQ(ReadLine(fd), "OK " + std::to_string(*local) + "\n");
    return fd;
  }

  std::string dir_, vhost_, uds_;
  struct vsock_bridge* bridge_ = nullptr;
  Memory mem_;
  VsockDriver drv_{&mem_, 7};
  Frontend* fe_ = nullptr;
};

TEST_F(BridgeTest, ConnectBeforeTheDeviceRunsIsClosed) {
  int fd = ConnectUnix(uds_);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "CONNECT 52000\n", 14), 14);
  EXPECT_TRUE(ClosedByPeer(fd));
  close(fd);
  int g = -1;
  EXPECT_EQ(guest_client_connect(uds_.c_str(), 52000, 3000, &g), -ECONNREFUSED);
}

TEST_F(BridgeTest, ConnectOkAndBytesBothWays) {
  Attach();
  uint32_t local;
  int fd = Connect(52000, &local);
  ASSERT_GE(fd, 0);
  EXPECT_GE(local, 1u << 30);
  ASSERT_EQ(write(fd, "to guest", 8), 8);
  auto pk = Receive();
  ASSERT_EQ(pk.size(), 1u);
  EXPECT_EQ(pk[0].payload, "to guest");
  Send(drv_.Hdr(VSOCK_OP_RW, 52000, local), "to host");
  char buf[16] = {};
  struct pollfd p = {fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 3000), 1);
  EXPECT_EQ(read(fd, buf, sizeof(buf)), 7);
  EXPECT_STREQ(buf, "to host");
  // The client's close reaches the guest as a close (SHUTDOWN with both
  // flags, then RST), not as a half-close it would wait out.
  close(fd);
  pk = Receive(2);
  ASSERT_EQ(pk.size(), 2u);
  EXPECT_EQ(pk[0].hdr.op, VSOCK_OP_SHUTDOWN);
  EXPECT_EQ(pk[0].hdr.flags, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
  EXPECT_EQ(pk[1].hdr.op, VSOCK_OP_RST);
}

// A half-close stays one (the guest may still answer), and the client's
// later close is still heard as a close.
TEST_F(BridgeTest, HalfCloseThenClose) {
  Attach();
  uint32_t local;
  int fd = Connect(52000, &local);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(shutdown(fd, SHUT_WR), 0);
  auto pk = Receive();
  ASSERT_EQ(pk.size(), 1u);
  EXPECT_EQ(pk[0].hdr.op, VSOCK_OP_SHUTDOWN);
  EXPECT_EQ(pk[0].hdr.flags, VSOCK_SHUTDOWN_SEND);
  Send(drv_.Hdr(VSOCK_OP_RW, 52000, local), "answer\n");
  EXPECT_EQ(ReadLine(fd), "answer\n");
  close(fd);
  pk = Receive(2);
  ASSERT_EQ(pk.size(), 2u);
  EXPECT_EQ(pk[0].hdr.op, VSOCK_OP_SHUTDOWN);
  EXPECT_EQ(pk[0].hdr.flags, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
  EXPECT_EQ(pk[1].hdr.op, VSOCK_OP_RST);
}

// What a client sends right behind its CONNECT line belongs to the guest.
TEST_F(BridgeTest, BytesAfterTheConnectLineAreKept) {
  Attach();
  uint32_t local;
  int fd = Connect(52000, &local, "early bytes");
  ASSERT_GE(fd, 0);
  auto pk = Receive();
  ASSERT_EQ(pk.size(), 1u);
  EXPECT_EQ(pk[0].payload, "early bytes");
  close(fd);
}

TEST_F(BridgeTest, GuestRstClosesTheClient) {
  Attach();
  int fd = ConnectUnix(uds_);
  ASSERT_EQ(write(fd, "CONNECT 4444\n", 13), 13);
  auto pk = Receive();
  ASSERT_EQ(pk.size(), 1u);
  Send(drv_.Hdr(VSOCK_OP_RST, 4444, pk[0].hdr.src_port));
  EXPECT_TRUE(ClosedByPeer(fd));
  close(fd);
}

TEST_F(BridgeTest, MalformedConnectLines) {
  Attach();
  for (const char* line : {"CONNECT x\n", "CONNECT 052000\n", "CONNECT 99999999999\n", "connect 52000\n",
                           "CONNECT -1\n", "CONNECT 52000 \n", "CONNECT\n",
                           "CONNECT 5200000000000000000000000000000000000000\n"}) {
    int fd = ConnectUnix(uds_);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, line, strlen(line)), (ssize_t)strlen(line));
    EXPECT_TRUE(ClosedByPeer(fd)) << line;
    close(fd);
  }
  // And nothing reached the guest.
  EXPECT_TRUE(Receive(1, 200).empty());
}

TEST_F(BridgeTest, GuestConnectsToUdsPort) {
  Attach();
  std::string path = uds_ + "_5000";
  int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {};
  sa.sun_family = AF_UNIX;
  strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
  ASSERT_EQ(bind(l, reinterpret_cast<struct sockaddr*>(&sa), sizeof(sa)), 0);
  ASSERT_EQ(listen(l, 4), 0);
  Send(drv_.Hdr(VSOCK_OP_REQUEST, 777, 5000));
  auto pk = Receive();
  ASSERT_EQ(pk.size(), 1u);
  EXPECT_EQ(pk[0].hdr.op, VSOCK_OP_RESPONSE);
  int a = accept(l, nullptr, nullptr);
  ASSERT_GE(a, 0);
  Send(drv_.Hdr(VSOCK_OP_RW, 777, 5000), "hello host");
  EXPECT_EQ(ReadLine(a).substr(0, 10), "hello host");
  ASSERT_EQ(write(a, "hi guest", 8), 8);
  pk = Receive();
  ASSERT_EQ(pk.size(), 1u);
  EXPECT_EQ(pk[0].payload, "hi guest");
  close(a);
  close(l);
  unlink(path.c_str());
  // No listener on 5001: refused.
  // (The host's close above also shows up: SHUTDOWN and RST for port 777.)
  Send(drv_.Hdr(VSOCK_OP_REQUEST, 778, 5001));
  pk = Receive(3);
  bool refused = false;
  for (auto& p : pk) refused |= p.hdr.dst_port == 778 && p.hdr.op == VSOCK_OP_RST;
  EXPECT_TRUE(refused);
}

// QEMU goes away: every host connection is closed, and a new front-end is
// served from scratch.
TEST_F(BridgeTest, FrontendGoneDropsConnections) {
  Attach();
  uint32_t local;
  int fd = Connect(52000, &local);
  ASSERT_GE(fd, 0);
  delete fe_;
  fe_ = nullptr;
  EXPECT_TRUE(ClosedByPeer(fd));
  close(fd);
  for (int i = 0; i < 100 && vsock_bridge_device_running(bridge_); i++) usleep(10000);
  EXPECT_FALSE(vsock_bridge_device_running(bridge_));
  // A second front-end with a fresh guest works.
  drv_.~VsockDriver();
  new (&drv_) VsockDriver(&mem_, 7);
  Attach();
  fd = Connect(52000, &local);
  ASSERT_GE(fd, 0);
  close(fd);
}

TEST_F(BridgeTest, SecondFrontendIsRefused) {
  Attach();
  int fd = ConnectUnix(vhost_);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(ClosedByPeer(fd));
  close(fd);
  uint32_t local;
  int h = Connect(52000, &local);  // the first one still works
  ASSERT_GE(h, 0);
  close(h);
}

}  // namespace
