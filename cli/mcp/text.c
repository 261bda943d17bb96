/* agentkernel's head-and-tail truncation, kept in 24 KB whatever the input. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/mcp/text.h"

#define HALF (MCP_TEXT_MAX / 2)

void mcp_text_init(struct mcp_text *t)
{
        t->total = 0;
        t->prefix[0] = 0;
}

void mcp_text_prefix(struct mcp_text *t, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(t->prefix, sizeof(t->prefix), fmt, ap);
        va_end(ap);
}

/* The tail ring holds byte i of the text (i >= HALF) at (i - HALF) % MCP_TEXT_MAX. */
void mcp_text_append(struct mcp_text *t, const void *data, size_t len)
{
        const char *p = data;

        while (len > 0 && t->total < HALF) {
                t->head[t->total++] = *p++;
                len--;
        }
        /* Only the last MCP_TEXT_MAX bytes of this append can survive. */
        if (len > MCP_TEXT_MAX) {
                t->total += len - MCP_TEXT_MAX;
                p += len - MCP_TEXT_MAX;
                len = MCP_TEXT_MAX;
        }
        while (len > 0) {
                size_t at = (size_t)((t->total - HALF) % MCP_TEXT_MAX);
                size_t n = MCP_TEXT_MAX - at < len ? MCP_TEXT_MAX - at : len;
                memcpy(t->tail + at, p, n);
                t->total += n;
                p += n;
                len -= n;
        }
}

void mcp_text_puts(struct mcp_text *t, const char *s)
{
        mcp_text_append(t, s, strlen(s));
}

void mcp_text_printf(struct mcp_text *t, const char *fmt, ...)
{
        char buf[4096];
        va_list ap;

        va_start(ap, fmt);
        int n = vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (n > 0)
                mcp_text_append(t, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* Copies text bytes [from, from + n) of the tail ring (from >= HALF) to out. */
static void ring_copy(const struct mcp_text *t, uint64_t from, size_t n, char *out)
{
        size_t at = (size_t)((from - HALF) % MCP_TEXT_MAX);
        size_t first = MCP_TEXT_MAX - at < n ? MCP_TEXT_MAX - at : n;
        memcpy(out, t->tail + at, first);
        memcpy(out + first, t->tail, n - first);
}

int mcp_text_render(const struct mcp_text *t, char **ret, size_t *ret_len)
{
        char marker[64];
        int m = 0;
        size_t len, p = strlen(t->prefix);

        if (t->total <= MCP_TEXT_MAX) {
                len = (size_t)t->total;
        } else {
                m = snprintf(marker, sizeof(marker), "\n\n... [%" PRIu64 " bytes truncated] ...\n\n",
                             t->total - MCP_TEXT_MAX);
                len = MCP_TEXT_MAX + (size_t)m;
        }
        char *all = malloc(p + len + 1), *out = all + p;
        if (!all)
                return -ENOMEM;
        memcpy(all, t->prefix, p);
        if (t->total <= MCP_TEXT_MAX) {
                size_t h = t->total < HALF ? (size_t)t->total : HALF;
                memcpy(out, t->head, h);
                if (t->total > HALF)
                        ring_copy(t, HALF, (size_t)t->total - HALF, out + HALF);
        } else {
                memcpy(out, t->head, HALF);
                memcpy(out + HALF, marker, (size_t)m);
                ring_copy(t, t->total - HALF, HALF, out + HALF + (size_t)m);
        }
        out[len] = 0;
        *ret = all;
        *ret_len = p + len;
        return 0;
}
