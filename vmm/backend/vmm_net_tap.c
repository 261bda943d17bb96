/* vmm_net's tap mode (see vmm_net.h): the tap device in the VM's namespace,
 * forwarding, and the table that keeps the guest to its own address and
 * off the namespace itself. The policy (what may leave) is the namespace's
 * policy chain, which vmm_net_ns_rules hooks into forward too. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/backend/vmm_net.h"
#include "vmm/backend/vmm_net_sys.h"

static bool tap_name_ok(const char *tap)
{
        size_t n = tap ? strlen(tap) : 0;
        if (n == 0 || n >= IFNAMSIZ)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((tap[i] >= 'a' && tap[i] <= 'z') || (tap[i] >= 'A' && tap[i] <= 'Z') ||
                      (tap[i] >= '0' && tap[i] <= '9') || tap[i] == '-' || tap[i] == '_'))
                        return false;
        return true;
}

int vmm_net_tap_rules(const char *tap, const char *dns_to, char **ret)
{
        struct in_addr a;
        char dnat[160] = "";
        if (!tap_name_ok(tap) || (dns_to && inet_pton(AF_INET, dns_to, &a) != 1))
                return -EINVAL;
        char local[200] = "";
        if (dns_to)
                snprintf(dnat, sizeof(dnat), "\t\tiifname \"%s\" ip daddr " VMM_NET_TAP_DNS
                         " meta l4proto { tcp, udp } th dport 53 dnat ip to %s\n", tap, dns_to);
        /* The VM's resolver (127.0.0.1:53 in the namespace; tap's
         * route_localnet lets the DNAT reach it): DNATed DNS is input. */
        if (dns_to && strcmp(dns_to, "127.0.0.1") == 0)
                snprintf(local, sizeof(local), "\t\tiifname \"%s\" ip daddr 127.0.0.1 meta l4proto { tcp, udp } "
                         "th dport 53 ct status dnat accept\n", tap);
        /* Nothing from outside starts a connection to the guest; what the
         * guest sends to the namespace's own addresses (input) is dropped:
         * only DNATed DNS passes (forwarded to a resolver elsewhere, or
         * input to the VM's own). */
        int n = asprintf(ret,
                         "table inet ak_tap {}\ndelete table inet ak_tap\ntable inet ak_tap {\n"
                         "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
                         "%s\t}\n"
                         "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
                         "\t\toifname \"eth0\" ip saddr " VMM_NET_TAP_NET " masquerade\n\t}\n"
                         "\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n"
                         "%s\t\tiifname \"%s\" drop\n\t}\n"
                         "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n"
                         "\t\tiifname \"%s\" meta nfproto != ipv4 drop\n"
                         "\t\tiifname \"%s\" ip saddr != " VMM_NET_TAP_GUEST " drop\n"
                         "\t\toifname \"%s\" ct state != { established, related } drop\n\t}\n}\n",
                         dnat, local, tap, tap, tap, tap);
        return n < 0 ? -ENOMEM : 0;
}

int vmm_net_tap_setup(int netns_fd, const struct vmm_net_config *cfg, bool vm_resolver, struct ak_error *err)
{
        char text[256], path[PATH_MAX], ns[80], sysctl[96], *rules = NULL;
        const char *dns_to = vm_resolver ? "127.0.0.1" : NULL;
        int r;
        if (!tap_name_ok(cfg->tap))
                return ak_error_set(err, -EINVAL, "VM network: tap name \"%.32s\": want 1..%d letters, digits, '-' "
                                    "or '_'", cfg->tap, IFNAMSIZ - 1);
        snprintf(ns, sizeof(ns), "--net=/proc/%d/fd/%d", (int)getpid(), netns_fd);
        /* 10.0.2.3 too, so the namespace answers the guest's ARP for its
         * DNS server (slirp answered it itself; without it the guest's
         * queries never left). ak_tap drops all but DNATed DNS to it. */
        snprintf(text, sizeof(text), "tuntap add dev %s mode tap user %u group %u\naddr add %s/24 dev %s\n"
                 "addr add %s/32 dev %s\nlink set %s up\n", cfg->tap, (unsigned)cfg->tap_uid, (unsigned)cfg->tap_gid,
                 VMM_NET_TAP_GATEWAY, cfg->tap, VMM_NET_TAP_DNS, cfg->tap, cfg->tap);
        if ((r = vmm_net_write_file(cfg->work_dir, "net-tap.ip", text, path, err)) < 0 ||
            (r = vmm_net_run((const char *const[]){ "nsenter", ns, "ip", "-batch", path, NULL }, err)) < 0)
                return r;
        /* Per namespace: this one forwards, the host's setting is not touched. */
        if ((r = vmm_net_run((const char *const[]){ "nsenter", ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1",
                                                     NULL }, err)) < 0)
                return r;
        /* The guest's DNS is DNATed to the VM's resolver on 127.0.0.1 (and
         * its answers leave by the tap from 127.0.0.1): route_localnet on
         * the tap only. ak_tap drops everything else the guest sends to
         * the namespace, 127.0.0.1 included, and any source but its own. */
        snprintf(sysctl, sizeof(sysctl), "net.ipv4.conf.%s.route_localnet=1", cfg->tap);
        if (vm_resolver &&
            (r = vmm_net_run((const char *const[]){ "nsenter", ns, "sysctl", "-q", "-w", sysctl, NULL }, err)) < 0)
                return r;
        if ((r = vmm_net_tap_rules(cfg->tap, dns_to, &rules)) < 0)
                return ak_error_errno(err, r, "VM network: tap rules");
        if ((r = vmm_net_write_file(cfg->work_dir, "net-tap.nft", rules, path, err)) == 0)
                r = vmm_net_run((const char *const[]){ "nsenter", ns, "nft", "-f", path, NULL }, err);
        free(rules);
        return r;
}
