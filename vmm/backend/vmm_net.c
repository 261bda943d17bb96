/* See vmm_net.h for the design. The parent does everything here, before
 * QEMU's fork: a helper thread makes the namespace (unshare(CLONE_NEWNET)
 * changes only the calling thread, and the executor has other threads),
 * ip(8) and nft(8) configure it through nsenter(1) by /proc/<pid>/fd/<fd>,
 * so no name under /run/netns is ever made (nothing to leak). The child only
 * calls setns(2) (vmm_jail_enter). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/io.h"
#include "lib/base/pathfmt.h"
#include "lib/base/proc.h"
#include "vmm/backend/vmm_net.h"
#include "vmm/backend/vmm_net_dns.h"
#include "vmm/backend/vmm_net_proxy.h"
#include "vmm/backend/vmm_net_sys.h"
#include "vmm/net/domain.h"
#include "vmm/net/nflog.h"
#include "vmm/net/proxy.h"

#define MAX_HOST_ADDRS 256
#define MAX_BLOCKED (MAX_HOST_ADDRS + VMM_NET_MAX_DENY + 16)

struct vmm_net {
        int netns_fd;
        char ifname[IFNAMSIZ];
        char resolv_conf[PATH_MAX];
        struct nflog *log; /* the denial log's reader, with a reporter */
        struct vmm_net_dns *dns;
        struct vmm_net_proxy *proxy; /* with domain rules */
};

/* ---- pure parts ---- */

int vmm_net_cidr_parse(const char *text, char *out, size_t size, struct ak_error *err)
{
        char addr[INET6_ADDRSTRLEN + 8], canon[INET6_ADDRSTRLEN];
        unsigned char bytes[16];
        const char *slash = strchr(text, '/');
        size_t alen = slash ? (size_t)(slash - text) : strlen(text);
        if (alen == 0 || alen >= sizeof(addr))
                goto bad;
        memcpy(addr, text, alen);
        addr[alen] = 0;
        int af = strchr(addr, ':') ? AF_INET6 : AF_INET;
        unsigned max = af == AF_INET ? 32 : 128, len = max;
        if (inet_pton(af, addr, bytes) != 1)
                goto bad;
        if (slash) {
                const char *p = slash + 1;
                if (!*p || strlen(p) > 3)
                        goto bad;
                len = 0;
                for (; *p; p++) {
                        if (*p < '0' || *p > '9')
                                goto bad;
                        len = len * 10 + (unsigned)(*p - '0');
                }
                if (len > max)
                        goto bad;
        }
        for (unsigned bit = len; bit < max; bit++)
                if (bytes[bit / 8] & (0x80 >> (bit % 8)))
                        return ak_error_set(err, -EINVAL, "%s: bits set past the /%u prefix (did you mean the "
                                            "network address?)", text, len);
        if (!inet_ntop(af, bytes, canon, sizeof(canon)))
                goto bad;
        if (snprintf(out, size, "%s/%u", canon, len) >= (int)size)
                return ak_error_set(err, -ENAMETOOLONG, "%s: too long", text);
        return 0;
bad:
        return ak_error_set(err, -EINVAL, "%s: not a CIDR (an IPv4 or IPv6 address, optionally /prefix, e.g. "
                            "10.0.0.0/8 or fd00::/8)", text);
}

static bool is_loopback(const char *addr)
{
        struct in6_addr a6;
        return strncmp(addr, "127.", 4) == 0 || (inet_pton(AF_INET6, addr, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6));
}

size_t vmm_net_resolvers(const char *text, bool skip_loopback, char out[][64], size_t max)
{
        size_t n = 0;
        for (const char *line = text; line && *line && n < max;) {
                const char *end = strchr(line, '\n');
                size_t len = end ? (size_t)(end - line) : strlen(line);
                char buf[128], word[16], addr[64];
                if (len < sizeof(buf)) {
                        memcpy(buf, line, len);
                        buf[len] = 0;
                        unsigned char bytes[16];
                        /* "nameserver ADDR", maybe with a %zone we do not keep. */
                        if (sscanf(buf, " %15s %63[^% \t]", word, addr) == 2 && strcmp(word, "nameserver") == 0 &&
                            (inet_pton(AF_INET, addr, bytes) == 1 || inet_pton(AF_INET6, addr, bytes) == 1) &&
                            !(skip_loopback && is_loopback(addr)))
                                snprintf(out[n++], 64, "%s", addr);
                }
                line = end ? end + 1 : NULL;
        }
        return n;
}

/* Dropped whatever the sandbox's policy says (with the pool and the host's
 * addresses). */
static const char *const always_denied[] = {
        "0.0.0.0/8", "127.0.0.0/8",   "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
        "::/127",    "::ffff:0:0/96", "fe80::/10",      "ff00::/8",
};
/* Dropped unless the sandbox's allow list re-opens them (operator's flag). */
static const char *const private_ranges[] = {
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7",
};
const char *const *const vmm_net_private_ranges = private_ranges;
const size_t vmm_net_n_private_ranges = AK_ARRAY_SIZE(private_ranges);

/* A canonical CIDR into its family, bytes and prefix length. */
static int cidr_bits(const char *cidr, int *af, unsigned char bytes[16], unsigned *len)
{
        char addr[INET6_ADDRSTRLEN];
        const char *slash = strchr(cidr, '/');
        if (!slash || (size_t)(slash - cidr) >= sizeof(addr))
                return -EINVAL;
        memcpy(addr, cidr, (size_t)(slash - cidr));
        addr[slash - cidr] = 0;
        *af = strchr(addr, ':') ? AF_INET6 : AF_INET;
        if (inet_pton(*af, addr, bytes) != 1)
                return -EINVAL;
        char *end;
        unsigned long l = strtoul(slash + 1, &end, 10);
        if (*end || l > (*af == AF_INET ? 32u : 128u))
                return -EINVAL;
        *len = (unsigned)l;
        return 0;
}

/* 1 when the two share an address; with contained, when a lies inside b. */
static int overlap(const char *a, const char *b, bool contained)
{
        unsigned char ba[16], bb[16];
        unsigned la, lb;
        int fa, fb;
        if (cidr_bits(a, &fa, ba, &la) < 0 || cidr_bits(b, &fb, bb, &lb) < 0)
                return -EINVAL;
        if (fa != fb || (contained && la < lb))
                return 0;
        unsigned n = la < lb ? la : lb;
        for (unsigned bit = 0; bit < n; bit++)
                if ((ba[bit / 8] ^ bb[bit / 8]) & (0x80 >> (bit % 8)))
                        return 0;
        return 1;
}

int vmm_net_cidr_overlaps(const char *a, const char *b)
{
        return overlap(a, b, false);
}

int vmm_net_egress_check(const char *allow, const char *const *operator_deny, size_t n_operator_deny,
                         bool allow_private, struct ak_error *err)
{
        if (overlap(allow, allow, false) < 0)
                return ak_error_set(err, -EINVAL, "%s: not a canonical CIDR", allow);
        for (size_t i = 0; i < AK_ARRAY_SIZE(always_denied); i++)
                if (overlap(allow, always_denied[i], true) == 1)
                        return ak_error_set(err, -EPERM, "%s lies in %s, which is always denied (loopback, "
                                            "link-local, multicast or reserved); nothing re-opens it", allow,
                                            always_denied[i]);
        if (allow_private)
                return 0;
        for (size_t i = 0; i < AK_ARRAY_SIZE(private_ranges); i++)
                if (overlap(allow, private_ranges[i], false) == 1)
                        return ak_error_set(err, -EPERM, "%s overlaps the private range %s, which a sandbox may "
                                            "re-open only when ak-executor runs with --egress-allow-private; "
                                            "allow public ranges only", allow, private_ranges[i]);
        for (size_t i = 0; i < n_operator_deny; i++) {
                char canon[64];
                struct ak_error e2 = { 0 };
                if (vmm_net_cidr_parse(operator_deny[i], canon, sizeof(canon), &e2) < 0)
                        return ak_error_set(err, -EINVAL, "operator deny list: %s", e2.msg);
                if (overlap(allow, canon, false) == 1)
                        return ak_error_set(err, -EPERM, "%s overlaps %s, denied by ak-executor --deny-cidr; "
                                            "it may be re-opened only with --egress-allow-private", allow,
                                            operator_deny[i]);
        }
        return 0;
}

static int appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
        va_list ap;
        for (;;) {
                va_start(ap, fmt);
                int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
                va_end(ap);
                if (n < 0)
                        return -EINVAL;
                if ((size_t)n < *cap - *len) {
                        *len += (size_t)n;
                        return 0;
                }
                size_t ncap = *cap * 2 + (size_t)n;
                char *nb = realloc(*buf, ncap);
                if (!nb)
                        return -ENOMEM;
                *buf = nb;
                *cap = ncap;
        }
}

static const char *family(const char *cidr)
{
        return strchr(cidr, ':') ? "ip6" : "ip";
}

/* ---- denials: each drop logs first (NFLOG, under a limit) ---- */

/* The rule an always-denied range is reported as. */
static const char *always_denied_rule(const char *cidr)
{
        if (strcmp(cidr, "127.0.0.0/8") == 0 || strcmp(cidr, "::/127") == 0)
                return "loopback";
        if (strcmp(cidr, "169.254.0.0/16") == 0 || strcmp(cidr, "fe80::/10") == 0)
                return "link-local";
        if (strcmp(cidr, "224.0.0.0/4") == 0 || strcmp(cidr, "ff00::/8") == 0)
                return "multicast";
        return "reserved";
}

/* Every rule name a drop reports (the log prefix, net_event.rule). */
static const char *const deny_rules[] = {
        "loopback", "link-local", "multicast", "reserved", "pool", "host",
        "private",  "operator-deny", "egress.deny", "egress.ports", "egress.domain", "egress.dns",
};

/* "jump deny_<rule>" for a drop reported as rule ("-" and "." as "_"). */
static const char *deny_verdict(const char *rule, char buf[64])
{
        int n = snprintf(buf, 64, "jump deny_%s", rule);
        for (int i = 10; i < n && i < 64; i++)
                if (buf[i] == '-' || buf[i] == '.')
                        buf[i] = '_';
        return buf;
}

/* The shared log limit and one small chain per rule: log (while the limit
 * allows: a flood costs the kernel little), count, then refuse (always: a
 * packet over the limit is refused without its log line). TCP is rejected
 * with a reset: a dropped SYN does not fail a local connect() (the kernel
 * ignores the error sending it and retries for ~2 minutes), so each denied
 * connect would sit half-open in slirp; with the reset it fails at once
 * (ECONNREFUSED) and the guest gets a reset. Anything else gets ICMP
 * administratively prohibited (a tap guest learns at once; a local
 * sendto() fails with EPERM as with a drop). The output chain accepts these
 * replies before the policy (base_chains). */
static int deny_chains(char **b, size_t *len, size_t *cap)
{
        int r = appendf(b, len, cap, "\tlimit deny_log { rate %u/second burst %u packets; }\n",
                        VMM_NET_LOG_RATE, VMM_NET_LOG_BURST);
        for (size_t i = 0; i < AK_ARRAY_SIZE(deny_rules); i++) {
                char v[64];
                r |= appendf(b, len, cap, "\tchain %s {\n\t\tlimit name \"deny_log\" log prefix \"%s\" group %u\n"
                             "\t\tcounter\n\t\tmeta l4proto tcp reject with tcp reset\n"
                             "\t\treject with icmpx admin-prohibited\n\t}\n", deny_verdict(deny_rules[i], v) + 5, deny_rules[i],
                             (unsigned)VMM_NET_NFLOG_GROUP);
        }
        return r;
}

static int egress_rules(char **b, size_t *len, size_t *cap, const struct vmm_net_egress *e)
{
        char v[64];
        int r = 0;
        if (e->n_ports) {
                deny_verdict("egress.ports", v);
                r |= appendf(b, len, cap, "\t\tmeta l4proto != { tcp, udp } %s\n\t\tth dport != { ", v);
                for (size_t i = 0; i < e->n_ports; i++)
                        r |= appendf(b, len, cap, "%s%u", i ? ", " : "", (unsigned)e->ports[i]);
                r |= appendf(b, len, cap, " } %s\n", v);
        }
        if (vmm_net_egress_has_names(e))
                r |= appendf(b, len, cap, "\t\tip daddr @allow_dyn4 accept\n\t\tip6 daddr @allow_dyn6 accept\n"
                             "\t\tip daddr @deny_dyn4 %s\n\t\tip6 daddr @deny_dyn6 %s\n",
                             deny_verdict("egress.domain", v), v);
        for (size_t i = 0; i < e->n_allow; i++)
                r |= appendf(b, len, cap, "\t\t%s daddr %s accept\n", family(e->allow[i]), e->allow[i]);
        for (size_t i = 0; i < e->n_deny; i++)
                r |= appendf(b, len, cap, "\t\t%s daddr %s %s\n", family(e->deny[i]), e->deny[i],
                             deny_verdict("egress.deny", v));
        return r;
}

/* The hooks: what the namespace's own processes send (slirp's sockets)
 * and what it forwards (a tap's guest, vmm_net_tap.c) both go through the
 * policy chain; forwarded replies of a connection the policy let out come
 * back (the guest's own address is in a private range). */
static int base_chains(char **b, size_t *len, size_t *cap)
{
        return appendf(b, len, cap, "\tchain output {\n\t\ttype filter hook output priority filter; policy accept;\n"
                       "\t\tmeta l4proto tcp tcp flags & rst == rst accept\n"
                       "\t\ticmp type destination-unreachable accept\n"
                       "\t\ticmpv6 type destination-unreachable accept\n"
                       "\t\tjump vm_policy\n\t}\n"
                       "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n"
                       "\t\tct state established,related accept\n\t\tjump vm_policy\n\t}\n}\n");
}

/* The resolver's sets and the chain's head: loopback only to and from the
 * VM's resolver (127.0.0.1:53; only root binds a port below 1024, QEMU is
 * not root; its answers to a tap guest leave by the tap, hence no oifname
 * on that line: ak_tap's forward chain drops a guest's spoofed sources),
 * and with domain rules no DNS to anything else. */
static int dns_rules(char **b, size_t *len, size_t *cap, const struct vmm_net_egress *e)
{
        char v[64];
        int r = 0;
        static const char *const sets[] = { "allow_dyn4", "allow_dyn6", "deny_dyn4", "deny_dyn6" };
        for (size_t i = 0; i < AK_ARRAY_SIZE(sets); i++)
                r |= appendf(b, len, cap, "\tset %s { type %s; flags timeout; size 65536; }\n", sets[i],
                             sets[i][strlen(sets[i]) - 1] == '4' ? "ipv4_addr" : "ipv6_addr");
        r |= appendf(b, len, cap, "\tchain vm_policy {\n"
                     "\t\toifname \"lo\" ip daddr 127.0.0.1 meta l4proto { tcp, udp } th dport 53 accept\n"
                     "\t\tip saddr 127.0.0.1 meta l4proto { tcp, udp } th sport 53 accept\n");
        if (vmm_net_egress_has_names(e)) {
                /* The domain rules' proxy (vmm_net_proxy.h): connections its
                 * redirect sent to 127.0.0.1, and their replies. proxy.h's
                 * accept line, without its oifname "lo": the output hook
                 * sees the redirected packet with its first route's device
                 * (eth0), so it would meet the 127.0.0.0/8 drop. Only that
                 * redirect makes DNATed connections to this port here. */
                static const uint16_t ports[] = { 80, 443 };
                char *table = NULL, *accept = NULL;
                if (proxy_nft_rules(VMM_NET_PROXY_PORT, ports, 2, &table, &accept) < 0)
                        return -ENOMEM;
                const char *lo = strstr(accept, "oifname \"lo\" ");
                if (lo)
                        r |= appendf(b, len, cap, "%.*s%s", (int)(lo - accept), accept, lo + strlen("oifname \"lo\" "));
                else
                        r |= appendf(b, len, cap, "%s", accept);
                free(table);
                free(accept);
        }
        r |= appendf(b, len, cap, "\t\toifname \"lo\" %s\n", deny_verdict("loopback", v));
        if (vmm_net_egress_has_names(e))
                r |= appendf(b, len, cap, "\t\tmeta l4proto { tcp, udp } th dport { 53, 853 } %s\n",
                             deny_verdict("egress.dns", v));
        return r;
}

int vmm_net_ns_rules(const char *pool, const char *const *host_addrs, size_t n_host, const char *const *deny,
                     size_t n_deny, char (*resolvers)[64], size_t n_resolvers, const struct vmm_net_egress *egress,
                     char **ret)
{
        size_t len = 0, cap = 4096;
        char *b = malloc(cap), v[64];
        int r = 0;
        if (!b)
                return -ENOMEM;
        b[0] = 0;
        r |= appendf(&b, &len, &cap, "table inet ak_vm {}\ndelete table inet ak_vm\ntable inet ak_vm {\n");
        r |= deny_chains(&b, &len, &cap);
        r |= dns_rules(&b, &len, &cap, egress);
        for (size_t i = 0; i < n_resolvers; i++)
                r |= appendf(&b, &len, &cap, "\t\t%s daddr %s meta l4proto { tcp, udp } th dport 53 accept\n",
                             family(resolvers[i]), resolvers[i]);
        for (size_t i = 0; i < AK_ARRAY_SIZE(always_denied); i++)
                r |= appendf(&b, &len, &cap, "\t\t%s daddr %s %s\n", family(always_denied[i]), always_denied[i],
                             deny_verdict(always_denied_rule(always_denied[i]), v));
        r |= appendf(&b, &len, &cap, "\t\tip daddr %s %s\n", pool, deny_verdict("pool", v));
        for (size_t i = 0; i < n_host; i++)
                r |= appendf(&b, &len, &cap, "\t\t%s daddr %s %s\n", family(host_addrs[i]), host_addrs[i],
                             deny_verdict("host", v));
        if (egress)
                r |= egress_rules(&b, &len, &cap, egress);
        for (size_t i = 0; i < AK_ARRAY_SIZE(private_ranges); i++)
                r |= appendf(&b, &len, &cap, "\t\t%s daddr %s %s\n", family(private_ranges[i]), private_ranges[i],
                             deny_verdict("private", v));
        for (size_t i = 0; i < n_deny; i++)
                r |= appendf(&b, &len, &cap, "\t\t%s daddr %s %s\n", family(deny[i]), deny[i],
                             deny_verdict("operator-deny", v));
        r |= appendf(&b, &len, &cap, "\t}\n");
        r |= base_chains(&b, &len, &cap);
        if (r) {
                free(b);
                return -ENOMEM;
        }
        *ret = b;
        return 0;
}

/* ---- the system ---- */

int vmm_net_run(const char *const *argv, struct ak_error *err)
{
        int status = 0, r;
        char *out = NULL;
        struct proc_opts o = { .argv = argv, .timeout_ms = 10000 };
        if ((r = proc_run(&o, &status, &out, err)) < 0)
                return r;
        if (status != 0) {
                bool exists = out && strstr(out, "File exists");
                r = ak_error_set(err, exists ? -EEXIST : -EIO, "VM network: %s %s %s... exited %d: %s", argv[0],
                                 argv[1] ? argv[1] : "", argv[1] && argv[2] ? argv[2] : "", status,
                                 out ? proc_tail_lines(out, 3) : "");
        }
        free(out);
        return r;
}

int vmm_net_write_file(const char *dir, const char *name, const char *text, char path[PATH_MAX],
                       struct ak_error *err)
{
        if (pathfmt(path, PATH_MAX, "%s/%s", dir, name) < 0)
                return ak_error_set(err, -ENAMETOOLONG, "VM network: %s/%s too long", dir, name);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || ak_write_full(fd, text, strlen(text)) < 0)
                return ak_error_errno(err, -errno, "VM network: write %s", path);
        return 0;
}

static void *ns_thread(void *arg)
{
        int *fd = arg;
        if (unshare(CLONE_NEWNET) < 0)
                *fd = -errno;
        else if ((*fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
                *fd = -errno;
        return NULL;
}

static int new_netns(struct ak_error *err)
{
        pthread_t t;
        int fd = -EIO, r;
        if ((r = pthread_create(&t, NULL, ns_thread, &fd)) != 0)
                return ak_error_errno(err, -r, "VM network: thread");
        pthread_join(t, NULL);
        if (fd < 0)
                return ak_error_errno(err, fd, "VM network: a new network namespace (needs CAP_SYS_ADMIN)");
        return fd;
}

struct pool {
        uint32_t base; /* host order */
        unsigned prefix;
        char cidr[64];
};

static int pool_parse(const char *text, struct pool *p, struct ak_error *err)
{
        int r;
        if ((r = vmm_net_cidr_parse(text, p->cidr, sizeof(p->cidr), err)) < 0)
                return r;
        struct in_addr a;
        char addr[64];
        snprintf(addr, sizeof(addr), "%s", p->cidr);
        *strchr(addr, '/') = 0;
        p->prefix = (unsigned)atoi(strchr(p->cidr, '/') + 1);
        if (inet_pton(AF_INET, addr, &a) != 1 || p->prefix < 16 || p->prefix > 28)
                return ak_error_set(err, -EINVAL, "VM network pool %s: must be an IPv4 /16 to /28", text);
        p->base = ntohl(a.s_addr);
        return 0;
}

/* The host's addresses (as /32 or /128), link-local v6 left to fe80::/10;
 * -EADDRINUSE when one that is not a VM's veth lies in the pool. */
static int host_addrs(const struct pool *p, char (*out)[64], size_t *n, struct ak_error *err)
{
        struct ifaddrs *ifa, *i;
        if (getifaddrs(&ifa) < 0)
                return ak_error_errno(err, -errno, "VM network: getifaddrs");
        int r = 0;
        *n = 0;
        for (i = ifa; i && *n < MAX_HOST_ADDRS; i = i->ifa_next) {
                if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
                        continue;
                char a[INET6_ADDRSTRLEN];
                if (i->ifa_addr->sa_family == AF_INET) {
                        struct in_addr v4 = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
                        uint32_t h = ntohl(v4.s_addr), mask = ~0u << (32 - p->prefix);
                        if ((h & mask) == p->base && strncmp(i->ifa_name, "akv", 3) != 0) {
                                r = ak_error_set(err, -EADDRINUSE, "VM network pool %s: the host's %s has an "
                                                 "address in it; pick another pool", p->cidr, i->ifa_name);
                                break;
                        }
                        inet_ntop(AF_INET, &v4, a, sizeof(a));
                        snprintf(out[(*n)++], 64, "%s/32", a);
                } else {
                        struct in6_addr *v6 = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
                        if (IN6_IS_ADDR_LINKLOCAL(v6))
                                continue;
                        inet_ntop(AF_INET6, v6, a, sizeof(a));
                        snprintf(out[(*n)++], 64, "%s/128", a);
                }
        }
        freeifaddrs(ifa);
        return r;
}

static void pool_addr(const struct pool *p, unsigned slot, unsigned host, char out[INET_ADDRSTRLEN])
{
        struct in_addr a = { htonl(p->base + slot * 4 + host) };
        inet_ntop(AF_INET, &a, out, INET_ADDRSTRLEN);
}

static int host_rules(const char *dir, const struct pool *p, struct ak_error *err)
{
        char path[PATH_MAX], *b = malloc(2048);
        size_t len = 0, cap = 2048;
        int r = 0;
        if (!b)
                return -ENOMEM;
        /* The masquerade is the pool's own table (ak_net_<pool>): executors
         * (or tests) with different pools on one host each keep theirs. The
         * shared table ak_net holds what is the same for every pool. */
        char pool_table[80];
        snprintf(pool_table, sizeof(pool_table), "ak_net_%s", p->cidr);
        for (char *c = pool_table; *c; c++)
                if (*c == '.' || *c == '/')
                        *c = '_';
        r |= appendf(&b, &len, &cap, "table ip %s {}\ndelete table ip %s\ntable ip %s {\n"
                     "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
                     "\t\tip saddr %s oifname != \"akv*\" masquerade\n\t}\n}\n", pool_table, pool_table,
                     pool_table, p->cidr);
        r |= appendf(&b, &len, &cap, "table inet ak_net {}\ndelete table inet ak_net\ntable inet ak_net {\n"
                     "\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n");
        r |= appendf(&b, &len, &cap, "\t\tiifname \"akv*\" drop\n\t}\n"
                     "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n"
                     "\t\tiifname \"akv*\" oifname \"akv*\" drop\n\t}\n}\n");
        if (r == 0 && (r = vmm_net_write_file(dir, "net-host.nft", b, path, err)) == 0)
                r = vmm_net_run((const char *const[]){ "nft", "-f", path, NULL }, err);
        else if (r)
                r = ak_error_set(err, -ENOMEM, "out of memory");
        free(b);
        return r;
}

/* Takes the first free slot from a pid-dependent start: 0 with the host end
 * named and created, its peer "eth0" in the namespace. */
static int make_veth(struct vmm_net *n, const struct pool *p, unsigned *ret_slot, struct ak_error *err)
{
        unsigned slots = 1u << (30 - p->prefix), start = (unsigned)getpid() % slots;
        char ns[64];
        snprintf(ns, sizeof(ns), "/proc/%d/fd/%d", (int)getpid(), n->netns_fd);
        for (unsigned k = 0; k < slots; k++) {
                unsigned slot = (start + k) % slots;
                snprintf(n->ifname, sizeof(n->ifname), "akv%u", slot);
                if (if_nametoindex(n->ifname))
                        continue;
                const char *argv[] = { "ip", "link", "add", n->ifname, "type", "veth", "peer", "name", "eth0",
                                       "netns", ns, NULL };
                int r = vmm_net_run(argv, err);
                if (r == -EEXIST)
                        continue;
                if (r < 0) {
                        n->ifname[0] = 0;
                        return r;
                }
                *ret_slot = slot;
                return 0;
        }
        n->ifname[0] = 0;
        return ak_error_set(err, -EADDRNOTAVAIL, "VM network pool %s: all %u /30s in use", p->cidr, slots);
}

static int configure(struct vmm_net *n, const struct pool *p, unsigned slot, const char *dir, const char *rules,
                     struct ak_error *err)
{
        char h[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN], text[512], path[PATH_MAX], nft_path[PATH_MAX], ns[80];
        int r;
        pool_addr(p, slot, 1, h);
        pool_addr(p, slot, 2, g);
        snprintf(text, sizeof(text), "addr add %s/30 dev %s\nlink set %s up\n", h, n->ifname, n->ifname);
        if ((r = vmm_net_write_file(dir, "net-host.ip", text, path, err)) < 0 ||
            (r = vmm_net_run((const char *const[]){ "ip", "-batch", path, NULL }, err)) < 0)
                return r;
        snprintf(ns, sizeof(ns), "--net=/proc/%d/fd/%d", (int)getpid(), n->netns_fd);
        /* addrgenmode none: no IPv6 link-local address on eth0, so the
         * namespace's own kernel sends no router solicitations, MLD reports
         * or DAD probes, which its rules would deny and audit as the VM's
         * (the pool is IPv4; slirp's IPv6 never had a route here). */
        snprintf(text, sizeof(text), "link set lo up\nlink set eth0 addrgenmode none\naddr add %s/30 dev eth0\n"
                 "link set eth0 up\nroute add default via %s\n", g, h);
        if ((r = vmm_net_write_file(dir, "net-ns.ip", text, path, err)) < 0 ||
            (r = vmm_net_run((const char *const[]){ "nsenter", ns, "ip", "-batch", path, NULL }, err)) < 0)
                return r;
        if ((r = vmm_net_write_file(dir, "net-ns.nft", rules, nft_path, err)) < 0)
                return r;
        return vmm_net_run((const char *const[]){ "nsenter", ns, "nft", "-f", nft_path, NULL }, err);
}

/* What the resolver never answers: what the namespace always drops, and
 * the private and operator ranges unless the sandbox may re-open them. */
static size_t blocked_cidrs(const struct vmm_net_config *cfg, const char *pool, const char *const *host,
                            size_t n_host, const char *const *deny, const char **out)
{
        size_t n = 0;
        for (size_t i = 0; i < AK_ARRAY_SIZE(always_denied); i++)
                out[n++] = always_denied[i];
        out[n++] = pool;
        for (size_t i = 0; i < n_host; i++)
                out[n++] = host[i];
        if (cfg->allow_private)
                return n;
        for (size_t i = 0; i < AK_ARRAY_SIZE(private_ranges); i++)
                out[n++] = private_ranges[i];
        for (size_t i = 0; i < cfg->n_deny_cidrs; i++)
                out[n++] = deny[i];
        return n;
}

/* The VM's resolver and the resolv.conf naming it. */
static int start_dns(struct vmm_net *n, const struct vmm_net_config *cfg, const char *const *blocked,
                     size_t n_blocked, struct ak_error *err)
{
        int r;
        if ((r = vmm_net_dns_start(cfg, n->netns_fd, blocked, n_blocked, &n->dns, err)) < 0 || !n->dns)
                return r;
        if ((r = vmm_net_write_file(cfg->work_dir, "net-resolv.conf", "nameserver 127.0.0.1\n", n->resolv_conf, err)) < 0)
                return r;
        /* QEMU reads it as its own uid. */
        if (chmod(n->resolv_conf, 0644) < 0)
                return ak_error_errno(err, -errno, "VM network: chmod %s", n->resolv_conf);
        return 0;
}

static int check_names(const struct vmm_net_egress *e, struct ak_error *err)
{
        char canon[DOMAIN_MAX + 1];
        if (!e)
                return 0;
        if (e->n_allow + e->n_allow_names > VMM_NET_MAX_EGRESS || e->n_deny + e->n_deny_names > VMM_NET_MAX_EGRESS)
                return ak_error_set(err, -E2BIG, "VM network: more than %d egress entries in a list",
                                    VMM_NET_MAX_EGRESS);
        for (size_t i = 0; i < e->n_allow_names; i++)
                if (domain_rule_parse(e->allow_names[i], canon, sizeof(canon), err) < 0)
                        return ak_error_wrap(err, "egress.allow");
        for (size_t i = 0; i < e->n_deny_names; i++)
                if (domain_rule_parse(e->deny_names[i], canon, sizeof(canon), err) < 0)
                        return ak_error_wrap(err, "egress.deny");
        return 0;
}

int vmm_net_setup(const struct vmm_net_config *cfg, struct vmm_net **ret, struct ak_error *err)
{
        struct pool p;
        char (*addrs)[64] = NULL, deny[VMM_NET_MAX_DENY][64];
        const char *host_ptrs[MAX_HOST_ADDRS], *deny_ptrs[VMM_NET_MAX_DENY], *blocked[MAX_BLOCKED];
        char *rules = NULL;
        size_t n_addrs = 0;
        unsigned slot = 0;
        int r;

        if ((r = pool_parse(cfg->pool ? cfg->pool : VMM_NET_DEFAULT_POOL, &p, err)) < 0)
                return r;
        if (cfg->n_deny_cidrs > VMM_NET_MAX_DENY)
                return ak_error_set(err, -E2BIG, "VM network: more than %d denied CIDRs", VMM_NET_MAX_DENY);
        for (size_t i = 0; i < cfg->n_deny_cidrs; i++) {
                if ((r = vmm_net_cidr_parse(cfg->deny_cidrs[i], deny[i], sizeof(deny[i]), err)) < 0)
                        return r;
                deny_ptrs[i] = deny[i];
        }
        const struct vmm_net_egress *e = cfg->egress;
        if (e && (e->n_allow > VMM_NET_MAX_EGRESS || e->n_deny > VMM_NET_MAX_EGRESS ||
                  e->n_ports > VMM_NET_MAX_EGRESS))
                return ak_error_set(err, -E2BIG, "VM network: more than %d egress entries in a list",
                                    VMM_NET_MAX_EGRESS);
        for (size_t i = 0; e && i < e->n_allow; i++)
                if ((r = vmm_net_egress_check(e->allow[i], deny_ptrs, cfg->n_deny_cidrs, cfg->allow_private,
                                              err)) < 0)
                        return ak_error_wrap(err, "egress.allow");
        for (size_t i = 0; e && i < e->n_deny; i++)
                if (vmm_net_cidr_overlaps(e->deny[i], e->deny[i]) < 0)
                        return ak_error_set(err, -EINVAL, "egress.deny %s: not a canonical CIDR", e->deny[i]);
        if ((r = check_names(e, err)) < 0)
                return r;
        for (size_t i = 0; e && i < e->n_ports; i++)
                if (e->ports[i] == 0)
                        return ak_error_set(err, -EINVAL, "egress.ports: 0 is not a port (want 1..65535)");
        struct vmm_net *n = calloc(1, sizeof(*n));
        if (!n || !(addrs = calloc(MAX_HOST_ADDRS, sizeof(*addrs)))) {
                r = ak_error_set(err, -ENOMEM, "out of memory");
                goto fail;
        }
        n->netns_fd = -1;
        if ((r = host_addrs(&p, addrs, &n_addrs, err)) < 0)
                goto fail;
        for (size_t i = 0; i < n_addrs; i++)
                host_ptrs[i] = addrs[i];
        /* The VM's resolver serves DNS (start_dns): slirp asks it, a tap
         * guest's is DNATed to it; nothing needs port 53 to the host's. */
        if ((r = vmm_net_ns_rules(p.cidr, host_ptrs, n_addrs, deny_ptrs, cfg->n_deny_cidrs, NULL, 0, e, &rules)) <
            0) {
                r = ak_error_set(err, r, "out of memory");
                goto fail;
        }
        if ((r = host_rules(cfg->work_dir, &p, err)) < 0)
                goto fail;
        if ((n->netns_fd = new_netns(err)) < 0) {
                r = n->netns_fd;
                goto fail;
        }
        if ((r = make_veth(n, &p, &slot, err)) < 0 || (r = configure(n, &p, slot, cfg->work_dir, rules, err)) < 0)
                goto fail;
        if (cfg->reporter &&
            (r = nflog_start(n->netns_fd, VMM_NET_NFLOG_GROUP, cfg->reporter, &n->log, err)) < 0)
                goto fail;
        size_t n_blocked = blocked_cidrs(cfg, p.cidr, host_ptrs, n_addrs, deny_ptrs, blocked);
        if ((r = start_dns(n, cfg, blocked, n_blocked, err)) < 0)
                goto fail;
        if (cfg->tap && (r = vmm_net_tap_setup(n->netns_fd, cfg, n->dns != NULL, err)) < 0)
                goto fail;
        if (!cfg->tap && vmm_net_egress_has_names(e) &&
            (r = vmm_net_proxy_start(cfg, n->netns_fd, deny_ptrs, cfg->n_deny_cidrs, &n->proxy, err)) < 0)
                goto fail;
        free(rules);
        free(addrs);
        *ret = n;
        return 0;
fail:
        free(rules);
        free(addrs);
        vmm_net_free(n);
        return r;
}

int vmm_net_netns_fd(const struct vmm_net *n)
{
        return n->netns_fd;
}

const char *vmm_net_host_ifname(const struct vmm_net *n)
{
        return n->ifname;
}

const char *vmm_net_resolv_conf(const struct vmm_net *n)
{
        return n->resolv_conf[0] ? n->resolv_conf : NULL;
}

void vmm_net_free(struct vmm_net *n)
{
        if (!n)
                return;
        nflog_stop(n->log);
        if (n->ifname[0]) {
                struct ak_error e = { 0 };
                (void)vmm_net_run((const char *const[]){ "ip", "link", "del", n->ifname, NULL }, &e);
        }
        vmm_net_proxy_free(n->proxy);
        vmm_net_dns_free(n->dns);
        if (n->netns_fd >= 0)
                close(n->netns_fd);
        free(n);
}
