/* agentkernel's MCP tools (its src/mcp.rs: names, argument schemas, result
 * texts) over the scheduler's gRPC API, reached as every `ak` verb reaches
 * it (cli/stack.h: $AK_SCHEDULER and $AK_TOKEN, or the local stack, which
 * the first tool call starts when none runs).
 *
 * Served: sandbox_run, _create, _exec, _list, _remove, _file_write,
 * _file_read, _write_files, _start, _stop, _extend_ttl; the detached
 * commands sandbox_exec_detach, _status, _logs, _kill, _list; snapshot_list,
 * _take, _get, _delete, _restore. Left out: agentkernel's browser_* and
 * sandbox_fork tools. */
#pragma once

#include <stddef.h>

#include "cli/mcp/server.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mcp_tools;

extern const struct mcp_tool mcp_tools_table[];
extern const size_t mcp_tools_count;

/* The calls' context (pass as mcp_server_config.ctx). Connects on the first
 * call. 0 or -ENOMEM. */
int mcp_tools_new(struct mcp_tools **ret);
void mcp_tools_free(struct mcp_tools *t);

#ifdef __cplusplus
}
#endif
