/* The back-end side of the vhost-user protocol (QEMU docs/interop/
 * vhost-user.rst), device-independent: feature and protocol-feature
 * negotiation, ownership, the guest memory table (regions mmap'd from fds
 * received with SCM_RIGHTS), vring configuration and kick/call/err
 * eventfds, and the device config space (VHOST_USER_PROTOCOL_F_CONFIG,
 * which QEMU's vhost-user-vsock needs to read the guest CID).
 *
 * What QEMU 7.2 sends to a vhost-user-vsock back-end is handled; anything
 * else, and any message with a wrong size, wrong fds or out-of-range
 * values, is an error: the caller then closes the connection (after a
 * REPLY_ACK failure reply where the front-end asked for one). Nothing a
 * front-end sends can make this code read or write outside a mapping.
 *
 * Thread-safety: a struct vhost_user belongs to one thread. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vmm/virtio/guest_mem.h"
#include "vmm/virtio/virtqueue.h"

#ifdef __cplusplus
extern "C" {
#endif

enum vhost_user_request {
        VHOST_USER_GET_FEATURES = 1,
        VHOST_USER_SET_FEATURES = 2,
        VHOST_USER_SET_OWNER = 3,
        VHOST_USER_RESET_OWNER = 4,
        VHOST_USER_SET_MEM_TABLE = 5,
        VHOST_USER_SET_LOG_BASE = 6,
        VHOST_USER_SET_LOG_FD = 7,
        VHOST_USER_SET_VRING_NUM = 8,
        VHOST_USER_SET_VRING_ADDR = 9,
        VHOST_USER_SET_VRING_BASE = 10,
        VHOST_USER_GET_VRING_BASE = 11,
        VHOST_USER_SET_VRING_KICK = 12,
        VHOST_USER_SET_VRING_CALL = 13,
        VHOST_USER_SET_VRING_ERR = 14,
        VHOST_USER_GET_PROTOCOL_FEATURES = 15,
        VHOST_USER_SET_PROTOCOL_FEATURES = 16,
        VHOST_USER_GET_QUEUE_NUM = 17,
        VHOST_USER_SET_VRING_ENABLE = 18,
        VHOST_USER_GET_CONFIG = 24,
        VHOST_USER_SET_CONFIG = 25,
};

#define VHOST_USER_VERSION 0x1u
#define VHOST_USER_VERSION_MASK 0x3u
#define VHOST_USER_FLAG_REPLY (1u << 2)
#define VHOST_USER_FLAG_NEED_REPLY (1u << 3)

#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VHOST_USER_PROTOCOL_F_MQ 0
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_PROTOCOL_F_CONFIG 9

#define VHOST_USER_VRING_IDX_MASK 0xffu
#define VHOST_USER_VRING_NOFD_MASK (1u << 8)

#define VHOST_USER_HDR_SIZE 12u
#define VHOST_USER_MAX_CONFIG 256u
#define VHOST_USER_CONFIG_HDR_SIZE 12u
/* The largest payload accepted: a config message (12 + 256 bytes) is it. */
#define VHOST_USER_MAX_PAYLOAD (VHOST_USER_CONFIG_HDR_SIZE + VHOST_USER_MAX_CONFIG)
#define VHOST_USER_MAX_FDS GUEST_MEM_MAX_REGIONS
#define VHOST_USER_MAX_QUEUES 8

struct vhost_user_region_msg {
        uint64_t gpa;
        uint64_t size;
        uint64_t uva;
        uint64_t mmap_offset;
};

/* One message as it travels (native byte order, packed). */
struct vhost_user_msg {
        uint32_t request;
        uint32_t flags;
        uint32_t size;
        union {
                uint64_t u64;
                struct {
                        uint32_t index;
                        uint32_t num;
                } state;
                struct {
                        uint32_t index;
                        uint32_t flags;
                        uint64_t desc;
                        uint64_t used;
                        uint64_t avail;
                        uint64_t log;
                } addr;
                struct {
                        uint32_t nregions;
                        uint32_t padding;
                        struct vhost_user_region_msg regions[GUEST_MEM_MAX_REGIONS];
                } mem;
                struct {
                        uint32_t offset;
                        uint32_t size;
                        uint32_t flags;
                        uint8_t payload[VHOST_USER_MAX_CONFIG];
                } config;
                uint8_t raw[VHOST_USER_MAX_PAYLOAD];
        } payload;
} __attribute__((packed));

/* What the device behind the protocol provides. */
struct vhost_user_backend {
        uint64_t features;          /* virtio feature bits offered (F_PROTOCOL_FEATURES is added) */
        unsigned n_queues;          /* <= VHOST_USER_MAX_QUEUES */
        uint32_t config_size;       /* <= VHOST_USER_MAX_CONFIG */
        /* Copies the whole config space (config_size bytes) into buf. */
        void (*get_config)(void *userdata, uint8_t *buf);
};

struct vhost_user;

/* REQUIRES: be outlives the object. */
int vhost_user_new(const struct vhost_user_backend *be, void *userdata, struct vhost_user **ret);
/* Closes every fd, unmaps guest memory. NULL is a no-op. */
void vhost_user_free(struct vhost_user *vu);

/* Back to the state of a new object (front-end gone): fds closed, memory
 * unmapped, queues stopped, features forgotten. */
void vhost_user_reset(struct vhost_user *vu);

/* Reads one message from a connected SOCK_STREAM socket (blocking for at
 * most the socket's receive timeout), with up to VHOST_USER_MAX_FDS fds
 * (owned by the caller afterwards, *ret_nfds of them, also on error).
 * Returns 0, -ECONNRESET at EOF, -EPROTO for a header claiming a payload
 * above VHOST_USER_MAX_PAYLOAD, a wrong version, truncated control data, or
 * a short message; the read's -errno otherwise. */
int vhost_user_recv(int fd, struct vhost_user_msg *ret_msg, int *ret_fds, unsigned *ret_nfds);

/* Sends a message (header + size bytes of payload). 0 or -errno. */
int vhost_user_send(int fd, const struct vhost_user_msg *msg);

/* Handles one message. Takes ownership of fds[0..nfds) (each is kept or
 * closed, also on error). When a reply is due (the request has one, or
 * REPLY_ACK was negotiated and the front-end set NEED_REPLY), *ret_reply
 * is filled and *ret_has_reply set, also on error (an ack saying failure).
 * Returns 0, or -errno when the message was invalid: then close the
 * connection after sending the reply. */
int vhost_user_handle(struct vhost_user *vu, const struct vhost_user_msg *msg, int *fds, unsigned nfds,
                      struct vhost_user_msg *ret_reply, bool *ret_has_reply);

/* recv + handle + send. Returns 0, or -errno: close the connection. */
int vhost_user_serve_one(struct vhost_user *vu, int fd);

/* The ring of queue idx if it is running (memory, size, addresses and kick
 * fd set, enabled, not broken), else NULL. The pointer stays valid until the
 * next vhost_user_handle/reset. */
struct vq *vhost_user_queue(struct vhost_user *vu, unsigned idx);

/* The kick eventfd of queue idx (-1 if none) and a generation number that
 * changes whenever the fd is replaced (fd numbers are reused, so compare
 * generations, not numbers, to know when to re-register it). */
int vhost_user_kick_fd(const struct vhost_user *vu, unsigned idx, unsigned *ret_gen);

/* Signals the guest for queue idx if vq_should_notify says so. */
void vhost_user_notify(struct vhost_user *vu, unsigned idx);

/* Negotiated features (after SET_FEATURES). */
uint64_t vhost_user_features(const struct vhost_user *vu);

/* A name for a request number ("SET_MEM_TABLE"), or "UNKNOWN". */
const char *vhost_user_request_name(uint32_t request);

#ifdef __cplusplus
}
#endif
