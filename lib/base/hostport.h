/* HOST:PORT addresses as gRPC targets want them: an IPv6 literal in
 * brackets ("[fd00::7]:7440"). A Kubernetes pod's IP from the downward API
 * ($(POD_IP)) is bare, so "--advertise=$(POD_IP):7440" gives
 * "fd00::7:7440" on an IPv6 or dual-stack-IPv6-first cluster, which a gRPC
 * client reads as a host with no port. */
#pragma once

#include <stddef.h>
#include <sys/socket.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AK_HOSTPORT_MAX 512

/* Writes addr to out (size bytes), bracketing an unbracketed IPv6 host:
 *   - unchanged: "unix:..." and other "scheme:" targets without a second
 *     colon-separated port ("unix:/run/e.sock", "dns:///x:1"), anything
 *     already bracketed ("[::1]:7440"), and HOST:PORT with at most one ':'
 *     ("10.0.0.7:7440", "node-1:7440");
 *   - bracketed: two or more ':' and no brackets: the part after the last
 *     ':' must be a port (1-65535) and the part before it an IPv6 address
 *     (inet_pton), else -EINVAL ("fd00::7:7440" -> "[fd00::7]:7440"; an
 *     IPv6 address with no port cannot be told from one with a port and is
 *     refused unless its last group is a valid port, which is then taken
 *     as the port).
 * Returns 0; -EINVAL for an empty or malformed address, one longer than
 * AK_HOSTPORT_MAX, or the cases above; -ENOSPC when out is too small.
 * out is written only on success. */
int ak_hostport_bracket(const char *addr, char *out, size_t size);

/* A TCP listen address for the services' HTTP listeners (--metrics-listen,
 * the gateway's --listen) as a socket address:
 *   "127.0.0.1:9100", "localhost:9100" (127.0.0.1), ":9100" and
 *   "0.0.0.0:9100" (every IPv4 address), "[::1]:9100", "[::]:9100" (every
 *   IPv6 address; whether IPv4 is served too is the listener's choice).
 * A bare IPv6 address with a port ("fd00::7:9100", as Kubernetes' $(POD_IP):PORT
 * gives on an IPv6 pod) is read as ak_hostport_bracket reads it.
 * Other host names are refused: a listener binds one address, and a name
 * that resolves to several (or differently later) would hide which.
 * Port 0..65535 (0: the kernel picks). *ret_any is true for the
 * unspecified addresses. ret and ret_any are written only on success;
 * -EINVAL naming addr in err otherwise. */
int ak_listen_addr_parse(const char *addr, struct sockaddr_storage *ret, int *ret_any, struct ak_error *err);

#ifdef __cplusplus
}
#endif
