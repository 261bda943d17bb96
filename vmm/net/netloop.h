/* One thread that serves the sockets of every VM's network namespace.
 *
 * A socket stays in the network namespace it was created in, whichever
 * thread later reads it, so the host-side parts of a VM's network (its DNS
 * resolver, its SNI/Host proxy, the reader of its denial log) need a thread
 * in the namespace only to create their sockets (netns_call), and one epoll
 * thread in the host's namespace for all VMs to serve them, instead of a
 * thread per VM.
 *
 * Handlers run on the loop's thread, one at a time, and must not block: a
 * slow one delays every VM's network. Timeouts are timerfds added like any
 * other fd.
 *
 * Removal is synchronous: once netloop_del returns, the handler is not
 * running and will not be called again for that registration, so its
 * context may be freed. A handler may remove itself (or any other). */
#pragma once

#include <stdint.h>
#include <sys/epoll.h> /* EPOLLIN, EPOLLOUT, ... */

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct netloop;

/* events: EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP as epoll reports them. */
typedef void (*netloop_fn)(void *ctx, int fd, uint32_t events);

/* Starts the loop's thread. */
int netloop_new(struct netloop **ret, struct ak_error *err);

/* The process's shared loop, started on first use; lives until exit.
 * -errno when it cannot be started. */
int netloop_shared(struct netloop **ret, struct ak_error *err);

/* Serves fd (level-triggered) with fn(ctx, fd, events) for events (EPOLLIN,
 * EPOLLOUT, ...). The caller keeps owning fd: it closes it after
 * netloop_del. 0, or -errno (-EEXIST when fd is served already). */
int netloop_add(struct netloop *l, int fd, uint32_t events, netloop_fn fn, void *ctx);

/* Changes the events fd is served for. */
int netloop_mod(struct netloop *l, int fd, uint32_t events);

/* Stops serving fd; see above. No-op for an fd not served. */
void netloop_del(struct netloop *l, int fd);

/* Stops the thread (every registration must be gone) and frees the loop. */
void netloop_free(struct netloop *l);

/* Runs fn(arg) on a short-lived thread that has joined the network
 * namespace netns_fd (setns), and returns what fn returned: how to create a
 * socket in a VM's namespace (a process cannot change its own namespace
 * while it has other threads; a thread can). -errno if the thread cannot
 * join (no CAP_SYS_ADMIN). */
int netns_call(int netns_fd, int (*fn)(void *arg), void *arg);

/* socket(2) in the namespace netns_fd (SOCK_CLOEXEC added): an fd, or
 * -errno. */
int netns_socket(int netns_fd, int domain, int type, int protocol);

#ifdef __cplusplus
}
#endif
