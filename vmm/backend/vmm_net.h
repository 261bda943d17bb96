/* A VM's network, outside the guest: where QEMU's user networking (slirp)
 * may send what the guest sends.
 *
 * Why this shape. Slirp turns the guest's connections into ordinary sockets
 * of the QEMU process, so whatever QEMU's network namespace reaches, the
 * guest reaches: with the host's namespace that is the host's loopback
 * (10.0.2.2 is 127.0.0.1), its other addresses, link-local metadata and
 * every private network the host is on. So QEMU gets a network namespace of
 * its own per VM:
 *   - a veth pair: "akv<slot>" on the host (<pool>.<4*slot+1>/30), "eth0" in
 *     the namespace (<4*slot+2>/30) with the default route via the host end;
 *     the slot is a /30 of the pool (default 100.96.0.0/16) and the first
 *     free one wins (`ip link add` fails for a taken name, so concurrent
 *     executors do not collide);
 *   - the host masquerades the pool's traffic leaving by any other device
 *     (nftables table ip ak_net_<pool>, e.g. ak_net_100_96_0_0_16: one per
 *     pool, so executors with different pools on one host keep each
 *     other's), and (table inet ak_net, shared) drops whatever the pool sends to the host
 *     itself (input: every host address, also ones added later) and between
 *     two VMs' veths (forward), except DNS to the resolvers below;
 *   - in the namespace an nftables output chain (slirp's sockets are local
 *     processes there) refuses loopback, the host's addresses as they were at setup, link-local
 *     (169.254/16, fe80::/10), the private and shared ranges (10/8,
 *     172.16/12, 192.168/16, 100.64/10, fc00::/7), multicast, the pool, and
 *     the operator's deny list; everything else (the public internet) passes.
 *     Refused TCP gets a reset (a dropped SYN would not fail a local
 *     connect(): the kernel ignores that error and retries the SYN for ~2
 *     minutes, each such connect holding a socket in slirp), so slirp's
 *     connect fails at once and the guest sees a reset; anything else is
 *     dropped (a local sendto() fails with EPERM at once; slirp answers
 *     the guest with ICMP unreachable itself), or for a tap guest gets
 *     ICMP administratively prohibited.
 *     The executor's listening addresses are host addresses, so they are
 *     covered. Inside the namespace 127.0.0.1 is the namespace's own
 *     loopback, where nothing listens.
 *   - DNS: slirp sends what the guest asks of 10.0.2.3 to the nameserver of
 *     the resolv.conf it sees, which is ours: 127.0.0.1 (libslirp also
 *     falls back to 127.0.0.1 when it can read none). There, in the
 *     namespace, the VM's own resolver listens (vmm/net/resolver.h, served
 *     by the shared netloop), applies the sandbox's domain rules and asks
 *     the upstreams (--dns-upstream, else the host's resolv.conf, loopback
 *     ones included) from the host's namespace. The output chain accepts
 *     loopback only to and from that resolver's port 53. Addresses the
 *     resolver answers for an allowed name go into the set allow_dyn4/6
 *     (accepted after the always-denied drops, so a name cannot open the
 *     host, loopback or link-local), those of a denied name into
 *     deny_dyn4/6 (dropped); with any domain rule, DNS (TCP/UDP 53, 853) to
 *     anything but the VM's resolver is dropped, so no outside resolver
 *     can be asked directly. Also with domain rules, the guest's TCP
 *     to ports 80 and 443 is redirected to the VM's transparent proxy
 *     (vmm/net/proxy.h, 127.0.0.1:VMM_NET_PROXY_PORT in the namespace),
 *     which reads the TLS SNI or HTTP Host and applies the same rules
 *     (vmm_net_proxy.h): a denied name, or to an address only an allowed
 *     name opened (allow_dyn) a name not allowed or none, is refused
 *     (TLS alert / 403) and reported; so an allowed name's address does not
 *     serve another name's site (shared hosting, CDNs).
 *   - tap mode (vmm_net_config.tap; Firecracker, which brings its own
 *     virtio-net and needs a tap device on the host): no slirp; a tap
 *     device in the namespace, owned by the VMM's uid (it attaches without
 *     CAP_NET_ADMIN), with slirp's layout so the guest's side is the same:
 *     the namespace is 10.0.2.2/24 on the tap, the guest 10.0.2.15, its
 *     DNS 10.0.2.3. The namespace forwards IPv4 (not IPv6) from the tap
 *     and masquerades it out of eth0; the forward hook applies the same
 *     policy chain as the output hook (vmm_net_ns_rules), so the guest's
 *     packets meet the drops slirp's sockets meet. A second table
 *     (vmm_net_tap_rules) drops what the guest sends from any source but
 *     10.0.2.15 (no spoofing past the NAT) and anything it sends to the
 *     namespace itself (10.0.2.2, eth0's address), and DNATs 10.0.2.3:53 to
 *     the first IPv4 resolver of the host's resolv.conf (the policy allows
 *     it port 53); with none, the guest has no DNS. No VM resolver yet in
 *     this mode, so egress domain names are refused (EOPNOTSUPP).
 * The host must forward IPv4 (net.ipv4.ip_forward=1) for the NAT;
 * vmm_net_setup fails, saying so, when it does not. QEMU (unprivileged, uid
 * VMM_JAIL_DEFAULT_ID) cannot change any of this: it has no CAP_NET_ADMIN.
 *
 * Lifetime: the namespace lives as long as our fd and QEMU (or a QEMU
 * under an ak-vmm supervisor: see vmm_net_adopt below); the veth pair
 * goes with it. vmm_net_free deletes the veth at once; if the executor is
 * SIGKILLed, QEMU dies with it (PR_SET_PDEATHSIG), the namespace and with it
 * both ends of the veth are freed by the kernel: nothing is left behind by
 * name. The host tables ak_net and ak_net_<pool> are shared by all VMs
 * (of that pool) and stay.
 *
 * Needs root (the jail's condition too); ip(8), nsenter(1) and nft(8).
 * Library code: no logging; errors say what to do. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/base/error.h"
#include "vmm/net/net_event.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VMM_NET_DEFAULT_POOL "100.96.0.0/16"
#define VMM_NET_MAX_DENY 256
#define VMM_NET_MAX_EGRESS 64

/* Denials. Every drop in the namespace's output chain jumps to a small
 * chain per rule that logs the packet to NFLOG group VMM_NET_NFLOG_GROUP
 * (the group is the namespace's own), prefixed with the rule's name
 * ("loopback", "link-local", "multicast", "reserved", "pool", "host",
 * "private", "operator-deny", "egress.deny", "egress.ports", and for
 * domain rules "egress.domain": an address a denied name resolved to,
 * "egress.dns": DNS to a resolver not the VM's own), while one
 * limit shared by those chains allows (VMM_NET_LOG_RATE per second, bursts
 * of VMM_NET_LOG_BURST), then drops it whether logged or not. With a
 * reporter, vmm_net_setup reads that log (vmm/net/nflog.h) and reports each
 * packet: it counts them all up to the limit; past it (a sustained flood)
 * the count is a lower bound, and the nft counters (nft list ruleset in the
 * namespace) hold the exact one. */
#define VMM_NET_NFLOG_GROUP 7

/* The domain rules' proxy listens on 127.0.0.1 at this port in the VM's
 * namespace: below 1024, so QEMU (not root) cannot bind it first. */
#define VMM_NET_PROXY_PORT 900
#define VMM_NET_LOG_RATE 2000
#define VMM_NET_LOG_BURST 10000

/* A sandbox's own egress policy (SandboxSpec.egress), canonical CIDRs
 * (vmm_net_cidr_parse). In the namespace's output chain, after the
 * always-denied drops (loopback, host, link-local, multicast, the pool):
 * when ports are given, anything but TCP/UDP to one of them is dropped; then
 * allow is accepted, deny dropped, then the private ranges and the
 * operator's deny list dropped. So allow can re-open private and operator
 * ranges, which vmm_net_egress_check refuses unless the operator permits. */
struct vmm_net_egress {
        const char *const *allow;
        size_t n_allow;
        const char *const *deny;
        size_t n_deny;
        const uint16_t *ports;
        size_t n_ports;
        /* Domain rules (domain_rule_parse: "example.com", "*.example.com"),
         * applied by the VM's resolver; see vmm/net/resolver.h. */
        const char *const *allow_names;
        size_t n_allow_names;
        const char *const *deny_names;
        size_t n_deny_names;
        /* TCP to ports 80 and 443 goes through the proxy even without
         * domain rules (vmm_net_setup sets it for a sandbox with secrets). */
        bool proxy;
};

/* A sandbox's secrets at its egress (issue 19; vmm_net_inject.h): with
 * them the namespace's TCP to ports 80 and 443 goes through the proxy (as
 * with domain rules), whose TLS to a bound host is served by the set's
 * relay with the values put in, and whose requests carrying a placeholder
 * anywhere else are refused and reported. */
struct secret_set;

/* One connection the VM's proxy carried or refused, for proxy hooks: the
 * first request of one the secrets' relay served (whose head was read), a
 * plain-HTTP one's first request, or a TLS tunnel (method "CONNECT", no
 * path, no status: the proxy does not see inside it). Never a body, a
 * header, a query or a value. */
struct vmm_net_request_event {
        const char *host;        /* the TLS server name or HTTP Host; the address when none */
        uint16_t port;           /* the destination port */
        const char *method;      /* "GET", ..., "CONNECT"; "" when not a request */
        const char *path;        /* no query or fragment; NULL: none */
        const char *rule;        /* the rule that refused it; NULL: carried */
        int status;              /* the server's, 0: no answer */
        uint64_t request_bytes;  /* plaintext sent to the server (head and body) */
        uint64_t response_bytes; /* plaintext sent back to the guest */
        uint64_t duration_ms;    /* from the handoff (or the previous request's end on the same
                                  * guest connection) to this request's end */
        bool injected;           /* a value was put into the head */
        const char *outcome;     /* tls_relay_outcome_name: "done", "refused-secret", ... */
};

struct vmm_net_secrets {
        struct secret_set *set;     /* the sandbox's; outlives the VM's network. NULL with
                                     * on_request: proxy hooks without secrets (the proxy
                                     * only observes) */
        const char *upstream_roots; /* PEM file the bound hosts' certificates must chain to;
                                     * NULL: the system's roots */
        /* NULL, or called once per connection the proxy carried or
         * refused (and per request the relay carried) when it ends: proxy
         * hooks. On the relay's connection thread (several at once) or the
         * proxy's loop thread (must be quick). ctx must outlive the VM's
         * network. */
        void (*on_request)(void *ctx, const struct vmm_net_request_event *ev);
        void *ctx;
};

/* Whether s asks for the VM's proxy on ports 80 and 443: secrets to put
 * in, or hooks to tell. */
static inline bool vmm_net_secrets_proxied(const struct vmm_net_secrets *s)
{
        return s && (s->set || s->on_request);
}

struct vmm_net_config {
        const char *pool;               /* an IPv4 CIDR, /16../28; NULL: VMM_NET_DEFAULT_POOL */
        const char *const *deny_cidrs;  /* operator's extra denied CIDRs (v4 or v6) */
        size_t n_deny_cidrs;
        const char *work_dir;           /* rule files are written here */
        const struct vmm_net_egress *egress; /* the sandbox's own; NULL: none */
        bool allow_private;             /* egress->allow may re-open private and operator-denied ranges */
        const char *const *dns_upstreams; /* the VM resolver's upstreams, "ADDR[:PORT]"; none: the host's
                                           * resolv.conf nameservers */
        size_t n_dns_upstreams;
        struct net_reporter *reporter;  /* denials are reported to it (vmm/net/net_event.h): the nft
                                         * denial log's and the VM resolver's; NULL: not reported */
        const struct vmm_net_secrets *secrets; /* NULL or no set: none; slirp mode only */
        /* Tap mode (see above): the tap's name (VMM_NET_TAP_NAME; letters,
         * digits, '-', '_', shorter than IFNAMSIZ), owned by tap_uid:tap_gid,
         * the uid the VMM opens it as. NULL: slirp mode. */
        const char *tap;
        uid_t tap_uid;
        gid_t tap_gid;
};

/* The vmm_net_config of a VM's settings, rule files in work_dir: cfg is a
 * struct vmm_config (vmm.h) or a struct vm_config (vm.h), which name their
 * network fields alike; a macro so one mapping serves both. Slirp mode;
 * tap mode sets .tap and its owner afterwards. */
#define VMM_NET_CONFIG_OF(cfg, dir)                                                   \
        ((struct vmm_net_config){                                                     \
                .pool = (cfg)->net_pool,                                              \
                .deny_cidrs = (cfg)->net_deny_cidrs,                                  \
                .n_deny_cidrs = (cfg)->n_net_deny_cidrs,                              \
                .work_dir = (dir),                                                    \
                .egress = (cfg)->net_egress,                                          \
                .allow_private = (cfg)->net_allow_private,                            \
                .dns_upstreams = (cfg)->net_dns_upstreams,                            \
                .n_dns_upstreams = (cfg)->n_net_dns_upstreams,                        \
                .reporter = (cfg)->net_reporter,                                      \
                .secrets = (cfg)->net_secrets,                                        \
        })

/* Tap mode's addresses: slirp's, so the guest sets up the same network. */
#define VMM_NET_TAP_NAME "tap0"
#define VMM_NET_TAP_GATEWAY "10.0.2.2"
#define VMM_NET_TAP_GUEST "10.0.2.15"
#define VMM_NET_TAP_DNS "10.0.2.3"
#define VMM_NET_TAP_NET "10.0.2.0/24"

struct vmm_net;
struct net_reporter;

/* A CIDR ("10.0.0.0/8", "fd00::/8", or an address alone: /32, /128) in
 * canonical form into out (host bits must be zero): 0, or -EINVAL with err
 * naming the input. */
int vmm_net_cidr_parse(const char *text, char *out, size_t size, struct ak_error *err);

/* Whether the canonical CIDRs a and b share an address (0 or 1), -EINVAL
 * if either is not canonical. */
int vmm_net_cidr_overlaps(const char *a, const char *b);

/* Checks one canonical egress.allow CIDR: -EPERM with err saying why when
 * it lies inside an always-denied range (nothing re-opens those), or, unless
 * allow_private, overlaps a private range or one of operator_deny. */
int vmm_net_egress_check(const char *allow, const char *const *operator_deny, size_t n_operator_deny,
                         bool allow_private, struct ak_error *err);

/* The nameserver addresses of a resolv.conf text, each appended (canonical)
 * to out[] up to max: the count, no loopback ones when skip_loopback. */
size_t vmm_net_resolvers(const char *text, bool skip_loopback, char out[][64], size_t max);

/* The namespace's nftables ruleset (see above) into a malloc'd string:
 * host_addrs are /32 or /128 addresses, resolvers are extra addresses
 * allowed port 53 (vmm_net_setup passes none: the VM's own resolver
 * serves DNS), egress (NULL: none) the sandbox's own policy. */
int vmm_net_ns_rules(const char *pool, const char *const *host_addrs, size_t n_host,
                     const char *const *deny, size_t n_deny, char (*resolvers)[64], size_t n_resolvers,
                     const struct vmm_net_egress *egress, char **ret);

/* Tap mode's own table (inet ak_tap, see above) into a malloc'd string:
 * tap the device's name, dns_to the IPv4 address the guest's DNS goes to
 * (NULL: none). 0, -EINVAL for a bad name or address, -ENOMEM. */
int vmm_net_tap_rules(const char *tap, const char *dns_to, char **ret);

/* Creates the namespace, veth, routes and rules (and with cfg->tap, the
 * tap device, forwarding and vmm_net_tap_rules). */
int vmm_net_setup(const struct vmm_net_config *cfg, struct vmm_net **ret, struct ak_error *err);

/* The namespace (an fd of ours: setns(fd, CLONE_NEWNET) in the child). */
int vmm_net_netns_fd(const struct vmm_net *n);

/* The host end's name ("akv<slot>"). */
const char *vmm_net_host_ifname(const struct vmm_net *n);

/* The resolv.conf QEMU should see: "nameserver 127.0.0.1", the VM's
 * resolver; NULL when it has none (no upstream resolver anywhere). */
const char *vmm_net_resolv_conf(const struct vmm_net *n);

/* Deletes the veth, closes the namespace fd. */
void vmm_net_free(struct vmm_net *n);

/* ---- A network that outlives the process that made it ----
 * The namespace's kernel objects (veth, addresses, routes, the nftables
 * tables and sets in it) live as long as a process runs in it: QEMU under
 * an ak-vmm supervisor (vmbox.h) keeps them after the process that called
 * vmm_net_setup exits. Its user-space side (the denial log's reader, the
 * VM's resolver on 127.0.0.1:53, the proxy on VMM_NET_PROXY_PORT) runs in
 * the caller's process and stops with it; a later process takes the
 * namespace over with vmm_net_adopt, which starts that side again. */

/* Stops the user-space side and closes the namespace fd, keeping the
 * veth (the namespace lives on while QEMU runs in it). NULL: no-op. */
void vmm_net_release(struct vmm_net *n);

/* Takes over a namespace another process set up with cfg (netns_fd: an fd
 * of it, taken over: closed on failure too; ifname: the host end,
 * "akv<slot>", which must still exist): checks cfg as vmm_net_setup does
 * and starts the user-space side (cfg->reporter, dns_upstreams, egress:
 * what the namespace was made with). Rules are not loaded again. -ENODEV
 * when the host end is gone, -EOPNOTSUPP for tap mode; err says why. */
int vmm_net_adopt(const struct vmm_net_config *cfg, int netns_fd, const char *ifname, struct vmm_net **ret,
                  struct ak_error *err);

#ifdef __cplusplus
}
#endif
