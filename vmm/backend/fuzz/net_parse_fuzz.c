/* libFuzzer target: the two parsers of outside text in vmm_net.c, a CIDR
 * (the operator's --deny-cidr) and a resolv.conf (the host's file). The
 * input is NUL-terminated and fed to both. A parsed CIDR must parse again
 * to itself (canonical); every resolver must be an address inet_pton takes;
 * the ruleset built from them must hold each one. The egress checks
 * (overlap, vmm_net_egress_check) get the raw text and the parsed CIDR;
 * tap mode's table (vmm_net_tap_rules) the text as a tap name and each
 * resolver as the DNAT target. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/backend/vmm_net.h"

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
                        char want[96];
                        snprintf(want, sizeof(want), "dnat ip to %s\n", res[i]);
                        if (!strstr(tap, want))
                                abort();
                        free(tap);
                }
        }
        free(text);
        return 0;
}
