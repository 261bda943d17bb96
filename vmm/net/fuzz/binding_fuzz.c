/* libFuzzer target: secret_binding_parse on any string (a gRPC client's
 * SandboxSpec or a CLI flag). An accepted binding must hold a valid vault
 * name, a host sniff_host_name keeps as it is, and a header
 * inject_header_check accepts; err is always NUL-terminated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/net/secret_set.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct secret_binding b;
        struct ak_error err = { 0 };
        char *s = malloc(size + 1), again[SNIFF_NAME_MAX];

        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = 0;
        if (secret_binding_parse(s, &b, &err) == 0) {
                if (vault_name_check(b.name, NULL) != 0 || sniff_host_name(b.host, strlen(b.host), again) != 0 ||
                    strcmp(again, b.host) != 0 || inject_header_check(b.header) != 0)
                        abort();
        } else if (memchr(err.msg, 0, sizeof(err.msg)) == NULL) {
                abort();
        }
        free(s);
        return 0;
}
