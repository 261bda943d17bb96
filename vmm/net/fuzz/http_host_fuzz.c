/* libFuzzer target: sniff_http and sniff on a guest's first bytes. A name
 * found must be one sniff_host_name keeps as it is (lowercase, valid), and
 * an input that gives an answer gives the same one with more bytes after it
 * (more bytes never change a decision already made). Where the proxy then
 * describes the request to proxy hooks (a name found: inject_request_line
 * on the same unvalidated bytes, inject_answer_status on a server's first
 * bytes), the method and path stay within their limits. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/net/inject.h"
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
        if (r == SNIFF_NAME) {
                char method[INJECT_METHOD_MAX + 1], path[INJECT_PATH_MAX + 1];
                inject_request_line(data, size, method, path);
                if (strlen(method) > INJECT_METHOD_MAX || strlen(path) > INJECT_PATH_MAX)
                        abort();
        }
        int status = inject_answer_status(data, size);
        if (status != 0 && (status < 0 || status > 999))
                abort();
        enum sniff_proto proto;
        (void)sniff(data, size, &proto, name);
        return 0;
}
