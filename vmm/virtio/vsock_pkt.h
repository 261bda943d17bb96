/* virtio-vsock packet headers (virtio 1.2, 5.10.6): the 44-byte little-endian
 * header in front of every packet, decoded into a host struct and checked.
 * Pure functions; any thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VSOCK_HDR_SIZE 44u
/* The largest payload one packet may carry (Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE). */
#define VSOCK_MAX_PKT_PAYLOAD (64u * 1024)
#define VSOCK_HOST_CID 2u

enum vsock_type { VSOCK_TYPE_STREAM = 1, VSOCK_TYPE_SEQPACKET = 2 };

enum vsock_op {
        VSOCK_OP_INVALID = 0,
        VSOCK_OP_REQUEST = 1,
        VSOCK_OP_RESPONSE = 2,
        VSOCK_OP_RST = 3,
        VSOCK_OP_SHUTDOWN = 4,
        VSOCK_OP_RW = 5,
        VSOCK_OP_CREDIT_UPDATE = 6,
        VSOCK_OP_CREDIT_REQUEST = 7,
};

#define VSOCK_SHUTDOWN_RCV 1u
#define VSOCK_SHUTDOWN_SEND 2u

struct vsock_hdr {
        uint64_t src_cid;
        uint64_t dst_cid;
        uint32_t src_port;
        uint32_t dst_port;
        uint32_t len;
        uint16_t type;
        uint16_t op;
        uint32_t flags;
        uint32_t buf_alloc;
        uint32_t fwd_cnt;
};

void vsock_hdr_decode(const uint8_t buf[VSOCK_HDR_SIZE], struct vsock_hdr *ret);
void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t buf[VSOCK_HDR_SIZE]);

/* "REQUEST", "RW", ...; "INVALID" for unknown values. */
const char *vsock_op_name(uint16_t op);

#ifdef __cplusplus
}
#endif
