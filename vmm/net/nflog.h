/* The reader of a VM's denial log: the namespace's nftables drop rules also
 * log (vmm_net.c: `log group VMM_NET_NFLOG_GROUP prefix "<rule>"`, under an
 * nft limit), the kernel sends each logged packet's first bytes to an
 * NFLOG netlink socket made in that namespace, and each one becomes a
 * net_event (destination, port, protocol, rule) reported to the VM's
 * net_reporter (which counts it and passes it on at a rate).
 *
 * Raw netlink by hand (no libnetfilter_log): three config messages and one
 * attribute walk, smaller than the library's glue and with no new package.
 *
 * The packet bytes are the guest's (slirp replays what the guest sends):
 * nflog_parse treats the whole buffer as hostile. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "vmm/net/net_event.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of each packet the kernel copies: the IPv4/IPv6 header with a few
 * extension headers and the L4 ports. */
#define NFLOG_COPY_RANGE 128

typedef void (*nflog_event_fn)(void *ctx, struct net_event *ev);

/* Walks one buffer of netlink messages as recv(2) got it from an NFLOG
 * socket and calls fn for each logged packet (kind NET_EVENT_CONNECT,
 * protocol, dst, dst_port, rule = the log prefix, "unknown" when it has
 * none). Messages that are not NFLOG packets, and packets too short for an
 * IP header, are skipped. Returns the number of events, or -EBADMSG when a
 * netlink header or attribute runs past the buffer (events before it were
 * passed on), or the -errno of an NLMSG_ERROR message. */
int nflog_parse(const void *buf, size_t len, nflog_event_fn fn, void *ctx);

struct nflog;

/* An NFLOG socket (non-blocking) in the namespace netns_fd, bound to group
 * and set to copy NFLOG_COPY_RANGE bytes of each packet: the fd, or -errno.
 * nflog_start serves one; tests read one themselves. */
int nflog_open(int netns_fd, uint16_t group, struct ak_error *err);

/* Opens an NFLOG socket in the network namespace netns_fd, binds it to
 * group, and serves it on the process's shared netloop: each packet logged
 * there is net_report()ed to rep (which must outlive the reader). */
int nflog_start(int netns_fd, uint16_t group, struct net_reporter *rep, struct nflog **ret, struct ak_error *err);

/* Times the socket's buffer overflowed (ENOBUFS): packets the kernel logged
 * and we never saw, so not counted. */
uint64_t nflog_overruns(struct nflog *l);

/* Stops serving (synchronously: no report after it returns), closes. NULL
 * is a no-op. */
void nflog_stop(struct nflog *l);

#ifdef __cplusplus
}
#endif
