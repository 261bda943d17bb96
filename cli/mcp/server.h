/* An MCP server over stdio: JSON-RPC 2.0 messages, one per line (the MCP
 * stdio transport), for a table of tools.
 *
 * Protocol: initialize (answers with the client's protocolVersion when it is
 * one of MCP_PROTOCOL_VERSIONS, else the newest), ping, tools/list (one page;
 * a cursor is refused as invalid, since none is ever given out),
 * tools/call. Notifications and responses from the client are read and
 * ignored; batches (JSON arrays, 2025-03-26) are answered with an array.
 * Faults are JSON-RPC errors: -32700 parse error (bad JSON, a line over
 * MCP_LINE_MAX), -32600 invalid request, -32601 method not found, -32602
 * invalid params (tools/call's name or arguments, an unknown tool, a
 * cursor). A tool's own failure is a result with isError: true.
 *
 * Library code: nothing is logged; the caller's stdout carries only what
 * mcp_server_serve writes. Thread-safety: one thread at a time. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "cli/mcp/text.h"
#include "lib/base/error.h"
#include "lib/json/json.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Newest first. */
#define MCP_PROTOCOL_VERSIONS { "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05" }
/* Longest line accepted; a longer one is answered with -32700 and skipped. */
#define MCP_LINE_MAX ((size_t)16 << 20)
/* At most this many messages in one batch. */
#define MCP_BATCH_MAX 64

struct mcp_tool_result {
        struct mcp_text text;
        bool is_error;
};

struct mcp_tool {
        const char *name;
        const char *description;
        const char *input_schema;       /* one JSON object, as text */
        /* args is the call's arguments object (an empty one when absent).
         * REQUIRES: res initialized (text empty, is_error false). */
        void (*call)(void *ctx, const struct json_value *args, struct mcp_tool_result *res);
};

struct mcp_server_config {
        const struct mcp_tool *tools;
        size_t n_tools;
        void *ctx;                      /* passed to every call */
        const char *name, *version;     /* serverInfo */
};

struct mcp_server;

/* The config (and its tools) must outlive the server. 0 or -ENOMEM. */
int mcp_server_new(const struct mcp_server_config *c, struct mcp_server **ret);
void mcp_server_free(struct mcp_server *s);

/* One line (a message or a batch, no newline). *ret gets the reply line
 * (malloc'd, no newline) or NULL when there is nothing to answer
 * (notifications, responses). 0 or -ENOMEM. */
int mcp_server_handle(struct mcp_server *s, const char *line, size_t len, char **ret, size_t *ret_len);

/* The protocol version the last initialize settled on ("" before one). */
const char *mcp_server_protocol_version(const struct mcp_server *s);

/* Reads lines from in_fd and writes each reply and a newline to out_fd,
 * until end of input (0). A line over MCP_LINE_MAX is answered with a parse
 * error as soon as the limit is passed and skipped up to its newline.
 * -errno with err filled when reading or writing fails. */
int mcp_server_serve(struct mcp_server *s, int in_fd, int out_fd, struct ak_error *err);

#ifdef __cplusplus
}
#endif
