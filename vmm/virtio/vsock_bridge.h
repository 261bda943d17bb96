/* The host end of a VM's vsock: our vhost-user-vsock back-end for QEMU plus
 * Firecracker's hybrid vsock convention on a Unix socket, run by one thread
 * per VM on one epoll loop.
 *
 *   vhost_path  QEMU connects here (-chardev socket,path=...,
 *               -device vhost-user-vsock-device,chardev=...). One front-end
 *               at a time; when it goes, every connection is dropped and
 *               the next front-end is accepted.
 *   uds_path    host programs connect here, write "CONNECT <port>\n" and
 *               read "OK <hostport>\n" once the guest accepted, then bytes
 *               flow; the socket is simply closed when nothing listens on
 *               that guest port (or the device is not up yet).
 *   uds_path_<port>  guest-initiated connections to host port <port> are
 *               connected here, as Firecracker does.
 *
 * Sockets are created by vsock_bridge_new (a stale socket file at either
 * path is replaced) and unlinked by vsock_bridge_free. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "lib/base/error.h"
#include "vmm/virtio/vsock_dev.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Pending "CONNECT" lines at once; more connections are closed at once. */
#define VSOCK_BRIDGE_MAX_PENDING 128
/* How long a host connection may take to send its CONNECT line. */
#define VSOCK_BRIDGE_LINE_TIMEOUT_MS 10000

struct vsock_bridge_config {
        const char *vhost_path;
        const char *uds_path;
        uint64_t guest_cid;            /* >= 3 */
        unsigned connect_timeout_ms;   /* guest RESPONSE wait; 0: the device default */
};

struct vsock_bridge;

/* Creates and binds both sockets. Errors name the path and the cause. */
int vsock_bridge_new(const struct vsock_bridge_config *cfg, struct vsock_bridge **ret, struct ak_error *err);

/* Starts the bridge thread; returns once it runs. */
int vsock_bridge_start(struct vsock_bridge *b, struct ak_error *err);

/* The bridge thread's kernel thread id (gettid), 0 before start. The
 * executor moves it into its VM's CPU cgroup: it does the VM's vsock work. */
pid_t vsock_bridge_tid(struct vsock_bridge *b);

/* Stops and joins the thread (if started), closes every fd and unlinks the
 * sockets. NULL is a no-op. */
void vsock_bridge_free(struct vsock_bridge *b);

/* A snapshot of the device counters (any thread). */
void vsock_bridge_get_stats(struct vsock_bridge *b, struct vsock_dev_stats *ret);

/* Whether a vhost-user front-end is connected and the device rings run
 * (any thread). */
int vsock_bridge_device_running(struct vsock_bridge *b);

#ifdef __cplusplus
}
#endif
