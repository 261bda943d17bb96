// The guest side of our vhost-user-vsock device, in-process and without a
// VM: guest RAM in a memfd, split rings laid out in it as a virtio driver
// would, a virtio-vsock driver that sends and receives packets, and a
// vhost-user front-end (what QEMU does) that hands all of it to a back-end
// over a Unix socket. Lets the device logic be tested fast and exactly.
#pragma once

#include <stdint.h>

#include <string>
#include <vector>

extern "C" {
#include "vmm/virtio/guest_mem.h"
#include "vmm/virtio/vhost_user.h"
#include "vmm/virtio/virtqueue.h"
#include "vmm/virtio/vsock_pkt.h"
}

namespace fakeguest {

// Guest RAM: one memfd region at kGpaBase; "QEMU's" user address of it is
// kUvaBase (a number only the back-end translates).
class Memory {
 public:
  static constexpr uint64_t kGpaBase = 0x40000000;
  static constexpr uint64_t kUvaBase = 0x7f0000000000;
  explicit Memory(size_t size = 16 << 20);
  ~Memory();
  int fd() const { return fd_; }
  size_t size() const { return size_; }
  uint64_t Alloc(size_t n, size_t align = 16);  // returns a gpa
  uint8_t* Ptr(uint64_t gpa) { return base_ + (gpa - kGpaBase); }
  uint64_t Uva(uint64_t gpa) const { return gpa - kGpaBase + kUvaBase; }
  struct guest_mem_region Region() const;

 private:
  int fd_ = -1;
  size_t size_;
  uint8_t* base_ = nullptr;
  size_t next_ = 0;
};

struct Buf {
  uint64_t gpa;
  uint32_t len;
  bool write;
};

// The driver's view of a split ring.
class Ring {
 public:
  Ring(Memory* mem, uint16_t num);
  uint16_t num() const { return num_; }
  uint64_t desc_gpa() const { return desc_; }
  uint64_t avail_gpa() const { return avail_; }
  uint64_t used_gpa() const { return used_; }
  struct vring_desc_le* Desc(uint16_t i);
  // A chain of descriptors (from the free list) made available. Used
  // chains come back to the free list in PopUsed.
  uint16_t Add(const std::vector<Buf>& bufs);
  // Makes `head` available without building it (for malformed chains).
  void PublishHead(uint16_t head);
  void SetAvailIdx(uint16_t idx);
  uint16_t AvailIdx();
  void SetAvailFlags(uint16_t flags);
  bool PopUsed(uint32_t* id, uint32_t* len);
  uint16_t UsedIdx();

 private:
  Memory* mem_;
  uint16_t num_;
  uint64_t desc_, avail_, used_;
  std::vector<uint16_t> free_;  // descriptors not in any chain
  uint16_t last_used_ = 0;
};

struct Packet {
  struct vsock_hdr hdr;
  std::string payload;
};

// A virtio-vsock driver: rx ring (device writes) and tx ring (driver writes).
class VsockDriver {
 public:
  VsockDriver(Memory* mem, uint64_t cid, uint16_t num = 64);
  Ring& rx() { return rx_; }
  Ring& tx() { return tx_; }
  uint64_t cid() const { return cid_; }
  // n device-writable buffers of size bytes (header + payload room).
  void PostRx(int n, uint32_t size = VSOCK_HDR_SIZE + 4096);
  // A packet in two descriptors (header, payload), as Linux sends it;
  // h.len is set from the payload unless the test set it.
  void Send(const struct vsock_hdr& h, const std::string& payload = "");
  // A header for this guest -> the host.
  struct vsock_hdr Hdr(uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t buf_alloc = 1 << 18,
                       uint32_t fwd_cnt = 0) const;
  // Takes every packet the device has delivered (reposting the buffers).
  std::vector<Packet> Receive(bool repost = true);
  // Returns tx buffers the device is done with; how many.
  int ReclaimTx();

 private:
  void AddRx(uint64_t hdr, uint64_t buf, uint32_t size);
  Memory* mem_;
  uint64_t cid_;
  Ring rx_, tx_;
  struct RxBuf {
    uint64_t hdr = 0, buf = 0;
    uint32_t size = 0;
  };
  std::vector<RxBuf> rx_bufs_;      // by descriptor head
  std::vector<uint64_t> tx_slots_;  // a 64 KiB + header buffer per tx descriptor
  uint32_t tx_next_ = 0;
};

// A vhost-user front-end (QEMU's role) connected to a back-end socket.
class Frontend {
 public:
  Frontend() = default;
  ~Frontend();
  // Connects (fd of a connected socket is taken) and negotiates, maps
  // memory, configures both rings of drv and enables them.
  bool Attach(int fd, Memory* mem, VsockDriver* drv, std::string* error);
  int fd() const { return fd_; }
  // One request; returns the reply (if the request has one) or nullopt-like false.
  bool Request(struct vhost_user_msg* msg, const int* fds, int nfds, bool want_reply,
               struct vhost_user_msg* reply);
  void KickRx();
  void KickTx();
  // Waits until the back-end signals queue q (0 rx, 1 tx) or timeout.
  bool WaitCall(int q, int timeout_ms);
  uint64_t guest_cid() const { return cid_; }

 private:
  int fd_ = -1;
  int kick_[2] = {-1, -1}, call_[2] = {-1, -1};
  uint64_t cid_ = 0;
};

}  // namespace fakeguest
