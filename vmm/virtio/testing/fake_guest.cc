#include "vmm/virtio/testing/fake_guest.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

namespace fakeguest {

Memory::Memory(size_t size) : size_(size) {
  fd_ = memfd_create("fake-guest-ram", MFD_CLOEXEC);
  if (fd_ >= 0 && ftruncate(fd_, size) == 0) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (p != MAP_FAILED) base_ = static_cast<uint8_t*>(p);
  }
}

Memory::~Memory() {
  if (base_) munmap(base_, size_);
  if (fd_ >= 0) close(fd_);
}

uint64_t Memory::Alloc(size_t n, size_t align) {
  next_ = (next_ + align - 1) / align * align;
  uint64_t gpa = kGpaBase + next_;
  next_ += n;
  if (next_ > size_) abort();
  return gpa;
}

struct guest_mem_region Memory::Region() const {
  struct guest_mem_region r = {};
  r.gpa = kGpaBase;
  r.size = size_;
  r.uva = kUvaBase;
  r.mmap_offset = 0;
  return r;
}

Ring::Ring(Memory* mem, uint16_t num) : mem_(mem), num_(num) {
  desc_ = mem->Alloc(vq_desc_size(num), 16);
  avail_ = mem->Alloc(vq_avail_size(num), 2);
  used_ = mem->Alloc(vq_used_size(num), 4);
  memset(mem->Ptr(desc_), 0, vq_desc_size(num));
  memset(mem->Ptr(avail_), 0, vq_avail_size(num));
  memset(mem->Ptr(used_), 0, vq_used_size(num));
  for (int i = num - 1; i >= 0; i--) free_.push_back(static_cast<uint16_t>(i));
}

struct vring_desc_le* Ring::Desc(uint16_t i) {
  return reinterpret_cast<struct vring_desc_le*>(mem_->Ptr(desc_)) + i;
}

uint16_t Ring::Add(const std::vector<Buf>& bufs) {
  if (free_.size() < bufs.size()) abort();  // the test overfilled the ring
  std::vector<uint16_t> ds;
  for (size_t i = 0; i < bufs.size(); i++) {
    ds.push_back(free_.back());
    free_.pop_back();
  }
  for (size_t i = 0; i < bufs.size(); i++) {
    struct vring_desc_le* p = Desc(ds[i]);
    p->addr = bufs[i].gpa;
    p->len = bufs[i].len;
    p->flags = static_cast<uint16_t>((bufs[i].write ? VRING_DESC_F_WRITE : 0) |
                                     (i + 1 < bufs.size() ? VRING_DESC_F_NEXT : 0));
    p->next = i + 1 < bufs.size() ? ds[i + 1] : 0;
  }
  PublishHead(ds[0]);
  return ds[0];
}

void Ring::PublishHead(uint16_t head) {
  uint8_t* a = mem_->Ptr(avail_);
  uint16_t idx;
  memcpy(&idx, a + 2, 2);
  memcpy(a + 4 + 2 * (idx % num_), &head, 2);
  __atomic_thread_fence(__ATOMIC_RELEASE);
  idx++;
  memcpy(a + 2, &idx, 2);
}

void Ring::SetAvailIdx(uint16_t idx) { memcpy(mem_->Ptr(avail_) + 2, &idx, 2); }

uint16_t Ring::AvailIdx() {
  uint16_t idx;
  memcpy(&idx, mem_->Ptr(avail_) + 2, 2);
  return idx;
}

void Ring::SetAvailFlags(uint16_t flags) { memcpy(mem_->Ptr(avail_), &flags, 2); }

uint16_t Ring::UsedIdx() {
  uint16_t idx;
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  memcpy(&idx, mem_->Ptr(used_) + 2, 2);
  return idx;
}

bool Ring::PopUsed(uint32_t* id, uint32_t* len) {
  if (UsedIdx() == last_used_) return false;
  uint8_t* e = mem_->Ptr(used_) + 4 + 8 * (last_used_ % num_);
  memcpy(id, e, 4);
  memcpy(len, e + 4, 4);
  last_used_++;
  // Our own chain: give its descriptors back.
  if (*id < num_) {
    uint16_t d = static_cast<uint16_t>(*id);
    for (int n = 0; n < num_; n++) {
      struct vring_desc_le* p = Desc(d);
      bool next = p->flags & VRING_DESC_F_NEXT;
      if (std::find(free_.begin(), free_.end(), d) == free_.end()) free_.push_back(d);
      if (!next) break;
      d = p->next;
    }
  }
  return true;
}

VsockDriver::VsockDriver(Memory* mem, uint64_t cid, uint16_t num)
    : mem_(mem), cid_(cid), rx_(mem, num), tx_(mem, num), rx_bufs_(num), tx_slots_(num) {
  for (auto& slot : tx_slots_) slot = mem->Alloc(VSOCK_HDR_SIZE + VSOCK_MAX_PKT_PAYLOAD, 8);
}

void VsockDriver::AddRx(uint64_t hdr, uint64_t buf, uint32_t size) {
  uint16_t head = rx_.Add({{hdr, VSOCK_HDR_SIZE, true}, {buf, size - VSOCK_HDR_SIZE, true}});
  rx_bufs_[head] = {hdr, buf, size};
}

void VsockDriver::PostRx(int n, uint32_t size) {
  for (int i = 0; i < n; i++) {
    uint64_t hdr = mem_->Alloc(VSOCK_HDR_SIZE, 8);
    uint64_t buf = mem_->Alloc(size - VSOCK_HDR_SIZE, 8);
    AddRx(hdr, buf, size);
  }
}

void VsockDriver::Send(const struct vsock_hdr& h, const std::string& payload) {
  // Descriptors are handed out in ring order: the chain's first descriptor
  // index picks its buffer slot (a slot is reused only after the ring wraps,
  // by which time the device has long consumed it in these tests).
  uint64_t slot = tx_slots_[tx_next_ % tx_.num()];
  tx_next_ += payload.empty() ? 1 : 2;
  struct vsock_hdr hh = h;
  if (!payload.empty() && hh.len == 0) hh.len = static_cast<uint32_t>(payload.size());
  vsock_hdr_encode(&hh, mem_->Ptr(slot));
  if (payload.empty()) {
    tx_.Add({{slot, VSOCK_HDR_SIZE, false}});
    return;
  }
  size_t n = payload.size() < VSOCK_MAX_PKT_PAYLOAD ? payload.size() : VSOCK_MAX_PKT_PAYLOAD;
  memcpy(mem_->Ptr(slot + VSOCK_HDR_SIZE), payload.data(), n);
  tx_.Add({{slot, VSOCK_HDR_SIZE, false}, {slot + VSOCK_HDR_SIZE, static_cast<uint32_t>(n), false}});
}

struct vsock_hdr VsockDriver::Hdr(uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t buf_alloc,
                                  uint32_t fwd_cnt) const {
  struct vsock_hdr h = {};
  h.src_cid = cid_;
  h.dst_cid = VSOCK_HOST_CID;
  h.src_port = src_port;
  h.dst_port = dst_port;
  h.type = VSOCK_TYPE_STREAM;
  h.op = op;
  h.buf_alloc = buf_alloc;
  h.fwd_cnt = fwd_cnt;
  return h;
}

std::vector<Packet> VsockDriver::Receive(bool repost) {
  std::vector<Packet> out;
  uint32_t id, len;
  while (rx_.PopUsed(&id, &len)) {
    Packet p = {};
    if (id >= rx_bufs_.size() || rx_bufs_[id].size == 0) {
      p.hdr.op = 0xffff;  // not a chain we posted
      out.push_back(p);
      continue;
    }
    RxBuf b = rx_bufs_[id];
    rx_bufs_[id] = RxBuf();
    if (len >= VSOCK_HDR_SIZE) {
      vsock_hdr_decode(mem_->Ptr(b.hdr), &p.hdr);
      p.payload.assign(reinterpret_cast<char*>(mem_->Ptr(b.buf)), len - VSOCK_HDR_SIZE);
    } else {
      p.hdr.op = 0xfffe;  // returned empty
    }
    out.push_back(p);
    if (repost) AddRx(b.hdr, b.buf, b.size);
  }
  return out;
}

int VsockDriver::ReclaimTx() {
  int n = 0;
  uint32_t id, len;
  while (tx_.PopUsed(&id, &len)) n++;
  return n;
}

Frontend::~Frontend() {
  for (int q = 0; q < 2; q++) {
    if (kick_[q] >= 0) close(kick_[q]);
    if (call_[q] >= 0) close(call_[q]);
  }
  if (fd_ >= 0) close(fd_);
}

bool Frontend::Request(struct vhost_user_msg* msg, const int* fds, int nfds, bool want_reply,
                       struct vhost_user_msg* reply) {
  msg->flags = VHOST_USER_VERSION;
  size_t len = VHOST_USER_HDR_SIZE + msg->size;
  struct iovec iov = {msg, len};
  union {
    char buf[CMSG_SPACE(sizeof(int) * 8)];
    struct cmsghdr align;
  } control = {};
  struct msghdr mh = {};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (nfds) {
    mh.msg_control = control.buf;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  if (sendmsg(fd_, &mh, MSG_NOSIGNAL) != static_cast<ssize_t>(len)) return false;
  if (!want_reply) return true;
  struct pollfd p = {fd_, POLLIN, 0};
  if (poll(&p, 1, 5000) != 1) return false;
  if (read(fd_, reply, VHOST_USER_HDR_SIZE) != VHOST_USER_HDR_SIZE) return false;
  if (reply->size > VHOST_USER_MAX_PAYLOAD) return false;
  return reply->size == 0 ||
         read(fd_, reinterpret_cast<uint8_t*>(reply) + VHOST_USER_HDR_SIZE, reply->size) ==
             static_cast<ssize_t>(reply->size);
}

static void SetU64(struct vhost_user_msg* m, uint32_t req, uint64_t v) {
  memset(m, 0, sizeof(*m));
  m->request = req;
  m->size = 8;
  memcpy(reinterpret_cast<uint8_t*>(m) + VHOST_USER_HDR_SIZE, &v, 8);
}

static void SetState(struct vhost_user_msg* m, uint32_t req, uint32_t index, uint32_t num) {
  memset(m, 0, sizeof(*m));
  m->request = req;
  m->size = 8;
  m->payload.state.index = index;
  m->payload.state.num = num;
}

static uint64_t GetU64(const struct vhost_user_msg* m) {
  uint64_t v;
  memcpy(&v, reinterpret_cast<const uint8_t*>(m) + VHOST_USER_HDR_SIZE, 8);
  return v;
}

bool Frontend::Attach(int fd, Memory* mem, VsockDriver* drv, std::string* error) {
  fd_ = fd;
  struct vhost_user_msg m, r;
#define FAIL(what)      \
  do {                  \
    *error = what;      \
    return false;       \
  } while (0)
  memset(&m, 0, sizeof(m));
  m.request = VHOST_USER_GET_FEATURES;
  if (!Request(&m, nullptr, 0, true, &r)) FAIL("GET_FEATURES");
  uint64_t features = GetU64(&r);
  if (!(features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES))) FAIL("no F_PROTOCOL_FEATURES");
  memset(&m, 0, sizeof(m));
  m.request = VHOST_USER_GET_PROTOCOL_FEATURES;
  if (!Request(&m, nullptr, 0, true, &r)) FAIL("GET_PROTOCOL_FEATURES");
  uint64_t pf = GetU64(&r);
  if (!(pf & (1ull << VHOST_USER_PROTOCOL_F_CONFIG))) FAIL("no F_CONFIG");
  SetU64(&m, VHOST_USER_SET_PROTOCOL_FEATURES, pf);
  if (!Request(&m, nullptr, 0, false, nullptr)) FAIL("SET_PROTOCOL_FEATURES");
  memset(&m, 0, sizeof(m));
  m.request = VHOST_USER_SET_OWNER;
  if (!Request(&m, nullptr, 0, false, nullptr)) FAIL("SET_OWNER");
  memset(&m, 0, sizeof(m));
  m.request = VHOST_USER_GET_CONFIG;
  m.size = VHOST_USER_CONFIG_HDR_SIZE + 8;
  m.payload.config.size = 8;
  if (!Request(&m, nullptr, 0, true, &r) || r.size != VHOST_USER_CONFIG_HDR_SIZE + 8) FAIL("GET_CONFIG");
  memcpy(&cid_, r.payload.config.payload, 8);
  SetU64(&m, VHOST_USER_SET_FEATURES, features & ((1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES)));
  if (!Request(&m, nullptr, 0, false, nullptr)) FAIL("SET_FEATURES");
  memset(&m, 0, sizeof(m));
  m.request = VHOST_USER_SET_MEM_TABLE;
  m.size = 8 + sizeof(struct vhost_user_region_msg);
  m.payload.mem.nregions = 1;
  struct guest_mem_region reg = mem->Region();
  struct vhost_user_region_msg rm = {reg.gpa, reg.size, reg.uva, 0};
  memcpy(reinterpret_cast<uint8_t*>(&m) + VHOST_USER_HDR_SIZE + 8, &rm, sizeof(rm));
  int mfd = mem->fd();
  if (!Request(&m, &mfd, 1, false, nullptr)) FAIL("SET_MEM_TABLE");
  Ring* rings[2] = {&drv->rx(), &drv->tx()};
  for (uint32_t q = 0; q < 2; q++) {
    SetState(&m, VHOST_USER_SET_VRING_NUM, q, rings[q]->num());
    if (!Request(&m, nullptr, 0, false, nullptr)) FAIL("SET_VRING_NUM");
    SetState(&m, VHOST_USER_SET_VRING_BASE, q, 0);
    if (!Request(&m, nullptr, 0, false, nullptr)) FAIL("SET_VRING_BASE");
    memset(&m, 0, sizeof(m));
    m.request = VHOST_USER_SET_VRING_ADDR;
    m.size = sizeof(m.payload.addr);
    m.payload.addr.index = q;
    m.payload.addr.desc = mem->Uva(rings[q]->desc_gpa());
    m.payload.addr.avail = mem->Uva(rings[q]->avail_gpa());
    m.payload.addr.used = mem->Uva(rings[q]->used_gpa());
    if (!Request(&m, nullptr, 0, false, nullptr)) FAIL("SET_VRING_ADDR");
    kick_[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    call_[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    SetU64(&m, VHOST_USER_SET_VRING_CALL, q);
    if (!Request(&m, &call_[q], 1, false, nullptr)) FAIL("SET_VRING_CALL");
    SetU64(&m, VHOST_USER_SET_VRING_KICK, q);
    if (!Request(&m, &kick_[q], 1, false, nullptr)) FAIL("SET_VRING_KICK");
    SetState(&m, VHOST_USER_SET_VRING_ENABLE, q, 1);
    if (!Request(&m, nullptr, 0, false, nullptr)) FAIL("SET_VRING_ENABLE");
  }
#undef FAIL
  return true;
}

static void Kick(int fd) {
  uint64_t one = 1;
  (void)!write(fd, &one, 8);
}

void Frontend::KickRx() { Kick(kick_[0]); }
void Frontend::KickTx() { Kick(kick_[1]); }

bool Frontend::WaitCall(int q, int timeout_ms) {
  struct pollfd p = {call_[q], POLLIN, 0};
  if (poll(&p, 1, timeout_ms) != 1) return false;
  uint64_t v;
  (void)!read(call_[q], &v, 8);
  return true;
}

}  // namespace fakeguest
