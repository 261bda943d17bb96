// The vhost-user back-end protocol: a full front-end handshake as QEMU does
// it, then every kind of bad message, which must be an error (and leak no
// fd), never a crash or a mapping outside what was given.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include <gtest/gtest.h>

#include "vmm/virtio/testing/fake_guest.h"

namespace {

using fakeguest::Frontend;
using fakeguest::Memory;
using fakeguest::VsockDriver;

void GetConfig(void*, uint8_t* buf) {
  uint64_t cid = 42;
  memcpy(buf, &cid, 8);
}

const struct vhost_user_backend kBackend = {
    (1ull << VIRTIO_F_VERSION_1), 2, 8, GetConfig,
};

int OpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (readdir(d)) n++;
  closedir(d);
  return n;
}

bool FdOpen(int fd) { return fcntl(fd, F_GETFD) >= 0; }

class VhostUserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fds_before_ = OpenFds();
    ASSERT_EQ(vhost_user_new(&kBackend, nullptr, &vu_), 0);
  }
  void TearDown() override {
    vhost_user_free(vu_);
    EXPECT_EQ(OpenFds(), fds_before_) << "an fd leaked";
  }
  // Handles msg (with fds) directly; returns the handler's result.
  int Handle(struct vhost_user_msg* m, int* fds = nullptr, unsigned nfds = 0) {
    m->flags |= VHOST_USER_VERSION;
    has_reply_ = false;
    return vhost_user_handle(vu_, m, fds, nfds, &reply_, &has_reply_);
  }
  void U64(struct vhost_user_msg* m, uint32_t req, uint64_t v, uint32_t size = 8) {
    memset(m, 0, sizeof(*m));
    m->request = req;
    m->size = size;
    memcpy(reinterpret_cast<uint8_t*>(m) + VHOST_USER_HDR_SIZE, &v, 8);
  }
  void State(struct vhost_user_msg* m, uint32_t req, uint32_t idx, uint32_t num) {
    memset(m, 0, sizeof(*m));
    m->request = req;
    m->size = 8;
    m->payload.state.index = idx;
    m->payload.state.num = num;
  }
  uint64_t ReplyU64() {
    uint64_t v;
    memcpy(&v, reinterpret_cast<uint8_t*>(&reply_) + VHOST_USER_HDR_SIZE, 8);
    return v;
  }
  void NegotiateProtocol(uint64_t pf) {
    struct vhost_user_msg m;
    U64(&m, VHOST_USER_SET_FEATURES, (1ull << VHOST_USER_F_PROTOCOL_FEATURES) | (1ull << VIRTIO_F_VERSION_1));
    ASSERT_EQ(Handle(&m), 0);
    U64(&m, VHOST_USER_SET_PROTOCOL_FEATURES, pf);
    ASSERT_EQ(Handle(&m), 0);
  }

  struct vhost_user* vu_ = nullptr;
  struct vhost_user_msg reply_;
  bool has_reply_ = false;
  int fds_before_ = 0;
};

// Everything QEMU 7.2 sends to vhost-user-vsock, through a real socket.
TEST_F(VhostUserTest, FrontendHandshakeStartsBothRings) {
  Memory mem;
  VsockDriver drv(&mem, 42);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  std::thread backend([&] {
    while (vhost_user_serve_one(vu_, sv[1]) == 0) {
    }
  });
  {
    Frontend fe;
    std::string err;
    EXPECT_TRUE(fe.Attach(sv[0], &mem, &drv, &err)) << err;
    EXPECT_EQ(fe.guest_cid(), 42u);
  }  // closes the socket: the back-end loop ends
  backend.join();
  close(sv[1]);
  EXPECT_NE(vhost_user_queue(vu_, 0), nullptr);
  EXPECT_NE(vhost_user_queue(vu_, 1), nullptr);
  EXPECT_EQ(vhost_user_queue(vu_, 2), nullptr);
  EXPECT_TRUE(vhost_user_features(vu_) & (1ull << VIRTIO_F_VERSION_1));
  EXPECT_GE(vhost_user_kick_fd(vu_, 0, nullptr), 0);
  vhost_user_reset(vu_);
  EXPECT_EQ(vhost_user_queue(vu_, 0), nullptr);
  EXPECT_EQ(vhost_user_kick_fd(vu_, 0, nullptr), -1);
}

TEST_F(VhostUserTest, FeatureNegotiation) {
  struct vhost_user_msg m = {};
  m.request = VHOST_USER_GET_FEATURES;
  ASSERT_EQ(Handle(&m), 0);
  ASSERT_TRUE(has_reply_);
  EXPECT_EQ(reply_.flags, VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY);
  EXPECT_EQ(ReplyU64(), (1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES));
  m = {};
  m.request = VHOST_USER_GET_PROTOCOL_FEATURES;
  ASSERT_EQ(Handle(&m), 0);
  EXPECT_TRUE(ReplyU64() & (1ull << VHOST_USER_PROTOCOL_F_CONFIG));
  // Features that were not offered, and a GET with a payload.
  U64(&m, VHOST_USER_SET_FEATURES, 1ull << 40);
  EXPECT_EQ(Handle(&m), -EINVAL);
  U64(&m, VHOST_USER_SET_PROTOCOL_FEATURES, 1ull << 14);
  EXPECT_EQ(Handle(&m), -EINVAL);
  U64(&m, VHOST_USER_GET_FEATURES, 0);
  EXPECT_EQ(Handle(&m), -EINVAL);
}

TEST_F(VhostUserTest, ConfigSpace) {
  struct vhost_user_msg m = {};
  m.request = VHOST_USER_GET_CONFIG;
  m.size = VHOST_USER_CONFIG_HDR_SIZE + 8;
  m.payload.config.size = 8;
  // Not negotiated yet: the failure reply has an empty payload.
  EXPECT_EQ(Handle(&m), -EINVAL);
  EXPECT_TRUE(has_reply_);
  EXPECT_EQ(reply_.size, 0u);
  NegotiateProtocol(1ull << VHOST_USER_PROTOCOL_F_CONFIG);
  ASSERT_EQ(Handle(&m), 0);
  ASSERT_EQ(reply_.size, VHOST_USER_CONFIG_HDR_SIZE + 8);
  uint64_t cid;
  memcpy(&cid, reply_.payload.config.payload, 8);
  EXPECT_EQ(cid, 42u);
  // Part of it.
  m.payload.config.offset = 4;
  m.payload.config.size = 4;
  m.size = VHOST_USER_CONFIG_HDR_SIZE + 4;
  ASSERT_EQ(Handle(&m), 0);
  EXPECT_EQ(reply_.size, VHOST_USER_CONFIG_HDR_SIZE + 4);
  // Past the end, a size that disagrees with the header, and a huge one.
  m.payload.config.offset = 6;
  EXPECT_EQ(Handle(&m), -EINVAL);
  EXPECT_EQ(reply_.size, 0u);
  m.payload.config.offset = 0;
  m.size = VHOST_USER_CONFIG_HDR_SIZE + 2;
  EXPECT_EQ(Handle(&m), -EINVAL);
  m.payload.config.size = 0xffffffff;
  m.size = VHOST_USER_CONFIG_HDR_SIZE;
  EXPECT_EQ(Handle(&m), -EINVAL);
  // The config space is read-only.
  m.request = VHOST_USER_SET_CONFIG;
  m.payload.config.size = 8;
  m.size = VHOST_USER_CONFIG_HDR_SIZE + 8;
  EXPECT_EQ(Handle(&m), -EOPNOTSUPP);
}

TEST_F(VhostUserTest, VringConfigurationChecks) {
  struct vhost_user_msg m;
  for (uint32_t bad : {0u, 3u, 65536u, 1u << 20}) {
    State(&m, VHOST_USER_SET_VRING_NUM, 0, bad);
    EXPECT_EQ(Handle(&m), -EINVAL) << bad;
  }
  State(&m, VHOST_USER_SET_VRING_NUM, 2, 64);  // only rx and tx exist
  EXPECT_EQ(Handle(&m), -EINVAL);
  State(&m, VHOST_USER_SET_VRING_NUM, 0xffffffff, 64);
  EXPECT_EQ(Handle(&m), -EINVAL);
  State(&m, VHOST_USER_SET_VRING_BASE, 0, 70000);
  EXPECT_EQ(Handle(&m), -EINVAL);
  memset(&m, 0, sizeof(m));
  m.request = VHOST_USER_SET_VRING_ADDR;
  m.size = sizeof(m.payload.addr) - 1;
  EXPECT_EQ(Handle(&m), -EINVAL);
  m.size = sizeof(m.payload.addr);
  m.payload.addr.flags = 1;  // dirty logging: never offered
  EXPECT_EQ(Handle(&m), -EINVAL);
  // ENABLE needs F_PROTOCOL_FEATURES.
  State(&m, VHOST_USER_SET_VRING_ENABLE, 0, 1);
  EXPECT_EQ(Handle(&m), -EINVAL);
}

TEST_F(VhostUserTest, FdsAreTakenOrClosed) {
  struct vhost_user_msg m;
  int e = eventfd(0, EFD_CLOEXEC);
  U64(&m, VHOST_USER_SET_VRING_KICK, 7);  // no such queue
  EXPECT_EQ(Handle(&m, &e, 1), -EINVAL);
  EXPECT_FALSE(FdOpen(e));
  e = eventfd(0, EFD_CLOEXEC);
  U64(&m, VHOST_USER_SET_VRING_KICK, VHOST_USER_VRING_NOFD_MASK | 0);  // says no fd, has one
  EXPECT_EQ(Handle(&m, &e, 1), -EINVAL);
  EXPECT_FALSE(FdOpen(e));
  U64(&m, VHOST_USER_SET_VRING_CALL, 0);  // says an fd, has none
  EXPECT_EQ(Handle(&m), -EINVAL);
  e = eventfd(0, EFD_CLOEXEC);
  memset(&m, 0, sizeof(m));
  m.request = VHOST_USER_SET_OWNER;  // takes no fds
  EXPECT_EQ(Handle(&m, &e, 1), -EINVAL);
  EXPECT_FALSE(FdOpen(e));
  // A good one keeps it; a replacement closes the old.
  e = eventfd(0, EFD_CLOEXEC);
  U64(&m, VHOST_USER_SET_VRING_KICK, 1);
  ASSERT_EQ(Handle(&m, &e, 1), 0);
  EXPECT_TRUE(FdOpen(e));
  unsigned gen1, gen2;
  EXPECT_EQ(vhost_user_kick_fd(vu_, 1, &gen1), e);
  int e2 = eventfd(0, EFD_CLOEXEC);
  ASSERT_EQ(Handle(&m, &e2, 1), 0);
  vhost_user_kick_fd(vu_, 1, &gen2);
  EXPECT_NE(gen1, gen2);
}

TEST_F(VhostUserTest, MemoryTableChecks) {
  Memory mem(1 << 20);
  struct vhost_user_msg m = {};
  m.request = VHOST_USER_SET_MEM_TABLE;
  struct guest_mem_region r = mem.Region();
  struct vhost_user_region_msg rm = {r.gpa, r.size, r.uva, 0};
  auto put = [&](unsigned n) {
    m.payload.mem.nregions = n;
    m.size = 8 + n * sizeof(rm);
    for (unsigned i = 0; i < n && i < 8; i++)
      memcpy(reinterpret_cast<uint8_t*>(&m) + VHOST_USER_HDR_SIZE + 8 + i * sizeof(rm), &rm, sizeof(rm));
  };
  int fd = dup(mem.fd());
  put(1);
  EXPECT_EQ(Handle(&m, &fd, 1), 0);
  EXPECT_FALSE(FdOpen(fd));  // mapped, then closed
  fd = dup(mem.fd());
  put(9);  // more regions than the protocol allows
  m.size = 8 + sizeof(rm);
  EXPECT_EQ(Handle(&m, &fd, 1), -EINVAL);
  fd = dup(mem.fd());
  put(2);  // two regions, one fd
  EXPECT_EQ(Handle(&m, &fd, 1), -EINVAL);
  fd = dup(mem.fd());
  rm.size = 2 << 20;  // larger than the file behind it
  put(1);
  EXPECT_EQ(Handle(&m, &fd, 1), -EINVAL);
  fd = dup(mem.fd());
  rm.size = r.size;
  rm.gpa = ~0ull - 100;  // wraps
  put(1);
  EXPECT_EQ(Handle(&m, &fd, 1), -EINVAL);
}

TEST_F(VhostUserTest, UnknownAndUnsupportedRequests) {
  struct vhost_user_msg m = {};
  for (uint32_t req : {0u, 6u, 7u, 19u, 22u, 31u, 34u, 40u, 999u, 0xffffffffu}) {
    m.request = req;
    m.size = 0;
    EXPECT_LT(Handle(&m), 0) << req;
  }
  EXPECT_STREQ(vhost_user_request_name(VHOST_USER_GET_CONFIG), "GET_CONFIG");
  EXPECT_STREQ(vhost_user_request_name(999), "UNKNOWN");
}

TEST_F(VhostUserTest, ReplyAckAnswersSuccessAndFailure) {
  NegotiateProtocol(1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK);
  struct vhost_user_msg m;
  State(&m, VHOST_USER_SET_VRING_NUM, 0, 64);
  m.flags = VHOST_USER_FLAG_NEED_REPLY;
  ASSERT_EQ(Handle(&m), 0);
  ASSERT_TRUE(has_reply_);
  EXPECT_EQ(ReplyU64(), 0u);
  State(&m, VHOST_USER_SET_VRING_NUM, 0, 63);
  m.flags = VHOST_USER_FLAG_NEED_REPLY;
  EXPECT_EQ(Handle(&m), -EINVAL);
  ASSERT_TRUE(has_reply_);
  EXPECT_EQ(ReplyU64(), 1u);
  // Without NEED_REPLY nothing is sent back.
  State(&m, VHOST_USER_SET_VRING_NUM, 0, 64);
  ASSERT_EQ(Handle(&m), 0);
  EXPECT_FALSE(has_reply_);
}

TEST_F(VhostUserTest, GetVringBaseStopsTheRing) {
  Memory mem;
  VsockDriver drv(&mem, 42);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  std::thread backend([&] {
    while (vhost_user_serve_one(vu_, sv[1]) == 0) {
    }
  });
  Frontend fe;
  std::string err;
  ASSERT_TRUE(fe.Attach(sv[0], &mem, &drv, &err)) << err;
  struct vhost_user_msg m, r;
  State(&m, VHOST_USER_GET_VRING_BASE, 1, 0);
  ASSERT_TRUE(fe.Request(&m, nullptr, 0, true, &r));
  EXPECT_EQ(r.payload.state.index, 1u);
  EXPECT_EQ(r.payload.state.num, 0u);
  shutdown(sv[0], SHUT_RDWR);
  backend.join();
  close(sv[1]);
  EXPECT_NE(vhost_user_queue(vu_, 0), nullptr);
  EXPECT_EQ(vhost_user_queue(vu_, 1), nullptr);
  EXPECT_EQ(vhost_user_kick_fd(vu_, 1, nullptr), -1);
}

TEST_F(VhostUserTest, RecvRefusesBrokenFraming) {
  int sv[2];
  struct vhost_user_msg m;
  int fds[VHOST_USER_MAX_FDS];
  unsigned nfds;
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  uint32_t hdr[3] = {VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 100000};  // payload too big
  ASSERT_EQ(write(sv[0], hdr, 12), 12);
  EXPECT_EQ(vhost_user_recv(sv[1], &m, fds, &nfds), -EPROTO);
  uint32_t v2[3] = {VHOST_USER_GET_FEATURES, 2, 0};  // wrong version
  ASSERT_EQ(write(sv[0], v2, 12), 12);
  EXPECT_EQ(vhost_user_recv(sv[1], &m, fds, &nfds), -EPROTO);
  uint32_t trunc[3] = {VHOST_USER_SET_FEATURES, VHOST_USER_VERSION, 8};
  ASSERT_EQ(write(sv[0], trunc, 12), 12);
  ASSERT_EQ(write(sv[0], "abc", 3), 3);
  close(sv[0]);
  EXPECT_EQ(vhost_user_recv(sv[1], &m, fds, &nfds), -EPROTO);  // EOF mid-message
  EXPECT_EQ(vhost_user_recv(sv[1], &m, fds, &nfds), -ECONNRESET);
  close(sv[1]);
}

}  // namespace
