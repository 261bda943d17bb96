/* vmm_net's system side on the host: running ip(8)/nft(8), the namespace,
 * the pool's addresses and the host's own nftables tables (see vmm_net.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/io.h"
#include "lib/base/pathfmt.h"
#include "lib/base/proc.h"
#include "vmm/backend/vmm_net.h"
#include "vmm/backend/vmm_net_sys.h"

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

int vmm_net_new_netns(struct ak_error *err)
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

int vmm_net_pool_parse(const char *text, struct vmm_net_pool *p, struct ak_error *err)
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
int vmm_net_host_addrs(const struct vmm_net_pool *p, char (*out)[64], size_t *n, struct ak_error *err)
{
        struct ifaddrs *ifa, *i;
        if (getifaddrs(&ifa) < 0)
                return ak_error_errno(err, -errno, "VM network: getifaddrs");
        int r = 0;
        *n = 0;
        for (i = ifa; i && *n < VMM_NET_MAX_HOST_ADDRS; i = i->ifa_next) {
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

/* One line of /proc/net/route: "IFACE\tDEST\tGATEWAY\tFLAGS\t...\tMASK\t...",
 * DEST and MASK the network-order words printed as native hex. */
static int route_line(const char *line, char ifname[IFNAMSIZ], uint32_t *dest, uint32_t *mask)
{
        char dst[16], gw[16], msk[16];
        unsigned flags, refcnt, use, metric;
        char *end;
        if (sscanf(line, "%15s %15s %15s %x %u %u %u %15s", ifname, dst, gw, &flags, &refcnt, &use, &metric,
                   msk) != 8)
                return -EINVAL;
        errno = 0;
        unsigned long d = strtoul(dst, &end, 16);
        if (errno || *end || end == dst || d > UINT32_MAX)
                return -EINVAL;
        unsigned long m = strtoul(msk, &end, 16);
        if (errno || *end || end == msk || m > UINT32_MAX)
                return -EINVAL;
        *dest = ntohl((uint32_t)d);
        *mask = ntohl((uint32_t)m);
        return 0;
}

int vmm_net_pool_routes(const struct vmm_net_pool *p, const char *route_file, struct ak_error *err)
{
        FILE *f = fopen(route_file, "re");
        if (!f)
                return ak_error_errno(err, -errno, "VM network pool %s: reading %s", p->cidr, route_file);
        char line[512];
        uint32_t pmask = ~0u << (32 - p->prefix);
        int r = 0;
        for (int n = 0; r == 0 && n < 100000 && fgets(line, sizeof(line), f); n++) {
                char ifname[IFNAMSIZ];
                uint32_t dest, mask;
                if (n == 0 || route_line(line, ifname, &dest, &mask) < 0)
                        continue; /* the header, or a line this parser does not know */
                if (mask == 0 || strncmp(ifname, "akv", 3) == 0)
                        continue; /* a default route, or a VM's veth */
                if (((dest ^ p->base) & mask & pmask) == 0) {
                        char a[INET_ADDRSTRLEN];
                        struct in_addr in = { htonl(dest) };
                        inet_ntop(AF_INET, &in, a, sizeof(a));
                        r = ak_error_set(err, -EADDRINUSE,
                                         "VM network pool %s: the host routes %s/%d via %s into it (a pod or "
                                         "service network?); pick a pool no route overlaps with --net-pool",
                                         p->cidr, a, __builtin_popcount(mask), ifname);
                }
        }
        fclose(f);
        return r;
}

void vmm_net_pool_addr(const struct vmm_net_pool *p, unsigned slot, unsigned host, char out[16])
{
        struct in_addr a = { htonl(p->base + slot * 4 + host) };
        inet_ntop(AF_INET, &a, out, INET_ADDRSTRLEN);
}

int vmm_net_host_rules(const char *dir, const struct vmm_net_pool *p, struct ak_error *err)
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
        r |= vmm_net_appendf(&b, &len, &cap, "table ip %s {}\ndelete table ip %s\ntable ip %s {\n"
                     "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
                     "\t\tip saddr %s oifname != \"akv*\" masquerade\n\t}\n}\n", pool_table, pool_table,
                     pool_table, p->cidr);
        r |= vmm_net_appendf(&b, &len, &cap, "table inet ak_net {}\ndelete table inet ak_net\ntable inet ak_net {\n"
                     "\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n");
        r |= vmm_net_appendf(&b, &len, &cap, "\t\tiifname \"akv*\" drop\n\t}\n"
                     "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n"
                     "\t\tiifname \"akv*\" oifname \"akv*\" drop\n\t}\n}\n");
        if (r == 0 && (r = vmm_net_write_file(dir, "net-host.nft", b, path, err)) == 0)
                r = vmm_net_run((const char *const[]){ "nft", "-f", path, NULL }, err);
        else if (r)
                r = ak_error_set(err, -ENOMEM, "out of memory");
        free(b);
        return r;
}

