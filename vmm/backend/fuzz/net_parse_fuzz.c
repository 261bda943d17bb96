/* libFuzzer target: the two parsers of outside text in vmm_net.c, a CIDR
 * (the operator's --deny-cidr) and a resolv.conf (the host's file). The
 * input is NUL-terminated and fed to both. A parsed CIDR must parse again
 * to itself (canonical); every resolver must be an address inet_pton takes;
 * the ruleset built from them must hold each one. The egress checks
 * (overlap, vmm_net_egress_check) get the raw text and the parsed CIDR;
 * tap mode's table (vmm_net_tap_rules) the text as a tap name and each
 * resolver as the DNAT target. The domain rules' proxy policy
 * (vmm_net_proxy_decide) gets the text as the name a connection carries
 * and as its destination, and each resolver as a destination: a name that
 * is a denied one is never allowed, and an address only allow_dyn admits
 * (under deny 0.0.0.0/0 and ::/0) is allowed only for an allowed name. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/backend/vmm_net.h"
#include "vmm/backend/vmm_net_proxy.h"
#include "vmm/net/domain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;
        struct ak_error err = { 0 };
        char out[64], again[64];
        if (vmm_net_cidr_parse(text, out, sizeof(out), &err) == 0) {
                if (vmm_net_cidr_parse(out, again, sizeof(again), &err) != 0 || strcmp(out, again) != 0)
                        abort();
        } else if (err.code >= 0 || !err.msg[0]) {
                abort();
        }
        char res[8][64];
        unsigned char bytes[16];
        size_t n = vmm_net_resolvers(text, true, res, 8);
        if (n > 8)
                abort();
        for (size_t i = 0; i < n; i++)
                if (inet_pton(AF_INET, res[i], bytes) != 1 && inet_pton(AF_INET6, res[i], bytes) != 1)
                        abort();
        /* The egress checks take any text (non-canonical: -EINVAL, no crash)
         * and agree with themselves on a parsed CIDR: it overlaps itself,
         * and an allow that passes without allow_private overlaps no
         * private range. */
        (void)vmm_net_cidr_overlaps(text, "10.0.0.0/8");
        struct ak_error e2 = { 0 };
        (void)vmm_net_egress_check(text, NULL, 0, false, &e2);
        if (err.code == 0) {
                if (vmm_net_cidr_overlaps(out, out) != 1)
                        abort();
                const char *ops[1] = { text };
                if (vmm_net_egress_check(out, ops, 1, false, &e2) == 0 &&
                    (vmm_net_cidr_overlaps(out, "10.0.0.0/8") == 1 || vmm_net_cidr_overlaps(out, "fc00::/7") == 1))
                        abort();
                uint16_t port = 443;
                const char *one[1] = { out };
                struct vmm_net_egress eg = { one, 1, one, 1, &port, 1 };
                char *r2 = NULL;
                if (vmm_net_ns_rules(VMM_NET_DEFAULT_POOL, NULL, 0, NULL, 0, NULL, 0, &eg, &r2) == 0) {
                        if (!strstr(r2, out) || !strstr(r2, "th dport != { 443 } jump deny_egress_ports"))
                                abort();
                        free(r2);
                }
        }
        const char *deny[1] = { out };
        char *rules = NULL;
        if (vmm_net_ns_rules(VMM_NET_DEFAULT_POOL, NULL, 0, deny, err.code == 0 ? 1 : 0, res, n, NULL, &rules) == 0) {
                for (size_t i = 0; i < n; i++)
                        if (!strstr(rules, res[i]))
                                abort();
                free(rules);
        }
        /* Tap mode's table: the text as a tap name goes into rule text only
         * when it is a plain interface name; a resolver is a DNAT target only
         * when it is IPv4, and then appears as such. */
        char *tap = NULL;
        if (vmm_net_tap_rules(text, NULL, &tap) == 0) {
                if (!*text || strlen(text) >= 16 || strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                                  "0123456789-_") != strlen(text))
                        abort();
                free(tap);
        }
        for (size_t i = 0; i < n; i++) {
                int v4 = inet_pton(AF_INET, res[i], bytes) == 1;
                tap = NULL;
                int r = vmm_net_tap_rules(VMM_NET_TAP_NAME, res[i], &tap);
                if ((r == 0) != v4)
                        abort();
                if (r == 0) {
                        char want[600];
                        snprintf(want, sizeof(want), "dnat ip to %s\n", res[i]);
                        if (!strstr(tap, want))
                                abort();
                        free(tap);
                }
        }
        static const char *const allow_names[] = { "allowed.test", "*.ok.test" }, *const deny_names[] = { "bad.test" };
        static const char *const deny_all[] = { "0.0.0.0/0", "::/0" }, *const op[] = { "203.0.113.0/24" };
        struct vmm_net_egress dom = { NULL, 0, deny_all, 2, NULL, 0, allow_names, 2, deny_names, 1 };
        bool allowed = domain_match_any(allow_names, 2, text);
        if (vmm_net_proxy_decide(&dom, op, 1, text, "198.18.0.1") != (allowed ? 1 : 0))
                abort();
        if (domain_match(deny_names[0], text) && vmm_net_proxy_decide(&dom, op, 1, text, text) == 1 && !allowed)
                abort();
        for (size_t i = 0; i < n; i++)
                if (vmm_net_proxy_decide(&dom, op, 1, NULL, res[i]) != 0 ||
                    vmm_net_proxy_decide(&dom, op, 1, "allowed.test", res[i]) != 1)
                        abort();
        char *drules = NULL;
        if (vmm_net_ns_rules(VMM_NET_DEFAULT_POOL, NULL, 0, deny, err.code == 0 ? 1 : 0, NULL, 0, &dom, &drules) == 0) {
                const char *acc = strstr(drules, "ct reply proto-src 900 accept"), *lo = strstr(drules, "oifname \"lo\" jump");
                if (!acc || !lo || acc > lo)
                        abort();
                free(drules);
        }
        free(text);
        return 0;
}
