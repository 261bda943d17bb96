/* A sandbox's secrets at its egress proxy (issue 19), as vmm_net_proxy
 * asks about them: which connections carry a placeholder where none may go
 * (refused, reported as rule "secret.exfiltration"), and which are TLS to a
 * host a secret is bound to (handed off here and served by the secret
 * set's tls_relay on a thread per connection, which puts the value in).
 * Private to vmm_net.
 *
 * What is looked at: the name the connection carries (the TLS SNI or the
 * HTTP Host) and the first bytes the proxy read (a ClientHello, an HTTP
 * request head as far as it was read); inside TLS to a bound host, the
 * relay's inject_request checks every request head on the connection
 * (each one is audited and hooked on its own). TLS to any other
 * host cannot be read (the sandbox CA is name-constrained to the bound
 * hosts), so a placeholder inside it is not seen: it is worth nothing
 * there. Plain HTTP to a bound host carrying its placeholder is refused
 * ("secret.plaintext"): values go out over verified TLS only.
 *
 * Reported to the VM's reporter (never a value; the name and the rule):
 *   secret.exfiltration   a placeholder to another host, or in the URL or
 *                         another header to the bound host (tls_relay)
 *   secret.plaintext      a bound host's placeholder over plain HTTP
 *   secret.bad-request    the relay refused a malformed or ambiguously
 *                         framed request, or a Host other than the TLS
 *                         server name
 *   secret.bad-response   the server's response could not be framed
 *                         unambiguously (the guest got a 502)
 *   secret.upstream-tls   the bound host's certificate failed verification
 *   secret.unavailable    the value could not be read again from the vault
 *                         (removed, or no longer fit for a header) */
#pragma once

#include "lib/base/error.h"
#include "vmm/backend/vmm_net.h"
#include "vmm/net/proxy.h"

struct vmm_net_inject;

/* With s->set's relay made (roots s->upstream_roots). netns_fd: the VM's
 * namespace, where upstream connections are made (their mark exempts them
 * from the redirect; the namespace's rules apply). reporter may be NULL.
 * 0, or the relay's errors (-EIO: roots would not load). */
int vmm_net_inject_new(const struct vmm_net_secrets *s, int netns_fd, struct net_reporter *reporter,
                       struct vmm_net_inject **ret, struct ak_error *err);

/* Stops: shuts down every guest connection still being served, waits for
 * their threads (one in a server's connect or TLS handshake finishes it
 * first, within its timeouts), then closes the relay's pooled server
 * connections (they were made in this VM's namespace). The proxy must be
 * freed first (no more handoffs). NULL: no-op. */
void vmm_net_inject_free(struct vmm_net_inject *in);

/* 0 with rule filled in when req carries a placeholder where it may not go
 * (see above), else 1. Pure; does not block. */
int vmm_net_inject_screen(const struct vmm_net_inject *in, const struct proxy_request *req,
                          char rule[PROXY_RULE_MAX]);

/* Whether req (already allowed by the policy) is TLS to a bound host. */
bool vmm_net_inject_wants(const struct vmm_net_inject *in, const struct proxy_request *req);

/* proxy_handoff_fn for the connections vmm_net_inject_wants: ctx is the
 * struct vmm_net_inject. Starts the connection's thread (fd closed if it
 * cannot). */
void vmm_net_inject_handoff(void *ctx, int fd, const struct proxy_request *req);
