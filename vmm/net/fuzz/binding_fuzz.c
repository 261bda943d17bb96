/* libFuzzer target: secret_binding_parse on any string (a gRPC client's
 * SandboxSpec or a CLI flag). An accepted binding must hold a valid vault
 * name, a host sniff_host_name keeps as it is, and a header
 * inject_header_check accepts; err is always NUL-terminated. The same
 * string as a --secret-file NAME[:PATH]: an accepted one holds a valid
 * vault name and an absolute path with no "..". */
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
        struct secret_file f;
        struct ak_error ferr = { 0 };
        if (secret_file_parse(s, &f, &ferr) == 0) {
                if (vault_name_check(f.name, NULL) != 0 || f.path[0] != '/' || strstr(f.path, "/../") ||
                    strlen(f.path) > SECRET_FILE_PATH_MAX || memchr(f.path, '\'', strlen(f.path)))
                        abort();
        } else if (memchr(ferr.msg, 0, sizeof(ferr.msg)) == NULL) {
                abort();
        }
        free(s);
        return 0;
}
