/* vmm_net's rule text (see vmm_net.h): CIDR parsing and checks, and the
 * VM namespace's nftables ruleset. Pure functions, no system calls. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/cleanup.h"
#include "vmm/backend/vmm_net.h"
#include "vmm/backend/vmm_net_dns.h"
#include "vmm/backend/vmm_net_sys.h"
#include "vmm/net/proxy.h"

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
const char *const *const vmm_net_always_denied = always_denied;
const size_t vmm_net_n_always_denied = AK_ARRAY_SIZE(always_denied);
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

int vmm_net_appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
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

const char *vmm_net_family(const char *cidr)
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
 * (ECONNREFUSED) and the guest gets a reset. Anything else a tap guest
 * sends (forwarded: it has an input device) gets ICMP administratively
 * prohibited, so it learns at once; anything else slirp sends is dropped:
 * its sendto() fails with EPERM at once and slirp tells the guest (ICMP
 * unreachable) itself; an ICMP error on top made the guest's connected UDP
 * sockets fail every other send (net_audit_test's syslogd flood counted
 * 1000 of 2000). The output chain accepts the resets and ICMP errors
 * before the policy (base_chains). */
static int deny_chains(char **b, size_t *len, size_t *cap)
{
        int r = vmm_net_appendf(b, len, cap, "\tlimit deny_log { rate %u/second burst %u packets; }\n",
                        VMM_NET_LOG_RATE, VMM_NET_LOG_BURST);
        for (size_t i = 0; i < AK_ARRAY_SIZE(deny_rules); i++) {
                char v[64];
                r |= vmm_net_appendf(b, len, cap, "\tchain %s {\n\t\tlimit name \"deny_log\" log prefix \"%s\" group %u\n"
                             "\t\tcounter\n\t\tmeta l4proto tcp reject with tcp reset\n"
                             "\t\tmeta iiftype ether reject with icmpx admin-prohibited\n\t\tdrop\n\t}\n", deny_verdict(deny_rules[i], v) + 5, deny_rules[i],
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
                r |= vmm_net_appendf(b, len, cap, "\t\tmeta l4proto != { tcp, udp } %s\n\t\tth dport != { ", v);
                for (size_t i = 0; i < e->n_ports; i++)
                        r |= vmm_net_appendf(b, len, cap, "%s%u", i ? ", " : "", (unsigned)e->ports[i]);
                r |= vmm_net_appendf(b, len, cap, " } %s\n", v);
        }
        if (vmm_net_egress_has_names(e))
                r |= vmm_net_appendf(b, len, cap, "\t\tip daddr @allow_dyn4 accept\n\t\tip6 daddr @allow_dyn6 accept\n"
                             "\t\tip daddr @deny_dyn4 %s\n\t\tip6 daddr @deny_dyn6 %s\n",
                             deny_verdict("egress.domain", v), v);
        for (size_t i = 0; i < e->n_allow; i++)
                r |= vmm_net_appendf(b, len, cap, "\t\t%s daddr %s accept\n", vmm_net_family(e->allow[i]), e->allow[i]);
        for (size_t i = 0; i < e->n_deny; i++)
                r |= vmm_net_appendf(b, len, cap, "\t\t%s daddr %s %s\n", vmm_net_family(e->deny[i]), e->deny[i],
                             deny_verdict("egress.deny", v));
        return r;
}

/* The hooks: what the namespace's own processes send (slirp's sockets)
 * and what it forwards (a tap's guest, vmm_net_tap.c) both go through the
 * policy chain; forwarded replies of a connection the policy let out come
 * back (the guest's own address is in a private range). */
static int base_chains(char **b, size_t *len, size_t *cap)
{
        return vmm_net_appendf(b, len, cap, "\tchain output {\n\t\ttype filter hook output priority filter; policy accept;\n"
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
                r |= vmm_net_appendf(b, len, cap, "\tset %s { type %s; flags timeout; size 65536; }\n", sets[i],
                             sets[i][strlen(sets[i]) - 1] == '4' ? "ipv4_addr" : "ipv6_addr");
        r |= vmm_net_appendf(b, len, cap, "\tchain vm_policy {\n"
                     "\t\toifname \"lo\" ip daddr 127.0.0.1 meta l4proto { tcp, udp } th dport 53 accept\n"
                     "\t\tip saddr 127.0.0.1 meta l4proto { tcp, udp } th sport 53 accept\n");
        if (vmm_net_egress_has_names(e) || (e && e->proxy)) {
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
                        r |= vmm_net_appendf(b, len, cap, "%.*s%s", (int)(lo - accept), accept, lo + strlen("oifname \"lo\" "));
                else
                        r |= vmm_net_appendf(b, len, cap, "%s", accept);
                free(table);
                free(accept);
        }
        r |= vmm_net_appendf(b, len, cap, "\t\toifname \"lo\" %s\n", deny_verdict("loopback", v));
        if (vmm_net_egress_has_names(e))
                r |= vmm_net_appendf(b, len, cap, "\t\tmeta l4proto { tcp, udp } th dport { 53, 853 } %s\n",
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
        r |= vmm_net_appendf(&b, &len, &cap, "table inet ak_vm {}\ndelete table inet ak_vm\ntable inet ak_vm {\n");
        r |= deny_chains(&b, &len, &cap);
        r |= dns_rules(&b, &len, &cap, egress);
        for (size_t i = 0; i < n_resolvers; i++)
                r |= vmm_net_appendf(&b, &len, &cap, "\t\t%s daddr %s meta l4proto { tcp, udp } th dport 53 accept\n",
                             vmm_net_family(resolvers[i]), resolvers[i]);
        for (size_t i = 0; i < AK_ARRAY_SIZE(always_denied); i++)
                r |= vmm_net_appendf(&b, &len, &cap, "\t\t%s daddr %s %s\n", vmm_net_family(always_denied[i]), always_denied[i],
                             deny_verdict(always_denied_rule(always_denied[i]), v));
        r |= vmm_net_appendf(&b, &len, &cap, "\t\tip daddr %s %s\n", pool, deny_verdict("pool", v));
        for (size_t i = 0; i < n_host; i++)
                r |= vmm_net_appendf(&b, &len, &cap, "\t\t%s daddr %s %s\n", vmm_net_family(host_addrs[i]), host_addrs[i],
                             deny_verdict("host", v));
        if (egress)
                r |= egress_rules(&b, &len, &cap, egress);
        for (size_t i = 0; i < AK_ARRAY_SIZE(private_ranges); i++)
                r |= vmm_net_appendf(&b, &len, &cap, "\t\t%s daddr %s %s\n", vmm_net_family(private_ranges[i]), private_ranges[i],
                             deny_verdict("private", v));
        for (size_t i = 0; i < n_deny; i++)
                r |= vmm_net_appendf(&b, &len, &cap, "\t\t%s daddr %s %s\n", vmm_net_family(deny[i]), deny[i],
                             deny_verdict("operator-deny", v));
        r |= vmm_net_appendf(&b, &len, &cap, "\t}\n");
        r |= base_chains(&b, &len, &cap);
        if (r) {
                free(b);
                return -ENOMEM;
        }
        *ret = b;
        return 0;
}
