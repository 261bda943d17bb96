/* A tool result's text, bounded as agentkernel bounds it: at most
 * MCP_TEXT_MAX (16,000) bytes are shown; longer text keeps its first and
 * last MCP_TEXT_MAX/2 bytes with agentkernel's marker between them,
 *   HEAD "\n\n... [N bytes truncated] ...\n\n" TAIL   (N = length - 16,000).
 * Appending keeps only the head and a ring of the tail, so a command's
 * 100 MB of output costs 16 KB here. Cuts are at byte offsets, as
 * agentkernel's; the JSON writer (lossy) turns a split character into U+FFFD.
 *
 * Thread-safety: one thread at a time. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MCP_TEXT_MAX 16000u

struct mcp_text {
        char prefix[512];               /* shown first, whole, not counted (an error's first line) */
        char head[MCP_TEXT_MAX / 2];
        char tail[MCP_TEXT_MAX];        /* a ring; the first MCP_TEXT_MAX/2 bytes past head
                                           while total <= MCP_TEXT_MAX, then the last bytes */
        uint64_t total;                 /* bytes appended */
};

void mcp_text_init(struct mcp_text *t);
/* Sets the line shown before the (bounded) text, e.g. "Error: command exited
 * with code 3\n"; longer than 511 bytes is cut. */
void mcp_text_prefix(struct mcp_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mcp_text_append(struct mcp_text *t, const void *data, size_t len);
void mcp_text_puts(struct mcp_text *t, const char *s);
/* printf into the text (each call at most 4 KiB). */
void mcp_text_printf(struct mcp_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The text as shown: malloc'd, NUL-terminated (may hold NULs before *ret_len).
 * 0 or -ENOMEM. */
int mcp_text_render(const struct mcp_text *t, char **ret, size_t *ret_len);

#ifdef __cplusplus
}
#endif
