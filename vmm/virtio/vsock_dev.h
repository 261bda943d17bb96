/* The virtio-vsock device model behind our vhost-user back-end: streams
 * between the guest (CID guest_cid) and host Unix sockets, carried in
 * virtio-vsock packets over the rx (device to guest) and tx (guest to
 * device) split virtqueues.
 *
 * Each connection pairs a guest port with a host socket fd:
 *   - host-initiated: vsock_dev_host_connect() takes a connected Unix socket
 *     (the bridge has read "CONNECT <port>\n" from it), sends REQUEST, and on
 *     the guest's RESPONSE writes "OK <local port>\n" to the socket (Firecracker's
 *     hybrid vsock); on RST or timeout the socket is closed;
 *   - guest-initiated: a REQUEST to the host CID asks ops->connect() for a
 *     socket (the bridge connects to "<uds>_<port>"); RESPONSE or RST follows.
 * Then RW packets carry bytes both ways with credit-based flow control
 * both ways (we never send more than the guest's buf_alloc allows and
 * advertise our own buf_alloc per connection, with CREDIT_UPDATEs as the
 * host drains), SHUTDOWN half-closes, RST closes. The host socket's
 * shutdown(SHUT_WR) reaches the guest as SHUTDOWN(SEND) ("no more input");
 * its close() or shutdown(SHUT_RDWR) as SHUTDOWN(RCV|SEND) then RST, as a
 * Linux peer's close() does, so the guest can tell a hang-up from the end
 * of a request.
 *
 * Every packet from the guest is checked (addresses, type, op, length,
 * credit); a violation resets that connection, never the device. Host
 * socket fds are watched by an epoll instance owned by the device
 * (vsock_dev_fd): the caller polls it and calls vsock_dev_host_events.
 *
 * Thread-safety: a device belongs to one thread. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vmm/virtio/virtqueue.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VSOCK_QUEUE_RX 0
#define VSOCK_QUEUE_TX 1

#define VSOCK_DEV_MAX_CONNS 1024
/* Per-connection receive buffer (guest to host) advertised as buf_alloc. */
#define VSOCK_DEV_BUF_ALLOC (256u * 1024)
/* How long a host CONNECT waits for the guest's RESPONSE. */
#define VSOCK_DEV_CONNECT_TIMEOUT_MS 10000

struct vsock_dev_ops {
        /* Guest-initiated connection to host port: return 0 and a connected,
         * non-blocking, close-on-exec stream socket in *ret_fd, or -errno. */
        int (*connect)(void *userdata, uint32_t port, int *ret_fd);
        /* Interrupt the guest for queue (VSOCK_QUEUE_RX/TX) if it wants one. */
        void (*notify)(void *userdata, unsigned queue);
};

struct vsock_dev_config {
        uint64_t guest_cid;      /* >= 3 */
        uint32_t buf_alloc;      /* 0: VSOCK_DEV_BUF_ALLOC; at most 64 MiB */
        unsigned max_conns;      /* 0: VSOCK_DEV_MAX_CONNS */
        unsigned connect_timeout_ms; /* 0: VSOCK_DEV_CONNECT_TIMEOUT_MS */
};

struct vsock_dev_stats {
        unsigned conns;
        uint64_t tx_packets;     /* from the guest */
        uint64_t rx_packets;     /* to the guest */
        uint64_t bad_packets;    /* refused (answered with RST or dropped) */
        uint64_t bad_chains;     /* malformed descriptor chains */
};

struct vsock_dev;

/* REQUIRES: ops outlives the device. -EINVAL for a bad config. */
int vsock_dev_new(const struct vsock_dev_config *cfg, const struct vsock_dev_ops *ops, void *userdata,
                  struct vsock_dev **ret);
/* Closes every host socket. NULL is a no-op. */
void vsock_dev_free(struct vsock_dev *d);

/* The device's epoll fd (host sockets); readable means call vsock_dev_host_events. */
int vsock_dev_fd(const struct vsock_dev *d);

/* The rings, when the driver has them running (NULL when not). When either
 * goes away after both were running, every connection is dropped (host
 * sockets closed): the guest driver was reset. */
void vsock_dev_set_queues(struct vsock_dev *d, struct vq *rx, struct vq *tx);
bool vsock_dev_running(const struct vsock_dev *d);

/* Takes fd (a connected host stream socket) for a host-initiated connection
 * to guest port `port`. Returns 0 (fd owned by the device from then on), or
 * -ENOTCONN when the device is not running, -EMFILE at max_conns; then fd
 * stays the caller's. */
int vsock_dev_host_connect(struct vsock_dev *d, int fd, uint32_t port);

/* The guest kicked tx / rx (added packets / buffers). */
void vsock_dev_process_tx(struct vsock_dev *d);
void vsock_dev_process_rx(struct vsock_dev *d);

/* Handles ready host sockets (non-blocking). */
void vsock_dev_host_events(struct vsock_dev *d);

/* Milliseconds until vsock_dev_tick must run (-1: no deadline; 0: there is
 * work left over from a bounded batch). */
int vsock_dev_timeout_ms(const struct vsock_dev *d);
void vsock_dev_tick(struct vsock_dev *d);

/* Config space: struct virtio_vsock_config { le64 guest_cid; }. */
#define VSOCK_DEV_CONFIG_SIZE 8u
void vsock_dev_get_config(const struct vsock_dev *d, uint8_t buf[VSOCK_DEV_CONFIG_SIZE]);

void vsock_dev_get_stats(const struct vsock_dev *d, struct vsock_dev_stats *ret);

#ifdef __cplusplus
}
#endif
