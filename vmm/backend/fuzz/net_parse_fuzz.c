/* libFuzzer target: the two parsers of outside text in vmm_net.c, a CIDR
 * (the operator's --deny-cidr) and a resolv.conf (the host's file). The
 * input is NUL-terminated and fed to both. A parsed CIDR must parse again
 * to itself (canonical); every resolver must be an address inet_pton takes;
 * the ruleset built from them must hold each one. */
#include <arpa/inet.h>
#include <stdint.h>
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
        const char *deny[1] = { out };
        char *rules = NULL;
        if (vmm_net_ns_rules(VMM_NET_DEFAULT_POOL, NULL, 0, deny, err.code == 0 ? 1 : 0, res, n, NULL, &rules) == 0) {
                for (size_t i = 0; i < n; i++)
                        if (!strstr(rules, res[i]))
                                abort();
                free(rules);
        }
        free(text);
        return 0;
}
