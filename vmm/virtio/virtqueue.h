/* The device side of a split virtqueue (virtio 1.x, 2.6), over guest memory
 * that the guest driver writes concurrently and may fill with anything.
 *
 * Every descriptor is read once into locals (no double fetch), every index
 * is range-checked, chains are bounded in length (ring size, and
 * VQ_MAX_INDIRECT entries for an indirect table), a loop cannot run
 * forever, and every buffer address is translated with guest_mem's bounds
 * checks. A malformed chain is reported to the caller (who returns it to
 * the guest with length 0); an avail index that jumps by more than the ring
 * size marks the ring broken and it is never read again.
 *
 * Thread-safety: a ring belongs to one thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/virtio/guest_mem.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VQ_MAX_SIZE 32768
/* Buffers (iovecs) in one chain; longer chains are malformed. */
#define VQ_MAX_IOV 64
/* Entries in one indirect table. */
#define VQ_MAX_INDIRECT 256

#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_USED_F_NO_NOTIFY 1
#define VRING_AVAIL_F_NO_INTERRUPT 1

/* Guest-visible layouts (little-endian; the host is too). */
struct vring_desc_le {
        uint64_t addr;
        uint32_t len;
        uint16_t flags;
        uint16_t next;
};

struct vring_used_elem_le {
        uint32_t id;
        uint32_t len;
};

/* Bytes of each part for a ring of num entries (event idx fields included). */
static inline size_t vq_desc_size(unsigned num) { return 16u * num; }
static inline size_t vq_avail_size(unsigned num) { return 6u + 2u * num; }
static inline size_t vq_used_size(unsigned num) { return 6u + 8u * num; }

struct vq {
        uint16_t num;                  /* 0: not configured */
        struct vring_desc_le *desc;
        uint8_t *avail;                /* flags, idx, ring[num], used_event */
        uint8_t *used;                 /* flags, idx, ring[num], avail_event */
        const struct guest_mem *mem;
        bool indirect;                 /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
        bool event_idx;                /* VIRTIO_RING_F_EVENT_IDX negotiated */
        bool broken;
        uint16_t last_avail_idx;       /* next avail entry to read */
        uint16_t used_idx;             /* next used entry to write */
        uint16_t signalled_used;       /* used_idx at the last notification */
        bool signalled_used_valid;
};

/* One popped chain: the driver's readable buffers first (out), then the
 * writable ones (in), as iovecs into guest memory. */
struct vq_chain {
        uint16_t head;
        unsigned n_out, n_in;
        struct iovec iov[VQ_MAX_IOV];  /* out buffers, then in buffers */
        size_t out_len, in_len;
};

/* Points q at a ring of num entries whose parts live at the given host
 * pointers (already translated and bounds-checked by the caller for
 * vq_*_size(num) bytes). Resets the indices to last_avail_idx. */
void vq_init(struct vq *q, const struct guest_mem *mem, uint16_t num, void *desc, void *avail, void *used,
             uint16_t last_avail_idx, bool indirect, bool event_idx);

/* Translates the ring from VMM user addresses (VHOST_USER_SET_VRING_ADDR)
 * and calls vq_init. -EINVAL if num is not a power of two in 1..VQ_MAX_SIZE
 * or any part is outside guest memory or misaligned. */
int vq_map_uva(struct vq *q, const struct guest_mem *mem, uint16_t num, uint64_t desc_uva, uint64_t avail_uva,
               uint64_t used_uva, uint16_t last_avail_idx, bool indirect, bool event_idx);

/* Pops the next available chain. Returns 1 with *c filled, 0 when the ring
 * is empty, -EIO when the chain was malformed (c->head is still set: push it
 * back with length 0), -EPIPE when the ring is broken. */
int vq_pop(struct vq *q, struct vq_chain *c);

/* Un-pops the last popped chain (it was not used); it will be popped again. */
void vq_unpop(struct vq *q);

/* Returns a chain to the driver with len bytes written into its in buffers. */
void vq_push(struct vq *q, uint16_t head, uint32_t len);

/* Whether the driver wants an interrupt for what was pushed since the last
 * notification (honours VRING_AVAIL_F_NO_INTERRUPT or used_event). Call it
 * after a batch of vq_push; true means write the call eventfd. */
bool vq_should_notify(struct vq *q);

/* Copies up to len bytes from the chain's out buffers, starting at offset,
 * into dst. Returns the bytes copied. */
size_t vq_chain_read(const struct vq_chain *c, size_t offset, void *dst, size_t len);

/* Copies len bytes into the chain's in buffers from offset. Returns the
 * bytes copied (less when the buffers end). */
size_t vq_chain_write(const struct vq_chain *c, size_t offset, const void *src, size_t len);

/* Fills iov (at most max entries) with the part of the in buffers from
 * offset, at most len bytes. Returns the entries used. */
unsigned vq_chain_in_iov(const struct vq_chain *c, size_t offset, size_t len, struct iovec *iov, unsigned max);
/* The same for out buffers. */
unsigned vq_chain_out_iov(const struct vq_chain *c, size_t offset, size_t len, struct iovec *iov, unsigned max);

#ifdef __cplusplus
}
#endif
