/* nflog_parse on arbitrary bytes: a buffer as recv(2) would hand it over,
 * every netlink and attribute length and the packet inside the guest's.
 * Checks: no crash or out-of-bounds read (ASan), and every event has
 * NUL-terminated strings. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/net/nflog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(void *ctx, struct net_event *ev)
{
        size_t *n = ctx;
        if (!memchr(ev->dst, 0, sizeof(ev->dst)) || !memchr(ev->rule, 0, sizeof(ev->rule)) || !ev->rule[0] ||
            ev->kind != NET_EVENT_CONNECT)
                abort();
        (*n)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* A copy of exactly size bytes: reads past it are ASan's to see. */
        uint8_t *buf = malloc(size ? size : 1);
        if (!buf)
                return 0;
        memcpy(buf, data, size);
        size_t n = 0;
        int r = nflog_parse(buf, size, check, &n);
        if (r >= 0 && (size_t)r != n)
                abort();
        free(buf);
        return 0;
}
