/* libFuzzer target: sniff_http and sniff on a guest's first bytes. A name
 * found must be one sniff_host_name keeps as it is (lowercase, valid), and
 * an input that gives an answer gives the same one with more bytes after it
 * (more bytes never change a decision already made). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/net/sniff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char name[SNIFF_NAME_MAX], again[SNIFF_NAME_MAX];
        int r = sniff_http(data, size, name);
        if (r != SNIFF_NAME && r != SNIFF_NONE && r != -EAGAIN && r != -EBADMSG)
                abort();
        if (r == SNIFF_NAME && (sniff_host_name(name, strlen(name), again) != 0 || strcmp(name, again) != 0))
                abort();
        if (r == SNIFF_NAME || r == SNIFF_NONE) {
                /* The answer came from a complete request head: the same bytes with
                 * more after them answer the same. */
                uint8_t *more = malloc(size + 3);
                if (!more)
                        return 0;
                memcpy(more, data, size);
                memcpy(more + size, "abc", 3);
                char n2[SNIFF_NAME_MAX];
                int r2 = sniff_http(more, size + 3, n2);
                if (r2 != r || (r == SNIFF_NAME && strcmp(n2, name) != 0))
                        abort();
                free(more);
        }
        enum sniff_proto proto;
        (void)sniff(data, size, &proto, name);
        return 0;
}
